"""Notebook 02 · the RNN: what the notebook shows and asks, computed here.

* **An RNN unrolled in time as one wide layer.**  The source notes: "RNN을 시간순서로 풀어놓으면 입력이
  많고 width가 커진 fully connected layer라고 볼 수 있다" (unrolled in time, an RNN is a fully connected
  layer with many inputs and a large width).  Stack the T inputs into one vector ``[x_1 … x_T]`` (T*I
  values) and the T hidden states into ``[h_1 … h_T]`` (T*H values).  The whole unrolled network is then

      [h_1 … h_T] = tanh(W_in [x_1 … x_T] + W_rec [h_1 … h_T] + b)

  with a (T*H, T*I) matrix ``W_in`` holding T copies of W_ih on its block diagonal, a (T*H, T*H)
  matrix ``W_rec`` holding T-1 copies of W_hh just below its block diagonal (h_t reads h_{t-1}), and
  T copies of ``b_ih + b_hh``.  Two small matrices fill a large one: the weights are *shared*.
  Because ``W_rec`` is strictly block-lower-triangular, applying the layer to its own output T times,
  starting from zeros, gives the loop's answer exactly (after k passes, h_1 … h_k are final).
* **Sampling with a temperature** (``seqlib.language_models.softmax_with_temperature``):
  :func:`sample_at_temperature` returns a sample together with the next-character distribution after
  the prefix and two measures of the text: how many of its words are real words of the book, and how
  many are distinct (greedy decoding tends to loop).
* **Widgets**: :func:`temperature_explorer`.
* **Exercises** ``02.rnn_forward`` (the loop over time, built from one step), ``02.softmax_temperature``,
  ``02.perplexity``.

Shape legend: B batch, T time steps, I input size, H hidden size, V vocabulary size.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlib import language_models as lm
from seqlib.course.checker import Exercise, Mistake, register
from seqlib.course.explorer import Explorer
from seqlib.recurrent import RNN, RNNCell

__all__ = [
    "WideLayer",
    "unroll_as_wide_layer",
    "wide_layer_forward",
    "TemperatureSample",
    "next_token_distribution",
    "real_word_fraction",
    "distinct_word_fraction",
    "sample_at_temperature",
    "book_words",
    "temperature_explorer",
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


# --------------------------------------------------------------------------------------------------
# Sampling with a temperature
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def next_token_distribution(model: nn.Module, vocab, prefix: str, temperature: float = 1.0) -> Tensor:
    """The model's distribution of the token after ``prefix`` at ``temperature``, (V,) float64.

    The unknown token gets probability 0, as in :func:`seqlib.language_models.sample`.
    """
    if not prefix:
        raise ValueError("prefix must hold at least one character")
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
        temperature: τ >= 0; 0 is greedy (no randomness).
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
    sampled text and how many of its words are real words of the book.  τ = 0 is greedy decoding.
    """
    known = frozenset(known_words)
    tokens = vocab.to_tokens(list(range(len(vocab))))
    shown = [k for k, token in enumerate(tokens) if k != vocab.unk]  # <unk> is never sampled

    def compute(temperature: float, prefix: str) -> TemperatureSample:
        return sample_at_temperature(model, vocab, prefix, temperature, num_chars, known, seed=seed)

    def draw(result: TemperatureSample, fig: plt.Figure) -> None:
        ax = fig.add_subplot()
        probabilities = result.probabilities[shown].numpy()
        ax.bar(range(len(shown)), probabilities, color="C0", label=f"τ = {result.temperature:.2f}")
        ax.set_xticks(range(len(shown)), [_label(tokens[k]) for k in shown])
        ax.set_xlabel(f"next character after “{result.prefix[-20:]}”")
        ax.set_ylabel("probability")
        ax.set_ylim(0, 1)
        ax.legend(loc="upper right")
        fig.tight_layout()

    def describe(result: TemperatureSample) -> str:
        return (
            f"τ = {result.temperature:.2f}: next-character entropy {result.entropy_bits:.2f} bits; "
            f"real words {result.real_words:.0%}, distinct words {result.distinct_words:.0%}<br>"
            f"<code>{html.escape(result.prefix)}<b>{html.escape(result.continuation)}</b></code>"
        )

    controls = {
        "temperature": widgets.FloatSlider(
            value=temperature, min=0.0, max=max_temperature, step=0.05, description="temperature",
            continuous_update=False,
        ),
        "prefix": widgets.Text(value=prefix, description="prefix", continuous_update=False),
    }
    return Explorer(compute, controls, draw, describe, figsize=(8.0, 2.8))


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

# --- 02.softmax_temperature -------------------------------------------------------------------------


def softmax_with_temperature(logits, temperature):
    # p_τ(k) = exp(z_k / τ) / Σ_j exp(z_j / τ)   over the last dimension (the vocabulary)
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
                "you multiplied the logits by the temperature; divide them (τ < 1 must sharpen the distribution)",
                lambda logits, temperature: torch.softmax(logits * temperature, dim=-1),
            ),
            Mistake(
                "the temperature is ignored: this is the plain softmax (τ = 1)",
                lambda logits, temperature: torch.softmax(logits, dim=-1),
            ),
            Mistake(
                "softmax over the wrong dimension: the probabilities must sum to 1 over the vocabulary "
                "(the last dimension, dim=-1), not over the batch",
                lambda logits, temperature: torch.softmax(logits / temperature, dim=0),
            ),
            Mistake(
                "you divided the probabilities, not the logits: softmax(z) / τ does not even sum to 1",
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
