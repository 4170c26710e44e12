"""A decoder-only (GPT-style) character language model, and what the causal mask is for.

A decoder-only Transformer is a stack of self-attention layers in which position t may attend to
positions ≤ t only (the causal mask, :func:`seqlib.attention.causal_mask`), so that one pass over a
window of T characters gives T honest next-character predictions at once (Radford et al. 2018).  Each
layer here is :class:`seqlib.transformer.TransformerEncoderLayer` (self-attention + feed-forward, residuals,
layer norm) given the causal mask: a GPT block is an encoder layer that may not look ahead.

token embedding (× √d_model) + positional encoding -> N layers (pre-norm, causal) -> LayerNorm -> linear head

**The recurrent models' contract.**  :class:`DecoderLanguageModel` is called like
``seqlib.language_models.RNNLanguageModel``: ``model(tokens (B, T), state) -> (logits (B, T, V), state)``, so
``evaluate_perplexity`` and ``sample`` of :mod:`seqlib.language_models` take it unchanged.  Its *state* is
not a hidden vector but the last ``context - 1`` tokens it has read: a Transformer reads a window of at most
``context`` positions (its positional table ends there), so a long text is read in windows that slide.
Given a state, the new tokens are predicted in blocks of ``stride``: each block is read in a window of at most
``context`` tokens that ends with the block, so every prediction sees at least ``context - stride + 1``
characters (fewer only at the very start of a text) and at most ``context``.  A smaller stride gives more
context for more compute (stride 1: every prediction sees exactly ``context`` characters).

**Without the mask** (``causal=False``) position t reads the character it is asked to predict, which sits at
position t + 1 of the same window: :func:`full_vs_prefix` measures what such a model does when, as in
generation, the future is not there.

Mask convention (torch.nn's, as everywhere in seqlib): bool True = may not attend.
Shape legend: B batch (streams), T time steps (characters), V vocabulary size, d ``d_model``, W ``context``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlib import _checks
from seqlib.attention import causal_mask
from seqlib.data import lm_batches
from seqlib.language_models import check_eval_corpus, evaluate_perplexity
from seqlib.positional import PositionalEncoding
from seqlib.train import TrainRecord, TrainResult, check_options, train
from seqlib.transformer import EncoderTrace, LayerNorm, TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "DecoderLanguageModel",
    "FullVsPrefix",
    "count_parameters",
    "full_vs_prefix",
    "prefix_logits",
    "train_decoder_language_model",
]


class DecoderLanguageModel(nn.Module):
    """A GPT-style character language model with the recurrent models' call.

    Args:
        vocab_size: V.
        d_model: d, the width of every position's vector.
        nhead: heads of each self-attention (``d_model`` divisible by it).
        num_layers: N layers.
        dim_feedforward: hidden width of each layer's feed-forward network (default 4 d).
        context: W, the most positions one window holds (the positional table's length).
        dropout: dropout after the positional encoding and everywhere in the layers (training mode only).
        stride: new tokens predicted per window when reading on from a state (default W // 2, at least 1).
        causal: apply the causal mask (True); False builds the leaky model of the lesson on masks.
        learned_positions: a learned positional table instead of the sinusoidal one.

    Submodules: ``embedding``, ``positional``, ``layers`` (a :class:`~seqlib.transformer.TransformerEncoder`
    of pre-norm :class:`~seqlib.transformer.TransformerEncoderLayer` s with a final :class:`LayerNorm`),
    ``head``.
    """

    def __init__(
        self, vocab_size: int, d_model: int = 64, nhead: int = 4, num_layers: int = 2,
        dim_feedforward: int | None = None, context: int = 35, dropout: float = 0.0, *, stride: int | None = None,
        causal: bool = True, learned_positions: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("d_model", d_model), ("num_layers", num_layers),
                            ("context", context)):
            _checks.positive_int(name, value)
        dim_feedforward = 4 * d_model if dim_feedforward is None else dim_feedforward
        stride = max(1, context // 2) if stride is None else stride
        _checks.positive_int("stride", stride)
        if stride > context:
            raise ValueError(f"stride must be at most context={context} (a block of new tokens must fit in one "
                             f"window), got {stride}")
        _checks.boolean("causal", causal)
        self.vocab_size, self.d_model, self.context, self.stride, self.causal = (
            vocab_size, d_model, context, stride, causal)
        self.embedding = nn.Embedding(vocab_size, d_model)
        # N(0, 1/d) so that √d · embedding is N(0, 1), the scale of the positional encoding (as Seq2SeqTransformer)
        nn.init.normal_(self.embedding.weight, 0.0, d_model**-0.5)
        self.positional = PositionalEncoding(d_model, dropout, context, learned=learned_positions, batch_first=True)
        layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True, norm_first=True)
        self.layers = TransformerEncoder(layer, num_layers, norm=LayerNorm(d_model))
        self.head = nn.Linear(d_model, vocab_size)

    def extra_repr(self) -> str:
        return f"context={self.context}, stride={self.stride}, causal={self.causal}"

    def read_window(self, tokens: Tensor, *, return_trace: bool = False) -> Tensor | tuple[Tensor, EncoderTrace]:
        """One window, positions 0 … T-1: ``(B, T)`` ids -> ``(B, T, V)`` logits (and the attention trace).

        With the causal mask, logit row t depends on ``tokens[:, :t+1]`` only.
        """
        _checks.token_tensor("tokens", tokens, self.vocab_size)
        T = tokens.shape[1]
        if not 1 <= T <= self.context:
            raise ValueError(f"a window holds 1 to context={self.context} tokens, got {T}")
        # x = PE + √d · Embedding(tokens)
        x = self.positional(self.embedding(tokens) * math.sqrt(self.d_model))  # (B, T, d)
        # position t may attend to keys j <= t only: True above the diagonal = may not attend
        mask = causal_mask(T, device=tokens.device) if self.causal else None  # (T, T)
        out = self.layers(x, mask, return_trace=return_trace)
        if return_trace:
            out, trace = out
            return self.head(out), trace  # (B, T, V), per layer (B, nhead, T, T)
        return self.head(out)  # (B, T, V)

    def forward(self, tokens: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Next-token logits for every new token, reading on from ``state``.

        Args:
            tokens: ``(B, T)`` new token ids, any T >= 1.
            state: ``(B, P)`` the tokens read before (P < context), as returned by the previous call; None
                at the start of a text.

        Returns:
            ``(logits (B, T, V), state (B, min(P + T, context - 1)))``: logit row t predicts the token after
            ``tokens[:, t]``; the new state is the last ``context - 1`` tokens read.
        """
        _checks.token_tensor("tokens", tokens, self.vocab_size)
        if tokens.shape[1] == 0:
            raise ValueError("tokens must hold at least one position, got shape "
                             f"{tuple(tokens.shape)}")
        if state is not None:
            _checks.token_tensor("state", state, self.vocab_size)
            if state.shape[0] != tokens.shape[0] or state.shape[1] >= self.context:
                raise ValueError(f"state must be (B, P) with B = {tokens.shape[0]} and P < context = {self.context} "
                                 f"(what the previous call returned), got {tuple(state.shape)}")
            full = torch.cat([state, tokens], dim=1)  # (B, P + T)
        else:
            full = tokens
        P, end = full.shape[1] - tokens.shape[1], full.shape[1]
        blocks = []
        start = P
        while start < end:
            # the block of new positions [start, stop) is read in the window [stop - W, stop)
            stop = min(end, max(start + self.stride, self.context))
            first = max(0, stop - self.context)
            logits = self.read_window(full[:, first:stop])  # (B, stop - first, V)
            blocks.append(logits[:, start - first :])  # (B, stop - start, V)
            start = stop
        return torch.cat(blocks, dim=1), full[:, -(self.context - 1) :] if self.context > 1 else full[:, :0]


def count_parameters(model: nn.Module) -> int:
    """The number of learned numbers of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- training -------------------------------------------------------------------------------------


def train_decoder_language_model(
    model: DecoderLanguageModel,
    train_corpus: Tensor,
    val_corpus: Tensor | None,
    *,
    batch_size: int = 32,
    num_steps: int | None = None,
    lr: float = 3e-3,
    clip: float | None = 1.0,
    max_steps: int | None = None,
    max_epochs: int | None = None,
    time_budget_s: float | None = None,
    lr_schedule: Literal["constant", "cosine"] = "constant",
    final_lr_fraction: float = 0.05,
    weight_decay: float = 0.0,
    eval_every: int | None = None,
    eval_batch_size: int = 64,
    progress: Callable[[TrainRecord], None] | None = None,
    generator: torch.Generator | None = None,
) -> TrainResult:
    """Train a decoder-only model on windows of ``num_steps`` characters with :func:`seqlib.train.train`.

    The batches are ``seqlib.data.lm_batches(train_corpus, batch_size, num_steps, sequential=True,
    generator=generator)``: for the same arguments, exactly the chunks a recurrent model of
    ``seqlib.language_models.train_language_model`` reads.  Each chunk is one window read from scratch
    (nothing is carried between chunks), and the loss is the mean cross-entropy of all its T next-character
    predictions, made in one pass::

        logits = model.read_window(X)             # (B, T, V); with the mask, row t reads X[:, :t+1] only
        loss = cross_entropy(logits, Y)           # Y is X shifted by one

    Args:
        model: the model, trained in place.
        train_corpus: (N,) int64 ids.   val_corpus: (M,) ids, or None (no evaluation).
        batch_size: B windows per step.   num_steps: T, the window length (default and at most ``context``).
        lr, clip, max_steps, max_epochs, time_budget_s, lr_schedule, final_lr_fraction, weight_decay, eval_every,
            progress: as :func:`seqlib.train.train` (Adam).
        eval_batch_size: streams of :func:`seqlib.language_models.evaluate_perplexity` on ``val_corpus``.
        generator: draws each epoch's random start offset (seed it for a reproducible run; the initial weights
            and dropout use torch's global generator).

    Returns:
        A :class:`seqlib.train.TrainResult` (``val_perplexity`` in its records when ``val_corpus`` is given).
    """
    if not isinstance(model, DecoderLanguageModel):
        raise ValueError(f"model must be a DecoderLanguageModel, got {type(model).__name__}")
    num_steps = model.context if num_steps is None else num_steps
    _checks.positive_int("num_steps", num_steps)
    if num_steps > model.context:
        raise ValueError(f"num_steps={num_steps} is longer than the model's context={model.context}")
    _checks.token_tensor("train_corpus", train_corpus, model.vocab_size, dims=1, legend="(N,)", type_error=ValueError)
    if val_corpus is not None:
        check_eval_corpus("val_corpus", val_corpus, eval_batch_size, "eval_batch_size", model.vocab_size)
    check_options(lr=lr, clip=clip, weight_decay=weight_decay, final_lr_fraction=final_lr_fraction,
                  lr_schedule=lr_schedule, eval_every=eval_every)
    batches = lm_batches(train_corpus, batch_size, num_steps, sequential=True, generator=generator)

    def loss_fn(batch: tuple[Tensor, Tensor]) -> Tensor:
        X, Y = batch  # each (B, T)
        logits = model.read_window(X)  # (B, T, V)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))

    evaluate = None
    if val_corpus is not None:
        def evaluate() -> dict[str, float]:
            return {"val_perplexity": evaluate_perplexity(model, val_corpus, eval_batch_size)}

    return train(model, batches, loss_fn, lr=lr, weight_decay=weight_decay, clip=clip, max_steps=max_steps,
                 max_epochs=max_epochs, time_budget_s=time_budget_s, lr_schedule=lr_schedule,
                 final_lr_fraction=final_lr_fraction, evaluate=evaluate, eval_every=eval_every, progress=progress)


# --- what the mask is for -------------------------------------------------------------------------


@torch.no_grad()
def prefix_logits(model: DecoderLanguageModel, inputs: Tensor) -> Tensor:
    """Each position's logits from its prefix alone, as generation computes them.

    Row t of the result is the last row of ``model.read_window(inputs[:, :t+1])``: the model reads
    ``x_0 … x_t`` and nothing after, so no mask is needed to hide the future — it is not there.

    Args:
        inputs: ``(B, T)`` ids, T <= ``context``.

    Returns:
        ``(B, T, V)`` logits.
    """
    _checks.token_tensor("inputs", inputs, model.vocab_size)
    was_training = model.training
    model.eval()
    try:
        rows = [model.read_window(inputs[:, : t + 1])[:, -1] for t in range(inputs.shape[1])]  # T x (B, V)
    finally:
        model.train(was_training)
    return torch.stack(rows, dim=1)  # (B, T, V)


class FullVsPrefix(NamedTuple):
    """One model scored two ways on the same windows (means over every position of every window).

    *full*: the whole window read in one pass, as in training (teacher forcing: every position is given the
    true characters before it — and, without the mask, after it).  *prefix*: each position read from its
    prefix only, as in generation.  ``*_by_position`` are ``(T,)`` accuracies per position in the window.
    """

    full_loss: float  # mean cross-entropy, nats per character
    full_accuracy: float  # share of next characters that are the argmax
    prefix_loss: float
    prefix_accuracy: float
    full_by_position: Tensor  # (T,)
    prefix_by_position: Tensor  # (T,)
    max_logit_gap: float  # max |full - prefix| over all logits: 0 (up to rounding) with the causal mask


@torch.no_grad()
def full_vs_prefix(model: DecoderLanguageModel, inputs: Tensor, targets: Tensor) -> FullVsPrefix:
    """Score ``model`` reading whole windows (as trained) and reading prefixes only (as when generating).

    With the causal mask the two are the same computation (``max_logit_gap`` is rounding only); without it,
    the whole-window pass lets position t read ``inputs[:, t+1] = targets[:, t]``, the answer.

    Args:
        inputs: ``(B, T)`` ids, T <= ``context``.   targets: ``(B, T)``, ``inputs`` shifted by one.
    """
    _checks.token_tensor("targets", targets, model.vocab_size)
    if targets.shape != inputs.shape:
        raise ValueError(f"targets must have the shape of inputs {tuple(inputs.shape)}, got {tuple(targets.shape)}")
    was_training = model.training
    model.eval()
    try:
        full = model.read_window(inputs)  # (B, T, V)
    finally:
        model.train(was_training)
    prefix = prefix_logits(model, inputs)  # (B, T, V)

    def scores(logits: Tensor) -> tuple[float, float, Tensor]:
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).item()
        correct = (logits.argmax(dim=-1) == targets).double()  # (B, T)
        return loss, correct.mean().item(), correct.mean(dim=0)

    full_loss, full_accuracy, full_by_position = scores(full)
    prefix_loss, prefix_accuracy, prefix_by_position = scores(prefix)
    gap = (full - prefix).abs().max().item()
    return FullVsPrefix(full_loss, full_accuracy, prefix_loss, prefix_accuracy, full_by_position,
                        prefix_by_position, gap)
