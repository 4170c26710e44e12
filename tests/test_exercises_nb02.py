"""Notebook 02's exercises: each checker accepts its reference and names every mistake it claims to know."""

from __future__ import annotations

import pytest

import seqlib.exercises.nb02  # noqa: F401  (registers the exercises)
from seqlib import exercises
from seqlib.exercises import EXERCISES

NAMES = sorted(name for name in EXERCISES if name.startswith("02."))
MISTAKES = [(name, k) for name in NAMES for k in range(len(EXERCISES[name].mistakes))]


def test_notebook_02_has_at_least_three_exercises() -> None:
    assert NAMES == ["02.perplexity", "02.rnn_step", "02.softmax_temperature"]


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(name: str) -> None:
    exercise = EXERCISES[name]
    feedback = exercises._diagnose(exercise, exercise.reference)
    assert feedback.passed, feedback.message


@pytest.mark.parametrize("name", NAMES)
def test_stub_is_not_done_and_hints(name: str) -> None:
    def stub(*args):
        raise NotImplementedError

    feedback = exercises._diagnose(EXERCISES[name], stub)
    assert feedback.status == "todo" and "not done yet" in feedback.message and "Hint:" in feedback.message


@pytest.mark.parametrize(("name", "index"), MISTAKES)
def test_each_mistake_is_named(name: str, index: int) -> None:
    exercise = EXERCISES[name]
    mistake = exercise.mistakes[index]
    feedback = exercises._diagnose(exercise, mistake.wrong)
    assert feedback.status == "wrong"
    assert mistake.message in feedback.message, feedback.message


@pytest.mark.parametrize("name", NAMES)
def test_solution_prints_the_reference(name: str, capsys) -> None:
    source = exercises.solution(name)
    assert "def " in source and "return" in source and source in capsys.readouterr().out


def test_rnn_step_transposed_weights_on_non_square_input_reports_the_error() -> None:
    import torch

    # every case must run the reference; a learner's shape error is reported with the hint
    feedback = exercises._diagnose(
        EXERCISES["02.rnn_step"],
        lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih[:, :1] + b_ih + h @ W_hh.T + b_hh),
    )
    assert feedback.status == "wrong" and "Hint:" in feedback.message
