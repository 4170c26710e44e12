"""seqlib.train: the one training loop (budgets, records, evaluation, stopping, hooks, clipping)."""

from __future__ import annotations

import itertools
import math
import re

import pytest
import torch
from torch import nn

from seqlib.train import TrainingDiverged, TrainRecord, clip_grad_norm_, cosine_lr, safe_exp, train


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


# --- bad input (issue 15): every option is checked before the first step; a diverging run stops at once ---

BAD_OPTIONS = [
    ({"clip": -1.0}, "clip must be > 0, got -1.0 (clip=None: no clipping)"),  # would be gradient ascent
    ({"clip": 0}, "clip must be > 0, got 0"),
    ({"clip": float("nan")}, "clip must be a finite number, got nan"),
    ({"clip": "1"}, "clip must be a real number, got str ('1')"),
    ({"lr": float("inf")}, "lr must be a finite number, got inf"),
    ({"lr": float("nan")}, "lr must be a finite number, got nan"),
    ({"lr": -0.1}, "lr must be > 0, got -0.1"),
    ({"lr": 0.0}, "lr must be > 0, got 0.0"),
    ({"lr": "0.01"}, "lr must be a real number, got str ('0.01')"),
    ({"lr": True}, "lr must be a real number, got bool (True)"),
    ({"weight_decay": -1.0}, "weight_decay must be >= 0, got -1.0"),
    ({"final_lr_fraction": 1.5}, "final_lr_fraction must be <= 1, got 1.5"),
    ({"final_lr_fraction": -0.1}, "final_lr_fraction must be >= 0, got -0.1"),
    ({"lr_schedule": "cosin"}, "lr_schedule must be 'constant' or 'cosine', got 'cosin'"),
    ({"eval_every": 0}, "eval_every must be a positive int or None, got 0"),
    ({"eval_every": 2.5}, "eval_every must be a positive int or None, got 2.5"),
    ({"evaluate": {"val": 1.0}}, "evaluate must be a function or None, got dict"),
    ({"progress": "print"}, "progress must be a function or None, got str"),
    ({"stop_when": 0.9}, "stop_when must be a function or None, got float"),
    ({"after_step": 1}, "after_step must be a function or None, got int"),
    ({"optimizer": "adam"}, "optimizer must be a torch.optim.Optimizer or None, got str"),
    ({"time_budget_s": float("nan")}, "time_budget_s must be > 0 or None, got nan"),
]


@pytest.mark.parametrize("kwargs,message", BAD_OPTIONS, ids=[str(k) for k, _ in BAD_OPTIONS])
def test_a_bad_option_is_refused_before_the_first_step(kwargs, message) -> None:
    model, loss_fn = _regression()
    before = [p.detach().clone() for p in model.parameters()]
    calls = []

    def counted(batch):
        calls.append(batch)
        return loss_fn(batch)

    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        train(model, itertools.repeat(None), counted, max_steps=5, **kwargs)
    assert not calls  # no batch was read, no step taken
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_bad_model_batches_and_loss_fn_are_named() -> None:
    model, loss_fn = _regression()
    cases = [
        (lambda: train("a model", [None], loss_fn, max_steps=1), "model must be a torch.nn.Module, got str"),
        (lambda: train(model, 5, loss_fn, max_steps=1), "batches must be an iterable of batches"),
        (lambda: train(model, [], loss_fn, max_steps=1), "batches is empty: there is nothing to train on"),
        (lambda: train(model, iter([]), loss_fn, max_steps=1), "batches gave no batch"),
        (lambda: train(model, [None], "mse", max_steps=1), "loss_fn must be a function batch -> scalar loss"),
        (lambda: train(model, [None], lambda _: torch.ones(3, requires_grad=True), max_steps=1),
         "loss_fn must return a scalar tensor (e.g. a mean over the batch), got a tensor of shape (3,)"),
        (lambda: train(model, [None], lambda _: 0.5, max_steps=1), "loss_fn must return a scalar tensor"),
        (lambda: train(model, [None], lambda b: loss_fn(b).detach(), max_steps=1),
         "does not depend on any trained parameter"),
        (lambda: train(nn.ReLU(), [None], loss_fn, max_steps=1), "model has no trainable parameters"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            call()


def test_a_non_finite_loss_stops_the_run_at_that_step_and_keeps_the_run_so_far() -> None:
    torch.manual_seed(0)
    model, loss_fn = _regression()
    steps = []

    def poisoned(batch):  # step 4 sees a NaN (e.g. a NaN in the data)
        steps.append(1)
        loss = loss_fn(batch)
        return loss * float("nan") if len(steps) == 4 else loss

    before_step_4 = []
    with pytest.raises(TrainingDiverged) as info:
        train(model, itertools.repeat(None), poisoned, lr=0.05, max_steps=10, eval_every=2,
              after_step=lambda: before_step_4.append([p.detach().clone() for p in model.parameters()]))
    error = info.value
    assert isinstance(error, FloatingPointError) and error.step == 4 and math.isnan(error.loss)
    assert str(error).startswith("training diverged at step 4: the loss is nan (the last finite loss, at step 3, was ")
    assert "lr=0.05" in str(error) and "try clip=1.0" in str(error) and "error's .result" in str(error)
    result = error.result
    assert result.stopped_by == "diverged" and result.steps == 3 and len(result.losses) == 3
    assert all(math.isfinite(loss) for loss in result.losses) and [r.step for r in result.history] == [2]
    # stopped before the backward pass: the parameters are those after step 3
    assert all(torch.equal(a, b) for a, b in zip(before_step_4[-1], model.parameters(), strict=True))


def test_an_update_that_makes_a_parameter_infinite_stops_the_run() -> None:
    model, loss_fn = _regression()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e33)  # gradients ~1e6: one step overflows float32
    with pytest.raises(TrainingDiverged) as info:
        train(model, itertools.repeat(None), lambda b: loss_fn(b) * 1e6, optimizer=optimizer, max_steps=5)
    error = info.value
    assert error.step == 1 and math.isfinite(error.loss)
    assert "training diverged at step 1: the update made a parameter NaN or infinite (the loss before it was" in str(
        error)
    assert "lr=1e+33" in str(error) and "re-create the model" in str(error) and "try clip=1.0" in str(error)
    assert error.result.steps == 1 and error.result.losses == [error.loss] and error.result.history == []


def test_a_loss_beyond_709_gives_an_infinite_perplexity_not_an_overflow_error() -> None:
    record = TrainRecord(1, 0, 800.0, 800.0, {}, 0.1, 0.0)
    assert record.train_perplexity == math.inf
    assert safe_exp(800.0) == math.inf and math.isnan(safe_exp(float("nan"))) and safe_exp(0.0) == 1.0


def test_a_nan_metric_from_evaluate_stops_the_run_and_keeps_the_earlier_records() -> None:
    model, loss_fn = _regression()
    values = iter([1.5, float("nan")])
    with pytest.raises(TrainingDiverged) as info:
        train(model, itertools.repeat(None), loss_fn, max_steps=10, eval_every=2,
              evaluate=lambda: {"val": next(values)})
    error = info.value
    assert error.step == 4 and "the evaluation after it gave val = nan" in str(error)
    assert [r.metrics["val"] for r in error.result.history] == [1.5] and error.result.steps == 4
