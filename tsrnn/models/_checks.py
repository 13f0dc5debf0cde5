"""Argument checks shared by the models: each raises ValueError naming the argument and what is allowed."""

from __future__ import annotations

import numbers
import operator


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_fraction(name: str, value: object, *, include_one: bool) -> float:
    """Return ``value`` as a float if it lies in [0, 1] (``include_one``) or [0, 1)."""
    upper_ok = (lambda v: v <= 1) if include_one else (lambda v: v < 1)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0 <= value and upper_ok(value)):
        interval = "[0, 1]" if include_one else "[0, 1)"
        raise ValueError(f"{name} must be a number in {interval}; got {value!r}")
    return float(value)


def check_target_index(target_index: object, n_inputs: int) -> list[int]:
    """Return ``target_index`` as a list of ints: non-empty, unique, each in [0, n_inputs)."""
    problem = (
        f"target_index must be a non-empty list of unique channel indices in [0, {n_inputs}); got {target_index!r}"
    )
    if isinstance(target_index, (str, bytes)):
        raise ValueError(problem)
    try:
        index = [operator.index(i) for i in target_index]  # any iterable of integers (list, tuple, numpy array)
    except TypeError:
        raise ValueError(problem) from None
    if not index or len(set(index)) != len(index) or any(not 0 <= i < n_inputs for i in index):
        raise ValueError(problem)
    return index
