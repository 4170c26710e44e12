"""Notebook 05 · the GRU: what the notebook shows and asks, computed here.

* **Two gates, one state.**  The source notes: "얘는 게이트가 두 개다(reset gate, update gate). hidden
  state가 곧 output이며 cell state가 없다" (it has two gates, reset and update; the hidden state is the
  output, and there is no cell state).  :func:`read_passage` runs a trained GRU and a trained LSTM
  language model over a passage and keeps every gate (``return_trace=True``), so the notebook can put
  the GRU's r, z, h beside the LSTM's f, c, h.
* **torch's form and the paper's.**  ``seqlib.GRU`` follows torch: the reset gate multiplies
  ``h_{t-1} W_hn^T + b_hn`` *after* the product.  Cho et al. (2014) reset h_{t-1} *before* it:
  :func:`paper_gru_step` and :class:`PaperGRU` (torch's parameter names and contract, the paper's
  candidate), and :func:`form_gap`, how far apart the two hidden states are, step by step, with the
  same weights and the same input.
* **Parameter counts**: :func:`layer_parameters`, :func:`language_model_parameters` (formula) and
  :func:`hidden_size_for_budget` (the width that spends a parameter budget).
* **The notes' claim, measured**: :func:`load_results` reads ``data/results/gru_vs_lstm.json``,
  written by ``bench/gru_vs_lstm.py`` (RNN, GRU and LSTM language models at equal wall-clock time and
  at equal parameter counts, several seeds); :func:`plot_validation_curves` draws every run.
* **Widgets**: :func:`gate_explorer` (a passage, a time-step slider and a shift of the update gate's
  bias), over the pure function :func:`gate_view`.
* **Exercises** ``05.gru_step``, ``05.gru_layer``, ``05.parameter_count``, ``05.hidden_size_for_budget``.

Shape legend: B batch, T time steps (characters), I input size (the embedding size E for a language
model), H hidden size, V vocabulary size.
"""

from __future__ import annotations

import copy
import html
import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlib.course.checker import Exercise, Mistake, register
from seqlib.course.explorer import Explorer
from seqlib.course.leaderboard import standard_split
from seqlib.data import Vocab
from seqlib.language_models import RNNLanguageModel
from seqlib.recurrent import GRU, LSTM, GRUTrace, LSTMTrace

RESULTS_PATH = Path(__file__).resolve().parents[2] / "data" / "results" / "gru_vs_lstm.json"
PASSAGE_LENGTH = 80
GATE_BLOCKS = {"rnn": 1, "gru": 3, "lstm": 4}  # weight blocks per layer: RNN 1, GRU r|z|n, LSTM i|f|g|o
KIND_NAMES = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM", "gru-paper": "GRU, paper's form"}

__all__ = [
    "RESULTS_PATH",
    "PASSAGE_LENGTH",
    "GATE_BLOCKS",
    "validation_passage",
    "paper_gru_step",
    "PaperGRU",
    "FormGap",
    "form_gap",
    "layer_parameters",
    "language_model_parameters",
    "hidden_size_for_budget",
    "Reading",
    "read_passage",
    "shift_update_bias",
    "GateView",
    "gate_view",
    "plot_gate_heatmaps",
    "gate_explorer",
    "RunSummary",
    "GruVsLstmResults",
    "Comparison",
    "compare_arms",
    "load_results",
    "plot_validation_curves",
]


# --------------------------------------------------------------------------------------------------
# The passage every figure reads
# --------------------------------------------------------------------------------------------------


def validation_passage(length: int = PASSAGE_LENGTH) -> tuple[Tensor, str]:
    """The first ``length`` characters of the leaderboard's validation text: (T,) ids and the text."""
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise ValueError(f"length must be a positive int, got {length!r}")
    split = standard_split()
    ids = split.val[:length]
    return ids, "".join(split.vocab.to_tokens(ids.tolist()))


# --------------------------------------------------------------------------------------------------
# The paper's GRU (Cho et al. 2014): the reset gate applied to h_{t-1} before W_hn
# --------------------------------------------------------------------------------------------------


def paper_gru_step(x_proj: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> GRUTrace:
    """One GRU step in the form of Cho et al. (2014), with torch's parameter names and gate order.

    The only line that differs from :func:`seqlib.recurrent.gru_step` is the candidate: the paper
    resets the previous state *before* the recurrent product, torch multiplies the product's result.

    Args:
        x_proj: (B, 3H) the input's share ``x_t W_ih^T + b_ih``.
        h: (B, H) previous hidden state h_{t-1}.
        weight_hh: (3H, H) ``W_hr|W_hz|W_hn``.
        bias_hh: (3H,) ``b_hr|b_hz|b_hn``, or None.

    Returns:
        ``GRUTrace(r, z, n, h)``, each (B, H).
    """
    W_hr, W_hz, W_hn = weight_hh.chunk(3, dim=0)  # 3 x (H, H)
    b_hr, b_hz, b_hn = bias_hh.chunk(3) if bias_hh is not None else (None, None, None)
    x_r, x_z, x_n = x_proj.chunk(3, dim=1)  # 3 x (B, H)
    # r_t = σ(x_t W_ir^T + b_ir + h_{t-1} W_hr^T + b_hr)                 reset gate (as torch)
    r = torch.sigmoid(x_r + F.linear(h, W_hr, b_hr))
    # z_t = σ(x_t W_iz^T + b_iz + h_{t-1} W_hz^T + b_hz)                 update gate (as torch)
    z = torch.sigmoid(x_z + F.linear(h, W_hz, b_hz))
    # n_t = tanh(x_t W_in^T + b_in + (r_t ⊙ h_{t-1}) W_hn^T + b_hn)      the paper: reset *before* W_hn
    n = torch.tanh(x_n + F.linear(r * h, W_hn, b_hn))
    # h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}                              (as torch)
    h = (1 - z) * n + z * h
    return GRUTrace(r, z, n, h)


class PaperGRU(nn.Module):
    """A one-layer GRU in the paper's form with ``torch.nn.GRU``'s contract and parameter names.

    Same constructor arguments (one layer, unidirectional), the same ``weight_ih_l0`` (3H, I),
    ``weight_hh_l0`` (3H, H), ``bias_ih_l0``, ``bias_hh_l0`` (3H,), the same initialisation and call
    ``(input, hx=None) -> (output, h_n)``, so a state_dict moves between this and ``seqlib.GRU``; only
    the candidate differs (:func:`paper_gru_step`).  Input (T, B, I), or (B, T, I) if ``batch_first``;
    ``hx`` and ``h_n`` are (1, B, H).  ``return_trace=True`` adds a :class:`GRUTrace` of (B, T, H) fields.
    """

    mode = "GRU"
    num_layers = 1
    bidirectional = False

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, batch_first: bool = False) -> None:
        super().__init__()
        for name, value in [("input_size", input_size), ("hidden_size", hidden_size)]:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.input_size, self.hidden_size, self.bias, self.batch_first = input_size, hidden_size, bias, batch_first
        self.weight_ih_l0 = nn.Parameter(torch.empty(3 * hidden_size, input_size))  # (3H, I)
        self.weight_hh_l0 = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))  # (3H, H)
        if bias:
            self.bias_ih_l0 = nn.Parameter(torch.empty(3 * hidden_size))  # (3H,)
            self.bias_hh_l0 = nn.Parameter(torch.empty(3 * hidden_size))  # (3H,)
        else:
            self.register_parameter("bias_ih_l0", None)
            self.register_parameter("bias_hh_l0", None)
        bound = 1.0 / math.sqrt(hidden_size)
        for weight in self.parameters():  # U(-1/√H, 1/√H), in torch's order: the same seed, the same weights
            nn.init.uniform_(weight, -bound, bound)

    @classmethod
    def from_gru(cls, gru: nn.Module) -> PaperGRU:
        """The paper-form GRU with the weights of a one-layer unidirectional GRU (seqlib's or torch's)."""
        if getattr(gru, "mode", None) != "GRU" and not isinstance(gru, nn.GRU):
            raise TypeError(f"gru must be a seqlib.GRU or torch.nn.GRU, got {type(gru).__name__}")
        if gru.num_layers != 1 or gru.bidirectional:
            raise ValueError("from_gru needs a one-layer unidirectional GRU")
        new = cls(gru.input_size, gru.hidden_size, bias=gru.bias, batch_first=gru.batch_first)
        new.load_state_dict(gru.state_dict())
        return new.to(gru.weight_ih_l0.dtype)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, batch_first={self.batch_first}"

    def forward(self, input: Tensor, hx: Tensor | None = None, *, return_trace: bool = False):
        if input.dim() != 3 or input.shape[-1] != self.input_size:
            raise ValueError(f"input must be 3-D with {self.input_size} features, got shape {tuple(input.shape)}")
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, I)
        T, B, _ = x.shape
        h = x.new_zeros(B, self.hidden_size) if hx is None else hx[0]  # (B, H)
        x_proj = F.linear(x, self.weight_ih_l0, self.bias_ih_l0)  # (T, B, 3H)
        steps = []
        for x_t in x_proj.unbind(0):
            trace = paper_gru_step(x_t, h, self.weight_hh_l0, self.bias_hh_l0)
            h = trace.h
            steps.append(trace)
        output = torch.stack([trace.h for trace in steps])  # (T, B, H)
        if self.batch_first:
            output = output.transpose(0, 1)  # (B, T, H)
        if not return_trace:
            return output, h.unsqueeze(0)
        fields = GRUTrace(*(torch.stack(field, dim=1) for field in zip(*steps, strict=True)))  # each (B, T, H)
        return output, h.unsqueeze(0), ((fields,),)


class FormGap(NamedTuple):
    """torch's and the paper's GRU run with the same weights on the same input (batch of one).

    ``torch_h`` and ``paper_h`` (T, H) the hidden states; ``max_abs`` (T,) the largest
    |h_torch - h_paper| over the units at each step; ``relative`` (T,) ‖h_torch - h_paper‖ / ‖h_torch‖.
    """

    torch_h: Tensor
    paper_h: Tensor
    max_abs: Tensor
    relative: Tensor


@torch.no_grad()
def form_gap(gru: nn.Module, inputs: Tensor) -> FormGap:
    """How far apart torch's and the paper's GRU are, step by step (see :class:`FormGap`).

    Args:
        gru: a one-layer unidirectional ``seqlib.GRU`` (or ``torch.nn.GRU``).
        inputs: (T, I) one unbatched sequence.
    """
    if inputs.dim() != 2:
        raise ValueError(f"inputs must be (T, I), got shape {tuple(inputs.shape)}")
    x = inputs[:, None] if not gru.batch_first else inputs[None]  # one sample, in the module's layout
    torch_h, _ = gru(x)
    paper_h, _ = PaperGRU.from_gru(gru)(x)
    torch_h, paper_h = (h[:, 0] if not gru.batch_first else h[0] for h in (torch_h, paper_h))  # (T, H)
    difference = torch_h - paper_h
    return FormGap(torch_h, paper_h, difference.abs().amax(dim=1), difference.norm(dim=1) / torch_h.norm(dim=1))


# --------------------------------------------------------------------------------------------------
# Parameter counts
# --------------------------------------------------------------------------------------------------


def _check_kind(kind: str) -> int:
    if kind not in GATE_BLOCKS:
        raise ValueError(f"kind must be one of {sorted(GATE_BLOCKS)}, got {kind!r}")
    return GATE_BLOCKS[kind]


def layer_parameters(kind: str, input_size: int, hidden_size: int) -> int:
    """Learned numbers of one recurrent layer, torch's layout: G (H·I + H·H + 2H).

    G blocks (RNN 1; GRU 3: r, z, n; LSTM 4: i, f, g, o), each with its W_ih (H, I), W_hh (H, H),
    b_ih and b_hh (H,).
    """
    blocks = _check_kind(kind)
    H, I = hidden_size, input_size
    return blocks * (H * I + H * H + 2 * H)


def language_model_parameters(kind: str, vocab_size: int, embedding_dim: int, hidden_size: int) -> int:
    """Learned numbers of ``make_language_model(kind, V, H, embedding_dim=E)``: embedding V·E, the
    recurrent layer (:func:`layer_parameters` with I = E) and the head H·V + V."""
    V, E, H = vocab_size, embedding_dim, hidden_size
    return V * E + layer_parameters(kind, E, H) + H * V + V


def hidden_size_for_budget(
    kind: str, budget: int, input_size: int, vocab_size: int | None = None
) -> int:
    """The largest hidden size H whose parameter count does not exceed ``budget``.

    The count is the recurrent layer's (:func:`layer_parameters`), or, with ``vocab_size``, the whole
    language model's with embedding size ``input_size`` (:func:`language_model_parameters`).
    """
    _check_kind(kind)

    def count(H: int) -> int:
        if vocab_size is None:
            return layer_parameters(kind, input_size, H)
        return language_model_parameters(kind, vocab_size, input_size, H)

    if count(1) > budget:
        raise ValueError(f"a budget of {budget} parameters does not hold even one {kind.upper()} unit ({count(1)})")
    H = 1
    while count(2 * H) <= budget:  # double, then bisect: the count grows with H
        H *= 2
    low, high = H, 2 * H  # count(low) <= budget < count(high)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle) <= budget else (low, middle)
    return low


# --------------------------------------------------------------------------------------------------
# Reading a passage: every gate of a GRU and an LSTM language model
# --------------------------------------------------------------------------------------------------


class Reading(NamedTuple):
    """What a GRU and an LSTM language model compute on one passage; every field is (T, H) or (T,).

    ``gru`` is a :class:`GRUTrace` (r, z, n, h); ``lstm`` an :class:`LSTMTrace` (i, f, g, o, c, h);
    ``gru_h_prev`` (T, H) the GRU's h_{t-1} (zeros at the first step).
    """

    text: str
    gru: GRUTrace
    lstm: LSTMTrace
    gru_h_prev: Tensor


def _check_language_model(model: nn.Module, mode: str) -> None:
    recurrent = getattr(model, "recurrent", None)
    if not isinstance(model, RNNLanguageModel) or not isinstance(recurrent, {"GRU": GRU, "LSTM": LSTM}[mode]):
        raise ValueError(f"expected a seqlib language model around a seqlib.{mode}")
    if recurrent.num_layers != 1:
        raise ValueError(f"expected a one-layer {mode}, got {recurrent.num_layers} layers")


def _passage_ids(vocab: Vocab, text: str) -> Tensor:
    if not isinstance(text, str) or not text:
        raise ValueError("the passage is empty: type at least one character")
    unknown = sorted({ch for ch in text if ch not in vocab.token_to_idx or ch == vocab.UNK})
    if unknown:
        raise ValueError(
            f"the passage holds characters the models never saw: {''.join(unknown)!r} "
            "(they read lower-case letters and spaces only)"
        )
    return torch.tensor(vocab.encode(list(text)), dtype=torch.long)  # (T,)


@torch.no_grad()
def _trace(model: RNNLanguageModel, ids: Tensor):
    """The recurrent layer's trace on (S, L) ids read as S parallel streams: fields (S, L, H)."""
    was_training = model.training
    model.eval()
    x = model.embedding(ids)  # (S, L, E)
    _, _, traces = model.recurrent(x if model.recurrent.batch_first else x.transpose(0, 1), return_trace=True)
    model.train(was_training)
    return traces[0][0]  # fields (S, L, H), batch first whatever the layout


def read_passage(
    gru_model: RNNLanguageModel, lstm_model: RNNLanguageModel, vocab: Vocab, text: str, num_streams: int = 1
) -> Reading:
    """Run both language models over ``text`` (letters and spaces) and keep every gate.

    ``num_streams`` > 1 reads a long text faster, as ``evaluate_perplexity`` does: cut into that many
    contiguous streams read side by side, each from h_0 = 0; the characters that do not fill the last
    row are dropped, and every field comes back in text order, (T, H) with T a multiple of ``num_streams``.
    """
    _check_language_model(gru_model, "GRU")
    _check_language_model(lstm_model, "LSTM")
    ids = _passage_ids(vocab, text)
    if not isinstance(num_streams, int) or isinstance(num_streams, bool) or not 1 <= num_streams <= len(ids):
        raise ValueError(f"num_streams must be an int from 1 to the text's length {len(ids)}, got {num_streams!r}")
    length = len(ids) // num_streams
    streams = ids[: num_streams * length].reshape(num_streams, length)  # (S, L)
    gru_trace, lstm_trace = _trace(gru_model, streams), _trace(lstm_model, streams)
    h_prev = torch.cat([torch.zeros_like(gru_trace.h[:, :1]), gru_trace.h[:, :-1]], dim=1)  # (S, L, H): h_0 = 0
    gru, lstm = (type(t)(*(f.reshape(num_streams * length, -1) for f in t)) for t in (gru_trace, lstm_trace))
    return Reading(text[: num_streams * length], gru, lstm, h_prev.reshape(num_streams * length, -1))


def shift_update_bias(gru_model: RNNLanguageModel, shift: float) -> RNNLanguageModel:
    """A copy of a GRU language model whose update-gate bias b_iz is moved by ``shift``.

    +5 pushes z_t towards 1 (keep h_{t-1}: the state freezes), -5 towards 0 (take the candidate:
    no memory through z).
    """
    _check_language_model(gru_model, "GRU")
    if not isinstance(shift, int | float) or isinstance(shift, bool) or not math.isfinite(shift):
        raise ValueError(f"the bias shift must be a finite number, got {shift!r}")
    shifted = copy.deepcopy(gru_model)
    H = shifted.recurrent.hidden_size
    with torch.no_grad():
        shifted.recurrent.bias_ih_l0[H : 2 * H] += shift  # rows r | z | n: the z block
    return shifted


class GateView(NamedTuple):
    """The gate widget's result: the whole :class:`Reading` and what happens at ``step`` (1-based).

    ``kept`` the mean of z_t over the units (the share of h_{t-1} the GRU keeps); ``reset`` the mean of
    r_t; ``change`` ‖h_t - h_{t-1}‖; ``lstm_kept`` the mean of the LSTM's f_t (the share of c_{t-1} it
    keeps); ``lstm_max_abs_c`` the largest |c_t| over the units (h never leaves (-1, 1), c may).
    """

    reading: Reading
    step: int
    z_shift: float
    char: str
    kept: float
    reset: float
    change: float
    lstm_kept: float
    lstm_max_abs_c: float


def gate_view(
    gru_model: RNNLanguageModel, lstm_model: RNNLanguageModel, vocab: Vocab, text: str, step: int, z_shift: float = 0.0
) -> GateView:
    """Read ``text`` with both models (the GRU's update bias moved by ``z_shift``) and look at ``step``."""
    model = shift_update_bias(gru_model, z_shift) if z_shift else gru_model
    reading = read_passage(model, lstm_model, vocab, text)
    T = len(text)
    if not isinstance(step, int) or isinstance(step, bool) or not 1 <= step <= T:
        raise ValueError(f"step must be an int from 1 to {T} (the passage's length), got {step!r}")
    t = step - 1
    gru, lstm = reading.gru, reading.lstm
    return GateView(
        reading,
        step,
        float(z_shift),
        text[t],
        float(gru.z[t].mean()),
        float(gru.r[t].mean()),
        float((gru.h[t] - reading.gru_h_prev[t]).norm()),
        float(lstm.f[t].mean()),
        float(lstm.c[t].abs().max()),
    )


def _label(ch: str) -> str:
    return "␣" if ch == " " else ch


def plot_gate_heatmaps(reading: Reading, fig: plt.Figure, step: int | None = None, units: int | None = None) -> None:
    """Time × unit heat maps: the GRU's r, z, h (left) beside the LSTM's f, c, h (right).

    Units are sorted by their mean update gate z (GRU) or forget gate f (LSTM) over the passage, the
    most "keeping" units at the top; ``units`` keeps only the first so many.  Characters label the
    time axis; ``step`` (1-based) draws a cursor.
    """
    T = len(reading.text)
    gru_order = torch.argsort(reading.gru.z.mean(dim=0), descending=True)[:units]
    lstm_order = torch.argsort(reading.lstm.f.mean(dim=0), descending=True)[:units]
    c_limit = max(1.0, float(reading.lstm.c.abs().max()))
    panels = [
        (reading.gru.r, gru_order, "GRU reset gate $r_t$", (0, 1), "viridis"),
        (reading.lstm.f, lstm_order, "LSTM forget gate $f_t$", (0, 1), "viridis"),
        (reading.gru.z, gru_order, "GRU update gate $z_t$ (share of $h_{t-1}$ kept)", (0, 1), "viridis"),
        (reading.lstm.c, lstm_order, f"LSTM cell state $c_t$ (|c| up to {c_limit:.1f})", (-c_limit, c_limit), "RdBu_r"),
        (reading.gru.h, gru_order, "GRU hidden state $h_t$ = its output", (-1, 1), "RdBu_r"),
        (reading.lstm.h, lstm_order, "LSTM hidden state $h_t$", (-1, 1), "RdBu_r"),
    ]
    axes = fig.subplots(3, 2, sharex=True)
    for k, (ax, (values, order, title, (low, high), cmap)) in enumerate(zip(axes.flat, panels, strict=True)):
        image = ax.imshow(values[:, order].T.numpy(), aspect="auto", cmap=cmap, vmin=low, vmax=high,
                          interpolation="nearest")
        ax.set_title(title, fontsize=9)
        if k % 2 or k == 2:  # one colour bar per scale: gates (0, 1), c, h (-1, 1)
            fig.colorbar(image, ax=ax, pad=0.01, fraction=0.03, aspect=12)
        if step is not None:
            ax.axvline(step - 1, color="k", lw=1.2)
    for ax in axes[:, 0]:
        ax.set_ylabel("unit (by mean z)", fontsize=8)
    for ax in axes[:, 1]:
        ax.set_ylabel("unit (by mean f)", fontsize=8)
    for ax in axes[-1]:
        ax.set_xticks(range(T), [_label(ch) for ch in reading.text], fontsize=6, fontfamily="monospace")
        ax.set_xlabel("character of the passage (time step t →)")
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.09, top=0.95, hspace=0.35, wspace=0.12)  # fixed: fast


def gate_explorer(
    gru_model: RNNLanguageModel,
    lstm_model: RNNLanguageModel,
    vocab: Vocab,
    text: str,
    step: int = 1,
    z_shift: float = 0.0,
) -> Explorer:
    """A passage box, a time-step slider and an update-gate bias shift over two trained models.

    Each move calls :func:`gate_view`: the heat maps of :func:`plot_gate_heatmaps` with a cursor at
    the step, and a summary line of what the GRU and the LSTM do at that character.
    """
    units = min(gru_model.recurrent.hidden_size, 64)

    def compute(text: str, step: int, z_shift: float) -> GateView:
        return gate_view(gru_model, lstm_model, vocab, text, step, z_shift)

    def draw(view: GateView, fig: plt.Figure) -> None:
        plot_gate_heatmaps(view.reading, fig, step=view.step, units=units)

    def describe(view: GateView) -> str:
        return (
            f"step {view.step}, character “{html.escape(_label(view.char))}”, update-gate bias shift "
            f"{view.z_shift:+.1f}: the GRU keeps {view.kept:.0%} of h<sub>t-1</sub> on average (mean z), "
            f"mean r = {view.reset:.2f}, ‖h<sub>t</sub> − h<sub>t-1</sub>‖ = {view.change:.3f}; "
            f"the LSTM keeps {view.lstm_kept:.0%} of c<sub>t-1</sub> (mean f), max |c<sub>t</sub>| = "
            f"{view.lstm_max_abs_c:.2f}"
        )

    controls = {
        "text": widgets.Text(value=text, description="passage", continuous_update=False,
                             layout=widgets.Layout(width="95%")),
        "step": widgets.IntSlider(value=step, min=1, max=len(text), description="step t", continuous_update=False),
        "z_shift": widgets.FloatSlider(value=z_shift, min=-6.0, max=6.0, step=0.5, description="z bias shift",
                                       continuous_update=False),
    }

    def fit_slider(change: dict) -> None:  # a new passage: the step slider spans its characters
        controls["step"].max = max(1, len(change["new"]))

    controls["text"].observe(fit_slider, names="value")
    return Explorer(compute, controls, draw, describe, figsize=(14.0, 7.5))


# --------------------------------------------------------------------------------------------------
# The result file written by bench/gru_vs_lstm.py
# --------------------------------------------------------------------------------------------------


class RunSummary(NamedTuple):
    """One arm of one setting over its seeds: final validation perplexities (by seed), their mean,
    sample standard deviation (n - 1), min and max; the mean number of training steps and seconds;
    the hidden size and the parameter count."""

    arm: str
    hidden_size: int
    params: int
    perplexities: tuple[float, ...]
    mean: float
    std: float
    low: float
    high: float
    mean_steps: float
    mean_seconds: float


@dataclass
class GruVsLstmResults:
    """``data/results/gru_vs_lstm.json`` as written by ``bench/gru_vs_lstm.py``.

    ``settings``: what the runs shared, each setting's description, the machine, torch's version, the
    command and the wall time; ``runs``: one dict per training run with ``setting``, ``arm``, ``kind``,
    ``form``, ``hidden_size``, ``params``, ``seed``, ``steps``, ``train_seconds``, ``curve`` (a list of
    ``{"step", "seconds", "val_perplexity", "train_perplexity"}``) and the final ``val_perplexity``
    (the leaderboard's protocol).
    """

    settings: dict
    runs: list[dict]

    def select(self, **conditions) -> list[dict]:
        """The runs whose fields equal ``conditions`` (e.g. ``setting="time", arm="gru"``), by seed."""
        chosen = [run for run in self.runs if all(run.get(k) == v for k, v in conditions.items())]
        return sorted(chosen, key=lambda run: run["seed"])

    @property
    def setting_names(self) -> list[str]:
        return list(dict.fromkeys(run["setting"] for run in self.runs))

    def arms(self, setting: str) -> list[str]:
        return list(dict.fromkeys(run["arm"] for run in self.runs if run["setting"] == setting))

    @property
    def seeds(self) -> list[int]:
        return sorted({run["seed"] for run in self.runs})

    def summary(self, setting: str, arm: str) -> RunSummary:
        """The arm's final validation perplexities over seeds (see :class:`RunSummary`)."""
        runs = self.select(setting=setting, arm=arm)
        if not runs:
            raise KeyError(f"no runs for setting={setting!r}, arm={arm!r}; arms: {', '.join(self.arms(setting))}")
        values = tuple(float(run["val_perplexity"]) for run in runs)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return RunSummary(
            arm,
            runs[0]["hidden_size"],
            runs[0]["params"],
            values,
            statistics.fmean(values),
            std,
            min(values),
            max(values),
            statistics.fmean(run["steps"] for run in runs),
            statistics.fmean(run["train_seconds"] for run in runs),
        )

    def table(self, setting: str) -> str:
        """The setting's arms as aligned text: hidden size, parameters, steps, perplexity mean ± std, min–max."""
        lines = [f"{'model':18s} {'H':>4s} {'params':>8s} {'steps':>6s}  {'val ppl mean ± std':>18s}  {'min–max':>13s}"
                 "  per seed"]
        for arm in self.arms(setting):
            s = self.summary(setting, arm)
            lines.append(
                f"{KIND_NAMES.get(arm, arm):18s} {s.hidden_size:4d} {s.params:8,d} {s.mean_steps:6.0f}  "
                f"{s.mean:9.3f} ± {s.std:.3f}  {s.low:6.3f}–{s.high:.3f}  "
                + " ".join(f"{v:.3f}" for v in s.perplexities)
            )
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"


class Comparison(NamedTuple):
    """Two arms of one setting, seed by seed: ``difference`` = mean_a - mean_b (negative: ``a`` has the
    lower, better perplexity); ``separated`` when every seed of one arm beats every seed of the other
    (their min–max ranges do not overlap), and then ``better`` names that arm, else None: the difference
    is within the seeds' spread."""

    setting: str
    a: str
    b: str
    mean_a: float
    mean_b: float
    difference: float
    separated: bool
    better: str | None


def compare_arms(results: GruVsLstmResults, setting: str, a: str, b: str) -> Comparison:
    """Compare arm ``a`` with arm ``b`` in ``setting`` (see :class:`Comparison`)."""
    first, second = results.summary(setting, a), results.summary(setting, b)
    better = a if first.high < second.low else b if second.high < first.low else None
    return Comparison(setting, a, b, first.mean, second.mean, first.mean - second.mean, better is not None, better)


def load_results(path: str | Path | None = None) -> GruVsLstmResults:
    """Read the bench's result file (default ``data/results/gru_vs_lstm.json``)."""
    path = RESULTS_PATH if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no result file; run `python bench/gru_vs_lstm.py` to make it")
    data = json.loads(path.read_text(encoding="utf-8"))
    missing = {"settings", "runs"} - set(data)
    if missing:
        raise ValueError(f"{path}: not a GRU-vs-LSTM result file (missing {sorted(missing)})")
    for k, run in enumerate(data["runs"]):
        absent = {"setting", "arm", "seed", "hidden_size", "params", "steps", "train_seconds", "curve",
                  "val_perplexity"} - set(run)
        if absent:
            raise ValueError(f"{path}: run {k} lacks {sorted(absent)}")
    return GruVsLstmResults(data["settings"], data["runs"])


COLORS = {"rnn": "C0", "gru": "C2", "lstm": "C3", "gru-paper": "C4"}


def plot_validation_curves(results: GruVsLstmResults, fig: plt.Figure) -> None:
    """Every run's validation perplexity against training time (equal-time setting, left) and against
    optimizer steps (equal-parameter setting, right); one thin line per seed, one colour per model."""
    axes = fig.subplots(1, len(results.setting_names), sharey=True, squeeze=False)[0]
    for ax, setting in zip(axes, results.setting_names, strict=True):
        described = results.settings["settings"][setting]
        by_time = "time_budget_s" in described
        for arm in results.arms(setting):
            summary = results.summary(setting, arm)
            for k, run in enumerate(results.select(setting=setting, arm=arm)):
                x = [point["seconds" if by_time else "step"] for point in run["curve"]]
                y = [point["val_perplexity"] for point in run["curve"]]
                label = (f"{KIND_NAMES.get(arm, arm)} (H={summary.hidden_size}, {summary.params:,} params)"
                         if k == 0 else None)
                ax.plot(x, y, color=COLORS.get(arm, "k"), lw=1.2, alpha=0.8, label=label,
                        ls="--" if arm == "gru-paper" else "-")
        ax.set_xlabel("training seconds (this machine)" if by_time else "optimizer step")
        ax.set_title(described["title"], fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation perplexity (characters)")
    axes[0].set_ylim(top=min(axes[0].get_ylim()[1], 12))
    fig.tight_layout()


# --------------------------------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------------------------------


# --- 05.gru_step ----------------------------------------------------------------------------------


def gru_step(x, h, W_ih, W_hh, b_ih, b_hh):
    # torch's gate order r, z, n: rows 0:H, H:2H, 2H:3H of W_ih, W_hh, b_ih, b_hh
    x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=1)  # the input's shares, 3 x (B, H)
    h_r, h_z, h_n = (h @ W_hh.T + b_hh).chunk(3, dim=1)  # the recurrent shares, 3 x (B, H)
    r = torch.sigmoid(x_r + h_r)  # reset gate
    z = torch.sigmoid(x_z + h_z)  # update gate: the share of h_{t-1} kept
    n = torch.tanh(x_n + r * h_n)  # candidate: r multiplies (h_{t-1} W_hn^T + b_hn), after the product
    return (1 - z) * n + z * h


def _gru_shares(x, h, W_ih, W_hh, b_ih, b_hh):
    """(x_r, x_z, x_n, h_r, h_z, h_n, W_hn, b_hn) for the mistakes below."""
    H = h.shape[1]
    x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=1)
    h_r, h_z, h_n = (h @ W_hh.T + b_hh).chunk(3, dim=1)
    return x_r, x_z, x_n, h_r, h_z, h_n, W_hh[2 * H :], b_hh[2 * H :]


def _gru_paper_form(x, h, W_ih, W_hh, b_ih, b_hh):
    x_r, x_z, x_n, h_r, h_z, _, W_hn, b_hn = _gru_shares(x, h, W_ih, W_hh, b_ih, b_hh)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    return (1 - z) * torch.tanh(x_n + (r * h) @ W_hn.T + b_hn) + z * h


def _gru_reset_on_input(x, h, W_ih, W_hh, b_ih, b_hh):
    x_r, x_z, x_n, h_r, h_z, h_n, _, _ = _gru_shares(x, h, W_ih, W_hh, b_ih, b_hh)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    return (1 - z) * torch.tanh(r * x_n + h_n) + z * h


def _gru_z_swapped(x, h, W_ih, W_hh, b_ih, b_hh):
    x_r, x_z, x_n, h_r, h_z, h_n, _, _ = _gru_shares(x, h, W_ih, W_hh, b_ih, b_hh)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    return z * torch.tanh(x_n + r * h_n) + (1 - z) * h


def _gru_bias_outside_reset(x, h, W_ih, W_hh, b_ih, b_hh):
    x_r, x_z, x_n, h_r, h_z, _, W_hn, b_hn = _gru_shares(x, h, W_ih, W_hh, b_ih, b_hh)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    return (1 - z) * torch.tanh(x_n + r * (h @ W_hn.T) + b_hn) + z * h


def _gru_gates_swapped(x, h, W_ih, W_hh, b_ih, b_hh):
    x_r, x_z, x_n, h_r, h_z, h_n, _, _ = _gru_shares(x, h, W_ih, W_hh, b_ih, b_hh)
    z, r = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)  # the first block read as z
    return (1 - z) * torch.tanh(x_n + r * h_n) + z * h


def _gru_no_reset(x, h, W_ih, W_hh, b_ih, b_hh):
    x_r, x_z, x_n, h_r, h_z, h_n, _, _ = _gru_shares(x, h, W_ih, W_hh, b_ih, b_hh)
    z = torch.sigmoid(x_z + h_z)
    return (1 - z) * torch.tanh(x_n + h_n) + z * h


def _gru_candidate_only(x, h, W_ih, W_hh, b_ih, b_hh):
    x_r, x_z, x_n, h_r, h_z, h_n, _, _ = _gru_shares(x, h, W_ih, W_hh, b_ih, b_hh)
    return torch.tanh(x_n + torch.sigmoid(x_r + h_r) * h_n)


def _gru_step_cases():
    generator = torch.Generator().manual_seed(11)

    def case(B: int, I: int, H: int) -> tuple:
        def draw(*shape: int) -> Tensor:
            return torch.randn(*shape, generator=generator, dtype=torch.float64)

        return (draw(B, I), draw(B, H), draw(3 * H, I), draw(3 * H, H), draw(3 * H), draw(3 * H))

    return [case(2, 3, 4), case(3, 2, 2), case(1, 5, 3)]


register(
    Exercise(
        name="05.gru_step",
        title="one GRU step (torch's form)",
        hint=(
            "the weights stack three blocks in torch's order r, z, n, and rows of x and h are samples. The reset "
            "gate decides how much of the past enters the candidate: in torch's form it scales the whole recurrent "
            "share of the candidate's pre-activation, after the matrix product and with its bias. z_t is the share "
            "of h_{t-1} that is kept; the rest comes from the candidate."
        ),
        reference=gru_step,
        cases=_gru_step_cases,
        mistakes=[
            Mistake(
                "you reset h_{t-1} before multiplying by W_hn: that is the paper's form (Cho et al. 2014); torch and "
                "seqlib apply r after the product, to (h_{t-1} W_hn^T + b_hn)",
                _gru_paper_form,
            ),
            Mistake(
                "the reset gate multiplies the input's share of the candidate; it belongs on the recurrent share "
                "(it decides how much of the *past* enters the candidate)",
                _gru_reset_on_input,
            ),
            Mistake(
                "z and 1 - z are swapped: in torch's convention (and Cho et al.'s) z_t is the share of h_{t-1} that "
                "is kept, h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1} (some papers, e.g. Chung et al. 2014, swap them)",
                _gru_z_swapped,
            ),
            Mistake(
                "b_hn is outside the reset: torch multiplies the whole recurrent share, r ⊙ (h_{t-1} W_hn^T + b_hn)",
                _gru_bias_outside_reset,
            ),
            Mistake(
                "the gates are read in the wrong order: torch stacks r, z, n (rows 0:H are the reset gate's, "
                "H:2H the update gate's)",
                _gru_gates_swapped,
            ),
            Mistake(
                "there is no reset gate in your candidate: n_t must scale the recurrent share by r_t",
                _gru_no_reset,
            ),
            Mistake(
                "you returned the candidate n_t; the new state mixes it with h_{t-1} through the update gate",
                _gru_candidate_only,
            ),
        ],
    )
)


# --- 05.gru_layer ---------------------------------------------------------------------------------


def gru_layer(xs, h0, W_ih, W_hh, b_ih, b_hh):
    # xs (B, T, I), h0 (B, H): one step per time index, each starting from the previous step's state
    h, outputs = h0, []
    for t in range(xs.shape[1]):
        h = gru_step(xs[:, t], h, W_ih, W_hh, b_ih, b_hh)  # h_t (B, H)
        outputs.append(h)
    return torch.stack(outputs, dim=1), h  # output (B, T, H): h_1 … h_T; h_n = h_T (B, H)


def _gru_layer_not_carried(xs, h0, W_ih, W_hh, b_ih, b_hh):
    outputs = [gru_step(xs[:, t], h0, W_ih, W_hh, b_ih, b_hh) for t in range(xs.shape[1])]
    return torch.stack(outputs, dim=1), outputs[-1]


def _gru_layer_states_before(xs, h0, W_ih, W_hh, b_ih, b_hh):
    output, h_n = gru_layer(xs, h0, W_ih, W_hh, b_ih, b_hh)
    return torch.cat([h0[:, None], output[:, :-1]], dim=1), h_n


def _gru_layer_h0_returned(xs, h0, W_ih, W_hh, b_ih, b_hh):
    output, _ = gru_layer(xs, h0, W_ih, W_hh, b_ih, b_hh)
    return output, h0


def _gru_layer_backwards(xs, h0, W_ih, W_hh, b_ih, b_hh):
    output, h_n = gru_layer(xs.flip(1), h0, W_ih, W_hh, b_ih, b_hh)
    return output.flip(1), h_n


def _gru_layer_time_major(xs, h0, W_ih, W_hh, b_ih, b_hh):
    output, h_n = gru_layer(xs, h0, W_ih, W_hh, b_ih, b_hh)
    return output.transpose(0, 1), h_n


def _gru_layer_cases():
    generator = torch.Generator().manual_seed(12)

    def case(B: int, T: int, I: int, H: int) -> tuple:
        def draw(*shape: int) -> Tensor:
            return torch.randn(*shape, generator=generator, dtype=torch.float64)

        return (draw(B, T, I), draw(B, H), draw(3 * H, I), draw(3 * H, H), draw(3 * H), draw(3 * H))

    return [case(2, 5, 3, 4), case(3, 4, 2, 2)]


register(
    Exercise(
        name="05.gru_layer",
        title="a GRU layer: the step, looped over time",
        hint=(
            "one step per time index, in reading order; each step starts from the state the previous step returned "
            "(h0 only for the first). The output holds the state after each input, batch first; the final state is "
            "the last of them (the GRU has no other state to return)."
        ),
        reference=gru_layer,
        cases=_gru_layer_cases,
        mistakes=[
            Mistake(
                "the state is not carried: every step starts from h0, so the layer remembers nothing between steps",
                _gru_layer_not_carried,
            ),
            Mistake(
                "off by one: output[:, t] must be the state *after* reading x_t (h_1 … h_T), not the one before it",
                _gru_layer_states_before,
            ),
            Mistake("h_n is the state after the last step, h_T, not the initial state h0", _gru_layer_h0_returned),
            Mistake("you read the sequence backwards: step t = 1 reads xs[:, 0]", _gru_layer_backwards),
            Mistake(
                "the output is time-major (T, B, H); the inputs are batch first, and so is the output (B, T, H)",
                _gru_layer_time_major,
            ),
        ],
    )
)


# --- 05.parameter_count ---------------------------------------------------------------------------


def parameter_count(kind, input_size, hidden_size):
    # G blocks of weights (RNN 1; GRU r, z, n: 3; LSTM i, f, g, o: 4), each W_ih (H, I), W_hh (H, H), b_ih, b_hh (H,)
    blocks = {"rnn": 1, "gru": 3, "lstm": 4}[kind]
    H, I = hidden_size, input_size
    return blocks * (H * I + H * H + 2 * H)


def _count_with(blocks: dict[str, int], biases: int = 2):
    def wrong(kind, input_size, hidden_size):
        H, I = hidden_size, input_size
        return blocks[kind] * (H * I + H * H + biases * H)

    return wrong


def _parameter_cases():
    return [("gru", 32, 256), ("lstm", 10, 20), ("rnn", 5, 7), ("gru", 3, 2), ("lstm", 28, 64)]


register(
    Exercise(
        name="05.parameter_count",
        title="parameters of one recurrent layer",
        hint=(
            "count one block of weights per gate and per candidate (how many blocks does each kind stack?); each "
            "block has an input matrix, a recurrent matrix and, in torch's layout, two bias vectors. Return an int."
        ),
        reference=parameter_count,
        cases=_parameter_cases,
        mistakes=[
            Mistake(
                "one bias per block: torch keeps two, b_ih and b_hh (redundant for the RNN and LSTM, not for the "
                "GRU's candidate, where b_hn sits inside the reset)",
                _count_with({"rnn": 1, "gru": 3, "lstm": 4}, biases=1),
            ),
            Mistake("no biases counted: each block has b_ih and b_hh, H numbers each",
                    _count_with({"rnn": 1, "gru": 3, "lstm": 4}, biases=0)),
            Mistake(
                "you counted the gates only: the candidate has its own block of weights too (GRU: r, z and n, "
                "3 blocks; LSTM: i, f, o and g, 4 blocks)",
                _count_with({"rnn": 1, "gru": 2, "lstm": 3}),
            ),
            Mistake(
                "one block for every kind: each gate and the candidate have their own weights (RNN 1, GRU 3, "
                "LSTM 4 blocks)",
                _count_with({"rnn": 1, "gru": 1, "lstm": 1}),
            ),
            Mistake("the GRU's and the LSTM's block counts are swapped: GRU r, z, n (3), LSTM i, f, g, o (4)",
                    _count_with({"rnn": 1, "gru": 4, "lstm": 3})),
        ],
    )
)


# --- 05.hidden_size_for_budget ----------------------------------------------------------------------


def largest_hidden_size(kind, budget, input_size):
    # the largest H >= 1 with G (H·I + H·H + 2H) <= budget; the count grows with H, so walk up
    blocks = {"rnn": 1, "gru": 3, "lstm": 4}[kind]
    H = 1
    while blocks * ((H + 1) * input_size + (H + 1) ** 2 + 2 * (H + 1)) <= budget:
        H += 1
    return H


def _closest_hidden_size(kind, budget, input_size):
    H = largest_hidden_size(kind, budget, input_size)
    over, under = parameter_count(kind, input_size, H + 1), parameter_count(kind, input_size, H)
    return H + 1 if over - budget < budget - under else H


def _hidden_size_one_block(kind, budget, input_size):
    return largest_hidden_size("rnn", budget, input_size)


def _hidden_size_no_input(kind, budget, input_size):
    return largest_hidden_size(kind, budget, 0)


def _hidden_size_one_too_many(kind, budget, input_size):
    return largest_hidden_size(kind, budget, input_size) + 1


def _budget_cases():
    return [("gru", 296960, 32), ("rnn", 296960, 32), ("lstm", 222720, 32), ("gru", 1000, 7), ("lstm", 5000, 5)]


register(
    Exercise(
        name="05.hidden_size_for_budget",
        title="the hidden size for a parameter budget",
        hint=(
            "the count of exercise 3 grows with H; you want the largest H whose count still fits in the budget "
            "(never above it). Count all of the layer: every block, the input matrix and both biases. Return an int."
        ),
        reference=largest_hidden_size,
        cases=_budget_cases,
        mistakes=[
            Mistake(
                "you took the H whose count is *closest* to the budget; a budget is a ceiling: the largest H whose "
                "count does not exceed it",
                _closest_hidden_size,
            ),
            Mistake("one too many: at your H the layer's count exceeds the budget", _hidden_size_one_too_many),
            Mistake(
                "you counted one block of weights for every kind; the GRU has 3, the LSTM 4, so at the same budget "
                "they get fewer units than the RNN",
                _hidden_size_one_block,
            ),
            Mistake("you left out the input matrix W_ih (H × I per block)", _hidden_size_no_input),
        ],
    )
)
