"""A sequence-to-sequence Transformer from seqlib's parts, its training loop and greedy decoding.

token embedding (× √d_model, Vaswani et al. 2017 §3.4) + positional encoding -> Transformer
(encoder over the source, masked decoder over the target so far, cross-attention between them)
-> a linear output projection to target-vocabulary logits.

Training uses *teacher forcing*: the decoder reads the true target shifted right
(``BOS y1 .. y_{n-1}``) and is scored on predicting ``y1 .. y_n EOS``, every position at once,
the causal mask keeping each position from seeing its answer.  Decoding is *free running*:
the model reads back its own previous outputs, one token at a time.

Mask convention (torch.nn's): bool True = may not attend.  Padding (``pad_id``) is masked as a key
everywhere and ignored by the loss.  Layout is batch-first throughout: B batch, S source length,
T target length, V vocabulary size, d ``d_model``.

A toy task (:func:`toy_batch`: copy, reverse or sort a string of digits) trains in seconds on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlib import _checks
from seqlib.attention import causal_mask, padding_mask
from seqlib.positional import PositionalEncoding
from seqlib.train import TrainResult, check_options, train
from seqlib.transformer import DecoderTrace, Transformer, TransformerTrace

__all__ = [
    "BOS_ID",
    "EOS_ID",
    "PAD_ID",
    "TOY_TASKS",
    "TOY_VOCAB_SIZE",
    "DecodeTrace",
    "Seq2SeqTransformer",
    "exact_match",
    "greedy_decode",
    "toy_batch",
    "toy_batches",
    "train_seq2seq",
]

# --- the model ------------------------------------------------------------------------------------


class Seq2SeqTransformer(nn.Module):
    """Embeddings + positional encoding + :class:`~seqlib.transformer.Transformer` + output projection.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes.
        d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout: as
            :class:`~seqlib.transformer.Transformer` (dropout is also applied after the positional
            encoding).
        max_len: longest source or target sequence.
        pad_id: the padding token (masked as a key; its embedding stays zero).
        activation, norm_first: passed to the Transformer.
        learned_positions: learned positional embedding instead of the sinusoidal one.

    Submodules: ``src_embedding``, ``tgt_embedding``, ``positional``, ``transformer``
    (batch-first), ``output_projection``.
    """

    def __init__(
        self, src_vocab: int, tgt_vocab: int, d_model: int = 64, nhead: int = 4, num_encoder_layers: int = 2,
        num_decoder_layers: int = 2, dim_feedforward: int = 128, dropout: float = 0.1, max_len: int = 64,
        pad_id: int = 0, *, activation: str = "relu", norm_first: bool = False, learned_positions: bool = False,
    ) -> None:
        super().__init__()
        for name, n in (("src_vocab", src_vocab), ("tgt_vocab", tgt_vocab), ("max_len", max_len)):
            _checks.positive_int(name, n)
        if not 0 <= pad_id < min(src_vocab, tgt_vocab):
            raise ValueError(f"pad_id must be a token id of both vocabularies, got {pad_id}")
        self.d_model = d_model
        self.pad_id = pad_id
        self.max_len = max_len
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.src_embedding = nn.Embedding(src_vocab, d_model, padding_idx=pad_id)
        self.tgt_embedding = nn.Embedding(tgt_vocab, d_model, padding_idx=pad_id)
        self.positional = PositionalEncoding(d_model, dropout, max_len, learned=learned_positions, batch_first=True)
        self.transformer = Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward,
                                       dropout, activation, batch_first=True, norm_first=norm_first)
        self.output_projection = nn.Linear(d_model, tgt_vocab)
        for embedding in (self.src_embedding, self.tgt_embedding):
            # N(0, 1/d) so that √d_model · embedding is N(0, 1), the scale of the positional
            # encoding (tensor2tensor's choice); nn.Embedding's N(0, 1) would drown the positions.
            nn.init.normal_(embedding.weight, 0.0, d_model**-0.5)
            with torch.no_grad():
                embedding.weight[pad_id].zero_()

    def _check_tokens(self, src: Tensor | None = None, tgt: Tensor | None = None) -> None:
        """``src`` / ``tgt`` (B, length) int64 ids of their vocabularies, at most ``max_len`` long, one batch size."""
        for name, x, vocab in (("src", src, self.src_vocab), ("tgt", tgt, self.tgt_vocab)):
            if x is None:
                continue
            if not isinstance(x, Tensor) or x.dim() != 2 or x.dtype != torch.long:
                got = f"shape {tuple(x.shape)} and dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(f"{name} must be a (B, length) tensor of token ids (torch.long), got {got}")
            _checks.token_tensor(name, x, vocab, legend="(B, length)", type_error=ValueError)
            if x.shape[1] > self.max_len:
                raise ValueError(f"{name} has {x.shape[1]} positions but the model was built with max_len="
                                 f"{self.max_len} (its positional table ends there): shorten it, or build the "
                                 f"model with a larger max_len")
        if src is not None and tgt is not None and src.shape[0] != tgt.shape[0]:
            raise ValueError(f"src and tgt must have the same batch size, got {src.shape[0]} and {tgt.shape[0]}")

    def embed_source(self, src: Tensor) -> Tensor:
        """``(B, S)`` token ids -> ``(B, S, d)``: x = PE + √d_model · Embedding(src)."""
        return self.positional(self.src_embedding(src) * math.sqrt(self.d_model))

    def embed_target(self, tgt: Tensor) -> Tensor:
        """``(B, T)`` token ids -> ``(B, T, d)``."""
        return self.positional(self.tgt_embedding(tgt) * math.sqrt(self.d_model))

    def forward(
        self, src: Tensor, tgt: Tensor, *, return_trace: bool = False,
    ) -> Tensor | tuple[Tensor, TransformerTrace]:
        """Logits for every target position at once (teacher forcing).

        Masks are built here, in torch.nn's convention (bool True = may not attend): a causal
        ``(T, T)`` mask on the target and key padding masks where the ids equal ``pad_id``.

        Args:
            src: ``(B, S)`` source token ids, padded with ``pad_id``.
            tgt: ``(B, T)`` decoder input ids (``BOS y1 ..``), padded with ``pad_id``.
            return_trace: also return the Transformer's trace (memory and every attention map).

        Returns:
            ``(B, T, V)`` logits; position t predicts the token after ``tgt[:, t]`` from ``tgt[:, :t+1]``.
        """
        self._check_tokens(src=src, tgt=tgt)
        src_padding = padding_mask(tokens=src, pad_id=self.pad_id)  # (B, S), True = may not attend
        tgt_padding = padding_mask(tokens=tgt, pad_id=self.pad_id)  # (B, T)
        future = causal_mask(tgt.shape[1], device=tgt.device)  # (T, T), True above the diagonal
        out = self.transformer(self.embed_source(src), self.embed_target(tgt), tgt_mask=future,
                               src_key_padding_mask=src_padding, tgt_key_padding_mask=tgt_padding,
                               memory_key_padding_mask=src_padding, return_trace=return_trace)
        if not return_trace:
            return self.output_projection(out)  # (B, T, V)
        out, trace = out
        return self.output_projection(out), trace

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """Run the encoder once: ``(memory (B, S, d), src_padding (B, S))``.

        ``src_padding`` is the key padding mask (bool, True = padding, may not attend).
        """
        self._check_tokens(src=src)
        src_padding = padding_mask(tokens=src, pad_id=self.pad_id)
        return self.transformer.encoder(self.embed_source(src), src_key_padding_mask=src_padding), src_padding

    def decode(
        self, tgt: Tensor, memory: Tensor, src_padding: Tensor, *, return_trace: bool = False,
    ) -> Tensor | tuple[Tensor, DecoderTrace]:
        """Decoder and output projection on a target prefix: ``(B, T)`` ids -> ``(B, T, V)`` logits.

        The decoder gets a causal mask and the target's padding mask (bool, True = may not attend);
        ``src_padding`` ``(B, S)`` from :meth:`encode` masks padded memory keys.
        """
        self._check_tokens(tgt=tgt)
        tgt_padding = padding_mask(tokens=tgt, pad_id=self.pad_id)
        future = causal_mask(tgt.shape[1], device=tgt.device)
        out = self.transformer.decoder(self.embed_target(tgt), memory, tgt_mask=future,
                                       tgt_key_padding_mask=tgt_padding, memory_key_padding_mask=src_padding,
                                       return_trace=return_trace)
        if not return_trace:
            return self.output_projection(out)
        out, trace = out
        return self.output_projection(out), trace


# --- greedy decoding ------------------------------------------------------------------------------


class DecodeTrace(NamedTuple):
    step_logits: Tensor  # (B, L, V): the logits each step chose its token from
    decoder: DecoderTrace  # attention maps of the last step, over the whole prefix (B, nhead, L, S)


@torch.no_grad()
def greedy_decode(
    model: Seq2SeqTransformer, src: Tensor, max_len: int, bos_id: int, eos_id: int, return_trace: bool = False,
) -> Tensor | tuple[Tensor, DecodeTrace]:
    """Free-running decoding: each step feeds the tokens chosen so far back into the decoder.

    The encoder runs once; at step t the decoder reads ``BOS y1 .. y_{t-1}`` (its own outputs)
    and the most likely next token is appended.  A sequence that has produced ``eos_id`` is
    padded with ``model.pad_id`` from then on; decoding stops when all have, or after ``max_len``
    tokens.  The model is put in eval mode for the call and restored afterwards.

    Args:
        model: a :class:`Seq2SeqTransformer`.
        src: ``(B, S)`` source ids.
        max_len: most tokens to generate, at most ``model.max_len`` (the decoder reads BOS and the
            tokens so far, so the last step reads ``max_len`` positions).
        bos_id, eos_id: start and end tokens, ids of the target vocabulary.
        return_trace: also return a :class:`DecodeTrace`.

    Returns:
        ``(B, L)`` generated ids (without BOS, with EOS, L <= max_len), or ``(tokens, trace)``.

    Raises:
        ValueError: every bad argument, before the first step (not after decoding several).
    """
    if not isinstance(model, Seq2SeqTransformer):
        raise ValueError(f"model must be a Seq2SeqTransformer, got {type(model).__name__}")
    _checks.positive_int("max_len", max_len)
    if max_len > model.max_len:
        raise ValueError(f"max_len={max_len} is more than the model's max_len={model.max_len}: its decoder reads "
                         f"at most {model.max_len} positions (BOS and {model.max_len - 1} generated tokens)")
    _checks.token_id("bos_id", bos_id, model.tgt_vocab)
    _checks.token_id("eos_id", eos_id, model.tgt_vocab)
    _checks.boolean("return_trace", return_trace)
    model._check_tokens(src=src)
    was_training = model.training
    model.eval()
    try:
        memory, src_padding = model.encode(src)  # (B, S, d), (B, S)
        B = src.shape[0]
        tokens = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)  # (B, 1)
        finished = torch.zeros(B, dtype=torch.bool, device=src.device)
        step_logits, trace = [], None
        for _ in range(max_len):
            logits = model.decode(tokens, memory, src_padding, return_trace=return_trace)
            if return_trace:
                logits, trace = logits
            # y_t = argmax p(y | y_<t, x)    from the last position only
            next_logits = logits[:, -1]  # (B, V)
            next_token = next_logits.argmax(dim=-1).masked_fill(finished, model.pad_id)  # (B,)
            tokens = torch.cat([tokens, next_token.unsqueeze(1)], dim=1)  # (B, t + 1)
            step_logits.append(next_logits)
            finished |= next_token == eos_id
            if bool(finished.all()):
                break
    finally:
        model.train(was_training)
    generated = tokens[:, 1:]  # (B, L)
    if not return_trace:
        return generated
    return generated, DecodeTrace(torch.stack(step_logits, dim=1), trace)


def exact_match(predicted: Tensor, target: Tensor, eos_id: int, pad_id: int) -> float:
    """Fraction of sequences predicted exactly, up to and including EOS.

    Args:
        predicted: ``(B, L)`` from :func:`greedy_decode`.
        target: ``(B, T)`` reference ``y1 .. y_n EOS PAD ..`` (no BOS).
    """
    width = max(predicted.shape[1], target.shape[1])
    predicted = F.pad(predicted, (0, width - predicted.shape[1]), value=pad_id)
    target = F.pad(target, (0, width - target.shape[1]), value=pad_id)
    # positions after the reference's EOS do not count
    after_eos = (target == eos_id).long().cumsum(dim=1) - (target == eos_id).long() > 0
    correct = (predicted == target) | after_eos
    return correct.all(dim=1).float().mean().item()


# --- teacher-forced training ----------------------------------------------------------------------


def train_seq2seq(
    model: Seq2SeqTransformer, batches: Iterable[tuple[Tensor, Tensor]], *, max_steps: int, lr: float = 1e-3,
    clip: float | None = 1.0, progress: Callable[[int, float], None] | None = None, seed: int = 0,
) -> TrainResult:
    """Teacher-forced training with Adam and cross-entropy over non-pad target tokens.

    Each batch is ``(src (B, S), tgt (B, T))`` with ``tgt = BOS y1 .. y_n EOS PAD ..``; the model
    reads ``tgt[:, :-1]`` and is scored on ``tgt[:, 1:]``.  ``seed`` seeds torch before training
    (dropout), so a seeded model and seeded batches give the same losses every run.  The loop is
    :func:`seqlib.train.train`.

    Args:
        model: the model, trained in place (left in train mode).
        batches: an iterable of ``(src, tgt)``; training stops at ``max_steps`` or when it ends.
        max_steps: most optimisation steps.
        lr: Adam learning rate (betas 0.9, 0.98, eps 1e-9 as in Vaswani et al.).
        clip: max gradient norm, or ``None``.
        progress: called as ``progress(step, loss)`` after every step (step counted from 0).
        seed: torch seed for dropout.

    Returns:
        A :class:`seqlib.train.TrainResult`; ``losses`` holds the loss of every step.

    Raises:
        ValueError: a bad argument (before the first step), or a batch the model cannot read.
        seqlib.train.TrainingDiverged: a loss became NaN or infinite (``lr`` far too large); its
            ``result`` holds the run so far.
    """
    _checks.positive_int("max_steps", max_steps)
    check_options(lr=lr, clip=clip)
    _checks.callable_or_none("progress", progress)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)

    def loss_fn(batch: tuple[Tensor, Tensor]) -> Tensor:
        src, tgt = batch
        decoder_input, expected = tgt[:, :-1], tgt[:, 1:]  # (B, T-1) each: teacher forcing
        logits = model(src, decoder_input)  # (B, T-1, V)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), expected.reshape(-1), ignore_index=model.pad_id)

    report = None if progress is None else (lambda record: progress(record.step - 1, record.train_loss))
    return train(model, batches, loss_fn, optimizer=optimizer, clip=clip, max_steps=max_steps,
                 eval_every=1 if progress is not None else None, progress=report)


# --- a toy task -----------------------------------------------------------------------------------

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
FIRST_DIGIT = 3  # digit d is token FIRST_DIGIT + d
TOY_VOCAB_SIZE = FIRST_DIGIT + 10
TOY_TASKS = ("copy", "reverse", "sort")


def toy_batch(
    task: str, batch_size: int, *, min_len: int = 1, max_len: int = 8, generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """A batch of digit strings and their copy, reversal or sorted version.

    Token ids: ``PAD_ID=0``, ``BOS_ID=1``, ``EOS_ID=2``, digits 0-9 are 3-12 (vocabulary 13).
    Lengths are uniform in ``[min_len, max_len]``.

    Returns:
        ``src`` ``(B, max_len)``: digits then PAD; ``tgt`` ``(B, max_len + 2)``: BOS, the answer,
        EOS, then PAD.
    """
    if task not in TOY_TASKS:
        raise ValueError(f"task must be one of {TOY_TASKS}, got {task!r}")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    lengths = torch.randint(min_len, max_len + 1, (batch_size,), generator=generator)
    digits = torch.randint(0, 10, (batch_size, max_len), generator=generator)
    src = torch.full((batch_size, max_len), PAD_ID, dtype=torch.long)
    tgt = torch.full((batch_size, max_len + 2), PAD_ID, dtype=torch.long)
    tgt[:, 0] = BOS_ID
    for b, n in enumerate(lengths.tolist()):
        seq = digits[b, :n]
        answer = {"copy": seq, "reverse": seq.flip(0), "sort": seq.sort().values}[task]
        src[b, :n] = seq + FIRST_DIGIT
        tgt[b, 1 : n + 1] = answer + FIRST_DIGIT
        tgt[b, n + 1] = EOS_ID
    return src, tgt


def toy_batches(
    task: str, batch_size: int, *, min_len: int = 1, max_len: int = 8, seed: int = 0,
) -> Iterator[tuple[Tensor, Tensor]]:
    """An endless, seeded stream of :func:`toy_batch` batches."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield toy_batch(task, batch_size, min_len=min_len, max_len=max_len, generator=generator)
