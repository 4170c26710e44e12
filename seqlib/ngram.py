"""Count-based n-gram language models: the Markov model on tokens, with smoothing.

An n-gram model predicts the next token from the ``n - 1`` tokens before it, by counting:

    p(x_t | x_{t-n+1}, …, x_{t-1}) = c(x_{t-n+1} … x_t) / c(x_{t-n+1} … x_{t-1})

``n = 1`` (unigram) ignores the past entirely; ``n = 2`` (bigram) is the **Markov model** (마르코프
모델): only the token just before matters; larger ``n`` is an autoregressive model (자기회귀 모델) with
a fixed window of ``τ = n - 1`` tokens.

Counts are sparse: most long contexts never occur in the training text, and an n-gram never seen gets
probability 0 (infinite perplexity).  ``smoothing`` decides what to do about it:

- ``"none"``: the maximum-likelihood ratio above; an unseen n-gram (or unseen context) has p = 0.
- ``"add-k"``: add ``k`` to every count, ``p = (c(h, w) + k) / (c(h) + k V)`` (Laplace for k = 1).
- ``"interpolated"``: Witten–Bell interpolation, recursively mixing each order with the one below,
  ``p_m(w | h) = (c(h, w) + D(h) p_{m-1}(w | h')) / (c(h) + D(h))``, where ``h'`` drops the oldest
  token of ``h`` and ``D(h)`` is the number of distinct tokens seen after ``h``; an unseen context
  falls back to ``p_{m-1}``; ``p_0 = 1 / V``.  No hyperparameter to tune.

Scoring a sequence ``ids`` predicts ``ids[1:]``, each token from up to ``n - 1`` tokens before it
*within* ``ids`` (the first few tokens have shorter contexts and use the lower orders).  Perplexity =
exp(mean negative log-probability) over those tokens, as ``seqlib.language_models.evaluate_perplexity``.

Counting is vectorised with NumPy: an m-gram is encoded as one integer in base V.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seqlib import _checks

__all__ = ["NGramLanguageModel", "SMOOTHINGS"]

SMOOTHINGS = ("none", "add-k", "interpolated")


@dataclass(frozen=True)
class _OrderCounts:
    """Counts of one order m: every m-gram key (sorted) and its count; every context key (sorted),
    its total count c(h) and its number of distinct followers D(h)."""

    keys: np.ndarray
    counts: np.ndarray
    context_keys: np.ndarray
    context_totals: np.ndarray
    context_distinct: np.ndarray


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values`` at ``query`` keys; 0 where a key is absent."""
    if len(sorted_keys) == 0:
        return np.zeros(len(query), dtype=values.dtype)
    at = np.clip(np.searchsorted(sorted_keys, query), 0, len(sorted_keys) - 1)
    return np.where(sorted_keys[at] == query, values[at], 0)


class NGramLanguageModel:
    """A count-based n-gram model over token ids ``0 … vocab_size - 1``.

    Args:
        n: order (1 = unigram, 2 = bigram / Markov, 3 = trigram, …).
        vocab_size: V.
        smoothing: ``"none"``, ``"add-k"`` or ``"interpolated"`` (module docstring).
        k: the pseudo-count of ``"add-k"``.

    ``fit(ids)`` counts every m-gram, m = 1 … n, of a 1-D id sequence and returns the model.
    """

    def __init__(self, n: int, vocab_size: int, smoothing: str = "interpolated", k: float = 1.0) -> None:
        _checks.ngram_config(n, vocab_size, smoothing, k, SMOOTHINGS)
        self.n, self.vocab_size, self.smoothing, self.k = int(n), int(vocab_size), smoothing, float(k)
        self._orders: list[_OrderCounts] = []
        self.num_tokens = 0

    def __repr__(self) -> str:
        k = f", k={self.k:g}" if self.smoothing == "add-k" else ""
        return f"NGramLanguageModel(n={self.n}, vocab_size={self.vocab_size}, smoothing={self.smoothing!r}{k})"

    # --- counting ---------------------------------------------------------------------------

    def fit(self, ids: Sequence[int] | np.ndarray | torch.Tensor) -> NGramLanguageModel:
        """Count every m-gram (m = 1 … n) of ``ids``; returns ``self``."""
        seq = _checks.token_ids(ids, self.vocab_size)
        if len(seq) < self.n:
            raise ValueError(f"need at least n={self.n} tokens to count {self.n}-grams, got {len(seq)}")
        V = self.vocab_size
        self._orders = []
        for m in range(1, self.n + 1):
            keys = np.zeros(len(seq) - m + 1, dtype=np.int64)
            for j in range(m):  # key = seq[i] V^(m-1) + … + seq[i+m-1]
                keys = keys * V + seq[j : len(seq) - m + 1 + j]
            keys, counts = np.unique(keys, return_counts=True)
            context_keys, first, distinct = np.unique(keys // V, return_index=True, return_counts=True)
            totals = np.add.reduceat(counts, first) if len(keys) else counts
            self._orders.append(_OrderCounts(keys, counts, context_keys, totals, distinct))
        self.num_tokens = len(seq)
        return self

    @property
    def num_ngrams(self) -> int:
        """Distinct n-grams of the top order seen in training."""
        _checks.ngram_fitted(self._orders)
        return len(self._orders[-1].keys)

    @property
    def num_counts(self) -> int:
        """Stored counts over all orders 1 … n: the model's parameters."""
        _checks.ngram_fitted(self._orders)
        return sum(len(order.keys) for order in self._orders)

    # --- probabilities ------------------------------------------------------------------------

    def _probabilities(self, seq: np.ndarray, positions: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """p(targets[i] | seq[positions[i] - n + 1 : positions[i]]) for every i (context cut at 0)."""
        V = self.vocab_size
        p = np.full(len(positions), 1.0 / V)  # p_0: uniform
        context_key = np.zeros(len(positions), dtype=np.int64)  # key of the last m-1 tokens
        for m, order in enumerate(self._orders, start=1):
            if m > 1:  # extend every context one token further back: seq[t - m + 1]
                back = positions - (m - 1)
                valid_back = back >= 0
                oldest = np.where(valid_back, seq[np.clip(back, 0, None)], 0)
                context_key = context_key + oldest * V ** (m - 2)
            usable = positions >= m - 1  # this order's context fits in the sequence
            total = _lookup(order.context_keys, order.context_totals, context_key).astype(np.float64)
            count = _lookup(order.keys, order.counts, context_key * V + targets).astype(np.float64)
            if self.smoothing == "none":
                estimate = np.divide(count, total, out=np.zeros_like(count), where=total > 0)
            elif self.smoothing == "add-k":
                estimate = (count + self.k) / (total + self.k * V)
            else:  # interpolated (Witten–Bell): mix with the order below; unseen context: keep it
                distinct = _lookup(order.context_keys, order.context_distinct, context_key).astype(np.float64)
                mixed = (count + distinct * p) / np.maximum(total + distinct, 1.0)
                estimate = np.where(total > 0, mixed, p)
            p = np.where(usable, estimate, p)
        return p

    def token_probabilities(self, ids: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
        """p(ids[t] | up to n-1 tokens before it in ``ids``) for t = 1 … len(ids) - 1, shape (len-1,)."""
        _checks.ngram_fitted(self._orders)
        seq = _checks.token_ids(ids, self.vocab_size)
        if len(seq) < 2:
            raise ValueError(f"need at least 2 tokens to score (the first is context), got {len(seq)}")
        positions = np.arange(1, len(seq))
        return self._probabilities(seq, positions, seq[1:])

    def perplexity(self, ids: Sequence[int] | np.ndarray | torch.Tensor) -> float:
        """exp(mean −log p) over ``ids[1:]``; ``inf`` when some token has probability 0."""
        p = self.token_probabilities(ids)
        with np.errstate(divide="ignore"):
            nll = -np.log(p)
        return math.exp(float(nll.mean())) if np.isfinite(nll).all() else math.inf

    def unseen_fraction(self, ids: Sequence[int] | np.ndarray | torch.Tensor) -> float:
        """Fraction of the scored tokens of ``ids`` whose full n-gram never occurred in training.

        These are the tokens an unsmoothed model gives probability 0 (sparsity grows with n).
        """
        _checks.ngram_fitted(self._orders)
        seq = _checks.token_ids(ids, self.vocab_size)
        positions = np.arange(self.n - 1, len(seq))
        positions = positions[positions >= 1]
        if len(positions) == 0:
            raise ValueError(f"need more than n-1={self.n - 1} tokens to look up {self.n}-grams, got {len(seq)}")
        keys = np.zeros(len(positions), dtype=np.int64)
        for j in range(self.n):
            keys = keys * self.vocab_size + seq[positions - self.n + 1 + j]
        seen = _lookup(self._orders[-1].keys, self._orders[-1].counts, keys) > 0
        return float(1.0 - seen.mean())

    def next_token_distribution(self, context: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """p(· | context) over the vocabulary, (V,) float64; uses the last n-1 tokens of ``context``.

        With ``smoothing="none"`` and an unseen context every entry is 0 (the model knows nothing).
        """
        _checks.ngram_fitted(self._orders)
        context = _checks.token_ids(context, self.vocab_size, "context")
        seq = np.concatenate([context, [0]])
        position = np.full(self.vocab_size, len(context))
        p = self._probabilities(seq, position, np.arange(self.vocab_size))
        return torch.from_numpy(p)

    def sample(self, prefix: Sequence[int] | np.ndarray | torch.Tensor, length: int, seed: int = 0) -> list[int]:
        """``length`` tokens drawn one at a time after ``prefix`` (each from :meth:`next_token_distribution`).

        Seeded with its own ``numpy.random.Generator(seed)``, so the text is reproducible.
        """
        _checks.non_negative_int("length", length, allow_bool=True)
        rng = np.random.default_rng(seed)
        seq = list(_checks.token_ids(prefix, self.vocab_size, "prefix"))
        out: list[int] = []
        for _ in range(length):
            p = self.next_token_distribution(seq[-(self.n - 1) :] if self.n > 1 else []).numpy()
            if p.sum() <= 0:
                raise ValueError(
                    f"context {seq[-(self.n - 1) :]} was never seen in training and smoothing='none' "
                    "gives it no distribution; use smoothing='add-k' or 'interpolated'"
                )
            token = int(rng.choice(self.vocab_size, p=p / p.sum()))
            seq.append(token)
            out.append(token)
        return out
