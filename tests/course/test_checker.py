"""The exercise checker itself: not-done, correct, named mistakes, generic differences, solutions."""

from __future__ import annotations

import dataclasses
import re
import signal
import threading
import time
import warnings

import numpy as np
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


def test_every_hint_names_the_idea_not_the_code() -> None:
    # code, not prose: a module's function (torch.…, F.…, np.…), a method call, a slice, an operator
    code = re.compile(r"\b(?:torch|np|numpy|math|F)\.\w|\.\w+\(|\.T\b|@|\[[^\]]*:[^\]]*\]|`|\*\*|==")
    for name in ALL_NAMES:
        found = code.findall(checker.EXERCISES[name].hint)
        assert not found, f"{name}: the hint shows code {found}"


# --- type, dtype, complex ---------------------------------------------------------------------------

F64 = torch.float64


def _scale(x: torch.Tensor, s: float) -> torch.Tensor:
    return x * s


SCALE = Exercise(
    name="toy.scale",
    title="scale a tensor",
    hint="multiply",
    reference=_scale,
    cases=lambda: [(torch.tensor([1.0, -2.0, 3.0], dtype=F64), 2.0), (torch.ones(2, 2, dtype=F64), 0.5)],
)


def _mean_square(x: torch.Tensor) -> float:
    return (x**2).mean().item()


MEAN_SQUARE = Exercise(
    name="toy.mean_square",
    title="a mean square, as a Python float",
    hint="average the squares",
    reference=_mean_square,
    cases=lambda: [(torch.tensor([1.0, 2.0, 2.0], dtype=F64),), (torch.tensor([0.5], dtype=F64),)],
)


def test_a_tensor_answer_must_be_a_tensor() -> None:
    array = checker._diagnose(SCALE, lambda x, s: x.numpy() * s)
    assert array.status == "wrong" and "expected a torch.Tensor, got numpy.ndarray" in array.message
    listed = checker._diagnose(SCALE, lambda x, s: (x * s).tolist())
    assert listed.status == "wrong" and "expected a torch.Tensor, got list" in listed.message
    assert "return statement" in checker._diagnose(SCALE, lambda x, s: None).message


def test_a_float_answer_must_be_a_python_float() -> None:
    tensor = checker._diagnose(MEAN_SQUARE, lambda x: (x**2).mean())
    assert tensor.status == "wrong" and "expected a Python float, got a torch.Tensor" in tensor.message
    assert ".item()" in tensor.message
    array = checker._diagnose(MEAN_SQUARE, lambda x: np.float32((x**2).mean().item()))
    assert array.status == "wrong" and "expected a Python float, got numpy.float32" in array.message
    complex_ = checker._diagnose(MEAN_SQUARE, lambda x: complex((x**2).mean().item()))
    assert complex_.status == "wrong" and "complex" in complex_.message
    assert checker._diagnose(MEAN_SQUARE, lambda x: float(np.mean(x.numpy() ** 2))).passed  # numpy inside is fine


def test_complex_results_are_rejected_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ComplexWarning (numpy) or a UserWarning (torch's cast) would fail here
        feedback = checker._diagnose(SCALE, lambda x, s: x * complex(s, 0.0))
        assert feedback.status == "wrong" and "the result is complex (torch.complex128)" in feedback.message
        assert "complex" in compare(torch.ones(2, dtype=torch.complex64), torch.ones(2))
        assert compare(torch.ones(2, dtype=torch.complex128), torch.ones(2, dtype=torch.complex128)) is None


def test_an_int_dtype_where_float_is_expected_names_the_dtype() -> None:
    feedback = checker._diagnose(SCALE, lambda x, s: (x * s).round().long())
    assert feedback.status == "wrong" and "dtype torch.int64 where torch.float64 was expected" in feedback.message
    assert compare(torch.ones(2, dtype=torch.float32), torch.ones(2, dtype=F64)).startswith("dtype torch.float32")


# --- inputs changed in place --------------------------------------------------------------------------


def test_an_input_changed_in_place_is_reported_even_when_the_values_are_right() -> None:
    def in_place(x, s):
        x *= s
        return x

    feedback = checker._diagnose(SCALE, in_place)
    assert feedback.status == "wrong" and "modified its input `x` in place" in feedback.message
    assert "The values are right" in feedback.message


def _normalise_all(tensors: tuple, extra: dict) -> tuple:
    total = torch.sqrt(sum((t**2).sum() for t in tensors) + sum((t**2).sum() for t in extra["more"]))
    return tuple(t / total for t in tensors)  # divides by zero if the inputs were zeroed


NESTED = Exercise(
    name="toy.nested",
    title="normalise tensors held in nested containers",
    hint="one norm for everything",
    reference=_normalise_all,
    cases=lambda: [
        (
            (torch.tensor([3.0, 0.0], dtype=F64), torch.tensor([[4.0]], dtype=F64)),
            {"more": [torch.zeros(1, dtype=F64)]},
        ),
        ((torch.tensor([1.0], dtype=F64),), {"more": [torch.tensor([1.0, 1.0, 1.0], dtype=F64)]}),
    ],
)


def test_nested_inputs_changed_in_place_are_found() -> None:
    def touches_the_dict(tensors, extra):
        result = _normalise_all(tensors, extra)
        extra["more"][0].add_(1.0)  # deep inside: a tensor in a list in a dict
        return result

    feedback = checker._diagnose(NESTED, touches_the_dict)
    assert feedback.status == "wrong" and "modified its input `extra['more'][0]` in place" in feedback.message

    def appends(tensors, extra):
        result = _normalise_all(tensors, extra)
        extra["more"].append(torch.ones(1))
        return result

    assert "`extra['more']` in place" in checker._diagnose(NESTED, appends).message

    def scales_the_tuple(tensors, extra):
        for t in tensors:
            t.mul_(0.5)
        return tuple(t * 2 for t in _normalise_all(tensors, extra))

    assert "`tensors[0]` in place" in checker._diagnose(NESTED, scales_the_tuple).message
    assert checker._diagnose(NESTED, _normalise_all).passed


def test_zeroing_an_input_in_place_does_not_crash_the_checker() -> None:
    def zeroes(tensors, extra):
        for t in tensors:
            t.zero_()
        return tensors  # the reference would divide by zero if it were handed these zeroed tensors

    feedback = checker._diagnose(NESTED, zeroes)
    assert feedback.status == "wrong" and "modified its input `tensors[0]` in place" in feedback.message
    # and every later case still starts from its own fresh inputs
    assert checker._diagnose(NESTED, _normalise_all).passed


# --- a runaway answer -----------------------------------------------------------------------------------

FAST = dataclasses.replace(TOY, time_limit=1.0)


def _runaway(x):
    while True:  # a loop that never ends, and that swallows ordinary exceptions
        try:
            time.sleep(0.01)
        except Exception:
            pass


def test_a_runaway_answer_is_stopped_with_a_message() -> None:
    handler, timer = signal.getsignal(signal.SIGALRM), signal.getitimer(signal.ITIMER_REAL)
    start = time.perf_counter()
    feedback = checker._diagnose(FAST, _runaway)
    elapsed = time.perf_counter() - start
    assert feedback.status == "wrong" and "stopped" in feedback.message
    assert "still running after 1 s" in feedback.message and "a loop that never ends" in feedback.message
    assert 0.9 < elapsed < 3
    assert signal.getsignal(signal.SIGALRM) is handler and signal.getitimer(signal.ITIMER_REAL) == timer


def test_a_runaway_answer_is_stopped_outside_the_main_thread_too() -> None:
    results = []

    def busy(x):
        n = 0
        while True:
            n += 1

    exercise = dataclasses.replace(TOY, time_limit=0.5)
    thread = threading.Thread(target=lambda: results.append(checker._diagnose(exercise, busy)))
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive() and results[0].status == "wrong" and "still running after 0.5 s" in results[0].message


def test_a_runaway_answer_that_swallows_the_stop_and_returns_late_is_still_stopped() -> None:
    def swallows(x):
        try:
            while True:
                time.sleep(0.01)
        except BaseException:  # a bare except: it catches the checker's stop too...
            return torch.sigmoid(x)  # ...and then returns the right answer, late

    exercise, results = dataclasses.replace(TOY, time_limit=0.3), []
    results.append(checker._diagnose(exercise, swallows))  # the alarm (main thread)
    thread = threading.Thread(target=lambda: results.append(checker._diagnose(exercise, swallows)))
    thread.start()  # the watchdog (another thread)
    thread.join(timeout=5)
    assert len(results) == 2
    assert all(r.status == "wrong" and "still running after 0.3 s" in r.message for r in results)


def test_a_quick_answer_leaves_no_alarm_behind() -> None:
    assert checker._diagnose(dataclasses.replace(TOY, time_limit=0.3), _reference).passed
    time.sleep(0.5)  # an alarm left armed would fire here
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


# --- which mistake is named ---------------------------------------------------------------------------


def test_a_mistake_is_named_only_when_it_matches_every_case() -> None:
    # this answer agrees with the tanh mistake on the first case only: naming it would mislead
    def tanh_then_something_else(x):
        return torch.tanh(x) if x.ndim == 1 else torch.sigmoid(x) + 1

    feedback = checker._diagnose(TOY, tanh_then_something_else)
    assert feedback.status == "wrong" and "tanh where the gate needs a sigmoid" not in feedback.message


def _matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a @ b


MATMUL = Exercise(
    name="toy.matmul",
    title="a matrix product",
    hint="rows times columns",
    reference=_matmul,
    cases=lambda: [(torch.ones(2, 2), torch.eye(2) * 3), (torch.ones(2, 3), torch.ones(3, 4))],
    mistakes=[Mistake("you multiplied entry by entry", lambda a, b: a * b)],
)


def test_an_error_raised_alike_by_a_mistake_names_it() -> None:
    feedback = checker._diagnose(MATMUL, lambda a, b: a * b)  # square: wrong values; not square: an error
    assert feedback.status == "wrong" and "your code raised RuntimeError" not in feedback.message
    assert "you multiplied entry by entry" in feedback.message
    only_non_square = dataclasses.replace(MATMUL, cases=lambda: MATMUL.cases()[1:])
    feedback = checker._diagnose(only_non_square, lambda a, b: a.mul(b))
    assert feedback.status == "wrong" and "your code raised RuntimeError" in feedback.message
    assert "Likely mistake: you multiplied entry by entry" in feedback.message and "Hint:" in feedback.message
    other_error = checker._diagnose(only_non_square, lambda a, b: a @ b.T)
    assert "RuntimeError" in other_error.message and "Likely mistake" not in other_error.message


# --- bad input (issue 15): whatever is handed to check, the kernel keeps running ------------------------


@pytest.mark.parametrize("answer", [None, 5, "my_function", _reference(torch.zeros(1))])
def test_something_that_is_not_a_function_is_told_so(answer) -> None:
    feedback = checker._diagnose(TOY, answer)
    assert feedback.status == "wrong" and "check needs your function itself" in feedback.message
    assert "without parentheses after its name" in feedback.message


def test_an_answer_that_calls_exit_is_reported_not_obeyed() -> None:
    import sys

    feedback = checker._diagnose(TOY, lambda x: sys.exit(3))
    assert feedback.status == "wrong" and "your code called exit() (SystemExit 3) on case 1" in feedback.message
