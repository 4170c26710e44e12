"""Tasks that need order, a tiny attention model that may or may not know positions, and its training.

Self-attention without positional information is *permutation-equivariant*: shuffle the input
positions and the outputs are shuffled the same way, nothing else changes.  So the output at a
position is a function of that position's own token and of the *set* of tokens around it, never of
where they stand.  This module gives

* the **look-back task** (:func:`lookback_batch`): a sequence of distinct tokens; at position ``i``
  the answer is the token ``m`` places back, ``x[i - m]``, for each offset ``m`` asked for (positions
  ``i < m`` have no answer and are ignored).  A model blind to positions answers at most a fraction
  ``1 / (T - 1)`` right on average over random orders (:func:`position_blind_ceiling`);
* the **tiny attention model** (:class:`TinyAttentionModel`): token embedding, positional information
  (``"none"``, ``"sinusoidal"`` or ``"learned"``, seqlib's :class:`~seqlib.positional.PositionalEncoding`),
  one :class:`~seqlib.attention.MultiheadAttention` with ``n_heads`` heads, a linear read-out per
  offset; its trace keeps every step, and ``keep_heads`` silences heads to see what each one does;
* its training through :func:`seqlib.train.train` (:func:`train_lookback`) and its scores
  (:func:`lookback_accuracy`, :func:`head_offset_weights`);
* (the offset rotation of the sinusoidal table, ``PE(p + m) = R(m) PE(p)``, is a property of the table
  and lives with it: :func:`seqlib.positional.offset_rotation`).

Shape legend: B batch, T sequence length, V vocabulary size, d ``d_model``, n heads, M offsets.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlib import _checks
from seqlib.attention import MultiheadAttention, MultiheadAttentionTrace
from seqlib.positional import PositionalEncoding
from seqlib.train import TrainResult, train

__all__ = [
    "IGNORE",
    "POSITION_KINDS",
    "LookbackBatch",
    "TinyAttentionModel",
    "TinyAttentionTrace",
    "head_offset_weights",
    "lookback_accuracy",
    "lookback_accuracy_by_position",
    "lookback_batch",
    "lookback_batches",
    "position_blind_ceiling",
    "train_lookback",
]

IGNORE = -100
"""Target of a position that has no answer (``i < m``); ``F.cross_entropy``'s ``ignore_index``."""

POSITION_KINDS = ("none", "sinusoidal", "learned")


# --- the look-back task ---------------------------------------------------------------------------


class LookbackBatch(NamedTuple):
    """``tokens`` (B, T) distinct within each row; ``targets`` (B, T, M): ``x[i - m]`` for offset m, or
    :data:`IGNORE` where ``i < m``."""

    tokens: Tensor
    targets: Tensor


def _offsets(offsets: Sequence[int]) -> tuple[int, ...]:
    offsets = tuple(offsets)
    if not offsets or any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in offsets):
        raise ValueError(f"offsets must be a non-empty sequence of positive ints, got {offsets!r}")
    return offsets


def _check_task(length: int, vocab_size: int, offsets: tuple[int, ...]) -> None:
    _checks.positive_int("length", length)
    _checks.positive_int("vocab_size", vocab_size)
    if vocab_size < length:
        raise ValueError(
            f"vocab_size must be >= length (the tokens of a sequence are distinct), got vocab_size={vocab_size}, "
            f"length={length}"
        )
    if max(offsets) >= length:
        raise ValueError(
            f"length {length} leaves no position with an answer for offset {max(offsets)}: use length > "
            f"{max(offsets)}"
        )


def lookback_batch(
    batch_size: int, length: int, vocab_size: int, offsets: Sequence[int] = (1,), *,
    generator: torch.Generator | None = None,
) -> LookbackBatch:
    """Random sequences of distinct tokens and the tokens ``m`` places back.

    Each row is ``length`` tokens drawn without replacement from ``0 .. vocab_size - 1`` (a uniformly
    random order of a uniformly random set), so a model that cannot see positions can do no better
    than :func:`position_blind_ceiling`.

    Args:
        batch_size: B.
        length: T, at least ``max(offsets) + 1`` and at most ``vocab_size``.
        vocab_size: V.
        offsets: the look-back distances m (positive ints), one answer per offset.
        generator: the random source (seeded for reproducible batches).

    Returns:
        :class:`LookbackBatch`: tokens (B, T) int64, targets (B, T, M) int64.
    """
    offsets = _offsets(offsets)
    _checks.positive_int("batch_size", batch_size)
    _check_task(length, vocab_size, offsets)
    tokens = torch.rand(batch_size, vocab_size, generator=generator).argsort(dim=1)[:, :length]  # (B, T)
    targets = torch.full((batch_size, length, len(offsets)), IGNORE, dtype=torch.long)  # (B, T, M)
    for k, m in enumerate(offsets):
        targets[:, m:, k] = tokens[:, :-m]  # the answer at i is x[i - m]
    return LookbackBatch(tokens, targets)


def lookback_batches(
    batch_size: int, length: int, vocab_size: int, offsets: Sequence[int] = (1,), *, seed: int = 0
) -> Iterator[LookbackBatch]:
    """An endless stream of fresh :func:`lookback_batch` es from one seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield lookback_batch(batch_size, length, vocab_size, offsets, generator=generator)


def position_blind_ceiling(length: int) -> float:
    """1 / (T - 1): the best mean accuracy at answering ``x[i - m]`` without knowing positions.

    Without positions, the prediction at position i is some g(x_i, S) of its own token and the set S
    of the sequence's tokens.  Over the random orders of S, the pair (x[i-m], x_i) is a uniformly
    random ordered pair of distinct tokens of S, so g is right with probability
    #{a in S: g(a) ≠ a} / (T (T - 1)) <= 1 / (T - 1), whatever g is.
    """
    _checks.int_at_least("length", length, 2)
    return 1.0 / (length - 1)


# --- the tiny attention model ---------------------------------------------------------------------


class TinyAttentionTrace(NamedTuple):
    """Every step of :class:`TinyAttentionModel` for one call (batch first).

    ``embedded`` (B, T, d) the token embeddings; ``positioned`` (B, T, d) after the positional
    information is added (= ``embedded`` for ``"none"``); ``attention`` the
    :class:`~seqlib.attention.MultiheadAttentionTrace` (per-head q, k, v, scores, weights, head
    outputs: (B, n, T, ·)); ``attended`` (B, T, d) the attention's output after W^O; ``logits``
    (B, T, M, V).
    """

    embedded: Tensor
    positioned: Tensor
    attention: MultiheadAttentionTrace
    attended: Tensor
    logits: Tensor


class TinyAttentionModel(nn.Module):
    """Embedding -> (+ positions) -> one multi-head self-attention -> a linear read-out per offset.

    ``logits = readout(MHA(E[x] + P[:T]))``, viewed as (B, T, M, V): one distribution over the
    vocabulary for each look-back offset.  No residual connection, no feed-forward layer, no mask: the
    attention alone must fetch the answer from another position (notebook 08 adds the rest of the layer).

    Args:
        vocab_size: V.
        d_model: d, divisible by ``n_heads``.
        n_heads: heads of the attention.
        positions: ``"none"`` (attention is blind to order), ``"sinusoidal"`` (the paper's fixed table)
            or ``"learned"`` (a trained table, initialised N(0, 0.02²)).
        max_len: positions the table covers (longest sequence for ``"sinusoidal"``/``"learned"``).
        n_outputs: M, one read-out per offset.

    Submodules: ``embedding``, ``positional`` (None for ``"none"``), ``attention`` (batch-first
    :class:`~seqlib.attention.MultiheadAttention`), ``readout``.
    """

    def __init__(
        self, vocab_size: int, d_model: int = 32, n_heads: int = 1, positions: str = "sinusoidal",
        max_len: int = 64, n_outputs: int = 1,
    ) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("max_len", max_len), ("n_outputs", n_outputs)):
            _checks.positive_int(name, value)
        _checks.one_of("positions", positions, POSITION_KINDS)
        self.vocab_size, self.d_model, self.n_heads = vocab_size, d_model, n_heads
        self.positions, self.max_len, self.n_outputs = positions, max_len, n_outputs
        self.embedding = nn.Embedding(vocab_size, d_model)
        learned = positions == "learned"
        self.positional = None if positions == "none" else PositionalEncoding(d_model, max_len=max_len, learned=learned)
        self.attention = MultiheadAttention(d_model, n_heads, batch_first=True)
        self.readout = nn.Linear(d_model, n_outputs * vocab_size)

    def extra_repr(self) -> str:
        return f"positions={self.positions!r}, n_heads={self.n_heads}, max_len={self.max_len}"

    def forward(
        self, tokens: Tensor, *, keep_heads: Sequence[int] | None = None, return_trace: bool = False
    ) -> Tensor | tuple[Tensor, TinyAttentionTrace]:
        """Logits for every position and offset.

        Args:
            tokens: (B, T) or (T,) token ids.
            keep_heads: if given, only these heads' outputs reach W^O (the others are set to zero
                before the concatenation): what the model answers with those heads alone.
            return_trace: also return a :class:`TinyAttentionTrace`.

        Returns:
            logits (B, T, M, V) ((T, M, V) for unbatched tokens), and the trace if asked.
        """
        unbatched = isinstance(tokens, Tensor) and tokens.dim() == 1
        tokens = tokens.unsqueeze(0) if unbatched else tokens
        self._check_tokens(tokens)
        keep = self._keep_mask(keep_heads)
        B, T = tokens.shape
        embedded = self.embedding(tokens)  # (B, T, d)
        positioned = embedded if self.positional is None else self.positional(embedded)  # E[x] + P[:T]
        attended, _, steps = self.attention(positioned, positioned, positioned, need_weights=False,
                                            return_trace=True)  # (B, T, d)
        if keep is not None:
            # Concat(keep_1 head_1, ..., keep_n head_n) W^O: silenced heads contribute nothing
            heads = steps.head_outputs * keep.view(1, -1, 1, 1)  # (B, n, T, d_head)
            attended = self.attention.out_proj(heads.transpose(1, 2).reshape(B, T, self.d_model))  # (B, T, d)
        logits = self.readout(attended).view(B, T, self.n_outputs, self.vocab_size)  # (B, T, M, V)
        if unbatched:
            logits = logits[0]
        if not return_trace:
            return logits
        trace = TinyAttentionTrace(embedded, positioned, steps, attended, logits)
        if unbatched:
            trace = TinyAttentionTrace(embedded[0], positioned[0], MultiheadAttentionTrace(*(t[0] for t in steps)),
                                       attended[0], logits)
        return logits, trace

    def _check_tokens(self, tokens: Tensor) -> None:
        if not isinstance(tokens, Tensor) or tokens.dim() != 2 or tokens.dtype != torch.long:
            what = (f"shape {tuple(tokens.shape)}, dtype {tokens.dtype}" if isinstance(tokens, Tensor)
                    else type(tokens).__name__)
            raise ValueError(f"tokens must be an int64 tensor (B, T) or (T,), got {what}")
        T = tokens.shape[1]
        if T < 1:
            raise ValueError("tokens must hold at least one position, got length 0")
        if self.positional is not None and T > self.max_len:
            raise ValueError(f"a sequence of length {T} is longer than the positional table's max_len={self.max_len}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ValueError(f"token ids must lie in 0 .. {self.vocab_size - 1}, got {int(tokens.min())} .. "
                             f"{int(tokens.max())}")

    def _keep_mask(self, keep_heads: Sequence[int] | None) -> Tensor | None:
        if keep_heads is None:
            return None
        keep_heads = list(keep_heads)
        if any(isinstance(h, bool) or not isinstance(h, int) or not 0 <= h < self.n_heads for h in keep_heads):
            raise ValueError(f"keep_heads must list head indices in 0 .. {self.n_heads - 1}, got {keep_heads!r}")
        keep = torch.zeros(self.n_heads, dtype=self.readout.weight.dtype, device=self.readout.weight.device)
        keep[keep_heads] = 1.0
        return keep


# --- training and scores --------------------------------------------------------------------------


def _lookback_loss(model: TinyAttentionModel, batch: LookbackBatch) -> Tensor:
    logits = model(batch.tokens)  # (B, T, M, V)
    return F.cross_entropy(logits.flatten(0, 2), batch.targets.flatten(), ignore_index=IGNORE)


def train_lookback(
    model: TinyAttentionModel, length: int, offsets: Sequence[int] = (1,), *, steps: int = 300,
    batch_size: int = 64, lr: float = 1e-2, seed: int = 0,
) -> TrainResult:
    """Train ``model`` on the look-back task at one length with :func:`seqlib.train.train`.

    Adam at ``lr`` on a cosine schedule, fresh batches of ``batch_size`` sequences every step (seeded
    by ``seed``), cross-entropy summed over offsets (mean over answered positions).
    """
    offsets = _offsets(offsets)
    if len(offsets) != model.n_outputs:
        raise ValueError(f"the model reads out {model.n_outputs} offsets, got {len(offsets)} offsets {offsets}")
    _check_task(length, model.vocab_size, offsets)
    batches = lookback_batches(batch_size, length, model.vocab_size, offsets, seed=seed)
    return train(model, batches, lambda batch: _lookback_loss(model, batch), lr=lr, max_steps=steps,
                 lr_schedule="cosine", eval_every=steps)


@torch.no_grad()
def lookback_accuracy_by_position(
    model: TinyAttentionModel, length: int, offsets: Sequence[int] = (1,), *, n_sequences: int = 1000,
    seed: int = 1234, keep_heads: Sequence[int] | None = None,
) -> Tensor:
    """Fraction of sequences whose answer at position i the model gets right, per position and offset.

    Evaluated on ``n_sequences`` fresh sequences of ``length`` (seeded by ``seed``, a different stream
    from training's by default), in evaluation mode; "right" means the most likely token is the answer.

    Returns:
        float64 ``(T, M)``; NaN where position i has no answer for offset m (i < m).
    """
    offsets = _offsets(offsets)
    if len(offsets) != model.n_outputs:
        raise ValueError(f"the model reads out {model.n_outputs} offsets, got {len(offsets)} offsets {offsets}")
    _check_task(length, model.vocab_size, offsets)
    _checks.positive_int("n_sequences", n_sequences)
    was_training = model.training
    model.eval()
    batch = lookback_batch(n_sequences, length, model.vocab_size, offsets,
                           generator=torch.Generator().manual_seed(seed))
    predicted = model(batch.tokens, keep_heads=keep_heads).argmax(dim=-1)  # (B, T, M)
    model.train(was_training)
    accuracy = (predicted == batch.targets).double().mean(dim=0)  # (T, M)
    return accuracy.masked_fill(batch.targets[0] == IGNORE, float("nan"))


def lookback_accuracy(
    model: TinyAttentionModel, length: int, offsets: Sequence[int] = (1,), *, n_sequences: int = 1000,
    seed: int = 1234, keep_heads: Sequence[int] | None = None,
) -> Tensor:
    """Fraction of answered positions where the model is right, per offset: float64 ``(M,)``.

    The mean over the answered positions of :func:`lookback_accuracy_by_position` (same arguments).
    """
    by_position = lookback_accuracy_by_position(model, length, offsets, n_sequences=n_sequences, seed=seed,
                                                keep_heads=keep_heads)  # (T, M)
    return by_position.nanmean(dim=0)


@torch.no_grad()
def head_offset_weights(
    model: TinyAttentionModel, length: int, offsets: Sequence[int], *, n_sequences: int = 200, seed: int = 1234
) -> Tensor:
    """Mean attention weight each head puts on the key ``m`` places back, for each offset m.

    Averaged over the queries that have such a key (i >= m) of ``n_sequences`` random sequences.

    Returns:
        float64 ``(n_heads, M)``: entry [h, k] is head h's mean weight α_{i, i - m_k}.
    """
    offsets = _offsets(offsets)
    _check_task(length, model.vocab_size, offsets)
    was_training = model.training
    model.eval()
    tokens = lookback_batch(n_sequences, length, model.vocab_size, offsets,
                            generator=torch.Generator().manual_seed(seed)).tokens
    _, trace = model(tokens, return_trace=True)
    model.train(was_training)
    weights = trace.attention.weights.double()  # (B, n, T, T)
    columns = []
    for m in offsets:
        back = torch.diagonal(weights, offset=-m, dim1=-2, dim2=-1)  # (B, n, T - m): α_{i, i-m} for i >= m
        columns.append(back.mean(dim=(0, 2)))  # (n,)
    return torch.stack(columns, dim=1)  # (n, M)
