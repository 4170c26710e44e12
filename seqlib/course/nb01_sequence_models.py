"""Notebook 01 · sequence models: what the notebook shows and asks, computed here.

* **Widgets**: the AR(2) coefficients (φ1, φ2) with their roots, damping and period
  (:func:`ar2_explorer`), the AR window τ and forecast horizon on sunspots (:func:`ar_tau_explorer`), the
  n-gram order and smoothing on text (:func:`ngram_explorer`).  Each explorer's ``compute`` is a pure
  function here (:func:`ar2_roots`, :func:`ar_view`, :func:`ngram_view`) that the unit tests call
  directly; the widget only draws its result.
* **Measurements behind the prose**: the constant forecast the naive mean is compared with
  (:func:`constant_forecast`), the series' dominant period (:func:`dominant_period`, defined with
  notebook 00, which first names the cycle), how much a
  k-step forecast still agrees with the truth (:func:`forecast_agreement`), a sentence's log-probability
  by the chain rule (:func:`sequence_log_probability`).
* **Exercises** ``01.lag_features``, ``01.bigram_perplexity``, ``01.multi_step``, ``01.latent_step``:
  each reference is the solution a learner can reveal with ``seqlib.course.solution(name)``; each
  :class:`~seqlib.course.checker.Mistake` is a wrong variant whose output the checker recognises and
  names.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from seqlib.autoregressive import (
    ARFit,
    ARSweep,
    MultiStepResult,
    fit_linear_ar,
    k_step_ahead,
    linear_ar_sweep,
    split_point,
)
from seqlib.course.checker import Exercise, Mistake, register
from seqlib.course.explorer import Explorer
from seqlib.course.nb00_welcome import dominant_period  # the cycle's length, first met in notebook 00
from seqlib.data import TimeSeries, Vocab
from seqlib.ngram import SMOOTHINGS, NGramLanguageModel

__all__ = [
    "ConstantForecast",
    "constant_forecast",
    "AR2Roots",
    "ar2_roots",
    "ar2_explorer",
    "dominant_period",
    "ForecastAgreement",
    "forecast_agreement",
    "SequenceLogProbability",
    "sequence_log_probability",
    "ARView",
    "ar_view",
    "ar_tau_explorer",
    "NGramView",
    "ngram_view",
    "ngram_explorer",
    "LAG_FEATURES",
    "BIGRAM_PERPLEXITY",
    "MULTI_STEP",
    "LATENT_STEP",
]


# --------------------------------------------------------------------------------------------------
# Widgets: the AR window and horizon on sunspots, the n-gram order on text
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# Measurements behind the prose
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConstantForecast:
    """The flattest forecaster: every validation value predicted by one number, ``level`` (the training
    part's mean).  ``val_rmse`` in the series' units."""

    level: float
    val_rmse: float


def constant_forecast(values: np.ndarray, val_fraction: float = 0.2) -> ConstantForecast:
    """Forecast every validation value by the training part's mean (the baseline every model must beat)."""
    values = np.asarray(values, dtype=np.float64)
    cut = split_point(len(values), val_fraction)
    level = float(values[:cut].mean())
    return ConstantForecast(level, float(np.sqrt(np.mean((values[cut:] - level) ** 2))))


# --- AR(2): roots, damping, period ----------------------------------------------------------------


@dataclass(frozen=True)
class AR2Roots:
    """The dynamics of x_{t+1} = φ1 x_t + φ2 x_{t-1} (+ a constant).

    Trying x_t = λ^t gives the characteristic equation λ² = φ1 λ + φ2, with roots
    λ = (φ1 ± √(φ1² + 4 φ2)) / 2.  ``discriminant`` = φ1² + 4 φ2: below 0 the roots are a complex pair
    r e^{±iθ} and the response to a shock is r^t cos(θ t + phase), an oscillation of ``period`` 2π/θ steps
    whose amplitude is multiplied by ``modulus`` r = √(−φ2) each step.  ``modulus`` is the largest |λ|:
    below 1 every shock dies out (stationary), at or above 1 it does not.  ``impulse_response[j]`` is
    ψ_j, the value j steps after a unit shock (ψ_0 = 1, ψ_1 = φ1, ψ_j = φ1 ψ_{j-1} + φ2 ψ_{j-2}).
    """

    phi1: float
    phi2: float
    roots: tuple[complex, complex]
    discriminant: float
    modulus: float
    period: float | None
    impulse_response: np.ndarray

    @property
    def oscillates(self) -> bool:
        return self.discriminant < 0

    @property
    def on_unit_circle(self) -> bool:
        return abs(self.modulus - 1) < 1e-9

    @property
    def stationary(self) -> bool:
        return self.modulus < 1 and not self.on_unit_circle

    @property
    def damping_per_cycle(self) -> float | None:
        """The factor by which the oscillation's amplitude shrinks over one period (r ** period)."""
        return None if self.period is None else self.modulus**self.period

    def describe(self, unit: str = "step") -> str:
        """One line: the roots, the damping and the period (counted in ``unit`` + "s"), or why there is none."""
        if self.oscillates:
            root = self.roots[0]
            text = (
                f"complex roots {root.real:.3f} ± {abs(root.imag):.3f}i, |λ| = {self.modulus:.3f}, "
                f"period {self.period:.2f} {unit}s"
            )
        else:
            text = f"real roots {self.roots[0].real:.3f} and {self.roots[1].real:.3f}: no period (no cycle)"
            if self.roots[0].real < 0:
                text += ", the dominant root is negative: the response flips sign every step"
        if self.on_unit_circle:
            return text + "; |λ| = 1: a shock never dies out (not stationary)"
        if self.modulus > 1:
            return text + f"; explosive: |λ| = {self.modulus:.3f} > 1, a shock grows without bound"
        damping = f", amplitude × {self.damping_per_cycle:.3f} per cycle" if self.oscillates else ""
        return text + f"; damped: |λ| = {self.modulus:.3f} < 1, a shock dies out{damping}"


def ar2_roots(phi1: float, phi2: float, steps: int = 40) -> AR2Roots:
    """Roots, modulus, period and impulse response (``steps`` + 1 values) of AR(2) with (φ1, φ2)."""
    phi1, phi2 = float(phi1), float(phi2)
    if not (np.isfinite(phi1) and np.isfinite(phi2)):
        raise ValueError(f"phi1 and phi2 must be finite, got {phi1}, {phi2}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    discriminant = phi1**2 + 4 * phi2
    root = np.sqrt(complex(discriminant))  # purely imaginary when discriminant < 0
    roots = sorted(((phi1 + root) / 2, (phi1 - root) / 2), key=lambda z: (-abs(z), -z.imag))
    modulus = abs(roots[0])
    if discriminant < 0:
        theta = abs(np.angle(roots[0]))  # in (0, π): the rotation per step
        period: float | None = 2 * np.pi / theta
    else:
        period = None
    psi = np.empty(steps + 1)
    psi[0] = 1.0
    psi[1] = phi1
    for j in range(2, steps + 1):
        psi[j] = phi1 * psi[j - 1] + phi2 * psi[j - 2]
    return AR2Roots(phi1, phi2, (complex(roots[0]), complex(roots[1])), discriminant, modulus, period, psi)


def _draw_ar2(view: AR2Roots, fig: plt.Figure, unit: str = "step") -> None:
    response, roots_ax, plane = fig.subplots(1, 3, gridspec_kw={"width_ratios": [5, 3, 3]})
    j = np.arange(len(view.impulse_response))
    response.axhline(0, color="0.7", lw=0.8)
    response.plot(j, view.impulse_response, marker=".", color="C0", label=r"$\psi_j$")
    if view.stationary:
        envelope = view.modulus**j
        response.plot(j, envelope, color="C1", ls=":", lw=1, label=r"decay rate $\pm|\lambda|^j$")
        response.plot(j, -envelope, color="C1", ls=":", lw=1)
    else:
        response.set_yscale("symlog", linthresh=1.0)  # explosive: the growth is exponential
    response.set_xlabel(f"{unit}s after a unit shock")
    response.set_ylabel(r"response $\psi_j$")
    title = f"period {view.period:.1f} {unit}s" if view.period is not None else "no period (real roots)"
    if not view.stationary:
        title += ", |λ| = 1: never dies out" if view.on_unit_circle else ", explosive"
    response.set_title(title)
    response.legend(loc="best", fontsize=8)

    circle = np.linspace(0, 2 * np.pi, 200)
    roots_ax.plot(np.cos(circle), np.sin(circle), color="0.6", lw=1, label="|λ| = 1")
    roots_ax.plot([z.real for z in view.roots], [z.imag for z in view.roots], "o", color="C3", label="roots λ")
    roots_ax.axhline(0, color="0.85", lw=0.8)
    roots_ax.axvline(0, color="0.85", lw=0.8)
    limit = max(1.2, 1.1 * view.modulus)
    roots_ax.set_xlim(-limit, limit)
    roots_ax.set_ylim(-limit, limit)
    roots_ax.set_aspect("equal")
    roots_ax.set_xlabel("real part")
    roots_ax.set_ylabel("imaginary part")
    roots_ax.set_title(f"roots, |λ| = {view.modulus:.3f}")
    roots_ax.legend(loc="lower right", fontsize=7)

    phi1 = np.linspace(-2, 2, 200)
    plane.fill([-2, 2, 0], [-1, -1, 1], color="C2", alpha=0.15, label="stationary")
    plane.plot(phi1, -(phi1**2) / 4, color="C0", lw=1, label="φ1² + 4φ2 = 0")
    plane.plot(view.phi1, view.phi2, "o", color="C3")
    plane.set_xlim(-2.2, 2.2)
    plane.set_ylim(-1.2, 1.2)
    plane.set_xlabel("φ1 (weight of x_t)")
    plane.set_ylabel("φ2 (weight of x_t−1)")
    plane.set_title("below the curve: a cycle")
    plane.legend(loc="upper right", fontsize=7)
    fig.tight_layout()


def ar2_explorer(phi1: float = 1.0, phi2: float = -0.5, steps: int = 40, unit: str = "step") -> Explorer:
    """Sliders for φ1 and φ2 of AR(2): the impulse response, the roots on the complex plane and the point
    in the (φ1, φ2) plane; the summary gives the roots, |λ| (damping) and the period, or why there is none."""
    controls = {
        "phi1": widgets.FloatSlider(
            value=phi1, min=-2.0, max=2.0, step=0.01, description="φ1", readout_format=".3f", continuous_update=False
        ),
        "phi2": widgets.FloatSlider(
            value=phi2, min=-1.0, max=1.0, step=0.01, description="φ2", readout_format=".3f", continuous_update=False
        ),
    }

    def compute(phi1: float, phi2: float) -> AR2Roots:
        return ar2_roots(phi1, phi2, steps)

    def draw(view: AR2Roots, fig: plt.Figure) -> None:
        _draw_ar2(view, fig, unit)

    def describe(view: AR2Roots) -> str:
        return f"φ1 = {view.phi1:.3f}, φ2 = {view.phi2:.3f}: " + html.escape(view.describe(unit))

    return Explorer(compute, controls, draw, describe, figsize=(11.0, 3.2))


# --- k steps ahead: what a forecast still knows -----------------------------------------------------


@dataclass(frozen=True)
class ForecastAgreement:
    """How a k-step-ahead forecast agrees with the truth, and where its squared error comes from.

    ``correlation``: Pearson correlation of forecasts and observed values (timing: 1 = the ups and downs
    at the right years).  ``amplitude_ratio``: std of the forecasts / std of the observed values.
    ``mse = level + amplitude + timing`` exactly (Murphy's decomposition):
    level = (mean forecast − mean observed)², amplitude = (σ_f − σ_o)², timing = 2 σ_f σ_o (1 − correlation).
    """

    k: int
    rmse: float
    correlation: float
    amplitude_ratio: float
    forecast_mean: float
    observed_mean: float
    level: float
    amplitude: float
    timing: float


def forecast_agreement(result: MultiStepResult, k: int) -> ForecastAgreement:
    """Correlation, amplitude and the error decomposition of the k-step-ahead forecasts in ``result``."""
    if k not in result.predictions:
        raise ValueError(f"k={k} was not forecast; available: {sorted(result.predictions)}")
    forecast, observed = np.asarray(result.predictions[k]), np.asarray(result.labels)
    sigma_f, sigma_o = float(forecast.std()), float(observed.std())
    correlation = float(np.corrcoef(forecast, observed)[0, 1])
    return ForecastAgreement(
        k,
        float(np.sqrt(np.mean((forecast - observed) ** 2))),
        correlation,
        sigma_f / sigma_o,
        float(forecast.mean()),
        float(observed.mean()),
        float((forecast.mean() - observed.mean()) ** 2),
        (sigma_f - sigma_o) ** 2,
        2 * sigma_f * sigma_o * (1 - correlation),
    )


# --- a sentence's probability by the chain rule ------------------------------------------------------


@dataclass(frozen=True)
class SequenceLogProbability:
    """log P(x_1 … x_T) = Σ_t log P(x_t | x_<t), one term per token.

    ``conditional[t]`` is log P(tokens[t] | tokens[:t]) under the model (the first term conditions on
    nothing); ``total`` is their sum, in nats.
    """

    tokens: tuple[str, ...]
    conditional: np.ndarray
    total: float


def sequence_log_probability(model: NGramLanguageModel, vocab: Vocab, text: str) -> SequenceLogProbability:
    """Score ``text`` one character at a time: each factor from the model's next-token distribution given
    everything before it (the model itself looks at the last n − 1 characters only)."""
    tokens = tuple(text)
    ids = vocab.encode(list(tokens))
    conditional = np.array([float(torch.log(model.next_token_distribution(ids[:t])[ids[t]])) for t in range(len(ids))])
    return SequenceLogProbability(tokens, conditional, float(conditional.sum()))


# --- AR(τ) on a series --------------------------------------------------------------------------


@dataclass(frozen=True)
class ARView:
    """What the AR explorer shows: the linear AR(τ) fit, its k-step-ahead forecasts of the
    validation years, and the sweep of train/validation RMSE over τ (computed once)."""

    fit: ARFit
    forecast: MultiStepResult
    steps_ahead: int
    sweep: ARSweep | None

    @property
    def forecast_rmse(self) -> float:
        return self.forecast.rmse[self.steps_ahead]


def ar_view(
    values: np.ndarray, tau: int, steps_ahead: int = 1, val_fraction: float = 0.2, sweep: ARSweep | None = None
) -> ARView:
    """Fit linear AR(τ) by least squares and forecast every validation value ``steps_ahead`` ahead.

    Raises ``ValueError`` (shown by the explorer) when τ is too large for the series.
    """
    fit = fit_linear_ar(values, tau, val_fraction)
    return ARView(fit, k_step_ahead(fit, values, (steps_ahead,)), steps_ahead, sweep)


def ar_tau_explorer(
    series: TimeSeries,
    tau: int = 2,
    steps_ahead: int = 1,
    max_tau: int = 150,
    max_steps_ahead: int = 16,
    val_fraction: float = 0.2,
) -> Explorer:
    """Sliders for τ (window) and k (steps ahead) over linear AR(τ) on ``series``.

    Left: the validation years, the truth and the k-step-ahead forecasts.  Right: train and
    validation RMSE against τ (every fittable τ up to ``max_tau``), the current τ marked.
    """
    values = series.values
    years = series.dates.astype("datetime64[Y]").astype(int) + 1970
    fittable = min(max_tau, (int(round(len(values) * (1 - val_fraction))) - 1) // 2)
    sweep = linear_ar_sweep(values, range(1, fittable + 1), val_fraction)

    def draw(view: ARView, fig: plt.Figure) -> None:
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        index = view.forecast.label_index
        left.plot(years[index], view.forecast.labels, color="0.3", lw=1.5, label="observed")
        k = view.steps_ahead
        left.plot(
            years[index], view.forecast.predictions[k], color="C1", lw=1.5, label=f"AR({view.fit.tau}), {k} ahead"
        )
        left.set_xlabel("year")
        left.set_ylabel(f"{series.units} (yearly mean)")
        left.set_title("validation years")
        left.legend(loc="upper right", fontsize=8)
        right.plot(sweep.taus, sweep.train_rmse, color="C0", label="train")
        right.plot(sweep.taus, sweep.val_rmse, color="C3", label="validation")
        right.axvline(view.fit.tau, color="0.5", ls="--", lw=1)
        right.set_xscale("log")
        right.set_yscale("log")  # the longest windows interpolate: training error -> 0, validation explodes
        right.set_ylim(0.5 * sweep.val_rmse.min(), 2 * sweep.val_rmse.max())
        right.set_xlabel("τ (window length, years)")
        right.set_ylabel(f"1-step RMSE ({series.units})")
        right.legend(loc="upper left", fontsize=8)
        fig.tight_layout()

    def describe(view: ARView) -> str:
        fit = view.fit
        return (
            f"AR({fit.tau}), {fit.num_parameters} parameters: one-step RMSE train {fit.train_rmse:.1f}, "
            f"validation {fit.val_rmse:.1f}; {view.steps_ahead} step(s) ahead: {view.forecast_rmse:.1f} {series.units}"
        )

    controls = {
        "tau": widgets.IntSlider(value=tau, min=1, max=max_tau, description="τ", continuous_update=False),
        "steps_ahead": widgets.IntSlider(
            value=steps_ahead, min=1, max=max_steps_ahead, description="steps ahead", continuous_update=False
        ),
    }

    def compute(tau: int, steps_ahead: int) -> ARView:
        return ar_view(values, tau, steps_ahead, val_fraction, sweep)

    return Explorer(compute, controls, draw, describe, figsize=(9.0, 3.2))


# --- n-gram order on text -------------------------------------------------------------------------


@dataclass(frozen=True)
class NGramView:
    """What the n-gram explorer shows: perplexities, sparsity, the next-token distribution after
    ``prompt`` and a sampled continuation (seeded)."""

    n: int
    smoothing: str
    train_perplexity: float
    val_perplexity: float
    unseen_fraction: float
    num_counts: int
    prompt: str
    next_token: torch.Tensor
    sample: str


def ngram_view(
    train: torch.Tensor,
    val: torch.Tensor,
    vocab: Vocab,
    n: int,
    smoothing: str = "interpolated",
    prompt: str = "the time traveller ",
    length: int = 60,
    seed: int = 0,
    k: float = 1.0,
) -> NGramView:
    """Fit an n-gram model on ``train`` and report what the explorer shows (pure, deterministic)."""
    model = NGramLanguageModel(n, len(vocab), smoothing, k).fit(train)
    prefix = vocab.encode(list(prompt))
    sample = "".join(vocab.decode(model.sample(prefix, length, seed=seed)))
    return NGramView(
        n,
        smoothing,
        model.perplexity(train),
        model.perplexity(val),
        model.unseen_fraction(val),
        model.num_counts,
        prompt,
        model.next_token_distribution(prefix),
        sample,
    )


def ngram_explorer(
    train: torch.Tensor,
    val: torch.Tensor,
    vocab: Vocab,
    n: int = 2,
    smoothing: str = "interpolated",
    prompt: str = "the time traveller ",
    max_n: int = 10,
) -> Explorer:
    """A slider for the order n and a menu for the smoothing of a character n-gram model."""

    def draw(view: NGramView, fig: plt.Figure) -> None:
        ax = fig.add_subplot()
        shown = {" ": "␣", Vocab.UNK: "?"}
        tokens = [shown.get(t, t) for t in vocab.idx_to_token]
        ax.bar(range(len(tokens)), view.next_token.numpy(), color="C2")
        ax.set_xticks(range(len(tokens)), tokens, fontsize=8)
        ax.set_xlabel("next character (␣ = space, ? = unknown)")
        ax.set_ylabel("probability")
        ax.set_title(f"{view.n}-gram, p(next | …{view.prompt[-max(view.n - 1, 0) :]!r})" if view.n > 1 else "unigram")
        fig.tight_layout()

    def describe(view: NGramView) -> str:
        return (
            f"n={view.n} ({view.smoothing}): perplexity train {view.train_perplexity:.2f}, "
            f"validation {view.val_perplexity:.2f}; {100 * view.unseen_fraction:.2f}% of validation "
            f"{view.n}-grams never seen in training; sample: <code>{html.escape(view.prompt + view.sample)}</code>"
        )

    controls = {
        "n": widgets.IntSlider(value=n, min=1, max=max_n, description="n", continuous_update=False),
        "smoothing": widgets.Dropdown(options=list(SMOOTHINGS), value=smoothing, description="smoothing"),
    }

    def compute(n: int, smoothing: str) -> NGramView:
        return ngram_view(train, val, vocab, n, smoothing, prompt)

    return Explorer(compute, controls, draw, describe, figsize=(8.0, 2.8))


# --------------------------------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------------------------------


# --- 01.lag_features -----------------------------------------------------------------------------


def lag_features(series: torch.Tensor, tau: int) -> tuple[torch.Tensor, torch.Tensor]:
    T = len(series)
    # row j is the window x_j … x_{j+tau-1} (oldest first); its label is x_{j+tau}, the value after it
    features = torch.stack([series[i : T - tau + i] for i in range(tau)], dim=1)  # (T - tau, tau)
    labels = series[tau:]  # (T - tau,)
    return features, labels


def _lag_label_in_window(series, tau):
    features, _ = lag_features(series, tau)
    return features, series[tau - 1 : len(series) - 1]


def _lag_window_includes_label(series, tau):
    T = len(series)
    features = torch.stack([series[i + 1 : T - tau + i + 1] for i in range(tau)], dim=1)
    return features, series[tau:]


def _lag_window_one_step_early(series, tau):
    # the window x_j … x_{j+tau-1} is paired with x_{j+tau+1}: one value is skipped between them
    features, labels = lag_features(series, tau)
    return features[:-1], labels[1:]


def _lag_transposed(series, tau):
    features, labels = lag_features(series, tau)
    return features.T, labels


def _lag_newest_first(series, tau):
    features, labels = lag_features(series, tau)
    return features.flip(1), labels


def _lag_one_window_short(series, tau):
    features, labels = lag_features(series, tau)
    return features[:-1], labels[:-1]


LAG_FEATURES = register(
    Exercise(
        name="01.lag_features",
        title="build the lag features of AR(tau)",
        hint=(
            "each row is a window of tau consecutive values, oldest first, and its label is the value that comes "
            "right after the window: neither inside it nor one step later. Only a window that still has a value "
            "after it gets a row."
        ),
        reference=lag_features,
        cases=lambda: [
            (torch.arange(9.0), 3),
            (torch.sin(0.7 * torch.arange(15.0)), 4),
            (torch.tensor([2.0, -1.0, 0.5, 3.0, 1.5, -2.0]), 1),
        ],
        mistakes=[
            Mistake(
                "your window includes x_t itself: off by one. The window must end one step *before* "
                "its label (the label is series[j + tau], the window series[j : j + tau])",
                _lag_window_includes_label,
            ),
            Mistake(
                "your label is the last value of its own window: the model would be asked to predict "
                "a value it is given. The label is the value *after* the window",
                _lag_label_in_window,
            ),
            Mistake(
                "your window ends one step early: one value is skipped between the window and its label (the "
                "window ends at x_{t-1}, the label is x_{t+1}, and x_t is in neither); off by one the other way. "
                "The label is the value right after the window",
                _lag_window_one_step_early,
            ),
            Mistake(
                "features have shape (tau, N) where (N, tau) was expected: one row per window, one column per lag",
                _lag_transposed,
            ),
            Mistake(
                "your windows are newest first; the course's convention (seqlib.data.sliding_windows) "
                "is oldest first, with x_t in the last column",
                _lag_newest_first,
            ),
            Mistake(
                "you made one window too few: a series of T values has T - tau windows with a label",
                _lag_one_window_short,
            ),
        ],
    )
)


# --- 01.bigram_perplexity ------------------------------------------------------------------------


def bigram_perplexity(train: torch.Tensor, val: torch.Tensor, vocab_size: int, k: float) -> float:
    counts = torch.zeros(vocab_size, vocab_size)  # counts[prev, next]
    for prev, nxt in zip(train[:-1].tolist(), train[1:].tolist(), strict=True):
        counts[prev, nxt] += 1
    # add-k smoothing: p(next | prev) = (c(prev, next) + k) / (c(prev) + k V)
    probs = (counts + k) / (counts.sum(dim=1, keepdim=True) + k * vocab_size)
    p = probs[val[:-1], val[1:]]  # p(val[t] | val[t-1]) for t = 1 … len(val) - 1
    return torch.exp(-torch.log(p).mean()).item()  # exp of the mean negative log-probability


def _bigram_counts(train, vocab_size):
    counts = torch.zeros(vocab_size, vocab_size)
    for prev, nxt in zip(train[:-1].tolist(), train[1:].tolist(), strict=True):
        counts[prev, nxt] += 1
    return counts


def _bigram_probs(train, val, vocab_size, k):
    counts = _bigram_counts(train, vocab_size)
    probs = (counts + k) / (counts.sum(dim=1, keepdim=True) + k * vocab_size)
    return probs[val[:-1], val[1:]]


def _bigram_no_exp(train, val, vocab_size, k):
    return (-torch.log(_bigram_probs(train, val, vocab_size, k)).mean()).item()


def _bigram_bits(train, val, vocab_size, k):
    return (-torch.log2(_bigram_probs(train, val, vocab_size, k)).mean()).item()


def _bigram_mean_probability(train, val, vocab_size, k):
    return (1.0 / _bigram_probs(train, val, vocab_size, k).mean()).item()


def _bigram_unsmoothed(train, val, vocab_size, k):
    counts = _bigram_counts(train, vocab_size)
    probs = counts / counts.sum(dim=1, keepdim=True)
    p = probs[val[:-1], val[1:]]
    return torch.exp(-torch.log(p).mean()).item()


def _bigram_no_kv(train, val, vocab_size, k):
    counts = _bigram_counts(train, vocab_size)
    probs = (counts + k) / (counts.sum(dim=1, keepdim=True) + k)
    return torch.exp(-torch.log(probs[val[:-1], val[1:]]).mean()).item()


def _bigram_column_normalised(train, val, vocab_size, k):
    counts = _bigram_counts(train, vocab_size)
    probs = (counts + k) / (counts.sum(dim=0, keepdim=True) + k * vocab_size)
    return torch.exp(-torch.log(probs[val[:-1], val[1:]]).mean()).item()


def _bigram_swapped_lookup(train, val, vocab_size, k):
    counts = _bigram_counts(train, vocab_size)
    probs = (counts + k) / (counts.sum(dim=1, keepdim=True) + k * vocab_size)
    return torch.exp(-torch.log(probs[val[1:], val[:-1]]).mean()).item()


def _bigram_sum(train, val, vocab_size, k):
    return torch.exp(-torch.log(_bigram_probs(train, val, vocab_size, k)).sum()).item()


BIGRAM_PERPLEXITY = register(
    Exercise(
        name="01.bigram_perplexity",
        title="bigram (Markov) perplexity from counts",
        hint=(
            "a table of how often each token follows each other one, one row per previous token. Smoothing gives "
            "every pair k extra counts, and each row must still sum to 1 afterwards. Perplexity is a geometric mean: "
            "average the surprise, -log p, over the validation pairs, then undo the logarithm."
        ),
        reference=bigram_perplexity,
        cases=lambda: [
            (torch.tensor([0, 1, 2, 1, 0, 1, 2, 2, 1, 0, 2]), torch.tensor([1, 2, 1, 0, 0, 3, 1]), 4, 1.0),
            (torch.tensor([2, 0, 2, 1, 1, 2, 0, 0, 1, 2, 2]), torch.tensor([0, 2, 2, 1, 0, 1]), 3, 0.5),
        ],
        mistakes=[
            Mistake(
                "you did not smooth: a bigram never seen in training gets probability 0 (0/0, NaN, after a token never "
                "seen at all), and one such token makes the perplexity infinite. Add k to every count and k*V to "
                "every row total",
                _bigram_unsmoothed,
            ),
            Mistake(
                "you forgot the exp: that is the mean negative log-likelihood (the cross-entropy in nats); "
                "perplexity = exp(cross-entropy)",
                _bigram_no_exp,
            ),
            Mistake(
                "you returned the cross-entropy in bits (mean -log2 p); perplexity = 2 ** bits = exp(nats)",
                _bigram_bits,
            ),
            Mistake(
                "you averaged the probabilities: perplexity is exp of the mean *negative log*-probability "
                "(a geometric mean), not 1 / (arithmetic mean of p)",
                _bigram_mean_probability,
            ),
            Mistake(
                "your rows do not sum to 1: adding k to each of the V counts of a row adds k*V (not k) to its total",
                _bigram_no_kv,
            ),
            Mistake(
                "you normalised over the previous token (column sums); p(next | prev) divides by the count of "
                "prev, the sum of its row",
                _bigram_column_normalised,
            ),
            Mistake(
                "you looked up p(prev | next): rows are the previous token, columns the next one "
                "(probs[val[:-1], val[1:]])",
                _bigram_swapped_lookup,
            ),
            Mistake(
                "you exponentiated the total negative log-likelihood; perplexity uses its mean (per token)",
                _bigram_sum,
            ),
        ],
    )
)


# --- 01.multi_step --------------------------------------------------------------------------------


def forecast(
    predict: Callable[[torch.Tensor], torch.Tensor], series: torch.Tensor, start: int, tau: int, steps: int
) -> torch.Tensor:
    window = series[start - tau : start].clone()  # the last tau *known* values, oldest first
    out = []
    for _ in range(steps):
        next_value = predict(window)  # a 0-d tensor
        out.append(next_value)
        window = torch.cat([window[1:], next_value.reshape(1)])  # drop the oldest, feed the forecast back
    return torch.stack(out)  # (steps,)


def _forecast_teacher_forcing(predict, series, start, tau, steps):
    return torch.stack([predict(series[start + i - tau : start + i]) for i in range(steps)])


def _forecast_frozen_window(predict, series, start, tau, steps):
    window = series[start - tau : start]
    return torch.stack([predict(window) for _ in range(steps)])


def _forecast_prepended(predict, series, start, tau, steps):
    window, out = series[start - tau : start].clone(), []
    for _ in range(steps):
        out.append(predict(window))
        window = torch.cat([out[-1].reshape(1), window[:-1]])
    return torch.stack(out)


def _forecast_peeks(predict, series, start, tau, steps):
    return forecast(predict, series, start + 1, tau, steps)


class _LinearPredictor:
    """x̂ = w · window + b, a fixed AR(τ) model for the exercise's cases."""

    def __init__(self, weights: list[float], bias: float) -> None:
        self.weights, self.bias = torch.tensor(weights), bias

    def __call__(self, window: torch.Tensor) -> torch.Tensor:
        return (self.weights * window).sum() + self.bias

    def __repr__(self) -> str:
        return f"LinearPredictor(weights={self.weights.tolist()}, bias={self.bias})"


MULTI_STEP = register(
    Exercise(
        name="01.multi_step",
        title="forecast several steps ahead by feeding predictions back",
        hint=(
            "at time start you know only the values before it. Each forecast joins the window for the next one: "
            "the window keeps its length and its order (oldest first), so a value must leave it when a forecast "
            "enters."
        ),
        reference=forecast,
        cases=lambda: [
            (_LinearPredictor([-0.5, 0.3, 1.1], 0.1), torch.sin(0.6 * torch.arange(30.0)) * 3, 12, 3, 6),
            (
                _LinearPredictor([0.2, 0.7], -0.2),
                torch.cos(0.9 * torch.arange(20.0)) + 0.05 * torch.arange(20.0),
                8,
                2,
                5,
            ),
        ],
        mistakes=[
            Mistake(
                "you fed the true values back in (teacher forcing): a forecast made at time `start` cannot read "
                "series[start], series[start + 1], …; feed your own predictions back",
                _forecast_teacher_forcing,
            ),
            Mistake(
                "your window never moves: every step predicts from the same tau values, so all forecasts are equal; "
                "after each step drop the oldest value and append the prediction",
                _forecast_frozen_window,
            ),
            Mistake(
                "you put the prediction at the front of the window; windows are oldest first, so the newest value "
                "(your prediction) goes last",
                _forecast_prepended,
            ),
            Mistake(
                "your first window ends at series[start], the first value you are asked to forecast: off by one "
                "(the window is series[start - tau : start])",
                _forecast_peeks,
            ),
        ],
    )
)


# --- 01.latent_step --------------------------------------------------------------------------------


def latent_step(
    x_t: torch.Tensor, h: torch.Tensor, W_ih: torch.Tensor, W_hh: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    # h_t = tanh(W_ih x_t + W_hh h_{t-1} + b), b = b_ih + b_hh in one vector
    # one row per batch item: x_t (B, I), h (B, H)
    return torch.tanh(x_t @ W_ih.T + h @ W_hh.T + b)  # (B, H)


def _latent_forgets_past(x_t, h, W_ih, W_hh, b):
    return torch.tanh(x_t @ W_ih.T + b)


def _latent_ignores_input(x_t, h, W_ih, W_hh, b):
    return torch.tanh(h @ W_hh.T + b)


def _latent_sigmoid(x_t, h, W_ih, W_hh, b):
    return torch.sigmoid(x_t @ W_ih.T + h @ W_hh.T + b)


def _latent_linear(x_t, h, W_ih, W_hh, b):
    return x_t @ W_ih.T + h @ W_hh.T + b


def _latent_untransposed(x_t, h, W_ih, W_hh, b):
    return torch.tanh(x_t @ W_ih.T + h @ W_hh + b)


def _latent_bias_outside(x_t, h, W_ih, W_hh, b):
    return torch.tanh(x_t @ W_ih.T + h @ W_hh.T) + b


def _latent_cases() -> list[tuple]:
    generator = torch.Generator().manual_seed(1)
    B, I, H = 2, 3, 4

    def draw(*shape):
        return torch.randn(*shape, generator=generator)

    return [(draw(B, I), draw(B, H), draw(H, I), draw(H, H), draw(H)) for _ in range(2)]


LATENT_STEP = register(
    Exercise(
        name="01.latent_step",
        title="one update of the latent state h_t = f(h_{t-1}, x_t)",
        hint=(
            "the new state mixes the new input and the previous state, each through its own weight matrix, adds the "
            "bias, and only then squashes the sum into (-1, 1). Rows are batch items: work out which way round each "
            "matrix must be used for the result to have shape (B, H)."
        ),
        reference=latent_step,
        cases=_latent_cases,
        mistakes=[
            Mistake(
                "your state forgets the past: without W_hh h_{t-1} the new state depends on x_t alone "
                "(that is a Markov model, not a latent autoregressive one)",
                _latent_forgets_past,
            ),
            Mistake("your state ignores the new input x_t: add W_ih x_t", _latent_ignores_input),
            Mistake("you applied a sigmoid where the state update uses tanh (values in (-1, 1))", _latent_sigmoid),
            Mistake(
                "you forgot the tanh: without a nonlinearity the state is a linear function of the past",
                _latent_linear,
            ),
            Mistake(
                "you multiplied h by W_hh instead of W_hh.T: with one row per batch item the product is h @ W_hh.T",
                _latent_untransposed,
            ),
            Mistake(
                "you added the bias after the tanh: the bias belongs inside, with the two products, before the "
                "nonlinearity (added outside, it shifts the state out of (-1, 1))",
                _latent_bias_outside,
            ),
        ],
    )
)
