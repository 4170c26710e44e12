"""The one training loop of the course: minibatches in, an optimizer step per batch, records out.

Every model of the course trains through :func:`train`: the character language models (with truncated
backpropagation through time, ``seqlib.language_models.train_language_model``), the seq2seq
Transformer (``seqlib.seq2seq.train_seq2seq``), the recall task (``seqlib.recall_task.train_recall``)
and the autoregressive MLP and latent models (``seqlib.autoregressive``).  What differs between them is
passed in: the batches, the loss of one batch, how to evaluate; what is the same is here once:

    for each batch:            loss = loss_fn(batch)
                               zero the gradients; loss.backward()
                               clip the gradient's global norm (optional)
                               optimizer.step()
    every ``eval_every`` steps (or at the end of each epoch): evaluate, record, report, maybe stop

Budgets: ``max_steps`` (deterministic: notebooks use it), ``max_epochs``, or ``time_budget_s``
(wall-clock seconds of training steps, evaluation excluded: for benchmarks); the first one reached
stops the run.  ``batches`` is iterated once per epoch, so a re-iterable (a list, or
``seqlib.data.lm_batches``) gives epochs, and an endless iterator gives one endless epoch.

The loop draws no random numbers of its own: with seeded batches and a seeded model, a run gives the
same losses every time (on the same machine and thread count).

Bad input never passes silently.  Every argument is checked before the first step (a negative ``clip``
would otherwise turn clipping into gradient ascent, an empty validation set would be found only at the
end).  And a run that **diverges** stops at once: when a step's loss is NaN or infinite, or when an
update leaves a parameter NaN or infinite, or when ``evaluate`` returns a NaN metric (a model whose
outputs overflowed), :func:`train` raises :class:`TrainingDiverged`, whose message
names the step and the likely cause, and whose ``result`` holds the run so far (every record and loss up
to that step, ``stopped_by="diverged"``), so nothing measured is lost.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from seqlib import _checks

__all__ = ["TrainRecord", "TrainResult", "TrainingDiverged", "clip_grad_norm_", "cosine_lr", "safe_exp", "train"]


@dataclass(frozen=True)
class TrainRecord:
    """One evaluation point, after ``step`` optimizer steps.

    ``train_loss`` is the mean training loss over the steps since the previous record and ``last_loss``
    the loss of the last step alone; ``metrics``
    what ``evaluate`` returned (e.g. ``{"val_perplexity": 4.3}``); ``lr`` the learning rate of the
    last step; ``seconds`` the training time so far (evaluation excluded), the only field that
    varies between runs.
    """

    step: int
    epoch: int
    train_loss: float
    last_loss: float
    metrics: Mapping[str, float]
    lr: float
    seconds: float

    @property
    def train_perplexity(self) -> float:
        """exp(train_loss): for a cross-entropy loss, the training perplexity since the last record."""
        return safe_exp(self.train_loss)

    @property
    def val_perplexity(self) -> float:
        """``metrics["val_perplexity"]`` (what a language model's evaluation reports)."""
        return _metric(self.metrics, "val_perplexity")


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns: every record, the loss of every step, and how the run ended.

    ``epochs`` counts complete passes plus the fraction of the last one (for a sized ``batches``;
    the number of passes started otherwise); ``stopped_by`` names the budget or condition that
    ended the run: ``"max_steps"``, ``"max_epochs"``, ``"time_budget_s"``, ``"stop_when"``,
    ``"batches"`` (the batches ran out) or ``"diverged"`` (only in :attr:`TrainingDiverged.result`).
    """

    history: list[TrainRecord] = field(repr=False)
    losses: list[float] = field(repr=False)
    steps: int
    epochs: float
    seconds: float
    stopped_by: str

    @property
    def final(self) -> TrainRecord:
        """The last record (made after the last step)."""
        if not self.history:
            raise ValueError("the run made no record (it took no step)")
        return self.history[-1]

    @property
    def metrics(self) -> Mapping[str, float]:
        return self.final.metrics

    @property
    def train_perplexity(self) -> float:
        return self.final.train_perplexity

    @property
    def val_perplexity(self) -> float:
        return self.final.val_perplexity


class TrainingDiverged(FloatingPointError):
    """A training run diverged: a loss, or a parameter after an update, became NaN or infinite (or an
    evaluation returned NaN).

    Raised by :func:`train` (so by every trainer of seqlib) at the first such step.  The message names the
    step and the likely cause.

    Attributes:
        step: the step (counted from 1) at which it happened.
        loss: that step's loss (NaN or ±inf when the loss itself was not finite).
        result: the :class:`TrainResult` of the run up to that step, ``stopped_by="diverged"``: every
            record made so far and the loss of every step taken (the non-finite loss is not among them).
    """

    def __init__(self, message: str, step: int, loss: float, result: TrainResult) -> None:
        super().__init__(message)
        self.step, self.loss, self.result = step, loss, result


def safe_exp(x: float) -> float:
    """exp(x) as a float, ``inf`` where it overflows (x > 709.78, e.g. a perplexity from a huge loss) and NaN
    for NaN; ``math.exp`` would raise ``OverflowError: math range error`` instead."""
    if math.isnan(x):
        return float("nan")
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _metric(metrics: Mapping[str, float], name: str) -> float:
    if name not in metrics:
        raise KeyError(f"no metric {name!r} in this record; it has {sorted(metrics)} (what `evaluate` returned)")
    return metrics[name]


def cosine_lr(lr: float, fraction: float, final_lr_fraction: float = 0.05) -> float:
    """Cosine decay: ``lr`` at fraction 0 down to ``lr * final_lr_fraction`` at fraction 1."""
    return lr * (final_lr_fraction + (1 - final_lr_fraction) * 0.5 * (1 + math.cos(math.pi * fraction)))


def clip_grad_norm_(parameters: Iterable[Tensor], max_norm: float) -> float:
    """Rescale the gradients in place so that their global norm is at most ``max_norm``.

        g ← g · min(1, max_norm / (‖g‖ + 1e-6)),    ‖g‖ = sqrt(Σ over all parameters of Σ g²)

    One factor for all of them, so the direction of the whole gradient is kept (clipping each entry
    instead would bend it).  This is ``torch.nn.utils.clip_grad_norm_``, which it calls: the course's one
    clipping helper, used by :func:`train` and by notebook 03's figures.

    Returns:
        ‖g‖ before clipping, as a float.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
    return float(nn.utils.clip_grad_norm_(parameters, max_norm))


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


def train(
    model: nn.Module,
    batches: Iterable[Any],
    loss_fn: Callable[[Any], Tensor],
    *,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    weight_decay: float = 0.0,
    clip: float | None = None,
    max_steps: int | None = None,
    max_epochs: int | None = None,
    time_budget_s: float | None = None,
    lr_schedule: Literal["constant", "cosine"] = "constant",
    final_lr_fraction: float = 0.05,
    evaluate: Callable[[], Mapping[str, float]] | None = None,
    eval_every: int | None = None,
    stop_when: Callable[[TrainRecord], bool] | None = None,
    on_epoch_start: Callable[[], None] | None = None,
    after_step: Callable[[], None] | None = None,
    progress: Callable[[TrainRecord], None] | None = None,
) -> TrainResult:
    """Train ``model`` for a budget of steps, epochs or seconds; evaluate and record along the way.

    Args:
        model: put in training mode, its parameters optimized (and clipped).
        batches: what ``loss_fn`` takes, one item per step; iterated once per epoch.
        loss_fn: ``batch -> scalar loss`` (it calls the model).
        lr: the learning rate (the peak, with ``lr_schedule="cosine"``).
        optimizer: default ``torch.optim.Adam(model.parameters(), lr, weight_decay=weight_decay)``.
        clip: rescale the gradient to this global norm when larger (:func:`clip_grad_norm_`); None: never.
        max_steps, max_epochs, time_budget_s: stop at the first one reached (at least one needed).
        lr_schedule: ``"constant"``, or ``"cosine"`` decay from ``lr`` to ``lr * final_lr_fraction``
            over the budget (in steps, epochs or training seconds, whichever ends first).
        evaluate: ``() -> {name: value}``, called at each record (e.g. validation perplexity);
            None: records hold the training loss only.
        eval_every: record every this many steps; None: at the end of each epoch.  The final
            step is always recorded.
        stop_when: called with each record; True ends the run (e.g. an accuracy reached).
        on_epoch_start: called before each pass over ``batches`` (e.g. to reset a carried state).
        after_step: called after each optimizer step (e.g. to detach a carried state).
        progress: called with each :class:`TrainRecord`; None: silent.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: a bad argument, before the first step (each message names the argument).
        TrainingDiverged: a loss, or a parameter after an update, became NaN or infinite, or ``evaluate``
            returned a NaN metric; its ``result`` holds the run so far.
    """
    _check_budget(max_steps, max_epochs, time_budget_s)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(batches, Iterable) or isinstance(batches, str | bytes):
        raise ValueError(f"batches must be an iterable of batches (a list, a generator, lm_batches(...)), "
                         f"got {type(batches).__name__}")
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be a function batch -> scalar loss, got {type(loss_fn).__name__}")
    check_options(lr=lr, clip=clip, weight_decay=weight_decay, final_lr_fraction=final_lr_fraction,
                  lr_schedule=lr_schedule, eval_every=eval_every)
    for name, hook in [("evaluate", evaluate), ("stop_when", stop_when), ("on_epoch_start", on_epoch_start),
                       ("after_step", after_step), ("progress", progress)]:
        _checks.callable_or_none(name, hook)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}")
    epoch_length = len(batches) if hasattr(batches, "__len__") else None  # type: ignore[arg-type]
    if epoch_length == 0:
        raise ValueError("batches is empty: there is nothing to train on")
    if optimizer is None:
        if not any(p.requires_grad for p in model.parameters()):
            raise ValueError("model has no trainable parameters (none with requires_grad=True): nothing to train")
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    trained = [p for group in optimizer.param_groups for p in group["params"]]
    history: list[TrainRecord] = []
    losses: list[float] = []
    step, epoch, seconds, since_record = 0, 0, 0.0, 0
    batch_index = -1
    stopped_by = ""

    def record() -> None:
        nonlocal since_record, stopped_by
        recent = losses[len(losses) - since_record :] if since_record else []
        train_loss = sum(recent) / len(recent) if recent else float("nan")
        metrics = dict(evaluate()) if evaluate is not None else {}
        undefined = [name for name, value in metrics.items() if isinstance(value, float) and math.isnan(value)]
        if undefined:  # e.g. a validation perplexity of a model whose outputs overflowed to NaN
            so_far = (history, losses, step, epoch, seconds)
            what = f"the evaluation after it gave {undefined[0]} = nan (the training loss of the step was"
            raise _diverged(step, losses[-1] if losses else math.nan, what, optimizer.param_groups[0]["lr"], clip,
                            so_far)
        last_loss = losses[-1] if losses else float("nan")
        lr_now = optimizer.param_groups[0]["lr"]
        history.append(TrainRecord(step, epoch, train_loss, last_loss, metrics, lr_now, seconds))
        since_record = 0
        if progress is not None:
            progress(history[-1])
        if stop_when is not None and not stopped_by and stop_when(history[-1]):
            stopped_by = "stop_when"

    model.train()
    while not stopped_by:
        if on_epoch_start is not None:
            on_epoch_start()
        batch_index = -1
        for batch_index, batch in enumerate(batches):
            start = time.perf_counter()
            if lr_schedule == "cosine":
                epochs = epoch + batch_index / epoch_length if epoch_length else float(epoch)
                used = _budget_used(step, epochs, seconds, max_steps, max_epochs, time_budget_s)
                for group in optimizer.param_groups:
                    group["lr"] = cosine_lr(lr, used, final_lr_fraction)
            loss = loss_fn(batch)
            value = _loss_value(loss)
            if not math.isfinite(value):
                so_far = (history, losses, step, epoch, seconds)
                raise _diverged(step + 1, value, "the loss is", optimizer.param_groups[0]["lr"], clip, so_far)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            if after_step is not None:
                after_step()
            seconds += time.perf_counter() - start
            step += 1
            losses.append(value)
            if not _all_finite(trained):
                so_far = (history, losses, step, epoch, seconds)
                what = "the update made a parameter NaN or infinite (the loss before it was"
                raise _diverged(step, value, what, optimizer.param_groups[0]["lr"], clip, so_far)
            since_record += 1
            if eval_every is not None and step % eval_every == 0:
                record()
            if max_steps is not None and step >= max_steps:
                stopped_by = stopped_by or "max_steps"
            elif time_budget_s is not None and seconds >= time_budget_s:
                stopped_by = stopped_by or "time_budget_s"
            if stopped_by:
                break
        else:
            epoch += 1
            if batch_index < 0:
                stopped_by = "batches"  # an empty pass: nothing more will come
            elif max_epochs is not None and epoch >= max_epochs:
                stopped_by = "max_epochs"
            if eval_every is None and not stopped_by:
                record()
            if epoch_length is None and not stopped_by:
                stopped_by = "batches"  # a one-shot iterator is spent
    if step == 0 and stopped_by == "batches":
        raise ValueError("batches gave no batch: there was nothing to train on (an exhausted iterator?)")
    if step and (not history or history[-1].step != step):
        record()
    if epoch_length:
        epochs_done = epoch + (0 if stopped_by in ("max_epochs", "batches") else (batch_index + 1) / epoch_length)
    else:
        epochs_done = float(epoch)
    return TrainResult(history, losses, step, epochs_done, seconds, stopped_by)


def _loss_value(loss: object) -> float:
    """The loss of one step as a float; ``ValueError`` unless ``loss_fn`` returned a one-element tensor
    that autograd can differentiate."""
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        got = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar tensor (e.g. a mean over the batch), got {got}")
    if not loss.requires_grad:
        raise ValueError("loss_fn returned a loss that does not depend on any trained parameter (requires_grad "
                         "is False): was it computed under torch.no_grad(), or from .detach()ed values?")
    return float(loss.item())


def _all_finite(parameters: list[Tensor]) -> bool:
    """True when no parameter holds NaN or ±inf."""
    with torch.no_grad():
        return all(bool(torch.isfinite(p).all()) for p in parameters if p.is_floating_point() or p.is_complex())


def _diverged(step: int, loss: float, what: str, lr: float, clip: float | None, so_far: tuple) -> TrainingDiverged:
    history, losses, steps, epoch, seconds = so_far
    result = TrainResult(list(history), list(losses), steps, float(epoch), seconds, "diverged")
    closing = ")" if what.endswith("was") else ""
    if losses and what.startswith("the loss"):
        closing = f" (the last finite loss, at step {step - 1}, was {losses[-1]:.4g})"
    if what.startswith("the evaluation"):
        closing = ")"
    advice = f"a learning rate too large for this model (lr={lr:g}: try one 10 times smaller)"
    advice += ", with no gradient clipping (try clip=1.0)" if clip is None else ""
    message = (
        f"training diverged at step {step}: {what} {loss:.4g}{closing}. Likely cause: {advice}, or inputs holding "
        f"NaN or inf. The run so far ({_count(steps, 'step')}, {_count(len(history), 'record')}) is in this "
        f"error's .result"
    )
    if what.startswith(("the update", "the evaluation")):
        message += "; the model's parameters may now hold NaN or inf: re-create the model before training again"
    return TrainingDiverged(message, step, loss, result)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def check_options(
    *, lr: object = 1e-3, clip: object = None, weight_decay: object = 0.0, final_lr_fraction: object = 0.05,
    lr_schedule: object = "constant", eval_every: object = None,
) -> None:
    """The optimisation options of :func:`train` (and of the trainers built on it), checked before any step.

    ``lr`` a finite number > 0; ``clip`` None or a finite number > 0 (a negative threshold would turn
    clipping into gradient ascent); ``weight_decay`` finite >= 0; ``final_lr_fraction`` in [0, 1];
    ``lr_schedule`` ``"constant"`` or ``"cosine"``; ``eval_every`` None or a positive int.
    """
    _checks.real_number("lr", lr, minimum=0.0, exclusive=True)
    _checks.optional_positive_number("clip", clip, "no clipping")
    _checks.real_number("weight_decay", weight_decay, minimum=0.0)
    _checks.real_number("final_lr_fraction", final_lr_fraction, minimum=0.0, maximum=1.0)
    if lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
    if eval_every is not None and (not isinstance(eval_every, int) or isinstance(eval_every, bool) or eval_every < 1):
        raise ValueError(f"eval_every must be a positive int or None, got {eval_every!r}")


def _check_budget(max_steps: int | None, max_epochs: int | None, time_budget_s: float | None) -> None:
    if max_steps is None and max_epochs is None and time_budget_s is None:
        raise ValueError("give at least one budget: max_steps, max_epochs or time_budget_s")
    for name, value in [("max_steps", max_steps), ("max_epochs", max_epochs)]:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    if time_budget_s is not None:
        try:
            _checks.real_number("time_budget_s", time_budget_s, minimum=0.0, exclusive=True, allow_inf=True)
        except ValueError:
            raise ValueError(f"time_budget_s must be > 0 or None, got {time_budget_s!r}") from None
