"""Machinery shared by the exercise checks: random float64 cases, comparisons that explain themselves.

A check calls the student's function on fresh random inputs (several shapes, float64), compares it
with the package's reference and, on a mismatch, raises :class:`ExerciseError` whose message says what
is wrong in words: the shape expected, which term looks wrong, the largest error and where.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import torch


class ExerciseError(AssertionError):
    """A student's answer is not right yet; the message explains why."""


@dataclass
class Exercise:
    """One exercise: its id ("1.2"), title, check function, and planted mistakes the check must catch."""

    id: str
    title: str
    check: Callable
    #: name -> (wrong function, a piece of the message the check must print for it)
    planted: dict = field(default_factory=dict)
    minutes: int = 10
    #: a correct answer (usually a thin wrapper around the package), which the check must accept
    reference: Callable | None = None
    #: the notebook the exercise lives in, e.g. "01_patch_blurring"
    notebook: str = ""


REGISTRY: dict[str, Exercise] = {}


def exercise(id: str, title: str, notebook: str, minutes: int = 10):
    """Register a check function as exercise ``id`` of ``notebook``."""

    def wrap(fn):
        REGISTRY[id] = Exercise(id, title, fn, minutes=minutes, notebook=notebook)
        fn.exercise_id = id
        return fn

    return wrap


def planted(id: str, name: str, expect: str):
    """Register a deliberately wrong answer for exercise ``id`` whose check message must contain ``expect``."""

    def wrap(fn):
        REGISTRY[id].planted[name] = (fn, expect)
        return fn

    return wrap


def reference(id: str):
    """Register a correct answer for exercise ``id`` (tests check the check accepts it)."""

    def wrap(fn):
        REGISTRY[id].reference = fn
        return fn

    return wrap


def call(id: str, fn: Callable, *args, **kwargs):
    """Call the student's function; turn NotImplementedError and crashes into a readable ExerciseError."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        raise ExerciseError(f"Exercise {id}: not implemented yet ({err}). Replace the `raise` with your code.") from None
    except ExerciseError:
        raise
    except Exception as err:
        shapes = ", ".join(str(tuple(a.shape)) if isinstance(a, torch.Tensor) else type(a).__name__ for a in args)
        raise ExerciseError(f"Exercise {id}: your function raised {type(err).__name__}: {err} "
                            f"(called with arguments of shape/type {shapes}).") from err


def compare(id: str, got, want: torch.Tensor, what: str, atol: float = 1e-10, hint: str = "") -> float:
    """Check ``got`` equals ``want`` (shape, dtype family, values within ``atol``); return the max error."""
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"Exercise {id}: {what} should be a torch.Tensor, got {type(got).__name__}.")
    if tuple(got.shape) != tuple(want.shape):
        raise ExerciseError(f"Exercise {id}: {what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}.")
    if not torch.isfinite(got).all():
        bad = (~torch.isfinite(got)).nonzero()[0].tolist()
        raise ExerciseError(f"Exercise {id}: {what} contains NaN/inf (first at index {bad}).")
    err = (got.to(want.dtype) - want).abs()
    worst = err.max().item()
    if worst > atol:
        where = tuple(divmod_index(err.argmax().item(), want.shape))
        raise ExerciseError(
            f"Exercise {id}: {what} is wrong: largest error {worst:.3g} at index {where} "
            f"(yours {got.reshape(-1)[err.argmax()].item():.6g}, expected {want.reshape(-1)[err.argmax()].item():.6g}; "
            f"tolerance {atol:g}).{(' Hint: ' + hint) if hint else ''}")
    return worst


def divmod_index(flat: int, shape) -> list[int]:
    idx = []
    for size in reversed(shape):
        flat, r = divmod(flat, size)
        idx.append(r)
    return list(reversed(idx))


#: Set to "1" to make :func:`use_answer` raise instead of falling back (the tests run the source notebooks, whose
#: solution cells must pass their checks, this way).
STRICT_ENV = "SEECLEAR_EXERCISES_STRICT"


def use_answer(check: Callable, answer: Callable) -> Callable:
    """Run an exercise's ``check`` on the student's ``answer`` and return the function the notebook goes on with.

    Right: the student's own function. Not written yet or not right yet: a visible note with the check's
    explanation, and the kit's reference answer (the package, never printed), so that the cells below still run
    and an unsolved exercise does not break the rest of the notebook. With ``$SEECLEAR_EXERCISES_STRICT=1`` the
    check's error is raised instead."""
    ex_id = getattr(check, "exercise_id", None)
    if ex_id not in REGISTRY:
        raise TypeError(f"use_answer: {getattr(check, '__name__', check)!r} is not a registered exercise check; pass "
                        "the check_* function the exercise cell imports.")
    try:
        check(answer)
        return answer
    except ExerciseError as err:
        if os.environ.get(STRICT_ENV) == "1":
            raise
        ex = REGISTRY[ex_id]
        if ex.reference is None:
            raise
        unsolved = "not implemented yet" in str(err)
        state = "is not solved yet" if unsolved else "is not right yet"
        print(f"⚠ Exercise {ex_id} ({ex.title}) {state}: {err}\n"
              f"  The cells below use the kit's reference answer so the notebook still runs. Write or fix your "
              f"function, then re-run its cell and this one.")
        return ex.reference


def check_choice(id: str, fn: Callable, measured: str, why: dict[str, str], evidence: str) -> None:
    """A prediction exercise: ``fn()`` returns one letter of ``why`` (the choices) before the student runs the
    experiment. ``measured`` is the letter the check's own measurement gives (never a hard-coded verdict: the check
    computes it), ``why[letter]`` explains each choice and ``evidence`` states the measured numbers."""
    got = call(id, fn)
    if not isinstance(got, str) or got.strip().lower() not in why:
        raise ExerciseError(f"Exercise {id}: return one of {', '.join(repr(k) for k in why)} (a string), got {got!r}.")
    got = got.strip().lower()
    if got != measured:
        raise ExerciseError(f"Exercise {id}: you predicted ({got}), the measurement says ({measured}): {evidence}. "
                            f"Why not ({got}): {why[got]}")
    passed(id, f"({got}) {why[got]} Measured: {evidence}.")


def passed(id: str, detail: str) -> None:
    print(f"✓ Exercise {id} passed: {detail}")


def fresh_generator() -> torch.Generator:
    """A torch.Generator seeded from os.urandom: new inputs at every call, so answers cannot be hard-coded
    (the verdict for a right or a wrong answer does not depend on the draw)."""
    return torch.Generator().manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)


def close(a, b: torch.Tensor, atol: float) -> bool:
    """``a`` is a tensor of ``b``'s shape whose values are within ``atol`` of ``b``'s."""
    return isinstance(a, torch.Tensor) and a.shape == b.shape and bool(((a.to(b.dtype) - b).abs() <= atol).all())


def diagnose(ex_id: str, got, what: str, mistakes, atol: float) -> None:
    """If ``got`` equals one of the known wrong answers ``mistakes = [(tensor, explanation), ...]``
    (same shape, within ``atol``), raise an ExerciseError that names that mistake."""
    for wrong, explanation in mistakes:
        if close(got, wrong, atol):
            raise ExerciseError(f"Exercise {ex_id}: {what} is wrong: {explanation}")


def as_float64(ex_id: str, got, what: str) -> torch.Tensor:
    """Insist on a float64 tensor (schedules and numeric checks are float64 throughout the kit)."""
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"Exercise {ex_id}: {what} should be a torch.Tensor, got {type(got).__name__}.")
    if got.dtype != torch.float64:
        raise ExerciseError(f"Exercise {ex_id}: {what} has dtype {got.dtype}; build it in float64 "
                            f"(dtype=torch.float64), the kit's schedules and checks are float64.")
    return got
