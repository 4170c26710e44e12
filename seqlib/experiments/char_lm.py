"""What a trained character language model does with a temperature.

Sampling divides the logits by a temperature τ before the softmax:

    p_τ(k) = exp(z_k / τ) / Σ_j exp(z_j / τ)

τ = 1 is the model's own distribution; τ < 1 sharpens it (τ → 0 puts all the mass on the most
likely token: greedy decoding); τ > 1 flattens it towards uniform.  :func:`sample_at_temperature`
returns a sample together with the next-character distribution after the prefix and two measures
of the text: how many of its words are real words of the book, and how many of its words are
distinct (greedy decoding tends to loop).

Shape legend: V vocabulary size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlib.language_models import sample

__all__ = [
    "TemperatureSample",
    "softmax_with_temperature",
    "next_token_distribution",
    "real_word_fraction",
    "distinct_word_fraction",
    "sample_at_temperature",
]


def _check_temperature(temperature: object) -> float:
    if not isinstance(temperature, int | float) or isinstance(temperature, bool) or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    return float(temperature)


def softmax_with_temperature(logits: Tensor, temperature: float) -> Tensor:
    """p_τ = softmax(z / τ) over the last dimension; τ = 0 gives the one-hot of the argmax (greedy).

    Args:
        logits: (..., V).
        temperature: τ >= 0.

    Returns:
        (..., V) probabilities, float64.
    """
    temperature = _check_temperature(temperature)
    z = logits.double()
    if temperature == 0:
        return F.one_hot(z.argmax(dim=-1), z.shape[-1]).double()
    # p_τ(k) = exp(z_k / τ) / Σ_j exp(z_j / τ)
    return F.softmax(z / temperature, dim=-1)


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
    return softmax_with_temperature(last, temperature)


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
    temperature = _check_temperature(temperature)
    probabilities = next_token_distribution(model, vocab, prefix, temperature)  # (V,)
    generator = torch.Generator().manual_seed(seed)
    text = sample(model, vocab, prefix, num_chars, temperature=temperature, generator=generator)
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


__all__ += ["book_words"]
