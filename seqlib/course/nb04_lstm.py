"""Notebook 04 · the LSTM: what the notebook shows and asks, computed here.

* **Two states.**  The source notes: the cell state (셀 상태) is "현재 시점(0 ~ t)까지 입력받은 정보를
  취합한 것. 밖으로 나가진 않는다" (everything taken in up to now, kept inside, never output); the hidden
  state (은닉 상태) "밖으로 나가서 다음 번에도 previous hidden state가 된다" (goes out, and comes back as
  the next step's previous hidden state).  :func:`draw_lstm_cell` draws the cell with both paths;
  :func:`read_text` runs a trained model over a passage and keeps every gate (``seqlib.LSTM``'s
  ``return_trace=True``), so the notebook can show that the head reads h alone and that c leaves the
  range of h.
* **A character LSTM that reads punctuation.**  The leaderboard's text is letters and spaces only
  (``seqlib.data.load_corpus("char")``, V = 28).  To look for cells that track quotes, lines and
  sentences, the reading model is trained on a richer cleaning of the same book,
  :func:`clean_with_punctuation`: lower case, with newlines, punctuation and the curly quotes kept.
  ``bench/lstm_char_model.py`` trains it (and, separately, the leaderboard's LSTM on the standard
  text) and ships both in ``data/lstm_char_model.pt`` with its measurements in
  ``data/results/lstm_char_model.json`` (:func:`load_checkpoint`, :func:`load_results`).
* **Interpretable units** (Karpathy, Johnson & Fei-Fei 2015): :func:`text_features` (inside a word,
  position in the word, position in the line, inside quotes, position in the sentence) and
  :func:`unit_feature_correlations`, the Pearson correlation of every unit's cell state with each
  feature over a text.
* **Back to notebook 03**: :func:`cell_gradient_profile`, ‖∂L/∂c_t‖ of a trained model on real text
  (``seqlib.gradients.state_gradient_norms``) against the product of its forget gates.
* **Widgets**: :func:`gate_explorer` (a passage, a time-step slider and a unit selector; every gate
  and the cell state at that character), over the pure function :func:`gate_view`.
* **Plotting boilerplate**: :func:`plot_gate_heatmaps`, :func:`plot_unit_traces`,
  :func:`character_ticks`.
* **Exercises** ``04.lstm_step``, ``04.lstm_parameters``, ``04.lstm_sequence``,
  ``04.unit_correlation``.

Shape legend: B batch, T time steps (characters), I input size (the embedding size E for a language
model), H hidden size, V vocabulary size, F features.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from torch import Tensor, nn

from seqlib.course.checker import Exercise, Mistake, register
from seqlib.course.explorer import Explorer
from seqlib.data import Vocab, load_time_machine, split_sequence
from seqlib.gradients import state_gradient_norms
from seqlib.init import set_forget_bias_
from seqlib.language_models import RNNLanguageModel, make_language_model

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
CHECKPOINT_PATH = DATA_DIR / "lstm_char_model.pt"
RESULTS_PATH = DATA_DIR / "results" / "lstm_char_model.json"
VAL_STREAMS = 16
"""The validation text is read as this many streams side by side (:func:`read_ids`), by the bench and the notebook."""

__all__ = [
    "CHECKPOINT_PATH",
    "RESULTS_PATH",
    "VAL_STREAMS",
    "clean_with_punctuation",
    "PunctuatedCorpus",
    "punctuated_corpus",
    "FEATURES",
    "text_features",
    "unit_feature_correlations",
    "BestUnit",
    "best_units",
    "feature_correlations",
    "strongest",
    "Reading",
    "read_text",
    "read_ids",
    "StateRanges",
    "state_ranges",
    "ForgetHalfLives",
    "forget_half_lives",
    "CharacterProfile",
    "character_profiles",
    "text_snippets",
    "CellGradientProfile",
    "cell_gradient_profile",
    "GateView",
    "gate_view",
    "gate_explorer",
    "make_reader",
    "Checkpoint",
    "load_checkpoint",
    "save_checkpoint",
    "load_results",
    "count_parameters",
    "lstm_layer_parameters",
    "character_ticks",
    "show_char",
    "plot_gate_heatmaps",
    "plot_unit_traces",
    "draw_lstm_cell",
]


# --------------------------------------------------------------------------------------------------
# The text with its punctuation
# --------------------------------------------------------------------------------------------------

_REPLACE = {"æ": "ae", "œ": "oe", "ü": "u", "ç": "c", "‘": "’", "…": "...", "[": "(", "]": ")"}
KEPT = "abcdefghijklmnopqrstuvwxyz \n.,;:!?“”’—-()"
"""The characters :func:`clean_with_punctuation` keeps."""


def clean_with_punctuation(text: str) -> str:
    """The book in lower case with its line breaks and punctuation (a richer cleaning than
    ``seqlib.data.clean_letters``, which keeps letters and spaces only).

    Kept: a–z, the space, the newline (the book's lines are wrapped at 72 characters and paragraphs
    are separated by a blank line), ``. , ; : ! ?``, the curly quotes ``“ ” ’``, the dash ``—``, the
    hyphen and parentheses.  ``æ``/``œ`` become ``ae``/``oe``, ``‘`` becomes ``’``; anything else
    (the underscores of italics, for instance) is dropped.  Runs of spaces become one space, spaces
    around a newline are removed, and more than one blank line becomes one.
    """
    text = text.lower()
    for old, new in _REPLACE.items():
        text = text.replace(old, new)
    text = re.sub(f"[^{re.escape(KEPT)}]", "", text)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


@dataclass(frozen=True)
class PunctuatedCorpus:
    """The book cleaned by :func:`clean_with_punctuation`, as text and as ids over ``vocab``; split
    like the leaderboard's text: the first 90 % train, the last 10 % validate (``train_text`` and
    ``val_text`` are the same split as ``train`` and ``val``)."""

    text: str
    vocab: Vocab
    ids: Tensor
    train: Tensor
    val: Tensor

    @property
    def train_text(self) -> str:
        return self.text[: len(self.train)]

    @property
    def val_text(self) -> str:
        return self.text[len(self.train) :]


def punctuated_corpus(val_fraction: float = 0.1) -> PunctuatedCorpus:
    """The Time Machine with its punctuation (:func:`clean_with_punctuation`), its vocabulary and split."""
    text = clean_with_punctuation(load_time_machine())
    vocab = Vocab(list(text))
    ids = torch.tensor(vocab.encode(list(text)), dtype=torch.long)
    train, val = split_sequence(ids, val_fraction)
    return PunctuatedCorpus(text, vocab, ids, train, val)


# --------------------------------------------------------------------------------------------------
# Features of the text, and how well each unit's cell state follows them
# --------------------------------------------------------------------------------------------------

FEATURES = {
    "inside a word": "1 on a letter, 0 on anything else",
    "position in the word": "letters read so far in the current word (0 off a word)",
    "position in the line": "characters since the last newline (0 on the newline)",
    "inside quotes": "1 from an opening “ up to its closing ” (the ” itself is outside)",
    "position in the sentence": "characters since the last . ! or ? (0 on it)",
}
"""The features of a character measured by :func:`text_features`, each true *after* reading it."""


def text_features(text: str) -> dict[str, Tensor]:
    """Each feature of :data:`FEATURES`, for every character of ``text``: name -> (T,) float64.

    The value at t describes the text up to and including character t, as the cell state c_t does.
    In *The Time Machine* a speech that runs over several paragraphs opens each paragraph with “ and
    closes only at its end; "inside quotes" follows that convention (a new “ keeps it inside).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    columns: dict[str, list[float]] = {name: [] for name in FEATURES}
    in_word = in_line = in_sentence = 0
    quoted = False
    for ch in text:
        letter = "a" <= ch <= "z"
        in_word = in_word + 1 if letter else 0
        in_line = 0 if ch == "\n" else in_line + 1
        in_sentence = 0 if ch in ".!?" else in_sentence + 1
        if ch == "“":
            quoted = True
        elif ch == "”":
            quoted = False
        columns["inside a word"].append(float(letter))
        columns["position in the word"].append(float(in_word))
        columns["position in the line"].append(float(in_line))
        columns["inside quotes"].append(float(quoted))
        columns["position in the sentence"].append(float(in_sentence))
    return {name: torch.tensor(values, dtype=torch.float64) for name, values in columns.items()}


def unit_feature_correlations(states: Tensor, feature: Tensor) -> Tensor:
    """Pearson correlation over time between every unit's state and one feature: (T, H), (T,) -> (H,).

    r_u = Σ_t (s_tu - mean_u)(x_t - mean_x) / sqrt(Σ_t (s_tu - mean_u)² · Σ_t (x_t - mean_x)²).
    A unit (or a feature) that never changes has no correlation: 0, not NaN.  Computed in float64.
    """
    if states.dim() != 2 or feature.dim() != 1 or states.shape[0] != feature.shape[0]:
        raise ValueError(
            f"states must be (T, H) and feature (T,) with the same T, got {tuple(states.shape)} and "
            f"{tuple(feature.shape)}"
        )
    if states.shape[0] < 2:
        raise ValueError(f"a correlation needs at least 2 time steps, got {states.shape[0]}")
    s = states.double() - states.double().mean(dim=0)  # (T, H), centred over time
    x = feature.double() - feature.double().mean()  # (T,)
    scale = (s.pow(2).sum(dim=0) * x.pow(2).sum()).sqrt()  # (H,)
    covariance = x @ s  # (H,)
    return torch.where(scale > 0, covariance / scale.clamp_min(1e-300), torch.zeros_like(covariance))


class BestUnit(NamedTuple):
    """The unit whose cell state correlates most (in absolute value) with a feature."""

    feature: str
    unit: int
    r: float


def feature_correlations(states: Tensor, features: dict[str, Tensor]) -> dict[str, Tensor]:
    """:func:`unit_feature_correlations` of ``states`` (T, H) with every feature: name -> (H,)."""
    return {name: unit_feature_correlations(states, feature) for name, feature in features.items()}


def strongest(correlations: dict[str, Tensor]) -> dict[str, BestUnit]:
    """For each feature, the unit with the largest |correlation| (and its signed value)."""
    best = {}
    for name, r in correlations.items():
        unit = int(r.abs().argmax())
        best[name] = BestUnit(name, unit, float(r[unit]))
    return best


def best_units(states: Tensor, features: dict[str, Tensor]) -> dict[str, BestUnit]:
    """For each feature, the unit of ``states`` (T, H) with the largest |correlation| (and its signed value)."""
    return strongest(feature_correlations(states, features))


# --------------------------------------------------------------------------------------------------
# A trained model reading a text
# --------------------------------------------------------------------------------------------------


class Reading(NamedTuple):
    """A character language model's LSTM reading ``text`` from zero states, one character at a time.

    Every field is indexed by the character: ``i, f, g, o, c, h`` are (T, H) (the LSTM trace, c and h
    *after* reading character t); ``logits`` (T, V) score the character after t.
    """

    text: str
    i: Tensor
    f: Tensor
    g: Tensor
    o: Tensor
    c: Tensor
    h: Tensor
    logits: Tensor

    @property
    def hidden_size(self) -> int:
        return self.c.shape[1]

    def window(self, start: int, stop: int) -> Reading:
        """Characters ``start`` … ``stop - 1`` of the reading (the states still carry what came before)."""
        if not 0 <= start < stop <= len(self.text):
            raise ValueError(f"window [{start}, {stop}) must lie within the {len(self.text)} characters read")
        return Reading(self.text[start:stop], *(field[start:stop] for field in self[1:]))


def _check_language_lstm(model: nn.Module) -> None:
    recurrent = getattr(model, "recurrent", None)
    if getattr(recurrent, "mode", None) != "LSTM" or recurrent.num_layers != 1:
        raise ValueError("the model must be a seqlib language model around a one-layer seqlib.LSTM")


@torch.no_grad()
def read_ids(model: RNNLanguageModel, ids: Tensor, text: str = "", streams: int = 1) -> Reading:
    """:class:`Reading` of the (T,) character ids ``ids`` (``text`` is kept for labels).

    With ``streams`` = S > 1 the ids are cut into S contiguous pieces of ⌊T/S⌋ characters (the last
    T mod S are dropped), read side by side as a batch, each from zero states, and put back in order:
    S times fewer steps of the loop over time (a long text reads in seconds), at the price of S
    fresh starts.  ``text`` is cut the same way.
    """
    _check_language_lstm(model)
    if ids.dim() != 1 or len(ids) == 0:
        raise ValueError(f"ids must be a non-empty 1-D tensor, got shape {tuple(ids.shape)}")
    if not isinstance(streams, int) or isinstance(streams, bool) or not 1 <= streams <= len(ids):
        raise ValueError(f"streams must be an int from 1 to len(ids) = {len(ids)}, got {streams!r}")
    length = len(ids) // streams
    was_training = model.training
    model.eval()
    x = model.embedding(ids[: streams * length].reshape(streams, length))  # (S, L, E)
    if not model.recurrent.batch_first:
        x = x.transpose(0, 1)
    _, _, traces = model.recurrent(x, return_trace=True)
    trace = traces[0][0]  # LSTMTrace, fields (S, L, H)
    logits = model.head(trace.h)  # (S, L, V)
    model.train(was_training)
    fields = [field.reshape(streams * length, -1) for field in (*trace, logits)]  # (S*L, ·), in text order
    return Reading(text[: streams * length] if text else text, *fields)


def read_text(model: RNNLanguageModel, vocab: Vocab, text: str) -> Reading:
    """:class:`Reading` of ``text`` (at least one character; characters outside ``vocab`` are ``<unk>``)."""
    if not isinstance(text, str) or not text:
        raise ValueError("the passage is empty: give it at least one character")
    return read_ids(model, torch.tensor(vocab.encode(list(text)), dtype=torch.long), text)


class StateRanges(NamedTuple):
    """How far the two states range over a reading: the largest |c| and |h|, and the share of
    (character, unit) pairs where |c| > 1 (a value h can never take)."""

    max_abs_c: float
    max_abs_h: float
    share_c_beyond_1: float


def state_ranges(reading: Reading) -> StateRanges:
    return StateRanges(
        float(reading.c.abs().max()), float(reading.h.abs().max()), float((reading.c.abs() > 1).double().mean())
    )


class ForgetHalfLives(NamedTuple):
    """Per unit, the median forget gate over a reading (its typical step) and the half-life it implies: with
    nothing written, c keeps f^k of itself after k steps, half of it after k = ln 2 / -ln f characters."""

    median_f: Tensor
    half_life: Tensor


def forget_half_lives(reading: Reading) -> ForgetHalfLives:
    median_f = reading.f.double().median(dim=0).values  # (H,)
    return ForgetHalfLives(median_f, math.log(2) / -torch.log(median_f))


class CharacterProfile(NamedTuple):
    """The mean of one gate of one unit at each character of the vocabulary (those read at least ``min_count``
    times): ``chars`` in falling frequency, ``means`` and ``counts`` beside them."""

    unit: int
    chars: tuple[str, ...]
    means: Tensor
    counts: Tensor

    @property
    def spread(self) -> float:
        return float(self.means.max() - self.means.min())


def character_profiles(reading: Reading, gate: str = "i", min_count: int = 20) -> list[CharacterProfile]:
    """For every unit, the mean of ``gate`` (one of i, f, g, o) after each character: what the gate does with the
    character just read."""
    if gate not in ("i", "f", "g", "o"):
        raise ValueError(f"gate must be one of 'i', 'f', 'g', 'o', got {gate!r}")
    chars = sorted(set(reading.text), key=lambda ch: (-reading.text.count(ch), ch))
    chars = [ch for ch in chars if reading.text.count(ch) >= min_count]
    codes = torch.tensor([chars.index(ch) if ch in chars else -1 for ch in reading.text])  # (T,)
    values = getattr(reading, gate).double()  # (T, H)
    counts = torch.stack([(codes == k).sum() for k in range(len(chars))])  # (C,)
    means = torch.stack([values[codes == k].mean(dim=0) for k in range(len(chars))])  # (C, H)
    return [CharacterProfile(u, tuple(chars), means[:, u], counts) for u in range(values.shape[1])]


# --------------------------------------------------------------------------------------------------
# Back to notebook 03: the gradient along the cell state of a trained model
# --------------------------------------------------------------------------------------------------


def text_snippets(ids: Tensor, count: int = 16, length: int = 100) -> Tensor:
    """``count`` evenly spaced stretches of ``length + 1`` ids of ``ids`` (the first one at 0): (B, T + 1).

    The first T ids of each row are read, the last one is the target of the loss.
    """
    for name, value in [("count", count), ("length", length)]:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if ids.dim() != 1 or len(ids) < length + 1 + (count - 1):
        raise ValueError(f"ids must be 1-D with at least {length + count} ids, got shape {tuple(ids.shape)}")
    stride = (len(ids) - length - 1) // count if count > 1 else 0
    starts = torch.arange(count) * stride  # (B,)
    return ids[starts[:, None] + torch.arange(length + 1)]  # (B, T + 1)


class CellGradientProfile(NamedTuple):
    """‖∂L/∂c_t‖ and ‖∂L/∂h_t‖ (T,) of a language model's LSTM reading snippets, the loss being the
    cross-entropy of the character after the last one; ``*_relative`` divided by the last step's;
    ``forget_path`` (T,) the mean over snippets and units of ∏_{k=t+1}^{T} f_k (1 at t = T)."""

    c_norms: Tensor
    h_norms: Tensor
    c_relative: Tensor
    h_relative: Tensor
    forget_path: Tensor
    mean_f: float


def cell_gradient_profile(model: RNNLanguageModel, ids: Tensor) -> CellGradientProfile:
    """How far back the gradient reaches along the cell state of ``model`` (see :class:`CellGradientProfile`).

    Args:
        model: a language model around a one-layer seqlib LSTM (its parameters' ``.grad`` are left
            as they were).
        ids: (B, T + 1) character ids; the first T are read, the last is the target.
    """
    _check_language_lstm(model)
    if ids.dim() != 2 or ids.shape[1] < 2:
        raise ValueError(f"ids must be (B, T + 1) with T >= 1, got shape {tuple(ids.shape)}")
    saved = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        x = model.embedding(ids[:, :-1])  # (B, T, E)
    targets = ids[:, -1]  # (B,)
    h_norms, c_norms = state_gradient_norms(
        model.recurrent, x, lambda hs: F.cross_entropy(model.head(hs[:, -1]), targets)
    )
    with torch.no_grad():
        f = model.recurrent(x, return_trace=True)[2][0][0].f  # (B, T, H)
    for p, grad in zip(model.parameters(), saved, strict=True):
        p.grad = grad
    model.train(was_training)
    f = f.double()
    # ∏_{k=t+1}^{T} f_k: the reversed cumulative product, shifted so that the last step's path is empty
    suffix = torch.flip(torch.cumprod(torch.flip(f, dims=[1]), dim=1), dims=[1])  # ∏_{k=t}^{T} f_k
    path = torch.cat([suffix[:, 1:], torch.ones_like(suffix[:, :1])], dim=1)  # (B, T, H)
    c_norms, h_norms = c_norms.double(), h_norms.double()
    return CellGradientProfile(
        c_norms, h_norms, c_norms / c_norms[-1], h_norms / h_norms[-1], path.mean(dim=(0, 2)), float(f.mean())
    )


# --------------------------------------------------------------------------------------------------
# The shipped models and measurements (made by bench/lstm_char_model.py)
# --------------------------------------------------------------------------------------------------


def count_parameters(module: nn.Module) -> int:
    """Learned numbers of a module (every parameter's entries)."""
    return sum(p.numel() for p in module.parameters())


def lstm_layer_parameters(input_size: int, hidden_size: int) -> int:
    """Parameters of one LSTM layer with torch's two biases: 4H·I + 4H·H + 4H + 4H."""
    return 4 * hidden_size * (input_size + hidden_size) + 8 * hidden_size


def make_reader(
    vocab_size: int, hidden_size: int, embedding_dim: int, dropout: float, forget_bias: float | None, seed: int
) -> RNNLanguageModel:
    """The reading model before training, as the bench builds it: seeded initial weights (``torch.manual_seed(seed)``),
    and the forget-gate bias set to ``forget_bias`` (``seqlib.init.set_forget_bias_``) unless it is None."""
    torch.manual_seed(seed)
    model = make_language_model("lstm", vocab_size, hidden_size, embedding_dim=embedding_dim, dropout=dropout)
    if forget_bias is not None:
        set_forget_bias_(model.recurrent, forget_bias)
    return model


class Checkpoint(NamedTuple):
    """The two shipped models: ``reader`` (trained on :func:`clean_with_punctuation`'s text, for reading
    and interpretable units) and ``leaderboard`` (trained on the leaderboard's letters-and-spaces text),
    each with its vocabulary and its settings."""

    reader: RNNLanguageModel
    reader_vocab: Vocab
    leaderboard: RNNLanguageModel
    leaderboard_vocab: Vocab
    settings: dict[str, Any]


def _model_entry(model: RNNLanguageModel, vocab: Vocab) -> dict[str, Any]:
    config = {"hidden_size": model.recurrent.hidden_size, "embedding_dim": model.recurrent.input_size}
    state = {name: value.detach().clone().contiguous() for name, value in model.state_dict().items()}
    return {"config": config, "tokens": list(vocab.idx_to_token), "state_dict": state}


def save_checkpoint(
    path: str | Path, reader: RNNLanguageModel, reader_vocab: Vocab, leaderboard: RNNLanguageModel,
    leaderboard_vocab: Vocab, settings: dict[str, Any],
) -> None:
    """Write both models (plain tensors, lists, numbers and strings: loadable with ``weights_only=True``)."""
    torch.save(
        {
            "format": 1,
            "reader": _model_entry(reader, reader_vocab),
            "leaderboard": _model_entry(leaderboard, leaderboard_vocab),
            "settings": settings,
        },
        path,
    )


def _model_from_entry(entry: dict[str, Any], vocab: Vocab, name: str, path: Path) -> RNNLanguageModel:
    if list(vocab.idx_to_token) != list(entry["tokens"]):
        raise ValueError(f"{path}: the {name} model's vocabulary differs from the one rebuilt from the text")
    config = entry["config"]
    generator_state = torch.random.get_rng_state()
    model = make_language_model("lstm", len(vocab), config["hidden_size"], embedding_dim=config["embedding_dim"])
    torch.random.set_rng_state(generator_state)  # building drew initial weights: leave the caller's stream as it was
    model.load_state_dict(entry["state_dict"])
    return model.eval()


def load_checkpoint(path: str | Path | None = None) -> Checkpoint:
    """Read ``data/lstm_char_model.pt`` (``torch.load(..., weights_only=True)``) into two models in eval mode.

    The vocabularies are rebuilt from the book (:func:`punctuated_corpus` and
    ``seqlib.data.load_corpus("char")``) and checked against the ones stored with the models.
    """
    from seqlib.data import load_corpus

    path = CHECKPOINT_PATH if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no checkpoint; run `python bench/lstm_char_model.py` to make it")
    data = torch.load(path, map_location="cpu", weights_only=True)
    if data.get("format") != 1 or not {"reader", "leaderboard", "settings"} <= set(data):
        raise ValueError(f"{path}: not an lstm_char_model checkpoint")
    reader_vocab = punctuated_corpus().vocab
    leaderboard_vocab = load_corpus("char")[1]
    return Checkpoint(
        _model_from_entry(data["reader"], reader_vocab, "reader", path),
        reader_vocab,
        _model_from_entry(data["leaderboard"], leaderboard_vocab, "leaderboard", path),
        leaderboard_vocab,
        data["settings"],
    )


def load_results(path: str | Path | None = None) -> dict[str, Any]:
    """Read the bench's result file (default ``data/results/lstm_char_model.json``)."""
    path = RESULTS_PATH if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no result file; run `python bench/lstm_char_model.py` to make it")
    data = json.loads(path.read_text(encoding="utf-8"))
    missing = {"settings", "leaderboard", "reader"} - set(data)
    if missing:
        raise ValueError(f"{path}: not an lstm_char_model result file (missing {sorted(missing)})")
    return data


# --------------------------------------------------------------------------------------------------
# Plotting boilerplate: characters on an axis, gate heat maps, unit traces, the cell diagram
# --------------------------------------------------------------------------------------------------

_SHOWN = {" ": "␣", "\n": "⏎"}


def show_char(ch: str) -> str:
    """A character as a tick label: the space as ␣, the newline as ⏎."""
    return _SHOWN.get(ch, ch)


def character_ticks(ax: plt.Axes, text: str, axis: str = "x", fontsize: float = 7.0) -> None:
    """One tick per character of ``text`` at 0, 1, …, labelled with the character (monospace)."""
    positions = list(range(len(text)))
    labels = [show_char(ch) for ch in text]
    if axis == "x":
        ax.set_xticks(positions, labels, fontsize=fontsize, fontfamily="monospace")
        ax.tick_params(axis="x", length=0, pad=2)
    else:
        ax.set_yticks(positions, labels, fontsize=fontsize, fontfamily="monospace")
        ax.tick_params(axis="y", length=0, pad=2)


GATE_TITLES = {
    "f": "forget gate $f_t$ (1 = keep $c_{t-1}$)",
    "i": "input gate $i_t$ (1 = write)",
    "o": "output gate $o_t$ (1 = show)",
    "g": "candidate $g_t$",
    "c": "cell state $c_t$",
    "h": "hidden state $h_t$",
}


def plot_gate_heatmaps(
    reading: Reading, units: Tensor | None = None, names: tuple[str, ...] = ("f", "i", "o", "c"),
    fig: plt.Figure | None = None,
) -> plt.Figure:
    """Time × unit heat maps of the chosen fields of a reading, the characters along the time axis.

    Gates share the colour scale [0, 1]; the cell state gets a diverging scale centred on 0 that reaches the
    99th percentile of |c| (a few large units would otherwise wash out the rest).  ``units`` (a (K,) index
    tensor) chooses and orders the rows, the same in every panel; up to 24 rows are labelled with their unit.
    """
    units = torch.arange(reading.hidden_size) if units is None else torch.as_tensor(units)
    fig = fig or plt.figure(figsize=(11, 2.3 * len(names) + 0.7))
    axes = np.atleast_1d(fig.subplots(len(names), 1, sharex=True))
    fig.subplots_adjust(left=0.06, right=0.98, top=0.93, bottom=0.08, hspace=0.3)  # fixed: no layout pass
    for ax, name in zip(axes, names, strict=True):
        values = getattr(reading, name)[:, units].T.numpy()  # (K, T)
        if name in ("c", "g", "h"):
            limit = max(float(np.quantile(np.abs(values), 0.99)), 1e-6)
            image = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        else:
            image = ax.imshow(values, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(GATE_TITLES[name], fontsize=9, loc="left")
        if len(units) <= 24:
            ax.set_yticks(range(len(units)), [str(int(u)) for u in units], fontsize=6)
            ax.set_ylabel("unit", fontsize=8)
        else:
            ax.set_yticks([])
            ax.set_ylabel(f"{len(units)} units", fontsize=8)
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.03, aspect=8)
    character_ticks(axes[-1], reading.text)
    axes[-1].set_xlabel("character read at step t")
    return fig


def plot_unit_traces(
    reading: Reading, rows: list[tuple[str, int, Tensor]], fig: plt.Figure | None = None
) -> plt.Figure:
    """One panel per ``(label, unit, feature)``: the unit's cell state c_t over the reading (left axis) and
    the feature (right axis, grey steps), characters along the time axis."""
    fig = fig or plt.figure(figsize=(11, 1.7 * len(rows) + 0.6))
    axes = np.atleast_1d(fig.subplots(len(rows), 1, sharex=True))
    fig.subplots_adjust(left=0.06, right=0.93, top=0.9, bottom=0.12, hspace=0.45)  # fixed: no layout pass
    steps = np.arange(len(reading.text))
    for ax, (label, unit, feature) in zip(axes, rows, strict=True):
        ax.plot(steps, reading.c[:, unit].numpy(), color="C3", lw=1.4, label=f"unit {unit}: $c_t$")
        ax.axhline(0, color="0.8", lw=0.6)
        ax.set_ylabel("$c_t$", color="C3")
        twin = ax.twinx()
        twin.step(steps, feature.numpy(), where="mid", color="0.45", lw=1, alpha=0.8, label=label)
        twin.set_ylabel(label, color="0.35", fontsize=8)
        ax.set_title(f"unit {unit} against “{label}”", fontsize=9, loc="left")
    character_ticks(axes[-1], reading.text, fontsize=6 if len(reading.text) > 100 else 7)
    axes[-1].set_xlabel("character read at step t")
    return fig


def _box(ax, xy, width, height, text, color, fontsize=10):
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.02",
                                facecolor=color, edgecolor="k", lw=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _node(ax, xy, text):
    ax.add_patch(plt.Circle(xy, 0.17, facecolor="white", edgecolor="k", lw=1.2, zorder=3))
    ax.text(*xy, text, ha="center", va="center", fontsize=11, zorder=4)


def _arrow(ax, start, end, color="k", lw=1.4, style="-|>", ls="-", connection="arc3"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color, lw=lw, ls=ls,
                                 connectionstyle=connection, zorder=2))


def draw_lstm_cell(ax: plt.Axes) -> None:
    """The LSTM cell as a static diagram: the cell state's line along the top, inside the cell; the
    hidden state leaving as the output and coming back as the next step's h_{t-1}; the four gates."""
    ax.set_xlim(-0.6, 11.6)
    ax.set_ylim(-1.6, 6.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.add_patch(FancyBboxPatch((0.9, 0.2), 8.6, 5.0, boxstyle="round,pad=0.1", facecolor="#f4f4f4",
                                edgecolor="0.4", lw=1.2, ls="--"))
    ax.text(1.05, 0.35, "one LSTM cell, step t", fontsize=8, color="0.35")
    cell_y, gate_y, mix_y = 4.4, 1.9, 1.0
    # the cell state: in from the left, out to the right, never leaving the cell's row
    _arrow(ax, (-0.3, cell_y), (2.83, cell_y), color="C3", lw=2.6, style="-")
    _node(ax, (3.0, cell_y), "×")
    _arrow(ax, (3.17, cell_y), (4.83, cell_y), color="C3", lw=2.6, style="-")
    _node(ax, (5.0, cell_y), "+")
    _arrow(ax, (5.17, cell_y), (11.3, cell_y), color="C3", lw=2.6)
    ax.text(-0.3, cell_y + 0.3, "$c_{t-1}$", color="C3", fontsize=12)
    ax.text(10.3, cell_y + 0.3, "$c_t$", color="C3", fontsize=12)
    ax.text(5.6, cell_y + 0.45, "cell state: kept inside,\npassed on to step t+1 only", color="C3", fontsize=8)
    # h_{t-1} and x_t meet and feed the four gates
    ax.text(-0.45, mix_y - 0.05, "$h_{t-1}$", color="C0", fontsize=12, va="center")
    _arrow(ax, (0.2, mix_y), (1.6, mix_y), color="C0", lw=2)
    ax.text(1.25, -1.2, "$x_t$", fontsize=12, ha="center")
    _arrow(ax, (1.6, -0.9), (1.6, mix_y - 0.05), lw=1.5)
    _arrow(ax, (1.6, mix_y), (7.3, mix_y), color="0.3", lw=1.2, style="-")
    gates = [(3.0, "$f_t$\nσ", "#fde0c5"), (4.3, "$i_t$\nσ", "#d5e8d4"), (5.6, "$g_t$\ntanh", "#dae8fc"),
             (7.3, "$o_t$\nσ", "#e1d5e7")]
    for x, label, color in gates:
        _arrow(ax, (x, mix_y), (x, gate_y - 0.42), color="0.3", lw=1.1)
        _box(ax, (x, gate_y), 0.95, 0.8, label, color, fontsize=9)
    _arrow(ax, (3.0, gate_y + 0.42), (3.0, cell_y - 0.18), lw=1.2)  # f multiplies c_{t-1}
    _node(ax, (5.0, 3.2), "×")  # i ⊙ g
    _arrow(ax, (4.3, gate_y + 0.42), (4.87, 3.08), lw=1.2)
    _arrow(ax, (5.6, gate_y + 0.42), (5.13, 3.08), lw=1.2)
    _arrow(ax, (5.0, 3.37), (5.0, cell_y - 0.18), lw=1.2)
    # h_t = o ⊙ tanh(c_t)
    _box(ax, (8.4, 3.5), 0.9, 0.5, "tanh", "white", fontsize=8)
    _arrow(ax, (8.4, cell_y), (8.4, 3.77), color="C3", lw=1.2)
    _node(ax, (8.4, 2.4), "×")
    _arrow(ax, (8.4, 3.23), (8.4, 2.57), lw=1.2)
    _arrow(ax, (7.3, gate_y + 0.42), (8.25, 2.35), lw=1.2)
    _arrow(ax, (8.57, 2.4), (11.3, 2.4), color="C0", lw=2.2)
    ax.text(10.3, 2.55, "$h_t$", color="C0", fontsize=12)
    _arrow(ax, (9.9, 2.4), (9.9, 6.3), color="C0", lw=2.2)  # out: the output of the step
    ax.text(10.05, 5.9, "output $h_t$\n(to the head)", color="C0", fontsize=8)
    _arrow(ax, (10.9, 2.4), (10.9, -0.9), color="C0", lw=1.3, ls="--", style="-")
    _arrow(ax, (10.9, -0.9), (-0.1, -0.9), color="C0", lw=1.3, ls="--", style="-")
    _arrow(ax, (-0.1, -0.9), (-0.1, mix_y - 0.3), color="C0", lw=1.3, ls="--")  # into the next step's h_{t-1}
    ax.text(5.9, -0.75, "hidden state: goes out, and comes back as step t+1's $h_{t-1}$", color="C0", fontsize=8,
            ha="center")
    ax.text(3.35, 4.75, "$f_t \\odot c_{t-1}$", fontsize=8)
    ax.text(5.15, 3.55, "$i_t \\odot g_t$", fontsize=8)
    ax.text(8.6, 2.0, "$o_t \\odot \\tanh(c_t)$", fontsize=8)


# --------------------------------------------------------------------------------------------------
# The gate widget: a passage, a time step, a unit
# --------------------------------------------------------------------------------------------------


class GateView(NamedTuple):
    """Everything the gate widget shows for character ``t`` of the passage and one ``unit``.

    Scalars for the unit at step t: the gates ``i, f, g, o``, the cell state before (``c_prev``, 0 at
    t = 0: the initial state) and after (``c``), the written part ``i·g``, the kept part ``f·c_prev``,
    and ``h = o·tanh(c)``.  ``all_units`` (6, H): i, f, g, o, c, h of every unit at step t.
    ``reading`` is the whole passage's :class:`Reading` (for the unit's trace over time).
    """

    t: int
    char: str
    unit: int
    i: float
    f: float
    g: float
    o: float
    c_prev: float
    c: float
    h: float
    kept: float
    written: float
    all_units: Tensor
    reading: Reading

    @property
    def context(self) -> str:
        """Up to 12 characters before step t, and the character at t in brackets."""
        text = self.reading.text
        return "".join(show_char(ch) for ch in text[max(0, self.t - 12) : self.t]) + f"[{show_char(self.char)}]"


def gate_view(reading: Reading, t: int, unit: int) -> GateView:
    """The view of character ``t`` (0 ≤ t < T) and ``unit`` (0 ≤ unit < H) of a reading."""
    T, H = len(reading.text), reading.hidden_size
    if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t < T:
        raise ValueError(f"t = {t} is outside the passage: it has {T} characters, so t runs from 0 to {T - 1}")
    if not isinstance(unit, int) or isinstance(unit, bool) or not 0 <= unit < H:
        raise ValueError(f"unit {unit} does not exist: this LSTM has H = {H} units, numbered 0 to {H - 1}")
    value = {name: float(getattr(reading, name)[t, unit]) for name in ("i", "f", "g", "o", "c", "h")}
    c_prev = float(reading.c[t - 1, unit]) if t > 0 else 0.0
    all_units = torch.stack([getattr(reading, name)[t] for name in ("i", "f", "g", "o", "c", "h")])  # (6, H)
    return GateView(
        t, reading.text[t], unit, value["i"], value["f"], value["g"], value["o"], c_prev, value["c"], value["h"],
        value["f"] * c_prev, value["i"] * value["g"], all_units, reading,
    )


def _draw_gate_view(view: GateView, fig: plt.Figure) -> None:
    grid = fig.add_gridspec(3, 2, width_ratios=[1, 2.4], height_ratios=[2.2, 0.55, 0.3], left=0.06, right=0.94,
                            top=0.93, bottom=0.09, wspace=0.18, hspace=0.5)  # fixed: no layout pass, a quick redraw
    bars, trace = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    gates_strip, cell_strip = fig.add_subplot(grid[1, :]), fig.add_subplot(grid[2, :])
    names = ["f", "i", "g", "o", "$c_{t-1}$", "$f c_{t-1}$", "$i g$", "$c_t$", "$h_t$"]
    values = [view.f, view.i, view.g, view.o, view.c_prev, view.kept, view.written, view.c, view.h]
    colors = ["#f0a35e", "#82b366", "#6c8ebf", "#9673a6", "0.6", "#f0a35e", "#82b366", "C3", "C0"]
    bars.bar(range(len(values)), values, color=colors)
    bars.axhline(0, color="k", lw=0.6)
    bars.set_xticks(range(len(values)), names, fontsize=8)
    bars.set_title(f"unit {view.unit} at t = {view.t} (“{show_char(view.char)}”)", fontsize=9)
    bars.set_ylabel("value")
    reading, steps = view.reading, np.arange(len(view.reading.text))
    trace.plot(steps, reading.c[:, view.unit].numpy(), color="C3", lw=2, label="$c_t$")
    trace.plot(steps, reading.h[:, view.unit].numpy(), color="C0", lw=1.5, ls="--", label="$h_t$")
    trace.axhline(0, color="0.8", lw=0.6)
    trace.set_ylabel("state")
    gates = trace.twinx()  # the gates live in [0, 1]: their own axis
    for name, color in [("f", "#f0a35e"), ("i", "#82b366"), ("o", "#9673a6")]:
        gates.plot(steps, getattr(reading, name)[:, view.unit].numpy(), color=color, lw=1, label=name)
    gates.set_ylim(-0.05, 1.6)
    gates.set_yticks([0, 0.5, 1])
    gates.set_ylabel("gates (0 to 1)", fontsize=8)
    trace.axvline(view.t, color="k", lw=0.8)
    character_ticks(trace, reading.text, fontsize=6 if len(reading.text) > 60 else 8)
    trace.set_title(f"unit {view.unit} over the passage (black line: step t)", fontsize=9)
    handles = trace.get_legend_handles_labels()[0] + gates.get_legend_handles_labels()[0]
    trace.legend(handles=handles, fontsize=7, ncol=5, loc="upper left")
    H = view.all_units.shape[1]
    gates_strip.imshow(view.all_units[[1, 0, 3]].numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1,
                       interpolation="nearest")
    gates_strip.set_yticks(range(3), ["f", "i", "o"], fontsize=8)
    gates_strip.set_xticks([])
    gates_strip.set_title(f"every unit at t = {view.t}: gates (0 dark, 1 yellow) and cell state (red +, blue −)",
                          fontsize=9)
    cell = view.all_units[4:5].numpy()
    limit = max(float(np.abs(cell).max()), 1e-6)
    cell_strip.imshow(cell, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    cell_strip.set_yticks([0], ["c"], fontsize=8)
    for ax in (gates_strip, cell_strip):
        ax.axvline(view.unit, color="k", lw=0.8)
    cell_strip.set_xlabel(f"unit (all {H}); black line: the chosen unit")


def _describe_gate_view(view: GateView) -> str:
    return (
        f"t = {view.t}, <code>{html.escape(view.context)}</code>, unit {view.unit}: "
        f"f = {view.f:.2f}, i = {view.i:.2f}, g = {view.g:+.2f}, o = {view.o:.2f}; "
        f"c: {view.c_prev:+.2f} → {view.kept:+.2f} kept + {view.written:+.2f} written = {view.c:+.2f}; "
        f"h = {view.h:+.2f}"
    )


def gate_explorer(model: RNNLanguageModel, vocab: Vocab, passage: str, t: int = 0, unit: int = 0) -> Explorer:
    """A passage box, a time-step slider and a unit box over a trained character LSTM.

    The passage is cleaned as the model's training text was (:func:`clean_with_punctuation`) and read
    from zero states (:func:`read_text`); the slider picks the character (its range follows the
    passage), the box the unit.  An empty passage, or a unit that does not exist, is a message.
    """
    cache: dict[str, Reading] = {}

    def reading_of(text: str) -> Reading:
        if text not in cache:
            cache.clear()  # one passage at a time
            cache[text] = read_text(model, vocab, text)
        return cache[text]

    def compute(passage: str, t: int, unit: int) -> GateView:
        return gate_view(reading_of(clean_with_punctuation(passage)), t, unit)

    slider = widgets.IntSlider(value=t, min=0, max=max(len(clean_with_punctuation(passage)) - 1, 0),
                               description="time step t", continuous_update=False,
                               layout=widgets.Layout(width="95%"))
    box = widgets.Textarea(value=passage, description="passage", layout=widgets.Layout(width="95%", height="4em"),
                           continuous_update=False)

    def follow_passage(change: dict) -> None:  # registered before the Explorer's: the range is right first
        slider.max = max(len(clean_with_punctuation(change["new"])) - 1, 0)

    box.observe(follow_passage, names="value")
    controls = {"passage": box, "t": slider, "unit": widgets.IntText(value=unit, description="unit")}
    return Explorer(compute, controls, _draw_gate_view, _describe_gate_view, figsize=(11.0, 5.2))


# --------------------------------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------------------------------


# --- 04.lstm_step ---------------------------------------------------------------------------------


def lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh):
    # all four pre-activations at once, in torch's order i | f | g | o: (B, 4H)
    pre = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    i_pre, f_pre, g_pre, o_pre = pre.chunk(4, dim=1)
    i = torch.sigmoid(i_pre)  # input gate: how much of the candidate to write
    f = torch.sigmoid(f_pre)  # forget gate: how much of c_{t-1} to keep
    g = torch.tanh(g_pre)  # candidate: what could be written, in (-1, 1)
    o = torch.sigmoid(o_pre)  # output gate: how much of tanh(c_t) to show
    c_t = f * c + i * g  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o * torch.tanh(c_t)  # h_t = o_t ⊙ tanh(c_t)
    return h_t, c_t


def _lstm_step_variant(candidate=torch.tanh, gate=torch.sigmoid, order=(0, 1, 2, 3), update="right",
                       output="right", swap=False, bias="both"):
    """A wrong (or right) LSTM step, for the registered mistakes."""

    def step(x, h, c, W_ih, W_hh, b_ih, b_hh):
        pre = x @ W_ih.T + h @ W_hh.T + {"both": b_ih + b_hh, "ih": b_ih, "hh": b_hh}[bias]
        blocks = pre.chunk(4, dim=1)
        i_pre, f_pre, g_pre, o_pre = (blocks[k] for k in order)
        i, f, g, o = gate(i_pre), gate(f_pre), candidate(g_pre), gate(o_pre)
        c_t = {"right": f * c + i * g, "swapped": i * c + f * g, "no forget": c + i * g}[update]
        h_t = {"right": o * torch.tanh(c_t), "inside": torch.tanh(o * c_t), "no tanh": o * c_t}[output]
        return (c_t, h_t) if swap else (h_t, c_t)

    return step


def _lstm_step_cases():
    generator = torch.Generator().manual_seed(41)

    def case(B: int, I: int, H: int) -> tuple:
        def draw(*shape: int) -> Tensor:
            return torch.randn(*shape, generator=generator, dtype=torch.float64)

        return (draw(B, I), draw(B, H), 2 * draw(B, H), draw(4 * H, I), draw(4 * H, H), draw(4 * H), draw(4 * H))

    return [case(2, 3, 2), case(1, 5, 3), case(3, 2, 4)]


register(
    Exercise(
        name="04.lstm_step",
        title="one LSTM step",
        hint=(
            "one matrix product per input gives all four pre-activations stacked in torch's order i, f, g, o (each a "
            "block of H). Three of them are gates, squashed into (0, 1); the candidate is a value that may be "
            "negative. The forget gate acts on the old cell state, the input gate on the candidate; the output gate "
            "acts after the cell state is squashed. Return (h_t, c_t) in that order."
        ),
        reference=lstm_step,
        cases=_lstm_step_cases,
        mistakes=[
            Mistake(
                "the candidate g_t went through a sigmoid: it is the one block squashed with tanh, so that what is "
                "written can be negative as well as positive (σ would only ever add)",
                _lstm_step_variant(candidate=torch.sigmoid),
            ),
            Mistake(
                "tanh and σ are swapped: the three gates (i, f, o) are σ, between 0 (closed) and 1 (open); only the "
                "candidate g is tanh",
                _lstm_step_variant(candidate=torch.sigmoid, gate=torch.tanh),
            ),
            Mistake(
                "the output gate was applied to c_t before the tanh: h_t = o_t ⊙ tanh(c_t), the gate scales the "
                "squashed cell state, not tanh(o_t ⊙ c_t)",
                _lstm_step_variant(output="inside"),
            ),
            Mistake(
                "the forget gate multiplied the candidate (and the input gate the old cell state): c_t = f_t ⊙ c_{t-1} "
                "+ i_t ⊙ g_t, the forget gate decides what to keep of c_{t-1}",
                _lstm_step_variant(update="swapped"),
            ),
            Mistake(
                "no forget gate on the cell state: c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t (without f_t the cell can only "
                "accumulate, never forget)",
                _lstm_step_variant(update="no forget"),
            ),
            Mistake(
                "no tanh on the cell state: h_t = o_t ⊙ tanh(c_t); c_t can grow beyond ±1, h_t must not",
                _lstm_step_variant(output="no tanh"),
            ),
            Mistake(
                "the blocks are in the wrong order: torch stacks them i, f, g, o (the candidate is the third block, "
                "the output gate the fourth)",
                _lstm_step_variant(order=(0, 1, 3, 2)),
            ),
            Mistake(
                "h_t and c_t are returned in the wrong order: return (h_t, c_t), as torch's LSTMCell",
                _lstm_step_variant(swap=True),
            ),
            Mistake("one bias is missing: add both b_ih and b_hh", _lstm_step_variant(bias="ih")),
            Mistake("one bias is missing: add both b_ih and b_hh", _lstm_step_variant(bias="hh")),
        ],
    )
)

# --- 04.lstm_parameters -----------------------------------------------------------------------------


def lstm_parameters(input_size, hidden_size):
    # four blocks (i, f, g, o), each with an (H, I) input weight, an (H, H) recurrent weight and two biases
    I, H = input_size, hidden_size
    return 4 * H * I + 4 * H * H + 4 * H + 4 * H


register(
    Exercise(
        name="04.lstm_parameters",
        title="the parameters of an LSTM layer",
        hint=(
            "list the layer's tensors as torch names them (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0) and "
            "the shape of each: how many blocks are stacked in each, and what does each block multiply? "
            "The states h and c are not parameters."
        ),
        reference=lstm_parameters,
        cases=lambda: [(32, 128), (28, 256), (10, 3), (1, 1)],
        mistakes=[
            Mistake(
                "one bias vector is missing: torch's LSTM has two, b_ih and b_hh, each of 4H numbers (they add up to "
                "one effective bias, but both are learned parameters)",
                lambda I, H: 4 * H * (I + H) + 4 * H,
            ),
            Mistake("no biases counted: bias_ih and bias_hh hold 4H numbers each", lambda I, H: 4 * H * (I + H)),
            Mistake(
                "that is one block, the size of a plain RNN layer: the LSTM stacks four (i, f, g, o)",
                lambda I, H: H * (I + H) + 2 * H,
            ),
            Mistake(
                "three blocks: that is a GRU; the LSTM has four (the candidate g is a block too)",
                lambda I, H: 3 * H * (I + H) + 6 * H,
            ),
            Mistake(
                "the recurrent weights multiply h_{t-1} (H numbers), so W_hh is (4H, H), not (4H, I)",
                lambda I, H: 8 * H * I + 8 * H,
            ),
        ],
    )
)

# --- 04.lstm_sequence -------------------------------------------------------------------------------


def lstm_sequence(x, W_ih, W_hh, b_ih, b_hh):
    # x is (T, B, I), time first; both states start at zero and are carried from step to step
    T, B, _ = x.shape
    H = W_hh.shape[1]
    h = x.new_zeros(B, H)
    c = x.new_zeros(B, H)
    outputs = []
    for t in range(T):
        h, c = lstm_step(x[t], h, c, W_ih, W_hh, b_ih, b_hh)
        outputs.append(h)
    return torch.stack(outputs), (h, c)  # (T, B, H), ((B, H), (B, H))


def _sequence_variant(carry_h=True, carry_c=True, emit="h", final_swapped=False, fed_swapped=False,
                      batch_first=False):
    def run(x, W_ih, W_hh, b_ih, b_hh):
        if batch_first:
            x = x.transpose(0, 1)
        T, B, _ = x.shape
        H = W_hh.shape[1]
        zeros = x.new_zeros(B, H)
        h, c, outputs = zeros, zeros, []
        for t in range(T):
            h_in, c_in = (c, h) if fed_swapped else (h, c)
            h_new, c_new = lstm_step(x[t], h_in if carry_h else zeros, c_in if carry_c else zeros,
                                     W_ih, W_hh, b_ih, b_hh)
            h, c = h_new, c_new
            outputs.append(h if emit == "h" else c)
        return torch.stack(outputs), ((c, h) if final_swapped else (h, c))

    return run


def _sequence_cases():
    generator = torch.Generator().manual_seed(42)

    def case(T: int, B: int, I: int, H: int) -> tuple:
        def draw(*shape: int) -> Tensor:
            return torch.randn(*shape, generator=generator, dtype=torch.float64)

        return (draw(T, B, I), draw(4 * H, I), draw(4 * H, H), draw(4 * H), draw(4 * H))

    return [case(5, 2, 3, 2), case(3, 3, 2, 3), case(1, 1, 2, 2)]


register(
    Exercise(
        name="04.lstm_sequence",
        title="the LSTM over a whole sequence",
        hint=(
            "x is time first, (T, B, I), as torch's LSTM takes it by default. Start both states at zero; at every "
            "step, the state that comes out is the state that goes into the next step (both of them). The output "
            "collects what leaves the cell at every step; the final pair is the state after the last step."
        ),
        reference=lstm_sequence,
        cases=_sequence_cases,
        mistakes=[
            Mistake(
                "the cell state is not carried: every step starts from c = 0, so the cell cannot remember "
                "(carry (h, c) together)",
                _sequence_variant(carry_c=False),
            ),
            Mistake(
                "the hidden state is not carried: every step starts from h = 0; h_t must come back as the next "
                "step's h_{t-1}",
                _sequence_variant(carry_h=False),
            ),
            Mistake(
                "the output holds the cell states: what leaves the cell at each step is h_t; c_t stays inside",
                _sequence_variant(emit="c"),
            ),
            Mistake(
                "the states are fed back swapped: the cell state went in where h_{t-1} goes",
                _sequence_variant(fed_swapped=True),
            ),
            Mistake(
                "the final state is (c_T, h_T); torch returns (h_T, c_T)",
                _sequence_variant(final_swapped=True),
            ),
            Mistake(
                "you looped over the batch dimension: x is (T, B, I), time first",
                _sequence_variant(batch_first=True),
            ),
        ],
    )
)

# --- 04.unit_correlation ----------------------------------------------------------------------------


def unit_correlation(states, feature):
    # Pearson r over time for every unit: centre both, then cov / (std · std); a constant unit gets 0
    s = states - states.mean(dim=0)  # (T, H)
    x = feature - feature.mean()  # (T,)
    covariance = x @ s  # (H,)
    scale = torch.sqrt((s**2).sum(dim=0) * (x**2).sum())  # (H,)
    r = covariance / torch.where(scale > 0, scale, torch.ones_like(scale))
    return torch.where(scale > 0, r, torch.zeros_like(r))


def _correlation_cases():
    generator = torch.Generator().manual_seed(43)
    states = torch.randn(12, 4, generator=generator, dtype=torch.float64)
    feature = torch.randn(12, generator=generator, dtype=torch.float64)
    states[:, 0] += 2 * feature  # a unit that follows the feature
    states[:, 2] = 0.75  # a unit that never changes (0.75: its mean is exactly 0.75 again)
    binary = (torch.rand(30, generator=generator) > 0.5).double()
    many = torch.randn(30, 3, generator=generator, dtype=torch.float64) + 1.5
    many[:, 1] -= 3 * binary
    return [(states, feature), (many, binary)]


def _correlation_no_centring(states, feature):
    return (feature @ states) / (states.norm(dim=0) * feature.norm())


def _correlation_centred_over_units(states, feature):
    s = states - states.mean(dim=1, keepdim=True)  # the slip: the mean over the units, at each time step
    x = feature - feature.mean()
    return (x @ s) / torch.sqrt((s**2).sum(dim=0) * (x**2).sum())


register(
    Exercise(
        name="04.unit_correlation",
        title="the correlation of every unit with a feature",
        hint=(
            "Pearson's r, once per unit, over time: how the unit's deviations from its own mean move with the "
            "feature's deviations from its mean, scaled so that r lies in [-1, 1]. Time is the first dimension of "
            "states. A unit that never changes has nothing to correlate: 0 there, not 0/0."
        ),
        reference=unit_correlation,
        cases=_correlation_cases,
        mistakes=[
            Mistake(
                "the means were not subtracted: that is the cosine between the raw series, which a unit that is "
                "simply positive most of the time inflates",
                _correlation_no_centring,
            ),
            Mistake(
                "that is the covariance: divide it by both spreads (the unit's and the feature's) to get r in [-1, 1]",
                lambda states, feature: (feature - feature.mean()) @ (states - states.mean(dim=0)) / len(feature),
            ),
            Mistake(
                "each time step was centred over the units; centre each unit over time (the mean of dim 0)",
                _correlation_centred_over_units,
            ),
            Mistake(
                "a unit that never changes gave 0/0 = NaN: its correlation is 0",
                lambda states, feature: (feature - feature.mean()) @ (states - states.mean(dim=0))
                / torch.sqrt(((states - states.mean(dim=0)) ** 2).sum(dim=0) * ((feature - feature.mean()) ** 2).sum()),
            ),
        ],
    )
)
