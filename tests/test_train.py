"""seqlib.train: the one training loop (budgets, records, evaluation, stopping, hooks, clipping)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from seqlib.train import TrainRecord, clip_grad_norm_, cosine_lr, train


def _regression(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 3, generator=generator)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    model = nn.Linear(3, 1)
    return model, lambda _: ((model(x).squeeze(-1) - y) ** 2).mean()


def test_full_batch_regression_learns_and_records_every_eval_every_steps() -> None:
    torch.manual_seed(0)
    model, loss_fn = _regression()
    result = train(model, itertools.repeat(None), loss_fn, lr=0.05, max_steps=200, eval_every=50)
    assert result.steps == 200 and result.stopped_by == "max_steps" and len(result.losses) == 200
    assert [r.step for r in result.history] == [50, 100, 150, 200]
    assert result.losses[-1] < 1e-3 < result.losses[0]
    # train_loss is the mean of the steps since the previous record, last_loss the last step's
    assert result.history[1].train_loss == sum(result.losses[50:100]) / 50
    assert result.history[1].last_loss == result.losses[99]


def test_same_seed_same_losses_and_the_loop_draws_no_random_numbers() -> None:
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model, loss_fn = _regression()
        state = torch.random.get_rng_state()
        runs.append(train(model, itertools.repeat(None), loss_fn, max_steps=20).losses)
        assert torch.equal(state, torch.random.get_rng_state())
    assert runs[0] == runs[1]


def test_epochs_of_a_list_evaluate_at_each_epoch_end_and_the_hooks_run() -> None:
    model, loss_fn = _regression()
    events: list[str] = []
    result = train(
        model, [None, None, None], loss_fn, max_epochs=2,
        evaluate=lambda: {"val": 1.0}, on_epoch_start=lambda: events.append("epoch"),
        after_step=lambda: events.append("step"),
    )
    assert result.stopped_by == "max_epochs" and result.epochs == 2 and result.steps == 6
    assert [(r.step, r.epoch, dict(r.metrics)) for r in result.history] == [(3, 1, {"val": 1.0}), (6, 2, {"val": 1.0})]
    assert events == ["epoch", "step", "step", "step", "epoch", "step", "step", "step"]


def test_stop_when_ends_the_run_at_a_record() -> None:
    model, loss_fn = _regression()
    result = train(model, itertools.repeat(None), loss_fn, lr=0.05, max_steps=500, eval_every=10,
                   evaluate=lambda: {"loss": loss_fn(None).item()}, stop_when=lambda r: r.metrics["loss"] < 0.5)
    assert result.stopped_by == "stop_when" and result.steps < 500 and result.history[-1].metrics["loss"] < 0.5
    assert result.steps == result.history[-1].step


def test_a_finite_iterator_ends_the_run_when_spent() -> None:
    model, loss_fn = _regression()
    result = train(model, iter([None] * 7), loss_fn, max_steps=100, eval_every=5)
    assert result.steps == 7 and result.stopped_by == "batches" and [r.step for r in result.history] == [5, 7]


def test_time_budget_and_progress() -> None:
    model, loss_fn = _regression()
    seen: list[TrainRecord] = []
    result = train(model, itertools.repeat(None), loss_fn, time_budget_s=0.2, eval_every=25, progress=seen.append)
    assert result.stopped_by == "time_budget_s" and result.seconds >= 0.2 and seen == result.history


def test_cosine_schedule_and_clipping_are_options() -> None:
    model, loss_fn = _regression()
    result = train(model, itertools.repeat(None), loss_fn, lr=0.1, max_steps=40, eval_every=10,
                   lr_schedule="cosine", final_lr_fraction=0.1, clip=0.01)
    lrs = [r.lr for r in result.history]
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    assert lrs[-1] == pytest.approx(cosine_lr(0.1, 39 / 40, 0.1))
    assert cosine_lr(1.0, 0.0) == 1.0 and cosine_lr(1.0, 1.0) == pytest.approx(0.05)


def test_records_name_their_metrics() -> None:
    record = TrainRecord(10, 0, math.log(4.0), math.log(4.0), {"val_perplexity": 3.0}, 0.01, 1.0)
    assert record.train_perplexity == pytest.approx(4.0) and record.val_perplexity == 3.0
    with pytest.raises(KeyError, match="val_perplexity"):
        _ = TrainRecord(10, 0, 1.0, 1.0, {"val_accuracy": 0.5}, 0.01, 1.0).val_perplexity


@pytest.mark.parametrize(
    "kwargs,fragment",
    [({}, "at least one budget"), ({"max_steps": 0}, "max_steps"), ({"max_epochs": 1.5}, "max_epochs"),
     ({"time_budget_s": -1}, "time_budget_s"), ({"max_steps": 5, "eval_every": 0}, "eval_every"),
     ({"max_steps": 5, "lr_schedule": "linear"}, "lr_schedule")],
)
def test_bad_budgets_and_options_are_refused(kwargs, fragment) -> None:
    model, loss_fn = _regression()
    with pytest.raises(ValueError, match=fragment):
        train(model, itertools.repeat(None), loss_fn, **kwargs)


def test_clip_grad_norm_rescales_all_gradients_by_one_factor() -> None:
    torch.manual_seed(4)
    params = [torch.zeros(3, 4, requires_grad=True), torch.zeros(5, requires_grad=True)]
    grads = [torch.randn(3, 4) * 10, torch.randn(5) * 10]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()
    norm = clip_grad_norm_(params, 1.0)
    assert norm == pytest.approx(float(torch.sqrt(sum((g**2).sum() for g in grads))), rel=1e-6)
    scale = 1.0 / (norm + 1e-6)
    for p, g in zip(params, grads, strict=True):
        torch.testing.assert_close(p.grad, g * scale)
    small = torch.zeros(2, requires_grad=True)
    small.grad = torch.full((2,), 0.1)
    clip_grad_norm_([small], 1.0)
    assert torch.equal(small.grad, torch.full((2,), 0.1))  # below the threshold: untouched
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_([small], 0.0)
