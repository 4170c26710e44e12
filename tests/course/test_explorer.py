"""The Explorer: no setting of a control raises out of a widget; every failure is a message (issue 15)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from seqlib import data, recurrent  # noqa: E402
from seqlib import language_models as lm  # noqa: E402
from seqlib.course import nb00_welcome as nb00  # noqa: E402
from seqlib.course import nb01_sequence_models as nb01  # noqa: E402
from seqlib.course import nb02_rnn as nb02  # noqa: E402
from seqlib.course import nb03_long_term_dependencies as nb03  # noqa: E402
from seqlib.course import nb04_lstm as nb04  # noqa: E402
from seqlib.course import nb05_gru as nb05  # noqa: E402
from seqlib.course.explorer import Explorer  # noqa: E402
from seqlib.train import TrainingDiverged, TrainResult  # noqa: E402


def _slider(value: int = 1) -> dict[str, widgets.IntSlider]:
    return {"x": widgets.IntSlider(value=value, min=0, max=5)}


def _fails_at_zero(error: Exception):
    def compute(x: int) -> int:
        if x == 0:
            raise error
        return x

    return compute


def test_a_value_error_is_shown_as_its_own_message() -> None:
    explorer = Explorer(_fails_at_zero(ValueError("x must be >= 1, got 0")), _slider())
    explorer.controls["x"].value = 0
    assert explorer.result is None and explorer.error == "x must be >= 1, got 0"  # unchanged: notebooks print it
    assert explorer.summary.value == "<b>cannot compute:</b> x must be >= 1, got 0"
    explorer.controls["x"].value = 2
    assert explorer.error is None and explorer.result == 2


@pytest.mark.parametrize(
    "error,shown",
    [(RuntimeError("probability tensor contains either `inf`, `nan` or element < 0"),
      "RuntimeError: probability tensor contains either `inf`, `nan` or element < 0"),
     (IndexError("index out of range in self"), "IndexError: index out of range in self"),
     (ZeroDivisionError(), "ZeroDivisionError"),
     (TrainingDiverged("training diverged at step 3: the loss is nan", 3, math.nan,
                       TrainResult([], [], 2, 0.0, 0.0, "diverged")),
      "TrainingDiverged: training diverged at step 3: the loss is nan")],
)
def test_any_other_failure_of_compute_is_a_message_naming_its_type(error: Exception, shown: str) -> None:
    explorer = Explorer(_fails_at_zero(error), _slider())
    explorer.controls["x"].value = 0  # would have raised out of the widget's callback
    assert explorer.result is None and explorer.error == shown
    assert explorer.summary.value.startswith("<b>cannot compute:</b> ")


def test_a_message_is_escaped_in_the_summary() -> None:
    explorer = Explorer(_fails_at_zero(ValueError("token <unk> & co")), _slider(0))
    assert explorer.error == "token <unk> & co" and "token &lt;unk> &amp; co" in explorer.summary.value


def test_a_failing_draw_or_describe_keeps_the_result_and_says_so() -> None:
    figures = set(plt.get_fignums())

    def bad_draw(result: int, fig: plt.Figure) -> None:
        fig.add_subplot().plot([result])
        raise KeyError("no such column")

    drawn = Explorer(lambda x: x * 10, _slider(2), draw=bad_draw, describe=lambda r: f"result {r}")
    assert drawn.result == 20 and drawn.error == "cannot draw: KeyError: 'no such column'"
    assert drawn.summary.value.startswith("result 20<br><b>cannot draw:</b> KeyError")
    assert set(plt.get_fignums()) == figures  # the half-drawn figure was closed
    described = Explorer(lambda x: x, _slider(2), describe=lambda r: f"{r:q}")
    assert described.result == 2 and described.error.startswith("cannot describe: Unknown format code 'q'")


def test_the_stop_button_is_not_swallowed() -> None:
    explorer = Explorer(lambda x: x, _slider())
    explorer.compute = _fails_at_zero(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        explorer.controls["x"].value = 0


# --- every widget of notebooks 00-05, every control pushed to hostile values ---------------------------------

HOSTILE = {
    widgets.FloatSlider: [math.nan, math.inf, -math.inf, 1e-320, -1e-320],
    widgets.IntSlider: [-(10**9), 10**9],
    widgets.IntText: [-1, 10**9],
    widgets.Text: ["", "\x00", "ÅÆØ✓"],
    widgets.Textarea: ["", "\x00", "ÅÆØ✓"],
}


@pytest.fixture(scope="module")
def builders() -> dict:
    torch.manual_seed(0)
    sunspots = data.load_sunspots_yearly()
    corpus, vocab = data.load_corpus("char", max_tokens=3000)
    model = lm.make_language_model("rnn", len(vocab), 8)
    rnn = recurrent.RNN(2, 4, batch_first=True)
    x_a, x_b = torch.randn(1, 10, 2), torch.randn(1, 10, 2)
    punctuated = data.Vocab(list("abcdefghijklmnopqrstuvwxyz .,;!?'"))
    reader = nb04.make_reader(len(punctuated), 8, 4, 0.0, None, 0)
    gru, lstm = (lm.make_language_model(kind, len(punctuated), 8) for kind in ("gru", "lstm"))
    ids = torch.randint(0, 6, (2, 9))
    return {
        "00 moving average": lambda: nb00.moving_average_explorer(sunspots),
        "01 AR(2)": lambda: nb01.ar2_explorer(),
        "01 AR(tau)": lambda: nb01.ar_tau_explorer(sunspots, max_tau=8),
        "01 n-gram": lambda: nb01.ngram_explorer(corpus[:2500], corpus[2500:], vocab, max_n=3),
        "02 survival": lambda: nb02.survival_explorer(rnn, x_a, x_b),
        "02 temperature": lambda: nb02.temperature_explorer(model, vocab, ["the"], num_chars=5),
        "03 gradient flow": lambda: nb03.gradient_flow_explorer(ids, 6, hidden_size=8),
        "04 gates": lambda: nb04.gate_explorer(reader, punctuated, "the time.", 0, 0),
        "05 gates": lambda: nb05.gate_explorer(gru, lstm, punctuated, "the time.", 1),
    }


@pytest.mark.parametrize("name", ["00 moving average", "01 AR(2)", "01 AR(tau)", "01 n-gram", "02 survival",
                                  "02 temperature", "03 gradient flow", "04 gates", "05 gates"])
def test_no_setting_of_any_control_raises_out_of_a_widget(builders: dict, name: str) -> None:
    explorer = builders[name]()
    explorer.draw = None  # the computation is what is hostile here; drawing failures are tested above
    start = explorer.values()
    for control_name, control in explorer.controls.items():
        for value in HOSTILE.get(type(control), []):
            control.value = value  # must not raise
            assert explorer.error is None or isinstance(explorer.error, str)
            if isinstance(value, float) and math.isnan(value) and control.value != control.value:  # NaN got in
                assert explorer.error and explorer.result is None, f"{name}: {control_name}=nan passed silently"
            control.value = start[control_name]
        assert explorer.error is None, f"{name}: back at the start, {explorer.error}"
    plt.close("all")


def test_the_float_sliders_clamp_inf_and_pass_nan(builders: dict) -> None:
    """What the sweep above relies on: ipywidgets clamps ±inf to the slider's range, NaN reaches compute."""
    slider = widgets.FloatSlider(value=1.0, min=0.0, max=2.0)
    slider.value = math.inf
    assert slider.value == 2.0
    slider.value = math.nan
    assert np.isnan(slider.value)
