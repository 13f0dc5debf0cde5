"""tsrnn.checks: what each check accepts (and returns as), what it refuses and how it says so."""

from __future__ import annotations

import math
from typing import Annotated, Optional

import numpy as np
import pytest
import typer

from tsrnn.checks import (
    check_choice,
    check_fraction,
    check_frequency,
    check_int,
    check_non_negative,
    check_number,
    check_optional_int,
    check_positive,
    check_target_index,
    refuse_unused,
)
from tsrnn.errors import ConfigError


def test_check_int_accepts_integers_and_returns_plain_ints():
    for v in (3, np.int64(3), np.int32(3)):
        out = check_int("n", v, 1)
        assert out == 3 and type(out) is int
    assert check_int("gap", 0, 0) == 0


@pytest.mark.parametrize("value", [True, 2.0, "3", None])
def test_check_int_refuses_what_is_not_a_whole_number(value):
    with pytest.raises(ConfigError, match=f"n must be a whole number, got {value!r}"):
        check_int("n", value, 1)


def test_check_int_refuses_too_small_with_a_hint():
    with pytest.raises(ConfigError, match=r"--lookback must be at least 1, got 0\n  hint: pass a whole number >= 1"):
        check_int("--lookback", 0, 1)
    with pytest.raises(ConfigError, match="hint: e.g. --lookback 24"):
        check_int("--lookback", -1, 1, hint="e.g. --lookback 24")


def test_check_optional_int():
    assert check_optional_int("window", None, 2) is None
    assert check_optional_int("window", np.int64(5), 2) == 5
    with pytest.raises(ConfigError, match=r"window must be at least 2, got 1\n.*or None"):
        check_optional_int("window", 1, 2)


def test_check_number_allows_infinity_but_not_nan_or_bools():
    assert check_number("t", np.float32(1.5)) == 1.5
    assert check_number("t", math.inf) == math.inf
    for bad in (math.nan, True, "1", None):
        with pytest.raises(ConfigError, match="t must be a number"):
            check_number("t", bad)


@pytest.mark.parametrize("bad", [0, -1.0, math.inf, math.nan, True, "1"])
def test_check_positive_refuses(bad):
    with pytest.raises(ConfigError, match="lr must be a positive number"):
        check_positive("lr", bad)


def test_check_positive_and_non_negative_accept():
    assert check_positive("lr", 1e-3) == 1e-3
    assert check_positive("k", np.int64(3)) == 3.0
    assert check_non_negative("decay", 0) == 0.0
    for bad in (-1e-9, math.inf, math.nan, False):
        with pytest.raises(ConfigError, match="decay must be a number >= 0"):
            check_non_negative("decay", bad)


@pytest.mark.parametrize(
    "kw, interval, inside, outside",
    [
        ({"include_one": False}, "[0, 1)", [0, 0.5], [1, -0.1]),
        ({"include_one": True}, "[0, 1]", [0, 1], [1.01, -0.1]),
        ({"include_one": False, "include_zero": False}, "(0, 1)", [1e-9, 0.99], [0, 1]),
        ({"include_one": True, "include_zero": False}, "(0, 1]", [1.0], [0.0]),
    ],
)
def test_check_fraction_intervals(kw, interval, inside, outside):
    for v in inside:
        assert check_fraction("p", v, **kw) == float(v)
    for v in [*outside, math.nan, True, "0.5"]:
        with pytest.raises(ConfigError, match=rf"p must be in \{interval[0]}0, 1\{interval[-1]}, got"):
            check_fraction("p", v, **kw)


def test_check_choice_names_the_allowed_values():
    assert check_choice("cell", "gru", ("rnn", "lstm", "gru")) == "gru"
    for bad in ("GRU", None, ["gru"]):
        with pytest.raises(ConfigError, match=r"unknown cell .*\n  hint: use one of rnn, lstm, gru"):
            check_choice("cell", bad, ("rnn", "lstm", "gru"))


def test_check_frequency_accepts_pandas_aliases_and_refuses_with_an_example():
    for good in ("5min", "1h", "h", "1D", "MS", "W-SUN", " 15min "):
        assert check_frequency("--resample", good) == good.strip()
    for bad, problem in (
        ("5 minutes", "is not a pandas frequency"),
        ("5T", "is not a pandas frequency"),
        ("0min", "must be a positive step"),
        ("-1h", "must be a positive step"),
        ("", "must be a frequency such as '5min'"),
        (5, "must be a frequency such as '5min'"),
        (None, "must be a frequency such as '5min'"),
    ):
        with pytest.raises(ConfigError, match=rf"--resample .*{problem}.*\n  hint: .*e\.g\. 5min"):
            check_frequency("--resample", bad)


def test_check_target_index():
    assert check_target_index(np.array([2, 0]), 3) == [2, 0]
    for bad in ([], [0, 0], [3], [-1], [0.5], "0", None):
        with pytest.raises(ConfigError, match=r"target_index must be .* in \[0, 3\)"):
            check_target_index(bad, 3)


def _command(
    seed: Annotated[Optional[int], typer.Option("--seed")] = None,
    dayfirst: Annotated[Optional[bool], typer.Option("--day-first/--month-first")] = None,
    hidden_size: int = 64,
) -> None:
    """A command as Typer reads it: flags from the Annotated metadata."""


@pytest.mark.parametrize(
    "given, flag",
    [
        ({"seed": 3}, "--seed"),  # the declared flag, not --random-state-like names
        ({"dayfirst": True}, "--day-first"),
        ({"dayfirst": False}, "--month-first"),  # of a pair, the one that gives the value
        ({"hidden_size": 8}, "--hidden-size"),  # no flag declared: from the name
    ],
)
def test_refuse_unused_names_the_flag_as_it_is_typed(given: dict, flag: str) -> None:
    values = {"seed": None, "dayfirst": None, "hidden_size": 64, **given}
    with pytest.raises(ConfigError, match=f"^{flag} has no effect with X"):
        refuse_unused(_command, list(given), "with X", values)
    refuse_unused(
        _command, ["seed", "dayfirst", "hidden_size"], "with X", {"seed": None, "dayfirst": None, "hidden_size": 64}
    )
