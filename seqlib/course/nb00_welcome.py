"""Notebook 00 · welcome: what the notebook shows, computed here.

* **Widget**: :func:`moving_average_explorer`, a window slider over a series that redraws the trailing
  mean (``seqlib.moving_average``) and reports its errors as a smoother and as a forecaster.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt

from seqlib.course.explorer import Explorer
from seqlib.data import TimeSeries
from seqlib.moving_average import MovingAverageFit, fit_moving_average

__all__ = [
    "moving_average_explorer",
]


# --------------------------------------------------------------------------------------------------
# Widgets
# --------------------------------------------------------------------------------------------------


def moving_average_explorer(series: TimeSeries, window: int = 11, max_window: int = 60) -> Explorer:
    """A window slider over a series: redraws the trailing mean and reports its two errors."""
    values = series.values
    years = series.dates.astype("datetime64[M]").astype(float) / 12 + 1970  # decimal years

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
