"""Notebook 00's widget: the moving-average window changes the fit, extremes give a message."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from seqlib.course.nb00_welcome import moving_average_explorer  # noqa: E402
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
