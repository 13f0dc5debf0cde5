"""Argument checks shared by every layer: each raises ``ConfigError`` naming the option and what
to do."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from tsrnn.errors import ConfigError


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` must be a whole number (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
    return int(value)


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
        signature, values, label = inspect.signature(owner), given, "--{flag}"
    defaults = signature.parameters
    for name in names:
        if values[name] != defaults[name].default:
            what = label.format(name=name, value=values[name], flag=name.replace("_", "-"))
            raise ConfigError(
                f"{what} has no effect {why}",
                hint or f"leave {name} at its default, or change the configuration that ignores it",
            )
