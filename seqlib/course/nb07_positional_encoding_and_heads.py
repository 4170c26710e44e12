"""Notebook 07 · positional encoding and multi-head attention: what the notebook shows and asks, computed here.

* **Attention alone knows no order.**  The source notes: "input에 bias 같은 특정한 값을 추가하는 것이다.
  transformer 특성상 attention은 뽑아내지만 단어의 순서에 대한 정보는 들어있지 않기 때문이다" (a specific value,
  like a bias, is added to the input, because attention carries no information about word order).
  :class:`SelfAttention` is one self-attention with or without positions, and :func:`shuffle_check`
  measures whether shuffling the input only shuffles the output.
* **The sinusoidal table**: :func:`plot_pe_heatmap`, :func:`plot_pe_curves`, :func:`plot_pe_similarity`,
  and the offset rotation ``PE(p + m) = R(m) PE(p)`` (:func:`rotation_errors`, :func:`plot_rotation`; the
  matrix is :func:`seqlib.positional.offset_rotation`).
* **A task that needs order**: the look-back task of :mod:`seqlib.positional_tasks`, trained with every kind
  of positions over seeds (:func:`train_position_runs`), scored per position beyond the trained length
  (:func:`plot_accuracy_by_position`).
* **Multi-head attention, step by step** (:func:`multihead_steps` from ``MultiheadAttention``'s trace) and
  heads that do different jobs on a task with two look-ups (:func:`train_head_runs`), with a widget to pick
  a head and silence the others (:func:`head_explorer` over :func:`head_view`).
* **Exercises** ``07.sinusoidal_encoding``, ``07.split_heads``, ``07.offset_rotation``,
  ``07.equivariance_gap``.

Shape legend: T sequence length, d ``d_model`` (= E of ``MultiheadAttention``), n heads, d_head = d / n,
V vocabulary size (26 letters), M look-back offsets.
"""

from __future__ import annotations

import html
import math
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

from seqlib.attention import MultiheadAttention, MultiheadAttentionTrace
from seqlib.course.checker import Exercise, Mistake, register
from seqlib.course.explorer import Explorer
from seqlib.positional import PositionalEncoding, frequencies, offset_rotation, sinusoidal_positional_encoding
from seqlib.positional_tasks import (
    POSITION_KINDS,
    TinyAttentionModel,
    head_offset_weights,
    lookback_accuracy,
    lookback_accuracy_by_position,
    train_lookback,
)

LETTERS = string.ascii_lowercase
VOCAB_SIZE = len(LETTERS)  # V = 26: token id k is the letter LETTERS[k]
TRAIN_LENGTH = 8  # T of every training sequence
TEST_LENGTH = 24  # the longer sequences of the extrapolation test
SEEDS = (0, 1, 2)
KIND_COLORS = {"none": "C7", "sinusoidal": "C0", "learned": "C3"}

__all__ = [
    "LETTERS",
    "VOCAB_SIZE",
    "TRAIN_LENGTH",
    "TEST_LENGTH",
    "SEEDS",
    "encode",
    "decode",
    "token_labels",
    "feature_labels",
    "SelfAttention",
    "ShuffleCheck",
    "shuffle_check",
    "plot_pe_heatmap",
    "plot_pe_curves",
    "plot_pe_similarity",
    "RotationErrors",
    "rotation_errors",
    "plot_rotation",
    "PositionRun",
    "train_position_runs",
    "plot_training_losses",
    "plot_accuracy_by_position",
    "HeadSteps",
    "multihead_steps",
    "plot_attention_maps",
    "HeadRun",
    "train_head_runs",
    "HeadView",
    "head_view",
    "head_explorer",
]


# --------------------------------------------------------------------------------------------------
# Letters as tokens
# --------------------------------------------------------------------------------------------------


def encode(text: str) -> Tensor:
    """Lower-case letters -> (T,) int64 token ids (a = 0 … z = 25)."""
    if not isinstance(text, str) or not text:
        raise ValueError("the sequence is empty: type at least one letter")
    unknown = sorted({ch for ch in text if ch not in LETTERS})
    if unknown:
        raise ValueError(f"the models read the letters a–z only; the sequence holds {''.join(unknown)!r}")
    return torch.tensor([LETTERS.index(ch) for ch in text], dtype=torch.long)


def decode(tokens: Tensor | Sequence[int]) -> str:
    """Token ids -> letters."""
    return "".join(LETTERS[int(k)] for k in tokens)


def token_labels(tokens: Tensor | Sequence[int] | str) -> list[str]:
    """Axis labels ``"letter p"`` (the token and its position) for a heat map."""
    text = tokens if isinstance(tokens, str) else decode(tokens)
    return [f"{ch} {p}" for p, ch in enumerate(text)]


def feature_labels(d_model: int) -> list[str]:
    """Column labels of the sinusoidal table: ``sin ω0``, ``cos ω0``, ``sin ω1``, …"""
    return [f"{'sin' if j % 2 == 0 else 'cos'} ω{j // 2}" for j in range(d_model)]


# --------------------------------------------------------------------------------------------------
# Permutation equivariance
# --------------------------------------------------------------------------------------------------


class SelfAttention(nn.Module):
    """One self-attention over a sequence, with or without the sinusoidal positions added first.

    ``y = MHA(x + P[:T])`` (or ``MHA(x)`` when ``positions`` is False), queries, keys and values all
    from the same sequence, no mask.  Input (T, d) or (B, T, d); output of the same shape.
    """

    def __init__(self, d_model: int, n_heads: int = 1, positions: bool = False, max_len: int = 64) -> None:
        super().__init__()
        self.attention = MultiheadAttention(d_model, n_heads, batch_first=True)
        self.positional = PositionalEncoding(d_model, max_len=max_len) if positions else None

    def forward(self, x: Tensor) -> Tensor:
        if self.positional is not None:
            x = self.positional(x)
        return self.attention(x, x, x, need_weights=False)[0]


class ShuffleCheck(NamedTuple):
    """What shuffling the input positions with ``perm`` does to a layer's output.

    ``equivariance_gap`` = max |f(x[π]) − f(x)[π]| (0: the output is shuffled exactly as the input);
    ``change`` = max |f(x[π]) − f(x)| (how much the output at each position changed).
    """

    perm: tuple[int, ...]
    equivariance_gap: float
    change: float


@torch.no_grad()
def shuffle_check(layer: nn.Module, x: Tensor, perm: Sequence[int]) -> ShuffleCheck:
    """Run ``layer`` on ``x`` (T, d) and on its shuffle ``x[perm]`` and compare (see :class:`ShuffleCheck`)."""
    perm = torch.as_tensor(list(perm), dtype=torch.long)
    if x.dim() != 2 or sorted(perm.tolist()) != list(range(x.shape[0])):
        raise ValueError(f"x must be (T, d) and perm a permutation of 0 .. T-1, got x {tuple(x.shape)}, "
                         f"perm {perm.tolist()}")
    y, y_shuffled = layer(x), layer(x[perm])
    return ShuffleCheck(tuple(perm.tolist()), float((y_shuffled - y[perm]).abs().max()),
                        float((y_shuffled - y).abs().max()))


# --------------------------------------------------------------------------------------------------
# The sinusoidal table
# --------------------------------------------------------------------------------------------------


def plot_pe_heatmap(ax: plt.Axes, table: Tensor, *, every: int = 5) -> None:
    """The (positions, features) table as a heat map: position labels down, feature labels across."""
    max_len, d_model = table.shape
    image = ax.imshow(table.numpy(), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_yticks(range(0, max_len, every), [f"p = {p}" for p in range(0, max_len, every)], fontsize=7)
    ax.set_xticks(range(d_model), feature_labels(d_model), rotation=90, fontsize=6)
    ax.set_xlabel("feature (column 2ℓ: sin pω_ℓ, column 2ℓ+1: cos pω_ℓ)")
    ax.set_ylabel("position p")
    ax.set_title(f"sinusoidal positional encoding PE(p), {max_len} positions × d_model = {d_model}")
    ax.figure.colorbar(image, ax=ax, label="PE value", fraction=0.04, pad=0.02)


def plot_pe_curves(ax: plt.Axes, table: Tensor, pairs: Sequence[int] = (0, 1, 3, 7)) -> None:
    """The sine column of a few frequency pairs ℓ against the position: the wavelengths grow with ℓ."""
    max_len, d_model = table.shape
    omega = frequencies(d_model)
    for k, pair in enumerate(pairs):
        ax.plot(range(max_len), table[:, 2 * pair].numpy(), color=f"C{k}", marker=".", ms=3,
                label=f"sin pω_{pair}, ω_{pair} = {omega[pair]:.3g}, wavelength {2 * math.pi / omega[pair]:.1f}")
    ax.set_xlabel("position p")
    ax.set_ylabel("PE(p, 2ℓ)")
    ax.set_title("one sine column per frequency pair ℓ (the cosine column is the same wave, shifted)")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)


def plot_pe_similarity(ax: plt.Axes, table: Tensor) -> None:
    """PE(p) · PE(q) for every pair of positions: a function of p − q alone."""
    max_len = table.shape[0]
    similarity = (table @ table.T).numpy()  # (P, P)
    image = ax.imshow(similarity, cmap="viridis", interpolation="nearest")
    ticks = range(0, max_len, max(1, max_len // 10))
    ax.set_xticks(ticks, [str(q) for q in ticks], fontsize=7)
    ax.set_yticks(ticks, [str(p) for p in ticks], fontsize=7)
    ax.set_xlabel("position q")
    ax.set_ylabel("position p")
    ax.set_title("PE(p) · PE(q)")
    ax.figure.colorbar(image, ax=ax, label="dot product", fraction=0.046, pad=0.03)


class RotationErrors(NamedTuple):
    """``max_errors[k]`` = max over positions p of |PE(p + m_k) − R(m_k) PE(p)| (float64 table)."""

    d_model: int
    offsets: tuple[int, ...]
    positions: tuple[int, ...]
    max_errors: tuple[float, ...]
    identity_gap: tuple[float, ...]  # max |PE(p + m) − PE(p)|: how far the move is, for scale


def rotation_errors(d_model: int, offsets: Sequence[int], positions: Sequence[int]) -> RotationErrors:
    """Check ``PE(p + m) = R(m) PE(p)`` for every offset m and position p given (see :class:`RotationErrors`)."""
    offsets, positions = tuple(int(m) for m in offsets), tuple(int(p) for p in positions)
    if min(positions) < 0 or min(p + m for p in positions for m in offsets) < 0:
        raise ValueError("every position p and p + m must be >= 0")
    table = sinusoidal_positional_encoding(max(positions) + max(offsets) + 1, d_model, dtype=torch.float64)
    rows = torch.tensor(positions)
    errors, moves = [], []
    for m in offsets:
        moved = table[rows] @ offset_rotation(m, d_model).T  # R(m) PE(p), row vectors (P, d)
        errors.append(float((table[rows + m] - moved).abs().max()))
        moves.append(float((table[rows + m] - table[rows]).abs().max()))
    return RotationErrors(d_model, offsets, positions, tuple(errors), tuple(moves))


def plot_rotation(ax: plt.Axes, rotation: Tensor, offset: int) -> None:
    """The (d, d) matrix R(m) with feature labels on both axes."""
    d_model = rotation.shape[0]
    image = ax.imshow(rotation.numpy(), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    labels = feature_labels(d_model)
    ax.set_xticks(range(d_model), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(d_model), labels, fontsize=7)
    ax.set_xlabel("feature of PE(p) (input)")
    ax.set_ylabel("feature of PE(p + m) (output)")
    ax.set_title(f"R(m) for m = {offset}, d_model = {d_model}: one 2×2 rotation per pair")
    ax.figure.colorbar(image, ax=ax, label="entry", fraction=0.046, pad=0.03)


# --------------------------------------------------------------------------------------------------
# The look-back task with every kind of positions
# --------------------------------------------------------------------------------------------------


@dataclass
class PositionRun:
    """One trained model of :func:`train_position_runs`.

    ``losses`` the training loss of every step; ``accuracy`` at the trained length; ``by_position``
    (test length,) the accuracy at each position of longer sequences (NaN at position 0, which has no
    answer); ``initial_table`` the positional table before training (None unless learned).
    """

    kind: str
    seed: int
    model: TinyAttentionModel
    losses: list[float]
    accuracy: float
    by_position: Tensor
    initial_table: Tensor | None


def train_position_runs(
    kinds: Sequence[str] = POSITION_KINDS, seeds: Sequence[int] = SEEDS, *, length: int = TRAIN_LENGTH,
    test_length: int = TEST_LENGTH, d_model: int = 32, steps: int = 80, lr: float = 3e-2, batch_size: int = 32,
) -> list[PositionRun]:
    """Train a one-head :class:`TinyAttentionModel` on the 1-back task for every kind of positions and seed.

    Seed s fixes the initial weights and the training batches; the evaluation sequences are the same for
    every run.  Each run: ``steps`` of Adam at ``lr`` (cosine), sequences of ``length``.
    """
    runs = []
    for kind in kinds:
        for seed in seeds:
            torch.manual_seed(seed)
            model = TinyAttentionModel(VOCAB_SIZE, d_model, 1, kind, max_len=64)
            initial = model.positional.table.detach().clone() if kind == "learned" else None
            result = train_lookback(model, length, (1,), steps=steps, batch_size=batch_size, lr=lr, seed=seed)
            accuracy = float(lookback_accuracy(model, length)[0])
            by_position = lookback_accuracy_by_position(model, test_length)[:, 0]
            runs.append(PositionRun(kind, seed, model, result.losses, accuracy, by_position, initial))
    return runs


def plot_training_losses(ax: plt.Axes, runs: Sequence[PositionRun]) -> None:
    """Training loss at every step, one thin line per run, one colour per kind of positions (log scale)."""
    for run in runs:
        ax.plot(range(1, len(run.losses) + 1), run.losses, color=KIND_COLORS[run.kind], lw=1, alpha=0.8,
                label=f"{run.kind} positions" if run.seed == runs[0].seed else None)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("cross-entropy (nats, log scale)")
    ax.set_title("training loss on the 1-back task, length 8: one line per seed")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def plot_accuracy_by_position(ax: plt.Axes, runs: Sequence[PositionRun], train_length: int = TRAIN_LENGTH) -> None:
    """Accuracy at each position of the longer test sequences, one thin line per run, the trained length marked."""
    for run in runs:
        positions = range(len(run.by_position))
        ax.plot(positions, run.by_position.numpy(), color=KIND_COLORS[run.kind], marker=".", ms=4, lw=1, alpha=0.8,
                label=f"{run.kind} positions" if run.seed == runs[0].seed else None)
    ax.axvspan(train_length - 0.5, len(runs[0].by_position) - 0.5, color="0.9", zorder=0,
               label=f"positions never seen in training (≥ {train_length})")
    ax.set_xlabel(f"position i in a sequence of length {len(runs[0].by_position)} (answer: the letter at i − 1)")
    ax.set_ylabel("accuracy at position i")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(f"trained on length {train_length}, tested on length {len(runs[0].by_position)}: "
                 "one line per seed")
    ax.legend(fontsize=8, loc="center")
    ax.grid(alpha=0.3)


# --------------------------------------------------------------------------------------------------
# Multi-head attention, step by step
# --------------------------------------------------------------------------------------------------


class HeadSteps(NamedTuple):
    """Every step of one unbatched self-attention call of ``MultiheadAttention``.

    ``q``, ``k``, ``v`` (T, d): the projections of all heads together (x W^Qᵀ + b^Q, …); ``q_heads`` …
    ``head_outputs``: the trace's per-head fields (n, T, ·); ``concat`` (T, d): the heads' outputs side by
    side; ``output`` (T, d): concat W^Oᵀ + b^O; ``module_output`` what the module returned.
    """

    q: Tensor
    k: Tensor
    v: Tensor
    trace: MultiheadAttentionTrace
    concat: Tensor
    output: Tensor
    module_output: Tensor


@torch.no_grad()
def multihead_steps(mha: MultiheadAttention, x: Tensor) -> HeadSteps:
    """Self-attention of ``x`` (T, d) with ``mha``, its trace, and the steps around the trace.

    The full projections come from the module's ``q_proj``, ``k_proj``, ``v_proj``; the concatenation
    puts head h's output in features ``h·d_head … (h+1)·d_head − 1``; ``output`` applies ``out_proj`` to it.
    """
    if x.dim() != 2 or x.shape[1] != mha.embed_dim:
        raise ValueError(f"x must be (T, d) with d = {mha.embed_dim}, got shape {tuple(x.shape)}")
    module_output, _, trace = mha(x, x, x, return_trace=True)  # trace fields (n, T, ·)
    q, k, v = mha.q_proj(x), mha.k_proj(x), mha.v_proj(x)  # (T, d) each, all heads together
    n, T, d_head = trace.head_outputs.shape
    concat = trace.head_outputs.transpose(0, 1).reshape(T, n * d_head)  # (T, n·d_head) = (T, d)
    output = mha.out_proj(concat)  # (T, d)
    return HeadSteps(q, k, v, trace, concat, output, module_output)


def plot_attention_maps(
    fig: plt.Figure, maps: Tensor, labels: Sequence[str], titles: Sequence[str], *, colorbar_label: str = "weight α_ij",
    vmin: float | None = 0.0, vmax: float | None = 1.0, label_meaning: str = "letter, position",
) -> None:
    """A row of (query × key) heat maps, one per head, with token labels on both axes and one colour bar.

    ``label_meaning`` says what the labels are, in the axis titles ("key j (letter, position)").
    """
    if maps.dim() != 3 or maps.shape[1:] != (len(labels), len(labels)):
        raise ValueError(f"maps must be (n, T, T) with T = {len(labels)} labels, got {tuple(maps.shape)}")
    axes = fig.subplots(1, maps.shape[0], squeeze=False)[0]
    for ax, values, title in zip(axes, maps, titles, strict=True):
        image = ax.imshow(values.numpy(), cmap="viridis", vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel(f"key j ({label_meaning})")
        ax.set_ylabel(f"query i ({label_meaning})")
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=list(axes), label=colorbar_label, fraction=0.03, pad=0.02)


# --------------------------------------------------------------------------------------------------
# Heads that do different jobs
# --------------------------------------------------------------------------------------------------


@dataclass
class HeadRun:
    """One trained model of :func:`train_head_runs` on the task with two look-ups (offsets 1 and 2).

    ``accuracy`` (M,) per offset; ``offset_weights`` (n, M) each head's mean attention weight on the key
    m back (:func:`seqlib.positional_tasks.head_offset_weights`); ``alone`` (n, M) the accuracy per
    offset with only that head kept (the others silenced; None for one head).
    """

    n_heads: int
    seed: int
    model: TinyAttentionModel
    accuracy: Tensor
    offset_weights: Tensor
    alone: Tensor | None


def train_head_runs(
    head_counts: Sequence[int] = (1, 2), seeds: Sequence[int] = SEEDS, *, offsets: Sequence[int] = (1, 2),
    length: int = TRAIN_LENGTH, d_model: int = 32, steps: int = 200, lr: float = 3e-2, batch_size: int = 32,
) -> list[HeadRun]:
    """Train sinusoidal-position :class:`TinyAttentionModel` s with each head count on the two look-ups.

    Every head count has the same d_model, so the same number of parameters; seed s fixes the initial
    weights and the batches.
    """
    runs = []
    for n_heads in head_counts:
        for seed in seeds:
            torch.manual_seed(seed)
            model = TinyAttentionModel(VOCAB_SIZE, d_model, n_heads, "sinusoidal", max_len=64,
                                       n_outputs=len(offsets))
            train_lookback(model, length, offsets, steps=steps, batch_size=batch_size, lr=lr, seed=seed)
            accuracy = lookback_accuracy(model, length, offsets)
            weights = head_offset_weights(model, length, offsets)
            alone = None
            if n_heads > 1:
                alone = torch.stack([lookback_accuracy(model, length, offsets, keep_heads=[h]) for h in range(n_heads)])
            runs.append(HeadRun(n_heads, seed, model, accuracy, weights, alone))
    return runs


class HeadView(NamedTuple):
    """The head widget's result for one sequence.

    ``weights`` (T, T) the chosen head's attention weights; ``offset_weights`` (M,) its mean weight on the
    key m back; ``predictions`` one string per offset, the model's answer at each position (``·`` where
    there is none), computed with every head or with the chosen head alone; ``right`` and ``answered`` (M,)
    the counts of right answers and of positions that have one.
    """

    text: str
    head: int
    only_this_head: bool
    weights: Tensor
    offset_weights: tuple[float, ...]
    predictions: tuple[str, ...]
    right: tuple[int, ...]
    answered: tuple[int, ...]


@torch.no_grad()
def head_view(model: TinyAttentionModel, text: str, head: int, only_this_head: bool = False,
              offsets: Sequence[int] = (1, 2)) -> HeadView:
    """What head ``head`` of ``model`` does on ``text`` (letters), and what the model answers with it alone."""
    tokens = encode(text)
    T = len(tokens)
    if isinstance(head, bool) or not isinstance(head, int) or not 0 <= head < model.n_heads:
        raise ValueError(f"head must be an int from 0 to {model.n_heads - 1}, got {head!r}")
    if len(offsets) != model.n_outputs:
        raise ValueError(f"the model reads out {model.n_outputs} offsets, got {tuple(offsets)}")
    was_training = model.training
    model.eval()
    _, trace = model(tokens, return_trace=True)
    logits = model(tokens, keep_heads=[head] if only_this_head else None)  # (T, M, V)
    model.train(was_training)
    weights = trace.attention.weights[head]  # (T, T)
    predicted = logits.argmax(dim=-1)  # (T, M)
    back, answers, right, answered = [], [], [], []
    for k, m in enumerate(offsets):
        back.append(float(torch.diagonal(weights, offset=-m).mean()) if T > m else float("nan"))
        answers.append("".join("·" if i < m else LETTERS[int(predicted[i, k])] for i in range(T)))
        right.append(sum(int(predicted[i, k]) == int(tokens[i - m]) for i in range(m, T)))
        answered.append(max(0, T - m))
    return HeadView(text, head, bool(only_this_head), weights, tuple(back), tuple(answers), tuple(right),
                    tuple(answered))


def head_explorer(model: TinyAttentionModel, text: str, head: int = 0, only_this_head: bool = False) -> Explorer:
    """A sequence box, a head slider and an "only this head" switch over a trained two-look-up model.

    Each move calls :func:`head_view`: the chosen head's attention map (query × key, letters and positions
    on both axes) and a line with its mean weight 1 and 2 back and the model's answers, with every head or
    with this head alone.
    """

    def compute(text: str, head: int, only_this_head: bool) -> HeadView:
        return head_view(model, text, head, only_this_head)

    def draw(view: HeadView, fig: plt.Figure) -> None:
        alone = ", this head alone" if view.only_this_head else ""
        plot_attention_maps(fig, view.weights[None], token_labels(view.text),
                            [f"head {view.head}: attention weights{alone}"])

    def describe(view: HeadView) -> str:
        looks = []
        answers = []
        for k, m in enumerate((1, 2)):
            weight = "n/a" if math.isnan(view.offset_weights[k]) else f"{view.offset_weights[k]:.2f}"
            looks.append(f"{weight} on the key {m} back")
            answers.append(f"{m} back “{html.escape(view.predictions[k])}” ({view.right[k]}/{view.answered[k]} right)")
        who = f"head {view.head} alone" if view.only_this_head else "all heads"
        return (f"head {view.head} puts a mean weight of {' and '.join(looks)}. Answers from {who}: "
                + "; ".join(answers))

    controls = {
        "text": widgets.Text(value=text, description="letters", continuous_update=False),
        "head": widgets.IntSlider(value=head, min=0, max=model.n_heads - 1, description="head",
                                  continuous_update=False),
        "only_this_head": widgets.Checkbox(value=only_this_head, description="only this head"),
    }
    return Explorer(compute, controls, draw, describe, figsize=(5.5, 4.5))


# --------------------------------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------------------------------


# --- 07.sinusoidal_encoding -----------------------------------------------------------------------


def sinusoidal_encoding(max_len, d_model):
    # PE(p, 2ℓ) = sin(p ω_ℓ), PE(p, 2ℓ+1) = cos(p ω_ℓ), ω_ℓ = 10000^(-2ℓ / d_model)
    position = torch.arange(max_len, dtype=torch.float64)[:, None]  # (P, 1)
    pair = torch.arange(d_model // 2, dtype=torch.float64)  # ℓ = 0 .. d/2 - 1
    omega = 10000.0 ** (-2 * pair / d_model)  # (d/2,)
    angle = position * omega  # (P, d/2)
    table = torch.zeros(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)  # even columns: sine
    table[:, 1::2] = torch.cos(angle)  # odd columns: cosine of the same angle
    return table.float()


def _pe_variant(*, exponent: float = 2.0, swap: bool = False, blocks: bool = False, first: int = 0,
                sign: float = -1.0):
    def wrong(max_len, d_model):
        position = torch.arange(first, first + max_len, dtype=torch.float64)[:, None]
        pair = torch.arange(d_model // 2, dtype=torch.float64)
        angle = position * 10000.0 ** (sign * exponent * pair / d_model)
        sin, cos = torch.sin(angle), torch.cos(angle)
        if swap:
            sin, cos = cos, sin
        if blocks:
            return torch.cat([sin, cos], dim=1).float()
        table = torch.zeros(max_len, d_model, dtype=torch.float64)
        table[:, 0::2], table[:, 1::2] = sin, cos
        return table.float()

    return wrong


register(
    Exercise(
        name="07.sinusoidal_encoding",
        title="the sinusoidal positional encoding table",
        hint=(
            "columns come in pairs that share one frequency: the even column of pair ℓ holds the sine, the odd "
            "column the cosine of the same angle, position times frequency. The frequency shrinks with ℓ; its "
            "exponent is the even column's index over d_model, not the pair index. Positions start at 0. Return "
            "a float32 table, one row per position."
        ),
        reference=sinusoidal_encoding,
        cases=lambda: [(6, 4), (50, 16), (12, 8)],
        mistakes=[
            Mistake("sine and cosine are swapped: the even columns 2ℓ hold sin(p ω_ℓ), the odd columns cos(p ω_ℓ)",
                    _pe_variant(swap=True)),
            Mistake(
                "the exponent is off by a factor 2 (too small): ω_ℓ = 10000^(-2ℓ/d_model), with 2ℓ the even column's "
                "index; you used the pair index ℓ, so the wavelengths grow only half as fast",
                _pe_variant(exponent=1.0),
            ),
            Mistake(
                "the exponent is off by a factor 2 (too large): ω_ℓ = 10000^(-2ℓ/d_model); you doubled the column "
                "index 2ℓ once more, so the slowest pairs are far too slow",
                _pe_variant(exponent=4.0),
            ),
            Mistake(
                "the sines fill the first half of the columns and the cosines the second: the paper (and seqlib) "
                "interleave them, sine in column 2ℓ and cosine in column 2ℓ+1",
                _pe_variant(blocks=True),
            ),
            Mistake("positions start at 1: the first row is position 0, PE(0) = (0, 1, 0, 1, …)",
                    _pe_variant(first=1)),
            Mistake("the frequencies grow with ℓ: the exponent must be negative, ω_ℓ = 10000^(-2ℓ/d_model) ≤ 1",
                    _pe_variant(sign=1.0)),
        ],
    )
)


# --- 07.split_heads -------------------------------------------------------------------------------


def split_heads(x, n_heads):
    # (B, T, d) -> (B, n, T, d_head): head h takes features h·d_head … (h+1)·d_head - 1 at every position
    B, T, d = x.shape
    d_head = d // n_heads
    return x.view(B, T, n_heads, d_head).transpose(1, 2)  # (B, T, n, d_head) -> (B, n, T, d_head)


def _split_reshape_only(x, n_heads):
    B, T, d = x.shape
    return x.reshape(B, n_heads, T, d // n_heads)


def _split_no_transpose(x, n_heads):
    B, T, d = x.shape
    return x.reshape(B, T, n_heads, d // n_heads)


def _split_round_robin(x, n_heads):
    B, T, d = x.shape
    return x.reshape(B, T, d // n_heads, n_heads).permute(0, 3, 1, 2)


def _split_positions_into_features(x, n_heads):
    B, T, d = x.shape
    return x.transpose(1, 2).reshape(B, n_heads, T, d // n_heads)


def _split_cases():
    generator = torch.Generator().manual_seed(7)

    def case(B: int, T: int, d: int, n: int) -> tuple:
        return (torch.randn(B, T, d, generator=generator, dtype=torch.float64), n)

    return [case(2, 3, 8, 2), case(1, 5, 12, 4), case(2, 4, 6, 3)]


register(
    Exercise(
        name="07.split_heads",
        title="split the features into heads",
        hint=(
            "each head owns a contiguous block of d_head features at every position, and the result must put "
            "heads before positions. First cut the feature axis into (heads, d_head) where it stands, then move "
            "the head axis in front of the time axis: a reshape alone cannot move an axis."
        ),
        reference=split_heads,
        cases=_split_cases,
        mistakes=[
            Mistake(
                "reshape without transpose: reading the (T, d) numbers straight into (n, T, d_head) fills head 0 "
                "with the first positions' features, so heads and positions are mixed",
                _split_reshape_only,
            ),
            Mistake("the features are cut into heads, but the head axis is still after the time axis: "
                    "(B, T, n, d_head) must become (B, n, T, d_head)", _split_no_transpose),
            Mistake(
                "the features are dealt out round-robin (head h gets features h, h + n, …); each head takes a "
                "contiguous block, features h·d_head to (h+1)·d_head − 1, as W^Q's rows are laid out",
                _split_round_robin,
            ),
            Mistake("you swapped time and features before cutting: every head now holds pieces of several "
                    "positions' features, mixed with positions", _split_positions_into_features),
        ],
    )
)


# --- 07.offset_rotation ---------------------------------------------------------------------------


def rotation_for_offset(offset, d_model):
    # pair ℓ, angle a = m ω_ℓ:  sin((p+m)ω) = cos a · sin(pω) + sin a · cos(pω)
    #                            cos((p+m)ω) = -sin a · sin(pω) + cos a · cos(pω)
    R = torch.zeros(d_model, d_model, dtype=torch.float64)
    for pair in range(d_model // 2):
        omega = 10000.0 ** (-2 * pair / d_model)
        a = offset * omega
        s, c = 2 * pair, 2 * pair + 1  # the sine and the cosine column of this pair
        R[s, s], R[s, c] = math.cos(a), math.sin(a)
        R[c, s], R[c, c] = -math.sin(a), math.cos(a)
    return R


def _rotation_backwards(offset, d_model):
    return rotation_for_offset(offset, d_model).T


def _rotation_no_frequency(offset, d_model):
    R = torch.zeros(d_model, d_model, dtype=torch.float64)
    for pair in range(d_model // 2):
        s, c = 2 * pair, 2 * pair + 1
        R[s, s], R[s, c], R[c, s], R[c, c] = math.cos(offset), math.sin(offset), -math.sin(offset), math.cos(offset)
    return R


def _rotation_half_exponent(offset, d_model):
    R = torch.zeros(d_model, d_model, dtype=torch.float64)
    for pair in range(d_model // 2):
        a = offset * 10000.0 ** (-pair / d_model)
        s, c = 2 * pair, 2 * pair + 1
        R[s, s], R[s, c], R[c, s], R[c, c] = math.cos(a), math.sin(a), -math.sin(a), math.cos(a)
    return R


def _rotation_blocks(offset, d_model):
    half = d_model // 2
    R = torch.zeros(d_model, d_model, dtype=torch.float64)
    for pair in range(half):
        a = offset * 10000.0 ** (-2 * pair / d_model)
        s, c = pair, half + pair
        R[s, s], R[s, c], R[c, s], R[c, c] = math.cos(a), math.sin(a), -math.sin(a), math.cos(a)
    return R


register(
    Exercise(
        name="07.offset_rotation",
        title="the matrix that moves an encoding by m positions",
        hint=(
            "write sin and cos of (p + m) times the frequency with the angle-addition formulas: each pair's new "
            "sine and cosine are a mix of its old sine and cosine, with weights that depend on m and on that "
            "pair's frequency only. So the matrix is zero outside the 2 by 2 blocks on the diagonal, one block "
            "per pair, in the table's interleaved column order. Check the sign: a move by +m, not by −m."
        ),
        reference=rotation_for_offset,
        cases=lambda: [(1, 4), (3, 8), (-2, 6), (7, 12)],
        mistakes=[
            Mistake("your matrix moves by −m: it is the transpose of R(m) (the inverse rotation); the sine row gets "
                    "+sin(mω) · cos(pω)", _rotation_backwards),
            Mistake("every pair turns by the same angle m: the angle of pair ℓ is m ω_ℓ, its own frequency",
                    _rotation_no_frequency),
            Mistake("the frequencies' exponent is off by a factor 2: ω_ℓ = 10000^(-2ℓ/d_model)",
                    _rotation_half_exponent),
            Mistake("the blocks are placed for a table with all sines first and all cosines after; seqlib's table "
                    "interleaves them (sine in column 2ℓ, cosine in 2ℓ+1)", _rotation_blocks),
        ],
    )
)


# --- 07.equivariance_gap --------------------------------------------------------------------------


def equivariance_gap(layer, x, perm):
    # shuffle the input's positions, run the layer, and compare with the unshuffled output shuffled alike
    with torch.no_grad():
        shuffled_then_run = layer(x[perm])  # f(x[π])
        run_then_shuffled = layer(x)[perm]  # f(x)[π]
    return (shuffled_then_run - run_then_shuffled).abs().max().item()


def _gap_not_shuffled(layer, x, perm):
    with torch.no_grad():
        return (layer(x[perm]) - layer(x)).abs().max().item()


def _gap_inverse(layer, x, perm):
    with torch.no_grad():
        return (layer(x[perm]) - layer(x)[torch.argsort(perm)]).abs().max().item()


def _gap_mean(layer, x, perm):
    with torch.no_grad():
        return (layer(x[perm]) - layer(x)[perm]).abs().mean().item()


def _equivariance_cases():
    generator = torch.Generator().manual_seed(21)
    cases = []
    for positions, n_heads in ((False, 2), (True, 2), (False, 1)):
        torch.manual_seed(len(cases))
        layer = SelfAttention(8, n_heads, positions=positions).double()
        x = torch.randn(5, 8, generator=generator, dtype=torch.float64)
        cases.append((layer, x, torch.tensor([2, 0, 3, 4, 1])))  # a 5-cycle: not its own inverse
    return cases


register(
    Exercise(
        name="07.equivariance_gap",
        title="a permutation-equivariance check",
        hint=(
            "two routes must meet: shuffle the positions first and then run the layer, or run the layer first "
            "and then shuffle its output with the same permutation. Return the largest absolute difference "
            "between the two routes as a Python number (0 up to rounding when the layer is blind to order)."
        ),
        reference=equivariance_gap,
        cases=_equivariance_cases,
        mistakes=[
            Mistake("you compared the shuffled run with the unshuffled output: shuffle the layer's output with "
                    "the same permutation before comparing", _gap_not_shuffled),
            Mistake("you shuffled the output with the inverse permutation; both routes use the same one, x[π] "
                    "in, f(x)[π] to compare with", _gap_inverse),
            Mistake("you averaged the differences; the check reports the largest one (a single position that "
                    "moves wrongly must show)", _gap_mean),
        ],
    )
)
