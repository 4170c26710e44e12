"""Notebook 01's exercises: each checker accepts its reference, says "not done yet" for the stub, and
names every mistake it claims to recognise (also when the mistake is written another way)."""

from __future__ import annotations

import pytest
import torch

from seqlib import exercises
from seqlib.exercises import _diagnose, nb01

ALL = [nb01.LAG_FEATURES, nb01.BIGRAM_PERPLEXITY, nb01.MULTI_STEP, nb01.LATENT_STEP]


def _stub(*args):
    raise NotImplementedError  # your code here


@pytest.mark.parametrize("exercise", ALL, ids=lambda e: e.name)
def test_reference_is_correct_and_stub_is_not_done(exercise) -> None:
    assert _diagnose(exercise, exercise.reference).passed
    feedback = _diagnose(exercise, _stub)
    assert feedback.status == "todo" and "not done yet" in feedback.message and exercise.hint in feedback.message


@pytest.mark.parametrize(
    "exercise, mistake",
    [(e, m) for e in ALL for m in e.mistakes],
    ids=[f"{e.name}:{i}" for e in ALL for i in range(len(e.mistakes))],
)
def test_every_claimed_mistake_is_named(exercise, mistake) -> None:
    feedback = _diagnose(exercise, mistake.wrong)
    assert feedback.status == "wrong" and mistake.message in feedback.message


def test_exercises_are_registered_and_solutions_can_be_revealed(capsys) -> None:
    exercises._load_all()
    for name in ("01.lag_features", "01.bigram_perplexity", "01.multi_step", "01.latent_step"):
        assert name in exercises.EXERCISES
    source = exercises.solution("01.lag_features")
    assert source.startswith("def lag_features") and "labels = series[tau:]" in capsys.readouterr().out


# --- mistakes written the way a learner might write them ------------------------------------------


def test_lag_features_loop_with_label_inside_the_window() -> None:
    def learner(series, tau):
        rows, labels = [], []
        for j in range(len(series) - tau):
            rows.append(series[j + 1 : j + tau + 1])  # off by one: ends at the label
            labels.append(series[j + tau])
        return torch.stack(rows), torch.stack(labels)

    assert "includes x_t itself" in _diagnose(nb01.LAG_FEATURES, learner).message


def test_lag_features_unfold_is_accepted_and_transposed_is_named() -> None:
    def learner(series, tau):
        return series.unfold(0, tau, 1)[:-1], series[tau:]

    assert _diagnose(nb01.LAG_FEATURES, learner).passed

    def transposed(series, tau):
        return series.unfold(0, tau, 1)[:-1].T, series[tau:]

    assert "(tau, N) where (N, tau)" in _diagnose(nb01.LAG_FEATURES, transposed).message


def test_bigram_perplexity_in_bits_by_another_route_is_named() -> None:
    def learner(train, val, vocab_size, k):
        import math

        counts = [[0.0] * vocab_size for _ in range(vocab_size)]
        for a, b in zip(train.tolist(), train.tolist()[1:], strict=False):
            counts[a][b] += 1
        total = 0.0
        for a, b in zip(val.tolist(), val.tolist()[1:], strict=False):
            total -= math.log2((counts[a][b] + k) / (sum(counts[a]) + k * vocab_size))
        return total / (len(val) - 1)

    assert "in bits" in _diagnose(nb01.BIGRAM_PERPLEXITY, learner).message


def test_multi_step_teacher_forcing_written_as_a_loop_is_named() -> None:
    def learner(predict, series, start, tau, steps):
        out = []
        for i in range(steps):
            out.append(predict(series[start + i - tau : start + i]))  # reads the true values
        return torch.stack(out)

    assert "teacher forcing" in _diagnose(nb01.MULTI_STEP, learner).message


def test_latent_step_markov_state_is_named() -> None:
    def learner(x_t, h, W_xh, W_hh, b):
        return torch.tanh(torch.einsum("bi,hi->bh", x_t, W_xh) + b)

    assert "forgets the past" in _diagnose(nb01.LATENT_STEP, learner).message
