"""The simplest look at a sequence: a trailing moving average.

``smoothed[t]`` averages the ``window`` values *up to and including* ``t``, so it only uses the
past and the present.  Shifted by one step, it is a forecaster: the mean of the last ``window``
values predicts the next one, an autoregressive model whose weights are all ``1/window``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean of the last ``window`` values, (N,) → (N - window + 1,).

    ``out[j] = mean(values[j : j + window])``; ``window=1`` returns the series unchanged.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {values.shape}")
    if not isinstance(window, int | np.integer) or isinstance(window, bool) or window < 1:
        raise ValueError(f"window must be a positive int, got {window!r}")
    if window > len(values):
        raise ValueError(f"window={window} is longer than the series ({len(values)} values)")
    # cumulative sums: sum(values[j:j+w]) = cumsum[j+w] - cumsum[j]
    cumsum = np.concatenate([[0.0], np.cumsum(values)])
    return (cumsum[window:] - cumsum[:-window]) / window


@dataclass(frozen=True)
class MovingAverageFit:
    """How well a trailing mean of ``window`` values describes and forecasts the series.

    ``smoothed``: the trailing mean, aligned with ``values[window-1:]``.
    ``smoothing_rmse``: RMS distance between the series and its smoothed version.
    ``forecast_rmse``: RMS error when the mean of the last ``window`` values predicts the next value.
    """

    window: int
    smoothed: np.ndarray
    smoothing_rmse: float
    forecast_rmse: float


def fit_moving_average(values: np.ndarray, window: int) -> MovingAverageFit:
    """Smooth ``values`` with a trailing window and score it as a smoother and as a forecaster."""
    values = np.asarray(values, dtype=np.float64)
    smoothed = moving_average(values, window)
    if window >= len(values):
        raise ValueError(f"window={window} leaves nothing to forecast in a series of {len(values)} values")
    smoothing_rmse = float(np.sqrt(np.mean((values[window - 1 :] - smoothed) ** 2)))
    # the mean of values[j : j+window] forecasts values[j+window]
    forecast_rmse = float(np.sqrt(np.mean((values[window:] - smoothed[:-1]) ** 2)))
    return MovingAverageFit(window, smoothed, smoothing_rmse, forecast_rmse)
