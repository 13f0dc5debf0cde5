"""Argument checks shared by every part of tsrnn.

Each ``check_*`` returns the value in its plain Python type (so it can be stored and saved as
JSON) or raises ``tsrnn.errors.ConfigError`` naming the argument, the allowed values and what it
got, with a hint. ``name`` is how the user knows the argument: ``"hidden_size"`` for a Python
parameter, ``"--lookback"`` for one that is mostly given on the command line. ``hint`` replaces
the default hint (which repeats what is allowed), e.g. with an example of a good value.

Booleans are never numbers here (``True`` is not an integer of 1), NaN is never a number, and
numpy scalars count as the Python numbers they hold.
"""

from __future__ import annotations

import inspect
import math
import numbers
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tsrnn.errors import ConfigError

__all__ = [
    "check_choice",
    "check_fraction",
    "check_frequency",
    "check_int",
    "check_non_negative",
    "check_number",
    "check_optional_int",
    "check_positive",
    "check_target_index",
    "flag_of",
    "refuse_unused",
]


def check_int(name: str, value: object, minimum: int, *, hint: str | None = None) -> int:
    """``value`` as an int if it is a whole number (not a bool, not a float) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be a whole number, got {value!r}", hint or f"pass a whole number >= {minimum}")
    if value < minimum:
        raise ConfigError(
            f"{name} must be at least {minimum}, got {value!r}", hint or f"pass a whole number >= {minimum}"
        )
    return int(value)


def check_optional_int(name: str, value: object, minimum: int, *, hint: str | None = None) -> int | None:
    """None, or ``value`` as an int if it is a whole number >= ``minimum`` (see ``check_int``)."""
    if value is None:
        return None
    return check_int(name, value, minimum, hint=hint or f"pass a whole number >= {minimum}, or None")


def check_number(name: str, value: object, *, hint: str | None = None) -> float:
    """``value`` as a float if it is a real number (not a bool, not NaN; infinities pass)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ConfigError(f"{name} must be a number, got {value!r}", hint or f"pass a number as {name}")
    return float(value)


def check_positive(name: str, value: object, *, hint: str | None = None) -> float:
    """``value`` as a float if it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0 < value < math.inf):
        raise ConfigError(f"{name} must be a positive number, got {value!r}", hint or "pass a finite number above 0")
    return float(value)


def check_non_negative(name: str, value: object, *, hint: str | None = None) -> float:
    """``value`` as a float if it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0 <= value < math.inf):
        raise ConfigError(f"{name} must be a number >= 0, got {value!r}", hint or "pass 0 or a finite number above 0")
    return float(value)


def check_fraction(
    name: str, value: object, *, include_one: bool, include_zero: bool = True, hint: str | None = None
) -> float:
    """``value`` as a float if it lies in the unit interval: [0, 1] or [0, 1) by ``include_one``,
    (0, ...) instead of [0, ...) when not ``include_zero``."""
    interval = ("[0, " if include_zero else "(0, ") + ("1]" if include_one else "1)")
    ok = (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real)
        and (0 <= value if include_zero else 0 < value)
        and (value <= 1 if include_one else value < 1)
    )
    if not ok:
        raise ConfigError(f"{name} must be in {interval}, got {value!r}", hint or f"pass a number in {interval}")
    return float(value)


def check_choice(name: str, value: object, allowed: Sequence[str], *, hint: str | None = None) -> str:
    """``value`` if it is one of the strings ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"unknown {name} {value!r}", hint or f"use one of {', '.join(allowed)}")
    return value


def check_frequency(name: str, value: object, *, hint: str | None = None) -> str:
    """``value`` if it is a pandas offset alias of a positive step ("5min", "1h", "1D", "MS")."""
    from pandas.tseries.frequencies import to_offset

    hint = hint or f"pass a pandas offset alias as {name}, e.g. 5min, 15min, 1h or 1D"
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a frequency such as '5min', got {value!r}", hint)
    try:
        offset = to_offset(value.strip())
    except ValueError:
        raise ConfigError(f"{name} {value!r} is not a pandas frequency", hint) from None
    if offset.n <= 0:
        raise ConfigError(f"{name} must be a positive step, got {value!r}", hint)
    return value.strip()


def check_target_index(target_index: object, n_inputs: int) -> list[int]:
    """``target_index`` as a list of ints: non-empty, unique, each a channel in [0, n_inputs)."""
    problem = (
        f"target_index must be a non-empty list of unique channel indices in [0, {n_inputs}), got {target_index!r}"
    )
    hint = "e.g. target_index=[0] for the first channel"
    if isinstance(target_index, (str, bytes)):
        raise ConfigError(problem, hint)
    try:
        index = [operator.index(i) for i in target_index]  # any iterable of integers (list, tuple, numpy array)
    except TypeError:
        raise ConfigError(problem, hint) from None
    if not index or len(set(index)) != len(index) or any(not 0 <= i < n_inputs for i in index):
        raise ConfigError(problem, hint)
    return index


def refuse_unused(
    owner: Callable[..., Any] | Any,
    names: Iterable[str],
    why: str,
    given: Mapping[str, Any] | None = None,
    hint: str | None = None,
) -> None:
    """Options that the chosen configuration would not use must keep their defaults: a changed
    value would otherwise be silently ignored.

    ``owner`` is an estimator (its parameters are checked against its class's defaults) or a
    command function with the values it was ``given`` (then named as ``--options``).
    """
    if given is None:  # an estimator
        signature, values, label = inspect.signature(type(owner).__init__), owner.get_params(), "{name}={value!r}"
    else:
        signature, values, label = inspect.signature(owner), given, "{flag}"
    defaults = signature.parameters
    for name in names:
        if values[name] != defaults[name].default:
            flag = flag_of(owner, name, values[name]) if given is not None else ""
            what = label.format(name=name, value=values[name], flag=flag)
            raise ConfigError(
                f"{what} has no effect {why}",
                hint or f"leave {name} at its default, or change the configuration that ignores it",
            )


def flag_of(command: Callable[..., Any], name: str, value: Any) -> str:
    """How the command line writes ``command``'s parameter ``name`` (Typer's metadata): its first
    long flag, or of a pair such as ``--day-first/--month-first`` the one that gives ``value``;
    ``--name`` where it declares none."""
    import typing

    try:
        hints = typing.get_type_hints(command, include_extras=True)
    except (NameError, TypeError):  # an annotation that cannot be resolved: no metadata to read
        hints = {}
    for meta in getattr(hints.get(name), "__metadata__", ()):
        # in Annotated, Typer reads a first argument such as "--seed" as a flag, not a default
        decls = [getattr(meta, "default", None), *(getattr(meta, "param_decls", None) or ())]
        long = [d for d in decls if isinstance(d, str) and d.startswith("--")]
        if long:
            on, _, off = long[0].partition("/")
            return off if value is False and off else on
    return "--" + name.replace("_", "-")
