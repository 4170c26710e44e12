"""The Explorer: controls tied to a pure seqlib function, a figure and a summary line.

An :class:`Explorer` ties a few ipywidgets controls to a ``compute`` function (covered by unit
tests) and redraws a figure and a one-line summary whenever a control moves.  The latest result
is kept in ``explorer.result`` so a notebook can drive a control (``explorer.controls["window"].value
= 11``) and then check what the model computed.

No setting of a control can raise out of a widget (an exception raised inside an ipywidgets callback
would otherwise print a traceback into the log, or be lost, and leave a stale figure).  A failure is
shown as a message in place of the figure and kept in ``explorer.error``:

- a ``ValueError`` from ``compute`` (an extreme or invalid setting, explained by the library):
  ``"cannot compute: <its message>"``, ``explorer.error`` = the message itself;
- any other exception from ``compute`` (a ``RuntimeError`` from deep inside torch, a diverged
  training run): the same, with the exception's type in front, e.g. ``"RuntimeError: …"``;
- an exception from ``draw`` or ``describe``: ``"cannot draw: …"`` / ``"cannot describe: …"``,
  with ``explorer.result`` kept (the computation itself succeeded).

``KeyboardInterrupt`` (the stop button) is not caught.
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
        """Recompute from the controls' current values and redraw; returns the result (None on failure)."""
        try:
            self.result, self.error = self.compute(**self.values()), None
        except ValueError as err:  # an extreme setting: say why instead of drawing
            self.result, self.error = None, str(err)
        except Exception as err:  # noqa: BLE001 - anything else: shown, never raised out of a widget
            self.result, self.error = None, _described(err)
        if self.error is not None:
            self._show_error("cannot compute", self.error)
            return self.result
        try:
            summary = self.describe(self.result) if self.describe else ""
        except Exception as err:  # noqa: BLE001
            self.error = f"cannot describe: {_described(err)}"
            summary = f"<b>cannot describe:</b> {_escaped(_described(err))}"
        self.summary.value = summary
        # wait=True avoids a flicker while the new figure is drawn; with nothing to draw, clear now
        self.output.clear_output(wait=self.draw is not None)
        if self.draw is not None:
            with self.output:
                fig = plt.figure(figsize=self.figsize)
                try:
                    self.draw(self.result, fig)
                except Exception as err:  # noqa: BLE001 - the figure is dropped, the message shown
                    plt.close(fig)
                    self.error = f"cannot draw: {_described(err)}"
                    self.summary.value = f"{summary}<br><b>cannot draw:</b> {_escaped(_described(err))}"
                else:
                    plt.show()
        return self.result

    def _show_error(self, what: str, message: str) -> None:
        self.summary.value = f"<b>{what}:</b> {_escaped(message)}"
        self.output.clear_output()

    def _on_change(self, _change: dict) -> None:
        self.update()

    def _ipython_display_(self) -> None:
        display(self.widget)


def _escaped(text: str) -> str:
    """``text`` safe inside the summary's HTML: ``&`` and ``<`` escaped (``>`` alone is plain text, so a
    message such as "lag must be an int >= 1" is stored as it always was)."""
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _described(err: Exception) -> str:
    """``"TypeName: message"`` (the message alone for a ValueError, whose text is written for the reader)."""
    if isinstance(err, ValueError):
        return str(err)
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
