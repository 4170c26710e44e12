"""Notebook 00 · welcome: what the notebook shows, computed here.

* **Widget**: :func:`moving_average_explorer`, a window slider over a series that redraws the trailing
  mean (``seqlib.moving_average``) and reports its errors as a smoother and as a forecaster.
* **Why a trailing mean forecasts badly**: :func:`trailing_mean_lag` measures how far behind the data
  a trailing mean of w values runs ((w − 1)/2 steps, by symmetry), :func:`flat_mean_rmse` the error of
  the flat line at the series' mean (the level a whole-cycle window falls back to),
  :func:`dominant_period` the length of the cycle (the periodogram's peak), and
  :func:`plot_trailing_mean_forecasts` draws both (the notebook's static figure).
* **Environment check**: :func:`check_environment` reports the installed versions, what stops the
  course (``problems``) and what only changes the last digits of the stored outputs (``warnings``).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from seqlib._determinism import REPRODUCIBLE_ENV
from seqlib.course.explorer import Explorer
from seqlib.data import TimeSeries
from seqlib.moving_average import MovingAverageFit, fit_moving_average, moving_average

__all__ = [
    "moving_average_explorer",
    "TrailingMeanLag",
    "trailing_mean_lag",
    "flat_mean_rmse",
    "dominant_period",
    "plot_trailing_mean_forecasts",
    "EnvironmentCheck",
    "installed_versions",
    "check_environment",
]


# --------------------------------------------------------------------------------------------------
# Widgets
# --------------------------------------------------------------------------------------------------


def _decimal_years(series: TimeSeries) -> np.ndarray:
    return series.dates.astype("datetime64[M]").astype(float) / 12 + 1970


def moving_average_explorer(series: TimeSeries, window: int = 11, max_window: int = 60) -> Explorer:
    """A window slider over a series: redraws the trailing mean and reports its two errors."""
    values = series.values
    years = _decimal_years(series)

    def draw(fit: MovingAverageFit, fig: plt.Figure) -> None:
        ax = fig.add_subplot()
        ax.plot(years, values, color="0.7", lw=1, label=series.name)
        ax.plot(years[fit.window - 1 :], fit.smoothed, color="C0", lw=2, label=f"trailing mean of {fit.window}")
        ax.set_xlabel("year")
        ax.set_ylabel(series.units)
        ax.legend(loc="upper left")
        fig.tight_layout()

    def describe(fit: MovingAverageFit) -> str:
        return (
            f"window {fit.window}: smoothing RMSE {fit.smoothing_rmse:.2f}, "
            f"next-value forecast RMSE {fit.forecast_rmse:.2f} ({series.units})"
        )

    slider = widgets.IntSlider(value=window, min=1, max=max_window, description="window", continuous_update=False)
    return Explorer(lambda window: fit_moving_average(values, window), {"window": slider}, draw, describe)


# --------------------------------------------------------------------------------------------------
# The trailing mean's lag, and the flat line it falls back to
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrailingMeanLag:
    """How far behind the data a trailing mean of ``window`` values runs.

    ``expected``: (w − 1)/2, the centre of the window x_{t-w+1} … x_t seen from t (equal weights are
    symmetric about it).  ``measured``: the shift s (0 … ``max_shift``) for which the smoothed value at t
    correlates best with x_{t-s}; ``correlations[s]`` are those correlations.  As a forecast of x_{t+1}
    the trailing mean is one step later still: ``forecast_delay`` = (w + 1)/2.
    """

    window: int
    expected: float
    measured: int
    correlations: np.ndarray

    @property
    def forecast_delay(self) -> float:
        return self.expected + 1.0


def trailing_mean_lag(values: np.ndarray, window: int, max_shift: int = 10) -> TrailingMeanLag:
    """Measure the delay of the trailing mean of ``window`` values against the series itself.

    Compares ``mean(x_{t-w+1} … x_t)`` with ``x_{t-s}`` for s = 0 … ``max_shift`` over the same times t
    (those where every shift is available) and reports the best-correlated shift.
    """
    values = np.asarray(values, dtype=np.float64)
    if not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift must be a non-negative int, got {max_shift!r}")
    smoothed = moving_average(values, window)  # smoothed[j] is the mean ending at t = j + window - 1
    times = np.arange(window - 1 + max_shift, len(values))
    if len(times) < 3:
        raise ValueError(f"window={window} with max_shift={max_shift} leaves too few values to compare")
    at_t = smoothed[times - (window - 1)]
    correlations = np.array([np.corrcoef(at_t, values[times - s])[0, 1] for s in range(max_shift + 1)])
    return TrailingMeanLag(window, (window - 1) / 2, int(np.argmax(correlations)), correlations)


def flat_mean_rmse(values: np.ndarray) -> float:
    """RMSE of the flat line at the series' own mean: its (population) standard deviation.

    Not a forecaster (it uses every year, future included), but the level a window that averages
    whole cycles away falls back to.
    """
    values = np.asarray(values, dtype=np.float64)
    return float(np.sqrt(np.mean((values - values.mean()) ** 2)))


def dominant_period(values: np.ndarray) -> float:
    """The length (in steps) of the series' strongest cycle.

    The period of the sine wave that matches the series best: the peak of its periodogram
    |FFT(x − mean)|², constant term excluded.  For a series of N values the candidates are N/1, N/2, N/3, …
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) < 4:
        raise ValueError(f"need a 1-D series of at least 4 values, got shape {values.shape}")
    power = np.abs(np.fft.rfft(values - values.mean())) ** 2
    peak = 1 + int(np.argmax(power[1:]))
    return len(values) / peak


def plot_trailing_mean_forecasts(
    series: TimeSeries,
    window: int = 5,
    windows: Iterable[int] = range(1, 31),
    span: tuple[float, float] = (1900, 1960),
) -> plt.Figure:
    """The static figure of notebook 00.

    Left: the series over ``span`` and the trailing mean of ``window`` values drawn at the year it would
    forecast (one year after its last value): it runs (w + 1)/2 years late.  Right: the next-year forecast
    RMSE against w, with the flat line's error (the series' standard deviation) for reference.
    """
    values, years = series.values, _decimal_years(series)
    fit = fit_moving_average(values, window)
    lag = trailing_mean_lag(values, window)
    windows = list(windows)
    rmse = [fit_moving_average(values, w).forecast_rmse for w in windows]
    flat = flat_mean_rmse(values)

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [3, 2]})
    shown = (years >= span[0]) & (years <= span[1])
    left.plot(years[shown], values[shown], color="0.4", lw=1.5, label=f"{series.name} (observed)")
    forecast_years = years[window:]  # the mean of values[j : j+w] forecasts values[j+w]
    in_span = (forecast_years >= span[0]) & (forecast_years <= span[1])
    left.plot(
        forecast_years[in_span],
        fit.smoothed[:-1][in_span],
        color="C1",
        lw=2,
        label=f"forecast: mean of the last {window} years ({lag.forecast_delay:g} years late)",
    )
    left.set_xlabel("year")
    left.set_ylabel(series.units)
    left.set_title(f"a trailing mean is centred (w − 1)/2 = {lag.expected:g} years back")
    left.legend(loc="upper left", fontsize=8)

    right.plot(windows, rmse, marker=".", color="C0", label="trailing mean as forecaster")
    right.axhline(flat, color="0.5", ls="--", lw=1, label=f"flat line at the mean (std {flat:.1f})")
    for w in (window, 11):
        if w in windows:
            right.plot(w, rmse[windows.index(w)], "o", color="C1" if w == window else "C2")
            right.annotate(f"w = {w}", (w, rmse[windows.index(w)]), textcoords="offset points", xytext=(6, -12))
    right.set_xlabel("w (window, years)")
    right.set_ylabel(f"next-year forecast RMSE ({series.units})")
    right.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# Environment check
# --------------------------------------------------------------------------------------------------

PACKAGES = ("torch", "numpy", "matplotlib", "ipywidgets")
SUPPORTED_PYTHON = ((3, 11), (3, 13))  # pyproject's requires-python, inclusive
NEEDED = {"torch": (2, 0), "ipywidgets": (8, 0)}  # what the course's code needs to run at all


def _release(version: str) -> tuple[int, ...]:
    """(2, 13, 0) from '2.13.0+cpu'; leading numeric parts only."""
    numbers = []
    for part in version.split("+")[0].split("."):
        match = re.match(r"\d+", part)
        if match is None:
            break
        numbers.append(int(match.group()))
        if match.group() != part:
            break
    return tuple(numbers)


def installed_versions() -> dict[str, str | None]:
    """Python's version and each package's installed version (``None`` when it is not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in (*PACKAGES, "seqlib"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _pins() -> dict[str, str]:
    """The exact pins of seqlib's installed metadata (``pyproject.toml``), e.g. ``{"torch": "2.13.0"}``."""
    try:
        requirements = importlib.metadata.requires("seqlib") or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^;\s]+)\s*", requirement)
        if match:  # extras (";" markers) and ranges are not the core pins
            pins[match.group(1).lower()] = match.group(2)
    return pins


@dataclass(frozen=True)
class EnvironmentCheck:
    """What is installed, what stops the course (``problems``) and what only moves digits (``warnings``).

    ``verdict()`` is the same text on every machine where the course runs as pinned (Python 3.11–3.13,
    the pinned packages, the reproducible environment variables): the versions themselves are not in it.
    """

    versions: dict[str, str | None]
    problems: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def verdict(self) -> str:
        head = "environment OK for the course" if self.ok else "the course cannot run here"
        lines = [head]
        lines += [f"  problem: {p}" for p in self.problems]
        lines.append(f"warnings: {list(self.warnings)}")
        return "\n".join(lines)


def check_environment(
    versions: Mapping[str, str | None] | None = None,
    pins: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> EnvironmentCheck:
    """Check what the course needs; warn (never fail) where the stored digits may differ.

    Problems (the course's code cannot run): Python older than 3.11, torch missing or older than 2.0,
    ipywidgets missing or older than 8, NumPy or matplotlib missing.  Warnings (the notebooks run, but
    printed digits may differ from the stored outputs): Python newer than the tested 3.13, a package
    whose version differs from the pin in ``pyproject.toml``, pins unknown (seqlib not installed with
    pip), the reproducible environment (``MKL_CBWR``, ``ATEN_CPU_CAPABILITY``) not set.

    All three arguments default to this machine (installed versions, seqlib's pins, ``os.environ``).
    """
    versions = dict(installed_versions() if versions is None else versions)
    pins = _pins() if pins is None else dict(pins)
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    warnings: list[str] = []

    python = _release(versions.get("python") or "0")[:2]
    if python < SUPPORTED_PYTHON[0]:
        problems.append(f"Python {versions.get('python')} is older than 3.11, the oldest the course supports")
    elif python > SUPPORTED_PYTHON[1]:
        warnings.append(f"Python {versions.get('python')} is newer than 3.13, the newest the course is tested on")

    for name in PACKAGES:
        version = versions.get(name)
        if version is None:
            problems.append(f"{name} is not installed")
            continue
        needed = NEEDED.get(name)
        if needed and _release(version)[:2] < needed:
            problems.append(f"{name} {version} is older than {'.'.join(map(str, needed))}, which the course needs")
        elif name in pins and _release(version) != _release(pins[name]):
            warnings.append(f"{name} {version} is not the pinned {pins[name]}: printed digits may differ")
    if not pins:
        warnings.append("seqlib's pinned versions are unknown (seqlib not installed with pip -e .)")

    unset = [name for name, value in REPRODUCIBLE_ENV.items() if environ.get(name) != value]
    if unset:
        warnings.append(f"{', '.join(unset)} not set as `make` sets it: the last digits of trained models may differ")
    return EnvironmentCheck(versions, tuple(problems), tuple(warnings))
