"""Notebook 02 · the RNN: what the notebook shows and asks, computed here.

* **How long the first input survives** (:func:`first_input_survival`, :func:`survival_explorer`): two
  sequences that differ only in their first input, through one RNN whose W_hh is rescaled to a spectral
  radius ρ; the number of steps the gap between their states stays above a threshold (ρ = 0 is the MLP
  that forgets at once; a large ρ saturates the tanh and keeps the first input for ever).
* **An RNN unrolled in time as one wide layer.**  The source notes: "RNN을 시간순서로 풀어놓으면 입력이
  많고 width가 커진 fully connected layer라고 볼 수 있다" (unrolled in time, an RNN is a fully connected
  layer with many inputs and a large width).  Stack the T inputs into one vector ``[x_1 … x_T]`` (T*I
  values) and the T hidden states into ``[h_1 … h_T]`` (T*H values).  The whole unrolled network is then

      [h_1 … h_T] = tanh(W_in [x_1 … x_T] + W_rec [h_1 … h_T] + b)

  with a (T*H, T*I) matrix ``W_in`` holding T copies of W_ih on its block diagonal, a (T*H, T*H)
  matrix ``W_rec`` holding T-1 copies of W_hh just below its block diagonal (h_t reads h_{t-1}), and
  T copies of ``b_ih + b_hh``.  Two small matrices fill a large one: the weights are *shared*.
  Because ``W_rec`` is strictly block-lower-triangular, applying the layer to its own output T times,
  starting from zeros, gives the loop's answer exactly (after k passes, h_1 … h_k are final).  Read the
  passes as layers and the unrolled RNN is a T-layer-deep network with the same weights in every layer:
  :func:`first_input_reach` shows that x_1 reaches h_T only after all T of them.  :func:`plot_wide_layer`
  draws the matrix.
* **The language model's size** (:func:`parameter_counts`): embedding, recurrent layer and head.
* **Other seeds** (:func:`load_seed_runs`): ``data/results/rnn_lm_seeds.json``, written by
  ``bench/rnn_lm_seeds.py`` (the notebook's model and settings with seeds 0, 1, 2, and a longer run).
* **Sampling with a temperature** κ (``seqlib.language_models.softmax_with_temperature``):
  :func:`sample_at_temperature` returns a sample together with the next-character distribution after
  the prefix and two measures of the text: how many of its words are real words of the book, and how
  many are distinct (greedy decoding tends to loop).
* **Widgets**: :func:`survival_explorer`, :func:`temperature_explorer`.
* **Exercises** ``02.rnn_forward`` (the loop over time, built from one step), ``02.train_step`` (one
  training step with truncated backpropagation through time, checked through :func:`observed_step`, which
  runs it on copies and reports what it did: :func:`check_train_step`), ``02.softmax_temperature``,
  ``02.perplexity``.

Notation (course-wide): W_ih, W_hh, b_ih, b_hh the RNN's weights; κ the sampling temperature; L the loss.
Shape legend: B batch, T time steps, I input size, H hidden size, V vocabulary size.
"""

from __future__ import annotations

import copy
import functools
import html
import json
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlib import language_models as lm
from seqlib.course.checker import Exercise, Mistake, register
from seqlib.course.explorer import Explorer
from seqlib.init import spectral_radius
from seqlib.recurrent import RNN, RNNCell

__all__ = [
    "FirstInputSurvival",
    "first_input_survival",
    "survival_text",
    "survival_explorer",
    "WideLayer",
    "unroll_as_wide_layer",
    "wide_layer_forward",
    "plot_wide_layer",
    "FirstInputReach",
    "first_input_reach",
    "ParameterCounts",
    "parameter_counts",
    "SEEDS_PATH",
    "SeedRuns",
    "load_seed_runs",
    "TemperatureSample",
    "next_token_distribution",
    "real_word_fraction",
    "distinct_word_fraction",
    "sample_at_temperature",
    "book_words",
    "temperature_explorer",
    "observed_step",
    "check_train_step",
]


# --------------------------------------------------------------------------------------------------
# An RNN unrolled in time as one wide layer
# --------------------------------------------------------------------------------------------------


class WideLayer(NamedTuple):
    """An RNN's T steps as one fully connected layer (see the module docstring).

    Fields: ``weight_in`` (T*H, T*I), ``weight_rec`` (T*H, T*H), ``bias`` (T*H,), and the sizes.
    """

    weight_in: Tensor
    weight_rec: Tensor
    bias: Tensor
    num_steps: int
    input_size: int
    hidden_size: int
    nonlinearity: str

    @property
    def weight(self) -> Tensor:
        """The whole matrix ``[W_in | W_rec]``, (T*H, T*I + T*H): what the layer multiplies
        ``[x_1 … x_T, h_1 … h_T]`` by."""
        return torch.cat([self.weight_in, self.weight_rec], dim=1)

    @property
    def num_entries(self) -> int:
        """Entries of the wide weight matrix and bias."""
        return self.weight_in.numel() + self.weight_rec.numel() + self.bias.numel()

    @property
    def num_shared_parameters(self) -> int:
        """Distinct trainable numbers behind them: W_ih, W_hh, b_ih, b_hh of one cell."""
        H, I = self.hidden_size, self.input_size
        return H * I + H * H + 2 * H


def _cell_parameters(rnn: RNN | RNNCell) -> tuple[Tensor, Tensor, Tensor, str]:
    if isinstance(rnn, RNNCell):
        weight_ih, weight_hh, bias_ih, bias_hh = rnn.weight_ih, rnn.weight_hh, rnn.bias_ih, rnn.bias_hh
    elif isinstance(rnn, RNN):
        if rnn.num_layers != 1 or rnn.bidirectional:
            raise ValueError(
                f"unroll_as_wide_layer needs a one-layer unidirectional RNN, got num_layers={rnn.num_layers}, "
                f"bidirectional={rnn.bidirectional}"
            )
        weight_ih, weight_hh, bias_ih, bias_hh = rnn.layer_parameters(0)
    else:
        raise TypeError(f"rnn must be a seqlib RNN or RNNCell, got {type(rnn).__name__}")
    if bias_ih is None:
        bias = weight_ih.new_zeros(weight_ih.shape[0])
    else:
        bias = bias_ih + bias_hh
    return weight_ih, weight_hh, bias, rnn.nonlinearity


@torch.no_grad()
def unroll_as_wide_layer(rnn: RNN | RNNCell, num_steps: int) -> WideLayer:
    """The wide fully connected layer equal to ``rnn`` unrolled over ``num_steps`` steps.

    Args:
        rnn: a seqlib ``RNNCell`` or one-layer unidirectional ``RNN``.
        num_steps: T >= 1.
    """
    if not isinstance(num_steps, int) or isinstance(num_steps, bool) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
    weight_ih, weight_hh, bias, nonlinearity = _cell_parameters(rnn)
    H, I = weight_ih.shape  # (H, I)
    T = num_steps
    # W_in = diag(W_ih, …, W_ih): h_t's pre-activation reads x_t only
    weight_in = torch.block_diag(*[weight_ih] * T)  # (T*H, T*I)
    # W_rec: block (t, t-1) = W_hh, h_t reads h_{t-1}; h_0 = 0 needs no block
    weight_rec = weight_ih.new_zeros(T * H, T * H)  # (T*H, T*H)
    for t in range(1, T):
        weight_rec[t * H : (t + 1) * H, (t - 1) * H : t * H] = weight_hh
    return WideLayer(weight_in.clone(), weight_rec, bias.repeat(T).clone(), T, I, H, nonlinearity)


def wide_layer_forward(wide: WideLayer, x: Tensor, passes: int | None = None) -> Tensor:
    """Apply the wide layer to its own output ``passes`` times, starting from h = 0.

    Args:
        wide: from :func:`unroll_as_wide_layer`.
        x: (B, T, I) inputs, batch first.
        passes: how many times to apply the layer (default T, after which the result is exact;
            after k < T passes only h_1 … h_k are).

    Returns:
        (B, T, H): h_1 … h_T, the RNN's output for every step (initial state zero).
    """
    T, I, H = wide.num_steps, wide.input_size, wide.hidden_size
    if not isinstance(x, Tensor) or x.dim() != 3 or tuple(x.shape[1:]) != (T, I):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must have shape (B, T, I) = (B, {T}, {I}), got {shape}")
    passes = T if passes is None else passes
    if not isinstance(passes, int) or isinstance(passes, bool) or passes < 0:
        raise ValueError(f"passes must be a non-negative int, got {passes!r}")
    B = x.shape[0]
    activation = torch.tanh if wide.nonlinearity == "tanh" else torch.relu
    # the input's share W_in [x_1 … x_T] + b, the same in every pass
    from_inputs = x.reshape(B, T * I) @ wide.weight_in.T + wide.bias  # (B, T*H)
    h = x.new_zeros(B, T * H)  # (B, T*H)
    for _ in range(passes):
        # [h_1 … h_T] = tanh(W_in [x_1 … x_T] + W_rec [h_1 … h_T] + b)
        h = activation(from_inputs + h @ wide.weight_rec.T)
    return h.reshape(B, T, H)  # (B, T, H)


def plot_wide_layer(wide: WideLayer, fig: plt.Figure | None = None) -> plt.Figure:
    """A heat map of ``[W_in | W_rec]`` with one tick per x_t and h_t block and grid lines between blocks."""
    T, I, H = wide.num_steps, wide.input_size, wide.hidden_size
    fig = plt.figure(figsize=(8, 4)) if fig is None else fig
    ax = fig.add_subplot()
    image = ax.imshow(wide.weight.detach().numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.axvline(T * I - 0.5, color="k", lw=1.5)  # W_in | W_rec
    for k in range(1, T):
        ax.axhline(k * H - 0.5, color="0.6", lw=0.5)
        ax.axvline(k * I - 0.5, color="0.6", lw=0.5)
        ax.axvline(T * I + k * H - 0.5, color="0.6", lw=0.5)
    centres_x = [t * I + (I - 1) / 2 for t in range(T)]  # the middle column of each x_t block
    centres_h = [T * I + t * H + (H - 1) / 2 for t in range(T)]
    labels = [f"$x_{{{t + 1}}}$" for t in range(T)] + [f"$h_{{{t + 1}}}$" for t in range(T)]
    ax.set_xticks(centres_x + centres_h, labels)
    ax.set_yticks([t * H + (H - 1) / 2 for t in range(T)], [f"$h_{{{t + 1}}}$" for t in range(T)])
    ax.set_xlabel(
        f"input of the wide layer: $x_1 \\dots x_{{{T}}}$ ({I} features each) | $h_1 \\dots h_{{{T}}}$ ({H} units each)"
    )
    ax.set_ylabel(f"output: $h_1 \\dots h_{{{T}}}$")
    ax.set_title(f"the RNN unrolled over {T} steps: copies of $W_{{ih}}$ (left) and $W_{{hh}}$ (right)")
    fig.colorbar(image, ax=ax, label="weight value")
    fig.tight_layout()
    return fig


class FirstInputReach(NamedTuple):
    """How much the last state h_T depends on the first input x_1 after each number of passes.

    ``gradient_norms[k]`` = ‖∂h_T/∂x_1‖ (summed over h_T's units, batch of one) after k = 0 … T passes of the
    wide layer: zero until k = T, because each pass (each *layer*) carries information one step further.
    """

    passes: tuple[int, ...]
    gradient_norms: tuple[float, ...]

    @property
    def first_nonzero(self) -> int:
        """The fewest passes after which x_1 reaches h_T (T for an RNN; -1 if it never does)."""
        return next((k for k, g in zip(self.passes, self.gradient_norms, strict=True) if g > 0), -1)


def first_input_reach(wide: WideLayer, x: Tensor) -> FirstInputReach:
    """‖∂h_T/∂x_1‖ after 0 … T passes of the wide layer, for one sequence ``x`` (1, T, I).

    Read each pass as a layer: the unrolled RNN is a T-layer-deep network with the same weights in every
    layer, and the first input needs all T layers to reach the last state.
    """
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[0] != 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be one sequence of shape (1, T, I), got {shape}")
    norms = []
    for passes in range(wide.num_steps + 1):
        x_leaf = x.detach().clone().requires_grad_(True)
        h = wide_layer_forward(wide, x_leaf, passes)  # (1, T, H)
        if not h.requires_grad:  # no pass: h is the zeros it started from
            norms.append(0.0)
            continue
        (gradient,) = torch.autograd.grad(h[0, -1].sum(), x_leaf)  # (1, T, I)
        norms.append(float(gradient[0, 0].norm()))
    return FirstInputReach(tuple(range(wide.num_steps + 1)), tuple(norms))


# --------------------------------------------------------------------------------------------------
# How long does the first input survive?  W_hh rescaled to a spectral radius
# --------------------------------------------------------------------------------------------------


class FirstInputSurvival(NamedTuple):
    """Two sequences that differ only in their first input, run through one RNN with W_hh rescaled.

    ``gaps`` (T,) is ‖h_t(a) − h_t(b)‖ for t = 1 … T; ``survival_steps`` the number of steps, from the first,
    during which the gap stays above ``threshold`` without a break (T: to the end of the sequence, the
    first input is never forgotten); ``saturated`` the share of hidden units with |h_T| > 0.99 at the end
    (tanh saturated: such a state no longer moves with its input); ``scale`` the factor W_hh was multiplied by.
    """

    radius: float
    scale: float
    gaps: Tensor
    threshold: float
    survival_steps: int
    saturated: float

    @property
    def num_steps(self) -> int:
        return len(self.gaps)

    @property
    def survives_to_the_end(self) -> bool:
        return self.survival_steps == self.num_steps


@torch.no_grad()
def first_input_survival(
    rnn: RNN, x_a: Tensor, x_b: Tensor, radius: float, threshold: float = 1e-2
) -> FirstInputSurvival:
    """Rescale a copy of ``rnn``'s W_hh to spectral radius ``radius`` and measure how long x_1 is remembered.

    Args:
        rnn: a one-layer seqlib ``RNN`` with ``batch_first=True``; it is not changed.
        x_a, x_b: (1, T, I) two sequences (they should differ in their first input only).
        radius: ρ ≥ 0, the largest |eigenvalue| W_hh gets (0: W_hh = 0, the MLP that forgets at once).
        threshold: the gap below which the first input counts as forgotten.
    """
    if not isinstance(radius, int | float) or isinstance(radius, bool) or not math.isfinite(radius) or radius < 0:
        raise ValueError(f"the spectral radius must be a finite number >= 0, got {radius!r}")
    if not isinstance(threshold, int | float) or not threshold > 0:
        raise ValueError(f"threshold must be a positive number, got {threshold!r}")
    if not isinstance(rnn, RNN) or rnn.num_layers != 1 or not rnn.batch_first:
        raise ValueError("rnn must be a one-layer seqlib RNN with batch_first=True")
    if x_a.shape != x_b.shape or x_a.dim() != 3 or x_a.shape[0] != 1:
        raise ValueError(f"x_a and x_b must both be (1, T, I), got {tuple(x_a.shape)} and {tuple(x_b.shape)}")
    weight_hh = rnn.weight_hh_l0
    current = spectral_radius(weight_hh)
    if current == 0 and radius > 0:
        raise ValueError("W_hh has spectral radius 0 (all eigenvalues zero): it cannot be rescaled to another")
    scale = 0.0 if radius == 0 else radius / current
    scaled = copy.deepcopy(rnn)  # a copy (a new RNN would draw its initial weights from torch's generator)
    scaled.weight_hh_l0.mul_(scale)
    h_a, h_b = scaled(x_a)[0][0], scaled(x_b)[0][0]  # (T, H) each
    gaps = (h_a - h_b).norm(dim=-1)  # (T,)
    survival = int((gaps > threshold).long().cumprod(0).sum())
    saturated = float((h_a[-1].abs() > 0.99).double().mean())
    return FirstInputSurvival(float(radius), float(scale), gaps, float(threshold), survival, saturated)


def survival_explorer(
    rnn: RNN, x_a: Tensor, x_b: Tensor, radius: float | None = None, threshold: float = 1e-2, max_radius: float = 3.0
) -> Explorer:
    """A slider for ρ(W_hh) over :func:`first_input_survival`: the gap at every step, on a log scale."""
    start = spectral_radius(rnn.weight_hh_l0) if radius is None else radius

    def compute(radius: float) -> FirstInputSurvival:
        return first_input_survival(rnn, x_a, x_b, radius, threshold)

    def draw(result: FirstInputSurvival, fig: plt.Figure) -> None:
        ax = fig.add_subplot()
        steps = torch.arange(1, result.num_steps + 1).numpy()
        gaps = result.gaps.double().numpy()
        floor = 1e-9  # where an exact zero is drawn on the log scale
        shown = gaps > 0
        ax.semilogy(steps[shown], gaps[shown], "o-", ms=3, label="‖h_t(a) − h_t(b)‖")
        if (~shown).any():
            ax.semilogy(steps[~shown], [floor] * int((~shown).sum()), "x", color="C3", label="exactly 0")
        ax.axhline(result.threshold, color="0.4", ls="--", lw=1, label=f"threshold {result.threshold:g}")
        ax.axvspan(0.5, result.survival_steps + 0.5, color="C2", alpha=0.12, label="first input remembered")
        ax.set_ylim(floor / 3, 10)
        ax.set_xlim(0.5, result.num_steps + 0.5)
        ax.set_xlabel("step t")
        ax.set_ylabel("gap between the two states")
        ax.set_title(f"ρ($W_{{hh}}$) = {result.radius:.2f}  ($W_{{hh}}$ × {result.scale:.2f})")
        ax.legend(loc="lower left", fontsize=8)
        fig.tight_layout()

    def describe(result: FirstInputSurvival) -> str:
        return f"ρ(W_hh) = {result.radius:.2f}: {survival_text(result)}"

    controls = {
        "radius": widgets.FloatSlider(
            value=start, min=0.0, max=max_radius, step=0.05, description="ρ(W_hh)", continuous_update=False,
            style={"description_width": "initial"},
        )
    }
    return Explorer(compute, controls, draw, describe, figsize=(8.0, 3.0))


def survival_text(result: FirstInputSurvival) -> str:
    """One sentence: how long the first input survives, and whether the state is saturated."""
    if result.survives_to_the_end:
        text = f"the first input is remembered to the end ({result.num_steps} of {result.num_steps} steps)"
    else:
        text = (
            f"the first input's trace stays above {result.threshold:g} for {result.survival_steps} of "
            f"{result.num_steps} steps"
        )
    if result.saturated > 0:
        text += (
            f"; {result.saturated:.0%} of the units end saturated (|h| > 0.99): tanh's slope is below 0.02 there, "
            "so later inputs barely move them"
        )
    return text


# --------------------------------------------------------------------------------------------------
# Sampling with a temperature
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def next_token_distribution(model: nn.Module, vocab, prefix: str, temperature: float = 1.0) -> Tensor:
    """The model's distribution of the token after ``prefix`` at ``temperature``, (V,) float64.

    The unknown token gets probability 0, as in :func:`seqlib.language_models.sample`.  A prefix with a
    character the vocabulary does not hold is refused (it would be read, silently, as ``<unk>``).
    """
    if not isinstance(prefix, str) or not prefix:
        raise ValueError("prefix must hold at least one character")
    unknown = sorted({ch for ch in prefix if ch not in vocab.token_to_idx or ch == vocab.UNK})
    if unknown:
        raise ValueError(f"the prefix holds characters the model never saw: {''.join(unknown)!r} (it reads "
                         "lower-case letters and spaces only)")
    was_training = model.training
    model.eval()
    ids = torch.tensor([vocab[list(prefix)]], dtype=torch.long)  # (1, len(prefix))
    logits, _ = model(ids)  # (1, len(prefix), V)
    model.train(was_training)
    last = logits[0, -1].clone()  # (V,)
    last[vocab.unk] = float("-inf")
    return lm.softmax_with_temperature(last, temperature)


def _words(text: str, complete_only: bool) -> list[str]:
    words = text.split(" ")
    if complete_only and not text.endswith(" "):
        words = words[:-1]  # the last word may be cut off by the length limit
    return [w for w in words if w]


def real_word_fraction(text: str, known_words: Iterable[str]) -> float:
    """Fraction of the complete words of ``text`` (space-separated) that are in ``known_words``.

    The last word counts only if ``text`` ends with a space (it may be cut off).  NaN if ``text``
    holds no complete word.
    """
    known = known_words if isinstance(known_words, set | frozenset) else set(known_words)
    words = _words(text, complete_only=True)
    return sum(w in known for w in words) / len(words) if words else float("nan")


def distinct_word_fraction(text: str) -> float:
    """Distinct words / words among the complete words of ``text``: low when the text loops."""
    words = _words(text, complete_only=True)
    return len(set(words)) / len(words) if words else float("nan")


class TemperatureSample(NamedTuple):
    """One sample at one temperature, and what it says about the temperature.

    ``probabilities`` (V,) is the next-character distribution right after the prefix;
    ``entropy_bits`` its entropy (0 = certain, log2 V = uniform); ``continuation`` the generated text
    after the prefix; ``real_words`` and ``distinct_words`` from :func:`real_word_fraction` and
    :func:`distinct_word_fraction` on the continuation.
    """

    temperature: float
    prefix: str
    continuation: str
    probabilities: Tensor
    tokens: tuple[str, ...]
    entropy_bits: float
    real_words: float
    distinct_words: float


def sample_at_temperature(
    model: nn.Module,
    vocab,
    prefix: str,
    temperature: float,
    num_chars: int,
    known_words: Iterable[str],
    seed: int = 0,
) -> TemperatureSample:
    """Sample ``num_chars`` characters after ``prefix`` at ``temperature`` (seeded), and measure them.

    Args:
        model: a character language model, ``(tokens (1, T), state) -> (logits (1, T, V), state)``.
        vocab: its ``seqlib.data.Vocab``.
        prefix: at least one character.
        temperature: κ >= 0; 0 is greedy (no randomness).
        num_chars: characters to generate.
        known_words: the words counted as real (e.g. every word of the training text).
        seed: seeds the sampling generator (the same seed gives the same text).
    """
    temperature = lm.check_temperature(temperature)
    probabilities = next_token_distribution(model, vocab, prefix, temperature)  # (V,)
    generator = torch.Generator().manual_seed(seed)
    text = lm.sample(model, vocab, prefix, num_chars, temperature=temperature, generator=generator)
    continuation = text[len(prefix) :]
    positive = probabilities[probabilities > 0]
    entropy = float(-(positive * positive.log2()).sum()) + 0.0  # + 0.0: no -0.0 for a one-hot
    known = known_words if isinstance(known_words, set | frozenset) else frozenset(known_words)
    return TemperatureSample(
        temperature,
        prefix,
        continuation,
        probabilities,
        tuple(vocab.to_tokens(list(range(len(vocab))))),
        entropy,
        real_word_fraction(continuation, known),
        distinct_word_fraction(continuation),
    )


def book_words(text: str) -> frozenset[str]:
    """The set of words of a (cleaned, space-separated) text."""
    return frozenset(re.findall(r"[a-z]+", text))


# --------------------------------------------------------------------------------------------------
# Widgets
# --------------------------------------------------------------------------------------------------


def _label(token: str) -> str:
    return "␣" if token == " " else token


def temperature_explorer(
    model: nn.Module,
    vocab,
    known_words: Iterable[str],
    prefix: str = "the time traveller ",
    temperature: float = 1.0,
    num_chars: int = 120,
    seed: int = 0,
    max_temperature: float = 2.0,
) -> Explorer:
    """A temperature slider (and a prefix box) over a trained character language model.

    Each move calls :func:`sample_at_temperature`: the figure shows the
    distribution of the next character after the prefix at that temperature, the summary line the
    sampled text and how many of its words are real words of the book.  κ = 0 is greedy decoding.
    """
    known = frozenset(known_words)
    tokens = vocab.to_tokens(list(range(len(vocab))))
    shown = [k for k, token in enumerate(tokens) if k != vocab.unk]  # <unk> is never sampled

    def compute(temperature: float, prefix: str) -> TemperatureSample:
        return sample_at_temperature(model, vocab, prefix, temperature, num_chars, known, seed=seed)

    def draw(result: TemperatureSample, fig: plt.Figure) -> None:
        ax = fig.add_subplot()
        probabilities = result.probabilities[shown].numpy()
        ax.bar(range(len(shown)), probabilities, color="C0", label=f"κ = {result.temperature:.2f}")
        ax.set_xticks(range(len(shown)), [_label(tokens[k]) for k in shown])
        ax.set_xlabel(f"next character after “{result.prefix[-20:]}”")
        ax.set_ylabel("probability")
        ax.set_ylim(0, 1)
        ax.legend(loc="upper right")
        fig.tight_layout()

    def describe(result: TemperatureSample) -> str:
        return (
            f"κ = {result.temperature:.2f}: next-character entropy {result.entropy_bits:.2f} bits; "
            f"real words {result.real_words:.0%}, distinct words {result.distinct_words:.0%}<br>"
            f"<code>{html.escape(result.prefix)}<b>{html.escape(result.continuation)}</b></code>"
        )

    controls = {
        "temperature": widgets.FloatSlider(
            value=temperature, min=0.0, max=max_temperature, step=0.05, description="temperature κ",
            style={"description_width": "initial"},
            continuous_update=False,
        ),
        "prefix": widgets.Text(value=prefix, description="prefix", continuous_update=False),
    }
    return Explorer(compute, controls, draw, describe, figsize=(8.0, 2.8))


# --------------------------------------------------------------------------------------------------
# The language model's size
# --------------------------------------------------------------------------------------------------


class ParameterCounts(NamedTuple):
    """Learned numbers of an ``RNNLanguageModel``, by part (every weight and bias counts once)."""

    embedding: int
    recurrent: int
    head: int

    @property
    def total(self) -> int:
        return self.embedding + self.recurrent + self.head


def parameter_counts(model: nn.Module) -> ParameterCounts:
    """The parameters of ``model.embedding``, ``model.recurrent`` and ``model.head`` (an ``RNNLanguageModel``)."""
    parts = [sum(p.numel() for p in getattr(model, name).parameters()) for name in ("embedding", "recurrent", "head")]
    counts = ParameterCounts(*parts)
    if counts.total != sum(p.numel() for p in model.parameters()):
        raise ValueError("the model has parameters outside its embedding, recurrent layer and head")
    return counts


# --------------------------------------------------------------------------------------------------
# The result file written by bench/rnn_lm_seeds.py: the notebook's language model, trained with other seeds
# --------------------------------------------------------------------------------------------------

SEEDS_PATH = Path(__file__).resolve().parents[2] / "data" / "results" / "rnn_lm_seeds.json"


@dataclass
class SeedRuns:
    """``data/results/rnn_lm_seeds.json`` as written by ``bench/rnn_lm_seeds.py``.

    ``settings``: the model, the training settings of each arm (``"notebook"``: exactly the notebook's run;
    ``"long"``: the same with more steps), the seeding, the environment, the command, the torch version and
    the wall time; ``runs``: one dict per (arm, seed) with ``steps`` and ``val_perplexity`` (the validation
    curve, one point per evaluation), ``train_perplexity``, ``final_val_perplexity`` (the curve's last point)
    and ``leaderboard_val_perplexity`` (the leaderboard's protocol, as notebook 02 scores its own model).
    """

    settings: dict
    runs: list[dict]

    def select(self, **conditions) -> list[dict]:
        """The runs whose fields equal ``conditions`` (e.g. ``arm="notebook", seed=0``), in seed order."""
        runs = [run for run in self.runs if all(run.get(k) == v for k, v in conditions.items())]
        return sorted(runs, key=lambda run: (run["arm"], run["seed"]))

    def run(self, arm: str, seed: int) -> dict:
        """The one run of ``arm`` with ``seed``."""
        found = self.select(arm=arm, seed=seed)
        if len(found) != 1:
            known = f"arms {self.arms}, seeds {self.seeds(arm)}"
            raise KeyError(f"{len(found)} runs with arm={arm!r}, seed={seed}; {known}")
        return found[0]

    @property
    def arms(self) -> list[str]:
        return list(dict.fromkeys(run["arm"] for run in self.runs))

    def seeds(self, arm: str) -> list[int]:
        return sorted(run["seed"] for run in self.runs if run["arm"] == arm)

    def perplexities(self, arm: str, protocol: str = "leaderboard") -> list[float]:
        """Per-seed final validation perplexities of ``arm``: ``"leaderboard"`` or ``"training"`` (the curve's end)."""
        key = {"leaderboard": "leaderboard_val_perplexity", "training": "final_val_perplexity"}[protocol]
        return [run[key] for run in self.select(arm=arm)]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"


def load_seed_runs(path: str | Path | None = None) -> SeedRuns:
    """Read the bench's result file (default ``data/results/rnn_lm_seeds.json``); never writes it."""
    path = SEEDS_PATH if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no result file; run `python bench/rnn_lm_seeds.py` to make it")
    data = json.loads(path.read_text(encoding="utf-8"))
    missing = {"settings", "runs"} - set(data)
    if missing:
        raise ValueError(f"{path}: not an rnn_lm_seeds result file (missing {sorted(missing)})")
    return SeedRuns(**data)


# --------------------------------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------------------------------


# --- 02.rnn_forward -------------------------------------------------------------------------------


def rnn_forward(xs, h0, W_ih, W_hh, b_ih, b_hh):
    # xs (B, T, I): a batch of sequences, batch first; h0 (B, H): the state before the first input
    h, states = h0, []
    for t in range(xs.shape[1]):  # time is the second dimension
        # one step, h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh); h_t is the next step's h_{t-1}
        h = torch.tanh(xs[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        states.append(h)
    return torch.stack(states, dim=1)  # (B, T, H): h_1 … h_T


def _loop(xs, h0, step, carry: bool = True) -> list[Tensor]:
    """The states h_1 … h_T made by ``step(x_t, h_{t-1})``; with ``carry=False`` every step reads h0."""
    h, states = h0, []
    for t in range(xs.shape[1]):
        h = step(xs[:, t], h if carry else h0)
        states.append(h)
    return states


def _rnn_forward_cases():
    generator = torch.Generator().manual_seed(2)

    def case(B: int, T: int, I: int, H: int) -> tuple:
        def draw(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator, dtype=torch.float64)

        return (draw(B, T, I), draw(B, H), draw(H, I), draw(H, H), draw(H), draw(H))

    # B ≠ T in every case (a time-major stack has another shape); the first case is square (I = H), the
    # others are not, so that there untransposed or swapped weights cannot even be multiplied
    return [case(2, 4, 3, 3), case(3, 2, 2, 4), case(1, 5, 5, 2)]


def _rnn_forward_mistake(step, carry: bool = True, last_only: bool = False):
    def wrong(xs, h0, W_ih, W_hh, b_ih, b_hh):
        states = _loop(xs, h0, lambda x, h: step(x, h, W_ih, W_hh, b_ih, b_hh), carry)
        return states[-1] if last_only else torch.stack(states, dim=1)

    return wrong


def _rnn_step(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)


def _rnn_forward_with_h0(xs, h0, W_ih, W_hh, b_ih, b_hh):
    return torch.cat([h0[:, None], rnn_forward(xs, h0, W_ih, W_hh, b_ih, b_hh)], dim=1)  # (B, T + 1, H)


def _rnn_forward_time_major(xs, h0, W_ih, W_hh, b_ih, b_hh):
    return rnn_forward(xs, h0, W_ih, W_hh, b_ih, b_hh).transpose(0, 1)  # (T, B, H)


register(
    Exercise(
        name="02.rnn_forward",
        title="run an RNN over a sequence",
        hint=(
            "one step is the update you wrote at the end of notebook 01; the loop hands each new state to the next "
            "step and keeps every state it makes. Time is the second dimension of the inputs, and the states you "
            "return are stacked along that same dimension."
        ),
        reference=rnn_forward,
        cases=_rnn_forward_cases,
        mistakes=[
            Mistake(
                "the state is not carried from step to step: every step reads h0 instead of the state the step "
                "before made, so nothing older than the current input is remembered",
                _rnn_forward_mistake(_rnn_step, carry=False),
            ),
            Mistake(
                "you returned only the last state h_T, shape (B, H); the exercise asks for every state h_1 … h_T, "
                "stacked along time: (B, T, H)",
                _rnn_forward_mistake(_rnn_step, last_only=True),
            ),
            Mistake(
                "you included h0 in the output: return the T states made from the T inputs, h_1 … h_T",
                _rnn_forward_with_h0,
            ),
            Mistake(
                "you stacked the states along the first dimension, (T, B, H); the inputs are batch first, so the "
                "states are too: (B, T, H)",
                _rnn_forward_time_major,
            ),
            Mistake(
                "you swapped the weights: W_hh is applied to the input x_t and W_ih to the state. W_ih (H, I) "
                "reads the input, W_hh (H, H) the previous state",
                _rnn_forward_mistake(
                    lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_hh.T + b_ih + h @ W_ih.T + b_hh)
                ),
            ),
            Mistake(
                "the weights are transposed: with samples in rows, multiply x_t @ W_ih.T and h @ W_hh.T "
                "(W_ih is (H, I), W_hh is (H, H)); when I ≠ H the untransposed product has mismatched shapes",
                _rnn_forward_mistake(
                    lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih + b_ih + h @ W_hh + b_hh)
                ),
            ),
            Mistake(
                "only the recurrent weight is transposed wrongly: h @ W_hh.T, not h @ W_hh",
                _rnn_forward_mistake(
                    lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih.T + b_ih + h @ W_hh + b_hh)
                ),
            ),
            Mistake(
                "you added the biases after the tanh: they belong inside, with the two products, before the "
                "nonlinearity (added outside, they shift the state out of (-1, 1))",
                _rnn_forward_mistake(
                    lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih.T + h @ W_hh.T) + b_ih + b_hh
                ),
            ),
            Mistake(
                "you forgot the recurrent term h_{t-1} W_hh^T: without it each step is a plain MLP layer that "
                "cannot remember anything",
                _rnn_forward_mistake(lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih.T + b_ih + b_hh)),
            ),
            Mistake(
                "you applied a sigmoid where the RNN uses tanh (h_t lies in (-1, 1), not (0, 1))",
                _rnn_forward_mistake(
                    lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.sigmoid(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
                ),
            ),
            Mistake(
                "no nonlinearity: each step returned the pre-activation a_t; h_t = tanh(a_t)",
                _rnn_forward_mistake(lambda x, h, W_ih, W_hh, b_ih, b_hh: x @ W_ih.T + b_ih + h @ W_hh.T + b_hh),
            ),
            Mistake(
                "one bias is missing: add both b_ih and b_hh",
                _rnn_forward_mistake(lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T)),
            ),
            Mistake(
                "one bias is missing: add both b_ih and b_hh",
                _rnn_forward_mistake(lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih.T + h @ W_hh.T + b_hh)),
            ),
        ],
    )
)

# --- 02.train_step ----------------------------------------------------------------------------------


def train_step(model, optimizer, X, Y, state, max_norm):
    # X, Y (B, T) int64: B streams of text, and the same streams one character later
    logits, state = model(X, state)  # (B, T, V); state: carried in from the previous chunk (None at the start)
    # L = the mean over the B × T predictions of -log p(next character)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))
    optimizer.zero_grad()  # backward adds to .grad: clear what the previous step left there
    loss.backward()
    # one factor for all the parameters together, so the whole gradient keeps its direction
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()  # after the clipping, so that the step uses the clipped gradient
    # keep the state's values for the next chunk, cut the graph that made them: truncated BPTT
    return loss.item(), state.detach()


class ParametersAfterStep:
    """Where a training step left the parameters: compared with a tolerance, shown as how far they moved."""

    def __init__(self, before: Tensor, after: Tensor) -> None:
        self.after = after  # (P,) every parameter, flattened
        self.moved = float((after - before).norm())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParametersAfterStep) or other.after.shape != self.after.shape:
            return False
        return bool(torch.allclose(self.after, other.after, rtol=1e-6, atol=1e-9))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"parameters moved by ‖Δθ‖ = {self.moved:.6g}"


def _flat_parameters(model: nn.Module) -> Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()  # (P,)


def _state_status(state: object) -> str:
    if isinstance(state, Tensor) and state.grad_fn is not None:
        return "still attached to the graph that made it (it has a grad_fn)"
    if isinstance(state, Tensor) and state.requires_grad:
        return "a tensor that requires grad"
    return "cut from the graph (no grad_fn)"


def observed_step(step):
    """``step`` made checkable: run it on copies and return what it did, not only what it returned.

    A training step changes its model and optimizer in place, so its return value alone cannot show a
    missing clip or a stale gradient.  The returned function takes the same arguments, deep-copies them
    (the caller's are left as they were), leaves a stale gradient on every parameter (as the previous step
    of a training loop does), runs ``step`` and returns ``(loss, new_state, how the new state stands to the
    graph, where the parameters ended)``.  Its source, for :func:`seqlib.course.solution`, is ``step``'s.
    """

    @functools.wraps(step)
    def observed(model, optimizer, X, Y, state, max_norm):
        model, optimizer, X, Y, state = copy.deepcopy((model, optimizer, X, Y, state))
        generator = torch.Generator().manual_seed(5)
        with torch.no_grad():
            for parameter in model.parameters():  # what the previous step's backward left behind
                parameter.grad = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
        before = _flat_parameters(model)
        returned = step(model, optimizer, X, Y, state, max_norm)
        if not isinstance(returned, tuple | list) or len(returned) != 2:
            raise ValueError(f"a training step returns two values, (loss, new_state); yours returned {returned!r:.80}")
        loss, new_state = returned
        new_state = new_state.detach() if isinstance(new_state, Tensor) else new_state  # its values; the status below
        return loss, new_state, _state_status(returned[1]), ParametersAfterStep(before, _flat_parameters(model))

    return observed


def check_train_step(step, *, quiet: bool = False):
    """Check the learner's training step for ``02.train_step`` (through :func:`observed_step`)."""
    from seqlib.course.checker import check

    return check("02.train_step", observed_step(step), quiet=quiet)


def _train_step_cases():
    torch.manual_seed(6)  # the tiny model's initial weights
    cases = []
    for B, T, V, H, first_chunk in [(2, 3, 5, 4, False), (3, 4, 6, 3, True)]:  # B, T, V all different
        model = lm.make_language_model("rnn", V, H, embedding_dim=2).double()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        generator = torch.Generator().manual_seed(B)
        X = torch.randint(V, (B, T), generator=generator)  # (B, T)
        Y = torch.randint(V, (B, T), generator=generator)  # (B, T)
        state = None if first_chunk else torch.rand(1, B, H, generator=generator, dtype=torch.float64) - 0.5
        cases.append((model, optimizer, X, Y, state, 0.05))  # max_norm small enough to clip every time
    return cases


def _loss(logits, Y, reduction: str = "mean"):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1), reduction=reduction)


def _step_variant(
    zero: bool = True,
    clip: str = "global",
    clip_after_step: bool = False,
    detach: bool = True,
    reduction: str = "mean",
    hand_on: str = "new",
):
    """A wrong (or right) training step, for the registered mistakes."""

    def step(model, optimizer, X, Y, state, max_norm):
        logits, new_state = model(X, state)
        loss = _loss(logits, Y, reduction)
        if zero:
            optimizer.zero_grad()
        loss.backward()

        def clipping():
            if clip == "global":
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            elif clip == "each":
                for parameter in model.parameters():
                    torch.nn.utils.clip_grad_norm_(parameter, max_norm)
            elif clip == "value":
                torch.nn.utils.clip_grad_value_(model.parameters(), max_norm)

        if not clip_after_step:
            clipping()
        optimizer.step()
        if clip_after_step:
            clipping()
        handed = new_state if hand_on == "new" else state
        return loss.item(), handed.detach() if detach and handed is not None else handed

    return observed_step(step)


def _unflattened_loss_step(model, optimizer, X, Y, state, max_norm):
    logits, state = model(X, state)
    loss = F.cross_entropy(logits, Y)  # (B, T, V) against (B, T): the vocabulary is not in dimension 1
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return loss.item(), state.detach()


register(
    Exercise(
        name="02.train_step",
        title="one training step with truncated backpropagation through time",
        hint=(
            "run the chunk from the state carried in and take the mean loss over every prediction; the gradients "
            "from the previous step are still on the parameters and backward adds to them, so clear them first; "
            "after backward, rescale the whole gradient at once when its norm is above the limit, before the "
            "optimizer uses it; return the loss as a plain number and the new state's values cut from the graph "
            "that made them, so the next backward stops at this chunk."
        ),
        reference=observed_step(train_step),
        cases=_train_step_cases,
        mistakes=[
            Mistake(
                "the state you hand on is still attached to the graph that made it (it has a grad_fn): detach it, "
                "or the next chunk's backward runs back through this one (and fails, its graph already freed). "
                "Detaching is what makes backpropagation through time truncated",
                _step_variant(detach=False),
            ),
            Mistake(
                "the optimizer step used the unclipped gradient: the clipping comes after optimizer.step() (too late, "
                "the step has already used the gradient), or there is none. Clip between backward and the step",
                _step_variant(clip_after_step=True),
            ),
            Mistake(
                "the gradients were not zeroed: backward adds to what the previous step left in .grad, so the update "
                "mixes in an old gradient. Zero them (optimizer.zero_grad()) before backward",
                _step_variant(zero=False),
            ),
            Mistake(
                "you clipped each parameter on its own: every tensor is cut to the limit separately, which bends the "
                "direction of the whole gradient. Clip the global norm of all the parameters together, once",
                _step_variant(clip="each"),
            ),
            Mistake(
                "you clipped each entry of the gradient to a value (clip_grad_value_): that bends its direction. "
                "Rescale the whole gradient by one factor when its global norm is too large",
                _step_variant(clip="value"),
            ),
            Mistake(
                "you handed on the state that came in, not the one the model returned: the next chunk would start "
                "from the old state and lose what this chunk read",
                _step_variant(hand_on="old"),
            ),
            Mistake(
                "you summed the loss over the B × T predictions: the loss (and the step) is the mean per prediction",
                _step_variant(reduction="sum"),
            ),
            Mistake(
                "cross-entropy takes the vocabulary in dimension 1: flatten the logits to (B·T, V) and the targets "
                "to (B·T,) first (with (B, T, V) it reads T as the number of classes)",
                observed_step(_unflattened_loss_step),
            ),
        ],
    )
)

# --- 02.softmax_temperature -------------------------------------------------------------------------


def softmax_with_temperature(logits, temperature):
    # p_κ(k) = exp(z_k / κ) / Σ_j exp(z_j / κ)   over the last dimension (the vocabulary)
    return torch.softmax(logits / temperature, dim=-1)


def _softmax_cases():
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 5, generator=generator, dtype=torch.float64) * 2  # (B, V)
    return [(logits, 0.5), (logits, 2.0), (logits[0], 0.25)]


register(
    Exercise(
        name="02.softmax_temperature",
        title="softmax with a temperature",
        hint=(
            "the temperature rescales the scores before they become probabilities, not the probabilities after; a "
            "temperature below 1 must sharpen the distribution and one above 1 flatten it. The probabilities sum to "
            "1 over the vocabulary, the last dimension."
        ),
        reference=softmax_with_temperature,
        cases=_softmax_cases,
        mistakes=[
            Mistake(
                "you multiplied the logits by the temperature; divide them (κ < 1 must sharpen the distribution)",
                lambda logits, temperature: torch.softmax(logits * temperature, dim=-1),
            ),
            Mistake(
                "the temperature is ignored: this is the plain softmax (κ = 1)",
                lambda logits, temperature: torch.softmax(logits, dim=-1),
            ),
            Mistake(
                "softmax over the wrong dimension: the probabilities must sum to 1 over the vocabulary "
                "(the last dimension, dim=-1), not over the batch",
                lambda logits, temperature: torch.softmax(logits / temperature, dim=0),
            ),
            Mistake(
                "you divided the probabilities, not the logits: softmax(z) / κ does not even sum to 1",
                lambda logits, temperature: torch.softmax(logits, dim=-1) / temperature,
            ),
        ],
    )
)

# --- 02.perplexity ----------------------------------------------------------------------------------


def perplexity(logits, targets):
    # perplexity = exp(mean over tokens of -log p(target)) = exp(mean cross-entropy, in nats)
    return math.exp(F.cross_entropy(logits, targets).item())


def _target_probabilities(logits, targets):
    return torch.softmax(logits, dim=-1)[torch.arange(len(targets)), targets]  # (N,)


def _perplexity_cases():
    generator = torch.Generator().manual_seed(4)
    cases = []
    for N, V in [(6, 4), (10, 7)]:
        logits = torch.randn(N, V, generator=generator, dtype=torch.float64)  # (N, V)
        targets = torch.randint(V, (N,), generator=generator)  # (N,)
        cases.append((logits, targets))
    return cases


register(
    Exercise(
        name="02.perplexity",
        title="perplexity from logits",
        hint=(
            "perplexity is e to the power of the average surprise per token, -log p(target), in nats. The logits "
            "are raw scores, neither probabilities nor log-probabilities: normalise them over the vocabulary first. "
            "Sanity check: a uniform guess over V tokens must give exactly V."
        ),
        reference=perplexity,
        cases=_perplexity_cases,
        mistakes=[
            Mistake(
                "you forgot the exp: that is the mean cross-entropy (nats per token), not the perplexity",
                lambda logits, targets: F.cross_entropy(logits, targets).item(),
            ),
            Mistake(
                "you used 2 ** loss, but cross_entropy is in nats (natural log): use exp(loss), or 2 ** (loss / ln 2)",
                lambda logits, targets: 2.0 ** F.cross_entropy(logits, targets).item(),
            ),
            Mistake(
                "you exponentiated the *sum* of the cross-entropies; perplexity uses the mean per token",
                lambda logits, targets: math.exp(F.cross_entropy(logits, targets, reduction="sum").item()),
            ),
            Mistake(
                "you took 1 / (mean probability of the targets); perplexity is exp(mean of -log p), the inverse "
                "of the *geometric* mean probability",
                lambda logits, targets: 1.0 / _target_probabilities(logits, targets).mean().item(),
            ),
            Mistake(
                "you exponentiated the mean log-probability without the minus sign: that is 1 / perplexity",
                lambda logits, targets: math.exp(-F.cross_entropy(logits, targets).item()),
            ),
            Mistake(
                "you took the negative log-likelihood of the raw logits: it expects log-probabilities, so normalise "
                "the logits first with a log-softmax over the vocabulary (cross-entropy does both steps)",
                lambda logits, targets: math.exp(F.nll_loss(logits, targets).item()),
            ),
            Mistake(
                "you took the negative log-likelihood of probabilities (a softmax without the log): it expects "
                "log-probabilities, a log-softmax",
                lambda logits, targets: math.exp(F.nll_loss(torch.softmax(logits, dim=-1), targets).item()),
            ),
            Mistake(
                "you normalised over the wrong dimension: the probabilities of one prediction sum to 1 over the "
                "vocabulary (the last dimension), not over the N predictions",
                lambda logits, targets: math.exp(F.nll_loss(torch.log_softmax(logits, dim=0), targets).item()),
            ),
        ],
    )
)
