"""Checked exercises: the learner writes a function, a checker says what is right or what is likely wrong.

Each exercise is an :class:`Exercise`: a reference solution, a few input cases, and the *mistakes it
recognises*, each a wrong variant of the solution with a message that names the mistake ("your window
includes x_t itself: off by one").  :func:`check` runs the learner's function on every case and

1. if it raises ``NotImplementedError`` (the stub as stored in the notebook): prints "not done yet" and
   the hint, without failing the notebook;
2. if it runs past the exercise's time limit (a loop that never ends): stops it and says so;
3. if it agrees with the reference on every case and left its inputs as they were: prints "correct";
4. otherwise: if its outcome on *every* case agrees with a known wrong variant (the same values, or the
   same error where the variant fails too, e.g. a matrix product with transposed weights on a
   non-square case), names that mistake; else it reports the first problem it can describe: the
   error raised, the type (a ``torch.Tensor`` where a tensor is asked, a Python ``float`` where a float
   is asked), complex values, the shape, the dtype, NaN, the values.  An answer that changes its inputs
   in place is told so, even when its values are right.

**Fresh inputs.**  Every call (the learner's, the reference's, each mistake's) gets its own deep copy
of the case's arguments, nested containers included, so no call can disturb another; a further copy,
never handed out, is compared with the learner's arguments after the call to detect in-place changes.

**The time limit** (``Exercise.time_limit``, 5 s by default, per case).  On POSIX, in the main thread
(where a Jupyter kernel runs its cells, and where pytest runs tests), the learner's call runs under
``signal.setitimer(ITIMER_REAL)``: the ``SIGALRM`` handler raises :class:`AnswerTimeout` inside the running
code, which also interrupts a blocking ``time.sleep`` or ``input``.  Where that is not available (Windows,
a worker thread, or a real-time timer already armed by someone else, e.g. ``pytest-timeout``), a watchdog
``threading.Timer`` raises the same exception in the calling thread with CPython's
``PyThreadState_SetAsyncExc``.  Either way the exception arrives between two Python bytecodes: a Python
loop that never ends is stopped; one long C call (a huge matrix product) finishes first.
:class:`AnswerTimeout` derives from ``BaseException`` so that an ``except Exception`` in the learner's loop
cannot swallow it (a bare ``except:`` inside the loop can, as it can swallow ``KeyboardInterrupt``; if the
function then returns, late, it is still reported as stopped).  The previous signal handler is restored
after every call, and the alarm is used only when no other real-time timer is armed.

Solutions are revealed deliberately with :func:`solution` (prints the reference's source).
Exercises register themselves in their notebook's course module, ``seqlib.course.nbNN_<topic>``.
"""

from __future__ import annotations

import copy
import ctypes
import inspect
import math
import signal
import textwrap
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = [
    "Exercise",
    "Mistake",
    "Feedback",
    "AnswerTimeout",
    "register",
    "check",
    "solution",
    "hint",
    "EXERCISES",
    "compare",
]


@dataclass(frozen=True)
class Mistake:
    """A wrong variant of the solution and the message that names the mistake it makes.

    The mistake is named when the learner's function agrees with ``wrong`` on every case: the same
    values, or the same exception (type and message) where ``wrong`` raises one."""

    message: str
    wrong: Callable[..., Any]


@dataclass(frozen=True)
class Exercise:
    """One exercise.

    Args:
        name: registry key, e.g. ``"01.lag_features"``.
        title: one line shown in feedback.
        hint: shown while the exercise is not done, and after a wrong answer. It names the idea or the
            trap, never the code.
        reference: the solution (its source is what :func:`solution` prints). What it returns sets the
            expected type: a ``torch.Tensor`` (of that dtype), a Python ``float``, or a tuple of those.
        cases: the inputs to try, each a tuple of positional arguments (or a callable returning them);
            every call gets a deep copy.
        mistakes: wrong variants that the checker recognises, in the order they are tried.
        atol: absolute tolerance of the comparison.
        time_limit: seconds one call of the learner's function may take before it is stopped.
    """

    name: str
    title: str
    hint: str
    reference: Callable[..., Any]
    cases: Callable[[], Sequence[tuple]]
    mistakes: Sequence[Mistake] = field(default_factory=tuple)
    atol: float = 1e-5
    time_limit: float = 5.0


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


class AnswerTimeout(BaseException):
    """Raised inside the learner's function when it runs past the exercise's time limit.

    A ``BaseException`` (like ``KeyboardInterrupt``), so that an ``except Exception`` in the learner's
    code does not swallow it."""


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


# --------------------------------------------------------------------------------------------------
# Comparing a result with the expected one: type, complex, shape, dtype, NaN, values
# --------------------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    """``torch.Tensor``, ``numpy.ndarray``, ``numpy.float32``, ``list``, ``float``, ``NoneType``…"""
    if isinstance(value, torch.Tensor):
        return "torch.Tensor"
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def compare(got: Any, expected: Any, atol: float = 1e-5) -> str | None:
    """``None`` when ``got`` equals ``expected``; else a sentence saying how they differ.

    Tuples and lists are compared element by element (either kind is accepted for the other); a
    tensor must be a ``torch.Tensor`` (not an array or a list), real when a real one is expected, of
    the expected shape and dtype, without NaN, and close in value; a Python ``float`` must be a float
    (or an int), not a tensor, an array or a complex number; anything else is compared with ``==``.
    """
    if got is None and expected is not None:
        return "your function returned None: is the return statement missing?"
    if isinstance(expected, tuple | list):
        if not isinstance(got, tuple | list):
            return f"expected a tuple of {len(expected)} values, got a {_type_name(got)}"
        if len(got) != len(expected):
            return f"expected {len(expected)} values, got {len(got)}"
        for k, (g, e) in enumerate(zip(got, expected, strict=True)):
            problem = compare(g, e, atol)
            if problem:
                return f"value {k}: {problem}"
        return None
    if isinstance(expected, torch.Tensor):
        return _compare_tensors(got, expected, atol)
    if isinstance(expected, float):
        return _compare_floats(got, expected, atol)
    try:
        equal = bool(got == expected)
    except Exception:  # noqa: BLE001 - e.g. a tensor compared with a string: not equal
        equal = False
    return None if equal else f"expected {expected!r}, got {got!r}"


def _compare_tensors(got: Any, expected: torch.Tensor, atol: float) -> str | None:
    if not isinstance(got, torch.Tensor):
        advice = " (work with torch operations on the tensors you are given)" if isinstance(got, np.ndarray) else ""
        return f"expected a torch.Tensor, got {_type_name(got)}{advice}"
    if got.is_complex() and not expected.is_complex():
        return (
            f"the result is complex ({got.dtype}) where a real tensor ({expected.dtype}) was expected: a complex "
            "number (an eigenvalue, say) went into it where only its size, a real number, belongs"
        )
    if tuple(got.shape) != tuple(expected.shape):
        g, e = tuple(got.shape), tuple(expected.shape)
        if len(e) == 2 and g == e[::-1]:
            return f"shape {g} where {e} was expected: rows and columns are swapped"
        return f"shape {g} where {e} was expected"
    if got.dtype != expected.dtype:
        return f"dtype {got.dtype} where {expected.dtype} was expected (new tensors should take the inputs' dtype)"
    wide = torch.complex128 if expected.is_complex() else torch.float64
    g, e = got.detach().cpu().to(wide), expected.detach().cpu().to(wide)
    if torch.isnan(g).any() and not torch.isnan(e).any():
        return "the result contains NaN"
    if torch.isinf(g).any() and not torch.isinf(e).any():
        return "the result contains inf"
    close = torch.isclose(g, e, rtol=1e-4, atol=atol, equal_nan=True)
    if bool(close.all()):
        return None
    gap = torch.where(close, torch.zeros_like(g.real), torch.nan_to_num((g - e).abs(), nan=math.inf))
    worst = np.unravel_index(int(torch.argmax(gap)), tuple(e.shape)) if e.ndim else ()
    where = f" at index {tuple(int(i) for i in worst)}" if e.ndim else ""
    return f"values differ{where}: got {_number(g[worst])}, expected {_number(e[worst])}"


def _number(value: torch.Tensor) -> str:
    return f"{complex(value):.4g}" if value.is_complex() else f"{float(value):.4g}"


def _compare_floats(got: Any, expected: float, atol: float) -> str | None:
    if isinstance(got, bool) or not isinstance(got, int | float):
        if isinstance(got, torch.Tensor):
            advice = ": turn a one-element tensor into a Python float with .item()" if got.numel() == 1 else ""
            return f"expected a Python float, got a torch.Tensor of shape {tuple(got.shape)}{advice}"
        if isinstance(got, complex) or np.iscomplexobj(got):
            return f"expected a Python float, got a complex number ({_type_name(got)}): a real answer was expected"
        if isinstance(got, np.generic | np.ndarray):
            return f"expected a Python float, got {_type_name(got)}: convert it with float(...)"
        return f"expected a Python float, got {_type_name(got)}"
    g = float(got)
    if math.isnan(g) or math.isnan(expected):
        if math.isnan(g) and math.isnan(expected):
            return None
        return "the result is NaN" if math.isnan(g) else f"values differ: got {g:.4g}, expected nan"
    if math.isinf(g) and not math.isinf(expected):
        return "the result is infinite"
    if g == expected or math.isclose(g, expected, rel_tol=1e-4, abs_tol=atol):
        return None
    return f"values differ: got {g:.4g}, expected {expected:.4g}"


# --------------------------------------------------------------------------------------------------
# Inputs changed in place
# --------------------------------------------------------------------------------------------------


def _changed(before: Any, after: Any, path: str, depth: int = 0) -> str | None:
    """The path of the first part of ``after`` that differs from its untouched copy ``before``: tensors,
    arrays, lists, tuples, dicts and the attributes of objects (e.g. a model's weights), 8 levels deep."""
    if depth > 8:
        return None
    if isinstance(before, torch.Tensor):
        if not isinstance(after, torch.Tensor) or before.shape != after.shape or before.dtype != after.dtype:
            return path
        same = before == after
        if before.is_floating_point() or before.is_complex():
            same = same | (torch.isnan(before) & torch.isnan(after))
        return None if bool(same.all()) else path
    if isinstance(before, np.ndarray):
        if not isinstance(after, np.ndarray) or before.shape != after.shape or before.dtype != after.dtype:
            return path
        return None if np.array_equal(before, after, equal_nan=before.dtype.kind in "fc") else path
    if isinstance(before, list | tuple):
        if type(after) is not type(before) or len(after) != len(before):
            return path
        for k, (b, a) in enumerate(zip(before, after, strict=True)):
            where = _changed(b, a, f"{path}[{k}]", depth + 1)
            if where:
                return where
        return None
    if isinstance(before, dict):
        if not isinstance(after, dict) or before.keys() != after.keys():
            return path
        for key in before:
            where = _changed(before[key], after[key], f"{path}[{key!r}]", depth + 1)
            if where:
                return where
        return None
    if isinstance(before, int | float | complex | str | bytes | bool | type(None)):
        return None  # immutable
    if hasattr(before, "__dict__") and hasattr(after, "__dict__"):
        for key, value in vars(before).items():
            where = _changed(value, vars(after).get(key), f"{path}.{key}", depth + 1)
            if where:
                return where
    return None


def _parameter_names(function: Callable[..., Any], count: int) -> list[str]:
    try:
        names = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        names = []
    return [names[k] if k < len(names) else f"argument {k + 1}" for k in range(count)]


# --------------------------------------------------------------------------------------------------
# Running the learner's function under a time limit
# --------------------------------------------------------------------------------------------------


def _call_with_time_limit(function: Callable[..., Any], args: tuple, seconds: float | None) -> Any:
    """``function(*args)``, stopped with :class:`AnswerTimeout` after ``seconds`` (no limit if falsy)."""
    if not seconds:
        return function(*args)
    alarm_free = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    )
    return (_call_with_alarm if alarm_free else _call_with_watchdog)(function, args, seconds)


def _call_with_alarm(function: Callable[..., Any], args: tuple, seconds: float) -> Any:
    state = {"armed": True, "fired": False}

    def on_alarm(signum: int, frame: Any) -> None:
        if state["armed"]:
            state["fired"] = True
            raise AnswerTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            value = function(*args)
        finally:
            state["armed"] = False  # a signal arriving from here on is ignored
        if state["fired"]:  # the learner's code swallowed the exception (a bare except) and returned late
            raise AnswerTimeout
        return value
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)


def _call_with_watchdog(function: Callable[..., Any], args: tuple, seconds: float) -> Any:
    target = threading.get_ident()
    lock = threading.Lock()
    state = {"armed": True, "fired": False}

    def fire() -> None:
        with lock:
            if state["armed"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(AnswerTimeout))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        try:
            value = function(*args)
        finally:
            with lock:
                state["armed"] = False
            if state["fired"]:  # pending, raised, or swallowed and returned late: clear any pending one, raise here
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), None)
                raise AnswerTimeout
        return value
    finally:
        timer.cancel()


# --------------------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    """What one call returned or raised, and which input it changed in place (if any)."""

    value: Any = None
    error: Exception | None = None
    modified: str | None = None


def _same_outcome(mine: _Outcome, args: tuple, wrong: Callable[..., Any], atol: float) -> bool:
    try:
        value = wrong(*copy.deepcopy(args))
    except Exception as err:  # noqa: BLE001 - the variant fails on this case: the learner's must fail alike
        return mine.error is not None and type(mine.error) is type(err) and str(mine.error) == str(err)
    return mine.error is None and compare(mine.value, value, atol) is None


def _named_mistake(exercise: Exercise, cases: list[tuple], outcomes: list[_Outcome]) -> Mistake | None:
    """The first registered mistake whose outcome equals the learner's on every case."""
    for mistake in exercise.mistakes:
        pairs = zip(cases, outcomes, strict=True)
        if all(_same_outcome(outcome, args, mistake.wrong, exercise.atol) for args, outcome in pairs):
            return mistake
    return None


def check(name: str, answer: Callable[..., Any], *, quiet: bool = False) -> Feedback:
    """Check the learner's function ``answer`` for exercise ``name``; print and return the feedback."""
    exercise = _get(name)
    feedback = _diagnose(exercise, answer)
    if not quiet:
        print(feedback.message)
    return feedback


def _in_place_message(path: str) -> str:
    return (
        f"your function modified its input `{path}` in place (an in-place operation such as *=, .mul_(), "
        ".zero_() or an assignment into it changes the caller's tensor); leave the inputs as they are and "
        "return new values"
    )


def _diagnose(exercise: Exercise, answer: Callable[..., Any]) -> Feedback:
    head = f"[{exercise.name}] {exercise.title}"
    hint_line = f"\n  Hint: {exercise.hint}"
    if not callable(answer):
        message = (
            f"{head}: check needs your function itself, e.g. check({exercise.name!r}, my_function) without "
            f"parentheses after its name; got {_type_name(answer)} ({answer!r:.60})"
        )
        return Feedback(exercise.name, "wrong", message)
    cases = [tuple(args) for args in exercise.cases()]
    outcomes: list[_Outcome] = []
    for index, args in enumerate(cases):
        untouched, given = copy.deepcopy(args), copy.deepcopy(args)
        outcome = _Outcome()
        try:
            outcome.value = _call_with_time_limit(answer, given, exercise.time_limit)
        except NotImplementedError:
            return Feedback(exercise.name, "todo", f"{head}: not done yet.{hint_line}")
        except AnswerTimeout:
            message = (
                f"{head}: stopped: your code was still running after {exercise.time_limit:g} s on case {index + 1} "
                f"of {len(cases)} (these cases are tiny). Look for a loop that never ends: a while whose condition "
                f"never changes, or a loop over something that keeps growing.{hint_line}"
            )
            return Feedback(exercise.name, "wrong", message)
        except SystemExit as err:  # exit() / sys.exit() in the answer: the kernel must keep running
            message = (f"{head}: your code called exit() (SystemExit {err.code!r}) on case {index + 1}: a function "
                       f"should return its answer instead.{hint_line}")
            return Feedback(exercise.name, "wrong", message)
        except Exception as err:  # the learner's code failed: say how (and maybe which mistake), with the hint
            outcome.error = err
        names = _parameter_names(exercise.reference, len(args))
        for name, before, after in zip(names, untouched, given, strict=True):
            outcome.modified = outcome.modified or _changed(before, after, name)
        outcomes.append(outcome)

    problem, failure = None, None
    for args, outcome in zip(cases, outcomes, strict=True):
        if outcome.error is not None:
            failure = outcome.error
            break
        problem = compare(outcome.value, exercise.reference(*copy.deepcopy(args)), exercise.atol)
        if problem:
            break
    modified = next((o.modified for o in outcomes if o.modified), None)
    if failure is None and problem is None:
        if modified:
            message = f"{head}: not yet. The values are right, but {_in_place_message(modified)}."
            return Feedback(exercise.name, "wrong", message)
        return Feedback(exercise.name, "correct", f"{head}: correct ({len(cases)} cases checked).")

    named = _named_mistake(exercise, cases, outcomes)
    if failure is not None:
        message = f"{head}: your code raised {type(failure).__name__}: {failure}"
        message += f"\n  Likely mistake: {named.message}" if named else ""
        message += hint_line
    elif named:
        message = f"{head}: not yet. Likely mistake: {named.message}"
    else:
        message = f"{head}: not yet. {problem}{'' if problem.endswith(('.', '?', '!')) else '.'}{hint_line}"
    if modified:
        message += f"\n  Also, {_in_place_message(modified)}."
    return Feedback(exercise.name, "wrong", message)


def hint(name: str) -> str:
    """The exercise's hint."""
    return _get(name).hint


def solution(name: str) -> str:
    """Print and return the reference solution's source. Try the exercise first!"""
    source = textwrap.dedent(inspect.getsource(_get(name).reference))
    print(source)
    return source
