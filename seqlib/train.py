"""Training a recurrent language model: Adam, gradient clipping, truncated BPTT, perplexity.

Perplexity = exp(mean cross-entropy per token): the number of equally likely tokens the model is,
on average, choosing between (1 = certain; V = uniform over the vocabulary).

The minibatches are sequential (``seqlib.data.lm_batches(..., sequential=True)``): row b of batch
i+1 continues row b of batch i, so the hidden state is carried from one batch to the next and
detached in between (truncated backpropagation through time over ``num_steps`` steps).

Budgets: ``max_steps`` (deterministic: notebooks use it), ``max_epochs``, or ``time_budget_s``
(wall-clock seconds of training steps, evaluation excluded: for benchmarks).  Progress goes to a
callback; :func:`print_progress` prints one line per evaluation without any timing, so a seeded
run with a step budget prints the same text every time.

Shape legend: B batch, T time steps (``num_steps``), V vocabulary size.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlib.data import lm_batches
from seqlib.language_models import detach_state

__all__ = [
    "TrainRecord",
    "TrainResult",
    "cosine_lr",
    "evaluate_perplexity",
    "print_progress",
    "train_language_model",
]


@dataclass(frozen=True)
class TrainRecord:
    """One evaluation point: perplexities after ``step`` optimizer steps.

    ``train_perplexity`` is over the training batches since the previous record; ``seconds`` is the
    training time so far (evaluation excluded) and is the only field that varies between runs.
    """

    step: int
    epoch: int
    train_perplexity: float
    val_perplexity: float
    lr: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_language_model` returns; ``history`` holds every :class:`TrainRecord`."""

    history: list[TrainRecord] = field(repr=False)
    train_perplexity: float
    val_perplexity: float
    steps: int
    epochs: float
    tokens: int
    seconds: float
    stopped_by: str


def print_progress(record: TrainRecord) -> None:
    """One deterministic line per record (no wall-clock time in it)."""
    print(
        f"epoch {record.epoch:3d}  step {record.step:6d}  train ppl {record.train_perplexity:7.3f}"
        f"  val ppl {record.val_perplexity:7.3f}",
        flush=True,
    )


@torch.no_grad()
def evaluate_perplexity(model: nn.Module, corpus: Tensor, batch_size: int = 64, num_steps: int = 50) -> float:
    """Perplexity of ``model`` on every token of ``corpus`` that fits B equal streams.

    The corpus (N,) is cut into ``batch_size`` contiguous streams, read ``num_steps`` at a time with
    the state carried across, as in training; no randomness, so the figure is reproducible.

    Args:
        model: ``(tokens (B, T), state) -> (logits (B, T, V), state)``.
        corpus: (N,) int64 token ids.
    """
    if corpus.dim() != 1 or len(corpus) < batch_size + 1:
        raise ValueError(
            f"corpus must be 1-D with more than batch_size={batch_size} tokens, got shape {tuple(corpus.shape)}"
        )
    was_training = model.training
    model.eval()
    length = (len(corpus) - 1) // batch_size
    inputs = corpus[: batch_size * length].reshape(batch_size, length)  # (B, N/B)
    targets = corpus[1 : batch_size * length + 1].reshape(batch_size, length)  # (B, N/B)
    state, total = None, 0.0
    for start in range(0, length, num_steps):
        logits, state = model(inputs[:, start : start + num_steps], state)  # (B, T, V)
        chunk = targets[:, start : start + num_steps]  # (B, T)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk.reshape(-1), reduction="sum").item()
    model.train(was_training)
    return math.exp(total / (batch_size * length))


def _check_budget(max_steps, max_epochs, time_budget_s) -> None:
    if max_steps is None and max_epochs is None and time_budget_s is None:
        raise ValueError("give at least one budget: max_steps, max_epochs or time_budget_s")
    for name, value in [("max_steps", max_steps), ("max_epochs", max_epochs)]:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    if time_budget_s is not None and not time_budget_s > 0:
        raise ValueError(f"time_budget_s must be > 0 or None, got {time_budget_s!r}")


def _budget_used(
    step: int, epochs: float, seconds: float, max_steps: int | None, max_epochs: int | None, time_budget_s: float | None
) -> float:
    """Fraction of the budget spent, in [0, 1]: the largest over the budgets that were given."""
    fractions = [0.0]
    if max_steps is not None:
        fractions.append(step / max_steps)
    if max_epochs is not None:
        fractions.append(epochs / max_epochs)
    if time_budget_s is not None:
        fractions.append(seconds / time_budget_s)
    return min(1.0, max(fractions))


def cosine_lr(lr: float, fraction: float, final_lr_fraction: float = 0.05) -> float:
    """Cosine decay: ``lr`` at fraction 0 down to ``lr * final_lr_fraction`` at fraction 1."""
    return lr * (final_lr_fraction + (1 - final_lr_fraction) * 0.5 * (1 + math.cos(math.pi * fraction)))


def train_language_model(
    model: nn.Module,
    train_corpus: Tensor,
    val_corpus: Tensor,
    *,
    batch_size: int = 32,
    num_steps: int = 35,
    lr: float = 1e-2,
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
    """Train ``model`` on sequential minibatches with Adam; evaluate validation perplexity.

    Args:
        model: ``(tokens (B, T), state) -> (logits (B, T, V), state)``, e.g. an RNNLanguageModel.
        train_corpus, val_corpus: (N,) int64 token ids, e.g. ``seqlib.data.split_sequence(corpus)``.
        batch_size: B streams.   num_steps: T, the truncation length of backpropagation.
        lr: Adam's learning rate (the peak, with ``lr_schedule="cosine"``).
        clip: rescale the gradient to this global norm when it is larger (None: no clipping).
        max_steps, max_epochs, time_budget_s: stop at the first one reached (at least one needed).
        lr_schedule: ``"constant"``, or ``"cosine"`` decay from ``lr`` to ``lr * final_lr_fraction``
            over the budget (measured in steps, epochs or training seconds, whichever ends first).
        weight_decay: Adam's L2 penalty.
        eval_every: evaluate every this many steps; None: at the end of each epoch.  The final
            model is always evaluated.
        eval_batch_size: streams used by :func:`evaluate_perplexity`.
        progress: called with each :class:`TrainRecord` (e.g. :func:`print_progress`); None: silent.
        generator: draws each epoch's random start offset (seed it for a reproducible run; the
            model's initial weights and dropout use torch's global generator).

    Returns:
        A :class:`TrainResult`; ``history`` has one record per evaluation.
    """
    _check_budget(max_steps, max_epochs, time_budget_s)
    batches = lm_batches(train_corpus, batch_size, num_steps, sequential=True, generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history: list[TrainRecord] = []
    step, epoch, seconds, tokens = 0, 0, 0.0, 0
    loss_sum, loss_count = 0.0, 0
    stopped_by = ""

    def record() -> None:
        nonlocal loss_sum, loss_count
        train_ppl = math.exp(loss_sum / loss_count) if loss_count else float("nan")
        val_ppl = evaluate_perplexity(model, val_corpus, eval_batch_size, num_steps)
        history.append(TrainRecord(step, epoch, train_ppl, val_ppl, optimizer.param_groups[0]["lr"], seconds))
        loss_sum, loss_count = 0.0, 0
        if progress is not None:
            progress(history[-1])

    model.train()
    while not stopped_by:
        state = None  # a new pass starts at a new offset: the old state does not continue it
        for batch_index, (X, Y) in enumerate(batches):  # each (B, T)
            start = time.perf_counter()
            if lr_schedule == "cosine":
                epochs = epoch + batch_index / len(batches)
                used = _budget_used(step, epochs, seconds, max_steps, max_epochs, time_budget_s)
                for group in optimizer.param_groups:
                    group["lr"] = cosine_lr(lr, used, final_lr_fraction)
            logits, state = model(X, state)  # (B, T, V)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            state = detach_state(state)  # truncated BPTT: keep the values, cut the graph
            seconds += time.perf_counter() - start
            step += 1
            tokens += X.numel()
            loss_sum, loss_count = loss_sum + loss.item(), loss_count + 1
            if eval_every is not None and step % eval_every == 0:
                record()
            if max_steps is not None and step >= max_steps:
                stopped_by = "max_steps"
            elif time_budget_s is not None and seconds >= time_budget_s:
                stopped_by = "time_budget_s"
            if stopped_by:
                break
        else:
            epoch += 1
            if max_epochs is not None and epoch >= max_epochs:
                stopped_by = "max_epochs"
            if eval_every is None and not stopped_by:
                record()
    if not history or history[-1].step != step:
        record()
    final = history[-1]
    return TrainResult(
        history=history,
        train_perplexity=final.train_perplexity,
        val_perplexity=final.val_perplexity,
        steps=step,
        epochs=epoch + (0 if stopped_by == "max_epochs" else (batch_index + 1) / len(batches)),
        tokens=tokens,
        seconds=seconds,
        stopped_by=stopped_by,
    )
