"""Notebook 00: the moving-average widget (the window changes the fit, extremes give a message), the
trailing mean's lag and the flat line behind the prose, the static figure, the environment check."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from seqlib.course.nb00_welcome import (  # noqa: E402
    check_environment,
    dominant_period,
    flat_mean_rmse,
    moving_average_explorer,
    plot_trailing_mean_forecasts,
    trailing_mean_lag,
)
from seqlib.data import load_sunspots_yearly  # noqa: E402
from seqlib.moving_average import fit_moving_average  # noqa: E402


def test_window_slider_refits_and_reports_both_errors() -> None:
    series = load_sunspots_yearly()
    explorer = moving_average_explorer(series, window=3)
    expected = fit_moving_average(series.values, 3)
    assert explorer.result.window == 3 and explorer.result.forecast_rmse == expected.forecast_rmse
    explorer.controls["window"].value = 11
    assert explorer.result.window == 11 and explorer.error is None
    assert f"{explorer.result.forecast_rmse:.2f}" in explorer.summary.value


def test_a_window_longer_than_the_series_is_a_message_not_a_crash() -> None:
    series = load_sunspots_yearly()
    explorer = moving_average_explorer(series, window=3, max_window=400)
    explorer.controls["window"].value = 400
    assert explorer.result is None and "longer than the series" in explorer.error


# --- the trailing mean's lag and the flat line -----------------------------------------------------


def test_trailing_mean_of_a_sine_lags_by_half_its_window_minus_one() -> None:
    t = np.arange(400)
    sine = np.sin(2 * np.pi * t / 40)  # a slow cycle: the smoothed copy is the sine delayed by (w-1)/2
    for window in (1, 3, 5, 7, 9):
        lag = trailing_mean_lag(sine, window)
        assert lag.expected == (window - 1) / 2 and lag.measured == lag.expected
        assert lag.forecast_delay == (window + 1) / 2


def test_trailing_mean_lag_on_sunspots_matches_the_symmetry_argument() -> None:
    values = load_sunspots_yearly().values
    assert [trailing_mean_lag(values, w).measured for w in (1, 3, 5, 7, 9)] == [0, 1, 2, 3, 4]


def test_trailing_mean_lag_refuses_a_series_too_short_to_compare() -> None:
    with pytest.raises(ValueError, match="too few values"):
        trailing_mean_lag(np.arange(12.0), 3, max_shift=10)
    with pytest.raises(ValueError, match="longer than the series"):
        trailing_mean_lag(np.arange(5.0), 6)


def test_flat_mean_rmse_is_the_population_standard_deviation() -> None:
    assert flat_mean_rmse(np.array([1.0, 3.0])) == 1.0
    values = load_sunspots_yearly().values
    assert flat_mean_rmse(values) == pytest.approx(np.std(values))


def test_dominant_period_of_a_sine_and_of_the_sunspots() -> None:
    assert dominant_period(np.sin(2 * np.pi * np.arange(120) / 12) + 5) == pytest.approx(12.0)
    assert 10.0 < dominant_period(load_sunspots_yearly().values) < 12.0
    with pytest.raises(ValueError, match="at least 4"):
        dominant_period(np.ones(3))


def test_static_figure_has_two_labelled_panels() -> None:
    fig = plot_trailing_mean_forecasts(load_sunspots_yearly(), window=5, windows=range(1, 13))
    left, right = fig.axes
    assert left.get_xlabel() == "year" and "RMSE" in right.get_ylabel()
    assert "3 years late" in left.get_legend().get_texts()[1].get_text()


# --- the environment check: report and warn, fail only on what the course needs ------------------

PINNED = {"torch": "2.13.0", "numpy": "2.4.6", "matplotlib": "3.11.2", "ipywidgets": "8.1.9"}
REPRODUCIBLE = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default"}


def _versions(**changes):
    versions = {"python": "3.11.7", "torch": "2.13.0+cpu", "numpy": "2.4.6", "matplotlib": "3.11.2"}
    versions |= {"ipywidgets": "8.1.9", "seqlib": "0.1.0"}
    return versions | changes


@pytest.mark.parametrize("python", ["3.11.7", "3.12.3", "3.13.0"])
def test_pinned_setup_gives_the_same_verdict_on_every_supported_python(python) -> None:
    check = check_environment(_versions(python=python, torch="2.13.0"), PINNED, REPRODUCIBLE)
    assert check.ok and check.warnings == ()
    assert check.verdict() == "environment OK for the course\nwarnings: []"


def test_other_versions_warn_but_do_not_fail() -> None:
    check = check_environment(_versions(python="3.14.0", torch="2.6.0", numpy="2.1.0"), PINNED, {})
    assert check.ok
    assert any("3.14.0 is newer than 3.13" in w for w in check.warnings)
    assert any("torch 2.6.0 is not the pinned 2.13.0" in w for w in check.warnings)
    assert any("numpy 2.1.0" in w for w in check.warnings)
    assert any("MKL_CBWR, ATEN_CPU_CAPABILITY not set" in w for w in check.warnings)
    assert check.verdict().startswith("environment OK for the course\nwarnings: [")


def test_unknown_pins_are_a_warning() -> None:
    check = check_environment(_versions(), {}, REPRODUCIBLE)
    assert check.ok and check.warnings == ("seqlib's pinned versions are unknown (seqlib not installed with pip -e .)",)


def test_what_the_course_cannot_run_without_is_a_problem() -> None:
    check = check_environment(_versions(python="3.10.4", torch="1.13.1", ipywidgets=None), PINNED, REPRODUCIBLE)
    assert not check.ok
    assert check.problems == (
        "Python 3.10.4 is older than 3.11, the oldest the course supports",
        "torch 1.13.1 is older than 2.0, which the course needs",
        "ipywidgets is not installed",
    )
    assert check.verdict().startswith("the course cannot run here\n  problem: Python 3.10.4")


def test_this_machine_is_checked_by_default() -> None:
    check = check_environment()
    assert check.ok and check.versions["torch"] is not None and check.versions["python"].count(".") == 2
