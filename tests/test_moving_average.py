"""seqlib.moving_average: the trailing mean as a smoother and as a forecaster (behind notebook 00's widget)."""

from __future__ import annotations

import numpy as np
import pytest

from seqlib.moving_average import fit_moving_average, moving_average


def test_trailing_mean_by_hand() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    np.testing.assert_allclose(moving_average(values, 2), [1.5, 2.5, 3.5, 7.0])
    np.testing.assert_allclose(moving_average(values, 1), values)
    np.testing.assert_allclose(moving_average(values, 5), [4.0])


def test_fit_scores_the_smoother_and_the_next_value_forecast_by_hand() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    fit = fit_moving_average(values, 2)
    # smoothing: values[1:] - smoothed = [0.5, 0.5, 0.5, 3.0]
    assert fit.smoothing_rmse == pytest.approx(np.sqrt((3 * 0.25 + 9.0) / 4))
    # forecast: the mean of values[j:j+2] predicts values[j+2]: errors [1.5, 1.5, 6.5]
    assert fit.forecast_rmse == pytest.approx(np.sqrt((1.5**2 + 1.5**2 + 6.5**2) / 3))
    assert fit.window == 2 and len(fit.smoothed) == 4


def test_window_one_smooths_nothing_and_forecasts_with_the_last_value() -> None:
    values = np.array([3.0, 5.0, 4.0])
    fit = fit_moving_average(values, 1)
    assert fit.smoothing_rmse == 0.0
    assert fit.forecast_rmse == pytest.approx(np.sqrt((4 + 1) / 2))


@pytest.mark.parametrize(
    "values,window,fragment",
    [(np.ones(5), 0, "positive int"), (np.ones(5), 2.0, "positive int"), (np.ones(5), True, "positive int"),
     (np.ones(5), 6, "longer than the series"), (np.ones(5), 5, "nothing to forecast"),
     (np.ones((2, 3)), 2, "1-D")],
)
def test_bad_windows_and_series_are_refused_with_the_reason(values, window, fragment) -> None:
    with pytest.raises(ValueError, match=fragment):
        fit_moving_average(values, window)
