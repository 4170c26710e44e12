"""Checked exercises: the learner writes a function, a checker says what is right or what is likely wrong.

Each exercise is an :class:`Exercise`: a reference solution, a few input cases, and the *mistakes it
recognises*, each a wrong variant of the solution with a message that names the mistake ("your window
includes x_t itself: off by one").  :func:`check` runs the learner's function on every case and

1. if it raises ``NotImplementedError`` (the stub as stored in the notebook): prints "not done yet" and
   the hint, without failing the notebook;
2. if it agrees with the reference on every case: prints "correct";
3. otherwise: if its output agrees with a known wrong variant, names that mistake; else it reports the
   first difference it can describe (shape, dtype, NaN, values).

Solutions are revealed deliberately with :func:`solution` (prints the reference's source).
Exercises register themselves in their notebook's course module, ``seqlib.course.nbNN_<topic>``.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["Exercise", "Mistake", "Feedback", "register", "check", "solution", "hint", "EXERCISES", "compare"]


@dataclass(frozen=True)
class Mistake:
    """A wrong variant of the solution and the message that names the mistake it makes."""

    message: str
    wrong: Callable[..., Any]


@dataclass(frozen=True)
class Exercise:
    """One exercise.

    Args:
        name: registry key, e.g. ``"01.lag_features"``.
        title: one line shown in feedback.
        hint: shown while the exercise is not done, and after a wrong answer.
        reference: the solution (its source is what :func:`solution` prints).
        cases: the inputs to try, each a tuple of positional arguments (or a callable returning them,
            so that tensors are built fresh for each check).
        mistakes: wrong variants that the checker recognises, in the order they are tried.
        atol: absolute tolerance of the comparison.
    """

    name: str
    title: str
    hint: str
    reference: Callable[..., Any]
    cases: Callable[[], Sequence[tuple]]
    mistakes: Sequence[Mistake] = field(default_factory=tuple)
    atol: float = 1e-5


@dataclass(frozen=True)
class Feedback:
    """What :func:`check` found: ``status`` is ``"correct"``, ``"todo"`` or ``"wrong"``."""

    name: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "correct"

    def __str__(self) -> str:
        return self.message


EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    if exercise.name in EXERCISES:
        raise ValueError(f"exercise {exercise.name!r} is registered twice")
    EXERCISES[exercise.name] = exercise
    return exercise


def _get(name: str) -> Exercise:
    _load_all()
    if name not in EXERCISES:
        raise KeyError(f"no exercise named {name!r}; known: {', '.join(sorted(EXERCISES))}")
    return EXERCISES[name]


def _load_all() -> None:
    """Import every notebook's course module (``seqlib.course.nbNN_<topic>``) so that its exercises are
    registered."""
    import importlib
    import pkgutil

    import seqlib.course

    for module in pkgutil.iter_modules(seqlib.course.__path__):
        if module.name.startswith("nb"):
            importlib.import_module(f"seqlib.course.{module.name}")


def _as_array(value: Any) -> np.ndarray | None:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    if isinstance(value, np.ndarray | list | tuple | int | float) and not isinstance(value, bool):
        try:
            return np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return None
    return None


def compare(got: Any, expected: Any, atol: float = 1e-5) -> str | None:
    """``None`` when ``got`` equals ``expected``; else a sentence saying how they differ.

    Tuples and lists of tensors are compared element by element; tensors and arrays by shape, then
    NaN, then values; anything else with ``==``.
    """
    if isinstance(expected, tuple) and not isinstance(got, tuple | list):
        return f"expected a tuple of {len(expected)} values, got a {type(got).__name__}"
    if isinstance(expected, tuple):
        if len(got) != len(expected):
            return f"expected {len(expected)} values, got {len(got)}"
        for k, (g, e) in enumerate(zip(got, expected, strict=True)):
            problem = compare(g, e, atol)
            if problem:
                return f"value {k}: {problem}"
        return None
    e, g = _as_array(expected), _as_array(got)
    if e is None:
        return None if got == expected else f"expected {expected!r}, got {got!r}"
    if g is None:
        return f"expected an array/tensor of shape {tuple(e.shape)}, got a {type(got).__name__}"
    if g.shape != e.shape:
        if g.shape == e.shape[::-1] and len(e.shape) == 2:
            return f"shape {g.shape} where {e.shape} was expected: rows and columns are swapped"
        return f"shape {g.shape} where {e.shape} was expected"
    if np.isnan(g).any() and not np.isnan(e).any():
        return "the result contains NaN"
    if not np.allclose(g, e, atol=atol, rtol=1e-4, equal_nan=True):
        worst = np.unravel_index(np.argmax(np.abs(np.nan_to_num(g - e))), e.shape)
        where = f" at index {tuple(int(i) for i in worst)}" if e.ndim else ""
        return f"values differ{where}: got {g[worst]:.4g}, expected {e[worst]:.4g}"
    return None


def _run(fn: Callable[..., Any], args: tuple) -> Any:
    return fn(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args])


def check(name: str, answer: Callable[..., Any], *, quiet: bool = False) -> Feedback:
    """Check the learner's function ``answer`` for exercise ``name``; print and return the feedback."""
    exercise = _get(name)
    feedback = _diagnose(exercise, answer)
    if not quiet:
        print(feedback.message)
    return feedback


def _diagnose(exercise: Exercise, answer: Callable[..., Any]) -> Feedback:
    head = f"[{exercise.name}] {exercise.title}"
    cases = list(exercise.cases())
    for args in cases:
        try:
            got = _run(answer, args)
        except NotImplementedError:
            return Feedback(exercise.name, "todo", f"{head}: not done yet.\n  Hint: {exercise.hint}")
        except Exception as err:  # the learner's code failed: say how, with the hint
            message = f"{head}: your code raised {type(err).__name__}: {err}\n  Hint: {exercise.hint}"
            return Feedback(exercise.name, "wrong", message)
        expected = _run(exercise.reference, args)
        problem = compare(got, expected, exercise.atol)
        if problem is None:
            continue
        for mistake in exercise.mistakes:
            try:
                wrong = _run(mistake.wrong, args)
            except Exception:  # noqa: BLE001 - a variant that fails on this case just doesn't match
                continue
            if compare(got, wrong, exercise.atol) is None:
                return Feedback(exercise.name, "wrong", f"{head}: not yet. Likely mistake: {mistake.message}")
        return Feedback(exercise.name, "wrong", f"{head}: not yet. {problem}.\n  Hint: {exercise.hint}")
    return Feedback(exercise.name, "correct", f"{head}: correct ({len(cases)} cases checked).")


def hint(name: str) -> str:
    """The exercise's hint."""
    return _get(name).hint


def solution(name: str) -> str:
    """Print and return the reference solution's source. Try the exercise first!"""
    source = textwrap.dedent(inspect.getsource(_get(name).reference))
    print(source)
    return source
