"""The Explorer: controls tied to a pure seqlib function, a figure and a summary line.

An :class:`Explorer` ties a few ipywidgets controls to a ``compute`` function (covered by unit
tests) and redraws a figure and a one-line summary whenever a control moves.  The latest result
is kept in ``explorer.result`` so a notebook can drive a control (``explorer.controls["window"].value
= 11``) and then check what the model computed.  A ``ValueError`` from ``compute`` (an extreme or
invalid setting) is shown as a clear message in place of the figure, and kept in ``explorer.error``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display


class Explorer:
    """Controls → ``compute(**values)`` → ``draw(result, fig)`` and ``describe(result)``.

    Args:
        compute: pure function of the controls' values; returns the result to show.
        controls: name → ipywidgets control; the names are ``compute``'s keyword arguments.
        draw: fills a fresh matplotlib figure from the result.
        describe: one line of text about the result (shown under the controls).
        figsize: size of the figure, inches.
    """

    def __init__(
        self,
        compute: Callable[..., Any],
        controls: dict[str, widgets.ValueWidget],
        draw: Callable[[Any, plt.Figure], None] | None = None,
        describe: Callable[[Any], str] | None = None,
        figsize: tuple[float, float] = (8.0, 3.0),
    ) -> None:
        self.compute, self.controls, self.draw, self.describe = compute, controls, draw, describe
        self.figsize = figsize
        self.result: Any = None
        self.error: str | None = None
        self.summary = widgets.HTML(layout=widgets.Layout(min_height="1.5em"))
        self.summary.add_class("seqlib-summary")
        self.output = widgets.Output()
        self.widget = widgets.VBox([*controls.values(), self.summary, self.output])
        for control in controls.values():
            control.observe(self._on_change, names="value")
        self.update()

    def values(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def update(self) -> Any:
        """Recompute from the controls' current values and redraw; returns the result."""
        try:
            self.result, self.error = self.compute(**self.values()), None
        except ValueError as err:  # an extreme setting: say why instead of drawing
            self.result, self.error = None, str(err)
        if self.error is not None:
            self.summary.value = f"<b>cannot compute:</b> {self.error}"
        else:
            self.summary.value = self.describe(self.result) if self.describe else ""
        # wait=True avoids a flicker while the new figure is drawn; with nothing to draw, clear now
        self.output.clear_output(wait=self.error is None and self.draw is not None)
        if self.error is None and self.draw is not None:
            with self.output:
                fig = plt.figure(figsize=self.figsize)
                self.draw(self.result, fig)
                plt.show()
        return self.result

    def _on_change(self, _change: dict) -> None:
        self.update()

    def _ipython_display_(self) -> None:
        display(self.widget)
