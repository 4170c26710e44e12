"""The exercise checker itself: not-done, correct, named mistakes, generic differences, solutions."""

from __future__ import annotations

import pytest
import torch

from seqlib.course import checker
from seqlib.course.checker import Exercise, Mistake, compare


def _reference(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x)


TOY = Exercise(
    name="toy.gate",
    title="a sigmoid gate",
    hint="a gate squashes into (0, 1)",
    reference=_reference,
    cases=lambda: [(torch.linspace(-2, 2, 5),), (torch.zeros(2, 3),)],
    mistakes=[Mistake("you applied tanh where the gate needs a sigmoid", torch.tanh)],
)


def test_stub_is_not_done_and_shows_the_hint() -> None:
    def stub(x):
        raise NotImplementedError

    feedback = checker._diagnose(TOY, stub)
    assert feedback.status == "todo" and "not done yet" in feedback.message and "squashes" in feedback.message


def test_reference_is_correct() -> None:
    feedback = checker._diagnose(TOY, _reference)
    assert feedback.passed and "correct (2 cases checked)" in feedback.message


def test_known_mistake_is_named() -> None:
    feedback = checker._diagnose(TOY, torch.tanh)
    assert feedback.status == "wrong" and "tanh where the gate needs a sigmoid" in feedback.message


def test_unknown_mistake_reports_the_difference() -> None:
    feedback = checker._diagnose(TOY, lambda x: torch.sigmoid(x) + 1)
    assert feedback.status == "wrong" and "values differ at index" in feedback.message


def test_learner_exception_is_reported_with_hint() -> None:
    feedback = checker._diagnose(TOY, lambda x: x.nonexistent())
    assert feedback.status == "wrong" and "AttributeError" in feedback.message and "Hint" in feedback.message


def test_compare_describes_shapes_nan_and_tuples() -> None:
    assert compare(torch.zeros(3, 2), torch.zeros(2, 3)).endswith("rows and columns are swapped")
    assert compare(torch.zeros(4), torch.zeros(3)) == "shape (4,) where (3,) was expected"
    assert compare(torch.tensor([float("nan")]), torch.zeros(1)) == "the result contains NaN"
    assert compare((torch.zeros(1), torch.ones(1)), (torch.zeros(1), torch.zeros(1))).startswith("value 1:")
    assert compare(torch.zeros(2), (torch.zeros(2),)).startswith("expected a tuple")
    assert compare("a", "a") is None and compare(torch.ones(2), torch.ones(2)) is None


def test_unknown_exercise_name_lists_known_ones() -> None:
    with pytest.raises(KeyError, match="no exercise named 'nope'"):
        checker.check("nope", _reference)


# --- every registered exercise of every notebook ------------------------------------------------

checker._load_all()
ALL_NAMES = sorted(checker.EXERCISES)
ALL_MISTAKES = [(name, k) for name in ALL_NAMES for k in range(len(checker.EXERCISES[name].mistakes))]


def test_every_notebook_with_exercises_has_at_least_three() -> None:
    per_notebook: dict[str, int] = {}
    for name in ALL_NAMES:
        per_notebook[name.split(".")[0]] = per_notebook.get(name.split(".")[0], 0) + 1
    assert per_notebook and all(count >= 3 for count in per_notebook.values()), per_notebook


@pytest.mark.parametrize("name", ALL_NAMES)
def test_registered_reference_passes_and_stub_is_not_done(name: str) -> None:
    exercise = checker.EXERCISES[name]
    assert checker._diagnose(exercise, exercise.reference).passed

    def stub(*args):
        raise NotImplementedError

    feedback = checker._diagnose(exercise, stub)
    assert feedback.status == "todo" and "not done yet" in feedback.message and exercise.hint in feedback.message


@pytest.mark.parametrize(("name", "index"), ALL_MISTAKES)
def test_registered_mistake_is_named(name: str, index: int) -> None:
    exercise = checker.EXERCISES[name]
    mistake = exercise.mistakes[index]
    feedback = checker._diagnose(exercise, mistake.wrong)
    assert feedback.status == "wrong" and mistake.message in feedback.message, feedback.message


@pytest.mark.parametrize("name", ALL_NAMES)
def test_registered_solution_prints_the_reference(name: str, capsys) -> None:
    source = checker.solution(name)
    assert "def " in source and "return" in source and source in capsys.readouterr().out
