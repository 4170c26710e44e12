"""A task whose right attention is known, and a self-attention model small enough to learn it in seconds.

**The key-value lookup.**  A sequence holds ``num_pairs`` *pair tokens* such as ``b7`` (key ``b``, value
``7``; every key at most once) and *query tokens* such as ``b?`` (key ``b``, value unknown).  At each query
token the model must name the value paired with its key: in ``a3 b7 c1 b? a?`` the answers are 7 and 3.
The answer is not in the query token itself; it sits at one other position, the pair with the same key,
so the right attention is known: query ``b?`` should put its weight on ``b7``, the *right key*.  A pair
token has no target (the loss ignores it).  Nothing in the task depends on order: the pairs form a set,
so a model without positions can solve it (notebook 07 adds positions).

**The model** (:class:`LookupAttention`): one self-attention layer and nothing else that mixes positions.

    x_i = e_key(key_i) + e_value(value_i)                 token vector, d_model features
    q_i = x_i W^Q,  k_i = x_i W^K,  v_i = x_i W^V         three linear projections (no bias)
    o_i = Σ_j α_ij v_j,  α_ij = softmax_j(q_i·k_j / √d_k) seqlib.scaled_dot_product_attention
    logits_i = o_i W_out + b_out                          scores for the num_values answers

A token's vector is the sum of a key vector and a value vector (the query mark ``?`` is one more
"value"), so what the model learns about key ``b`` serves ``b0`` … ``b7`` and ``b?`` alike: this is what lets
it learn in a few hundred steps.  There is no residual connection: the prediction at a query comes only
from what its attention fetched.

Shape legend: B batch, T tokens per sequence (pairs and queries), d_model token features, d_k query/key
features, d_v value features.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlib import _checks
from seqlib.attention import AttentionTrace, scaled_dot_product_attention
from seqlib.train import TrainResult, train

__all__ = [
    "KEYS",
    "VALUES",
    "QUERY",
    "IGNORE",
    "LookupBatch",
    "lookup_batch",
    "parse_lookup",
    "token_labels",
    "LookupTrace",
    "LookupAttention",
    "lookup_loss",
    "train_lookup",
    "weight_on_right_key",
    "LookupScore",
    "evaluate_lookup",
]

KEYS = "abcdefgh"  # key i is written KEYS[i]
VALUES = "01234567"  # value j is written VALUES[j]
QUERY = "?"  # a query token's value: index num_values
IGNORE = -100  # target of a position without an answer (F.cross_entropy's ignore_index)


class LookupBatch(NamedTuple):
    """A batch of lookup sequences, every field ``(B, T)`` long.

    ``keys`` in 0 … num_keys-1; ``values`` in 0 … num_values-1 for a pair, ``num_values`` for a query;
    ``targets`` the value a query must name (:data:`IGNORE` at pairs and at queries whose key has no pair);
    ``right_key`` the position of the pair with the query's key (-1 at pairs and where there is none).
    """

    keys: Tensor
    values: Tensor
    targets: Tensor
    right_key: Tensor


def _check_sizes(num_keys: int, num_values: int) -> None:
    for name, value, letters in (("num_keys", num_keys, KEYS), ("num_values", num_values, VALUES)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= len(letters):
            raise ValueError(f"{name} must be an int from 1 to {len(letters)} (one character each: "
                             f"'{letters}'), got {value!r}")


def lookup_batch(
    batch_size: int,
    num_pairs: int,
    num_queries: int | None = None,
    *,
    num_keys: int = 8,
    num_values: int = 8,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> LookupBatch:
    """Random lookup sequences: ``num_pairs`` pairs with distinct keys, then ``num_queries`` queries.

    Args:
        batch_size: B.
        num_pairs: pairs per sequence, 1 … ``num_keys`` (distinct keys, values drawn uniformly).
        num_queries: queries per sequence, each about a different one of the pairs' keys (default:
            ``num_pairs``, every pair asked once); fewer leave pairs that no query asks about.
        num_keys, num_values: sizes of the key and value alphabets (at most 8 each).
        shuffle: mix the queries among the pairs (default: pairs first, then queries, which reads more
            easily; to a model without positions the two are the same set).
        generator: for reproducible draws.

    Returns:
        A :class:`LookupBatch` with T = ``num_pairs + num_queries``.
    """
    _checks.positive_int("batch_size", batch_size)
    _check_sizes(num_keys, num_values)
    if not isinstance(num_pairs, int) or isinstance(num_pairs, bool) or not 1 <= num_pairs <= num_keys:
        raise ValueError(f"num_pairs must be an int from 1 to num_keys = {num_keys}, got {num_pairs!r}")
    num_queries = num_pairs if num_queries is None else num_queries
    if not isinstance(num_queries, int) or isinstance(num_queries, bool) or not 0 <= num_queries <= num_pairs:
        raise ValueError(f"num_queries must be an int from 0 to num_pairs = {num_pairs}, got {num_queries!r}")
    B, P, Q = batch_size, num_pairs, num_queries
    pair_keys = torch.stack([torch.randperm(num_keys, generator=generator)[:P] for _ in range(B)])  # (B, P)
    pair_values = torch.randint(0, num_values, (B, P), generator=generator)  # (B, P)
    asked = torch.stack([torch.randperm(P, generator=generator)[:Q] for _ in range(B)])  # (B, Q) pair positions
    keys = torch.cat([pair_keys, pair_keys.gather(1, asked)], dim=1)  # (B, T)
    values = torch.cat([pair_values, torch.full((B, Q), num_values)], dim=1)  # (B, T)
    targets = torch.cat([torch.full((B, P), IGNORE), pair_values.gather(1, asked)], dim=1)  # (B, T)
    right_key = torch.cat([torch.full((B, P), -1), asked], dim=1)  # (B, T)
    batch = LookupBatch(keys, values, targets, right_key)
    if shuffle:
        batch = _permute(batch, torch.stack([torch.randperm(P + Q, generator=generator) for _ in range(B)]))
    return batch


def _permute(batch: LookupBatch, order: Tensor) -> LookupBatch:
    """Each sequence's tokens in the order ``order`` (B, T): position t of the result is old position order[t]."""
    new_position = order.argsort(dim=1)  # (B, T): where each old position went
    right_key = batch.right_key.gather(1, order)  # (B, T) old positions of the right keys
    moved = new_position.gather(1, right_key.clamp(min=0))  # (B, T) their new positions
    right_key = torch.where(right_key >= 0, moved, right_key)
    return LookupBatch(batch.keys.gather(1, order), batch.values.gather(1, order), batch.targets.gather(1, order),
                       right_key)


_TOKEN = re.compile(r"^(.)(.)$")


def parse_lookup(text: str, *, num_keys: int = 8, num_values: int = 8) -> LookupBatch:
    """One sequence typed as text, e.g. ``"a3 b7 c1 b? a?"``, as a :class:`LookupBatch` of B = 1.

    Tokens are separated by spaces: a key letter (``a`` … ) followed by a value digit (``0`` … ) for a pair
    or by ``?`` for a query.  A key may be paired at most once; a query whose key has no pair is allowed
    (it has no answer: target :data:`IGNORE`, right key -1), and so are pairs that no query asks about.
    """
    _check_sizes(num_keys, num_values)
    if not isinstance(text, str):
        raise ValueError(f"the sequence must be a string, got {type(text).__name__}")
    tokens = text.split()
    if not tokens:
        raise ValueError("the sequence is empty: type tokens such as 'a3 b7 b?' (key letter, then a value digit or ?)")
    keys_allowed, values_allowed = KEYS[:num_keys], VALUES[:num_values]
    keys, values, pair_at = [], [], {}
    for position, token in enumerate(tokens):
        match = _TOKEN.match(token)
        if not match or match[1] not in keys_allowed or match[2] not in values_allowed + QUERY:
            raise ValueError(f"token {token!r} (number {position + 1}) is not a key letter from '{keys_allowed}' "
                             f"followed by a value digit from '{values_allowed}' or '{QUERY}'")
        key = keys_allowed.index(match[1])
        if match[2] == QUERY:
            value = num_values
        else:
            value = values_allowed.index(match[2])
            if key in pair_at:
                raise ValueError(f"key {match[1]!r} is paired twice ({tokens[pair_at[key]]} and {token}): a lookup "
                                 "needs one value per key")
            pair_at[key] = position
        keys.append(key)
        values.append(value)
    tokens_read = list(zip(keys, values, strict=True))
    targets = [IGNORE if v < num_values or k not in pair_at else values[pair_at[k]] for k, v in tokens_read]
    right_key = [-1 if v < num_values else pair_at.get(k, -1) for k, v in tokens_read]
    return LookupBatch(*(torch.tensor([field]) for field in (keys, values, targets, right_key)))


def token_labels(batch: LookupBatch, index: int = 0, *, num_values: int = 8) -> list[str]:
    """The tokens of sequence ``index`` as text, e.g. ``['a3', 'b7', 'b?']`` (the heat maps' axis labels)."""
    keys, values = batch.keys[index].tolist(), batch.values[index].tolist()
    return [KEYS[k] + (QUERY if v == num_values else VALUES[v]) for k, v in zip(keys, values, strict=True)]


class LookupTrace(NamedTuple):
    """What :class:`LookupAttention` computed on the way: token vectors ``x`` (B, T, d_model), the
    projections ``q``, ``k`` (B, T, d_k) and ``v`` (B, T, d_v), and seqlib's :class:`AttentionTrace`
    (scores, scaled_scores, masked_scores, weights (B, T, T), output (B, T, d_v))."""

    x: Tensor
    q: Tensor
    k: Tensor
    v: Tensor
    attention: AttentionTrace


class LookupAttention(nn.Module):
    """One self-attention layer and a linear read-out, for the key-value lookup (see the module doc).

    Args:
        num_keys, num_values: the task's alphabets (the value embedding has one more row, for ``?``).
        d_model: features of a token vector.
        d_k: features of a query and a key.
        d_v: features of a value, and so of the attention's output.
    """

    def __init__(self, num_keys: int = 8, num_values: int = 8, d_model: int = 16, d_k: int = 8, d_v: int = 12) -> None:
        super().__init__()
        _check_sizes(num_keys, num_values)
        for name, value in (("d_model", d_model), ("d_k", d_k), ("d_v", d_v)):
            _checks.positive_int(name, value)
        self.num_keys, self.num_values = num_keys, num_values
        self.d_model, self.d_k, self.d_v = d_model, d_k, d_v
        self.key_embedding = nn.Embedding(num_keys, d_model)  # e_key
        self.value_embedding = nn.Embedding(num_values + 1, d_model)  # e_value; the last row is "?"
        self.q_proj = nn.Linear(d_model, d_k, bias=False)  # W^Q
        self.k_proj = nn.Linear(d_model, d_k, bias=False)  # W^K
        self.v_proj = nn.Linear(d_model, d_v, bias=False)  # W^V
        self.head = nn.Linear(d_v, num_values)  # W_out, b_out

    def forward(
        self, keys: Tensor, values: Tensor, *, return_trace: bool = False
    ) -> Tensor | tuple[Tensor, LookupTrace]:
        """Logits ``(B, T, num_values)`` for ``keys``, ``values`` ``(B, T)``; with ``return_trace`` also a
        :class:`LookupTrace`."""
        self._check_tokens(keys, values)
        # x_i = e_key(key_i) + e_value(value_i)
        x = self.key_embedding(keys) + self.value_embedding(values)  # (B, T, d_model)
        # q_i = x_i W^Q,  k_i = x_i W^K,  v_i = x_i W^V
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)  # (B, T, d_k), (B, T, d_k), (B, T, d_v)
        # o_i = Σ_j softmax_j(q_i·k_j / √d_k) v_j
        output, steps = scaled_dot_product_attention(q, k, v, return_trace=True)  # (B, T, d_v)
        logits = self.head(output)  # (B, T, num_values)
        return (logits, LookupTrace(x, q, k, v, steps)) if return_trace else logits

    def _check_tokens(self, keys: Tensor, values: Tensor) -> None:
        for name, ids, top in (("keys", keys, self.num_keys), ("values", values, self.num_values + 1)):
            _checks.tensor(name, ids)
            if ids.dim() != 2 or ids.dtype != torch.long:
                raise ValueError(f"{name} must be a (B, T) long tensor, got shape {tuple(ids.shape)} "
                                 f"and dtype {ids.dtype}")
            if ids.numel() and not (0 <= int(ids.min()) and int(ids.max()) < top):
                raise ValueError(f"{name} must lie in 0 … {top - 1}, got {int(ids.min())} … {int(ids.max())}")
        if keys.shape != values.shape:
            raise ValueError(f"keys and values must have the same shape, got {tuple(keys.shape)} "
                             f"and {tuple(values.shape)}")


def lookup_loss(model: LookupAttention, batch: LookupBatch) -> Tensor:
    """Cross-entropy of the answers at the query positions (pairs are ignored)."""
    logits = model(batch.keys, batch.values)  # (B, T, num_values)
    return F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORE)


def train_lookup(
    model: LookupAttention,
    *,
    steps: int = 200,
    batch_size: int = 64,
    num_pairs: int = 4,
    lr: float = 0.02,
    seed: int = 0,
) -> TrainResult:
    """Train ``model`` on fresh random lookups with :func:`seqlib.train.train` (Adam, one batch per step).

    The batches are drawn from a generator seeded with ``seed``; the model's initial weights are the
    caller's (seed torch before building it).  Returns the :class:`~seqlib.train.TrainResult`.
    """
    _checks.positive_int("steps", steps)
    generator = torch.Generator().manual_seed(seed)
    batches = [
        lookup_batch(batch_size, num_pairs, num_keys=model.num_keys, num_values=model.num_values, generator=generator)
        for _ in range(steps)
    ]
    return train(model, batches, lambda batch: lookup_loss(model, batch), lr=lr, max_epochs=1)


def weight_on_right_key(weights: Tensor, right_key: Tensor) -> Tensor:
    """α_{i, right key(i)} at every query position that has a right key: a 1-D tensor, query rows in order.

    Args:
        weights: ``(B, T, T)`` attention weights (rows: queries i, columns: keys j).
        right_key: ``(B, T)`` from a :class:`LookupBatch` (-1 where there is no right key).
    """
    asked = right_key >= 0  # (B, T)
    return weights.gather(2, right_key.clamp(min=0).unsqueeze(2)).squeeze(2)[asked]  # (number of queries,)


class LookupScore(NamedTuple):
    """How a model does on a batch: ``accuracy`` of the answers, ``weight`` the mean attention weight on the
    right key, ``chance`` the mean weight a uniform attention would give it (1/T), over ``queries`` queries."""

    accuracy: float
    weight: float
    chance: float
    queries: int


@torch.no_grad()
def evaluate_lookup(model: LookupAttention, batch: LookupBatch) -> LookupScore:
    """:class:`LookupScore` of ``model`` on ``batch`` (evaluation mode; the model's mode is restored)."""
    was_training = model.training
    model.eval()
    logits, trace = model(batch.keys, batch.values, return_trace=True)
    model.train(was_training)
    asked = batch.right_key >= 0
    if not bool(asked.any()):
        raise ValueError("the batch has no query with a right key: nothing to score")
    correct = (logits.argmax(dim=-1) == batch.targets)[asked]
    T = batch.keys.shape[1]
    return LookupScore(float(correct.double().mean()), float(weight_on_right_key(trace.attention.weights,
                       batch.right_key).double().mean()), 1.0 / T, int(asked.sum()))
