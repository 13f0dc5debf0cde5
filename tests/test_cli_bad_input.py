"""Bad input to the real CLI: `tsrnn inspect FILE [options]`.

Every refused case must exit with status 2, say on stderr what is wrong in specific words (the
column, the line, the option, the rows needed) and never show a traceback. All the commands run
once in a module fixture, in this process (``cli.invoke_cli``: the exit status, stdout and stderr
that `python -m tsrnn` would give); each test then checks its own result. A sample of them also
runs as `python -m tsrnn` subprocesses, which must answer byte for byte the same, and the
`--debug` traceback is checked on a subprocess.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cli import invoke_cli

HEADER = ["time", "load", "temp"]
N = 200  # rows of a good file: enough for the default lookback 96 + horizon 24 with --val 0.1 --test 0.2


def stamps(n: int, step: timedelta = timedelta(hours=1), start: datetime = datetime(2024, 1, 1)) -> list[str]:
    return [(start + i * step).strftime("%Y-%m-%d %H:%M:%S") for i in range(n)]


def table(n: int = N, times: list[str] | None = None) -> list[list[str]]:
    """Rows of [time, load, temp] as text; row ``i`` of the data is line ``i + 2`` of the file."""
    times = times or stamps(n)
    return [[t, f"{100 + (i * 7) % 13:.1f}", f"{20 + (i % 24) / 4:.2f}"] for i, t in enumerate(times)]


def write(path: Path, rows: list[list[str]], header: list[str] = HEADER, sep: str = ",") -> str:
    path.write_text(sep.join(header) + "\n" + "".join(sep.join(r) + "\n" for r in rows))
    return path.name


@dataclass
class Case:
    build: Callable[[Path], list[str]]  # writes its files in a fresh folder; returns the argv after `-m tsrnn`
    words: tuple[str, ...]  # must all appear on stderr


REFUSED: dict[str, Case] = {}  # must exit 2 naming the problem
OTHER: dict[str, Callable[[Path], list[str]]] = {}  # checked by their own tests below


def refused(name: str, *words: str):
    def register(build: Callable[[Path], list[str]]):
        REFUSED[name] = Case(build, words)
        return build

    return register


def other(name: str):
    def register(build: Callable[[Path], list[str]]):
        OTHER[name] = build
        return build

    return register


# ----------------------------------------------------------------------------- files


@refused("missing_file", "nope.csv", "no such file")
def _(d: Path) -> list[str]:
    return ["inspect", "nope.csv"]


@refused("directory", "folder", "is a directory")
def _(d: Path) -> list[str]:
    (d / "folder").mkdir()
    return ["inspect", "folder"]


@refused("empty_file", "empty.csv", "empty (0 bytes)")
def _(d: Path) -> list[str]:
    (d / "empty.csv").write_bytes(b"")
    return ["inspect", "empty.csv"]


@refused("binary_file", "blob.csv", "binary")
def _(d: Path) -> list[str]:
    (d / "blob.csv").write_bytes(bytes(range(256)) * 8)
    return ["inspect", "blob.csv"]


@refused("header_only", "header.csv", "no data rows")
def _(d: Path) -> list[str]:
    return ["inspect", write(d / "header.csv", [])]


@refused("no_numeric_column", "no numeric column", "city")
def _(d: Path) -> list[str]:
    return ["inspect", write(d / "text.csv", [[t, "Oslo"] for t in stamps(N)], header=["time", "city"])]


@refused("mismatched_columns", "line 5", "Expected 3 fields", "saw 4")
def _(d: Path) -> list[str]:
    rows = table()
    rows[3].append("7.5")  # data row 3 is line 5
    return ["inspect", write(d / "data.csv", rows)]


# ----------------------------------------------------------------------------- values


@refused("non_numeric_value", "'load'", "line 9", "'oops'", "not numbers")
def _(d: Path) -> list[str]:
    rows = table()
    rows[7][1] = "oops"
    return ["inspect", write(d / "data.csv", rows)]


@refused("unparseable_date", "'time'", "line 6", "'yesterday'", "not dates")
def _(d: Path) -> list[str]:
    rows = table()
    rows[4][0] = "yesterday"
    return ["inspect", write(d / "data.csv", rows)]


@refused(
    "duplicate_timestamps",
    "duplicate timestamp",
    "2024-01-01 09:00:00",
    "lines 11, 12",
    "--duplicates first|last|mean",
    "--resample FREQ",
    "daylight saving",
)
def _(d: Path) -> list[str]:
    rows = table()
    rows[10][0] = rows[9][0]  # 09:00 on lines 11 and 12
    return ["inspect", write(d / "data.csv", rows)]


def _unsorted(d: Path) -> str:
    rows = table()
    rows[20], rows[21] = rows[21], rows[20]  # 21:00 then 20:00 on line 23
    return write(d / "unsorted.csv", rows)


@refused("unsorted_rows", "not in time order", "2024-01-01 20:00:00", "line 23", "--sort")
def _(d: Path) -> list[str]:
    return ["inspect", _unsorted(d)]


@other("unsorted_with_sort")
def _(d: Path) -> list[str]:
    return ["inspect", _unsorted(d), "--sort", "--json"]


def _holes(d: Path) -> str:
    rows = table()
    rows[5][1] = ""  # NaN on line 7
    rows[8][1] = "inf"  # inf on line 10
    rows[12][1] = "-inf"  # -inf on line 14
    return write(d / "holes.csv", rows)


@refused("nan_and_inf", "'load'", "NaN", "infinite", "lines 7, 10, 14", "--fill")
def _(d: Path) -> list[str]:
    return ["inspect", _holes(d)]


@refused("beyond_float32", "'load'", "1 out-of-range value(s)", "float32", "1e+300", "at line 9", "--fill")
def _(d: Path) -> list[str]:
    rows = table()
    rows[7][1] = "1e300"  # a float64, but inf as the float32 tsrnn stores
    return ["inspect", write(d / "data.csv", rows)]


FILLS = ("ffill", "interpolate", "zero")
for _policy in FILLS:
    other(f"fill_{_policy}")(lambda d, p=_policy: ["inspect", _holes(d), "--fill", p, "--json"])


@refused("mixed_frequencies", "mixed frequencies", "0 days 01:00:00", "1 days 00:00:00", "--resample 1h")
def _(d: Path) -> list[str]:
    hourly = stamps(150)
    daily = stamps(50, timedelta(days=1), datetime(2024, 1, 1) + timedelta(hours=149, days=1))
    return ["inspect", write(d / "mixed.csv", table(200, hourly + daily))]


def _jittered(d: Path) -> str:
    """A 5-minute feed whose rows arrive 0 to 59 seconds late: no regular step."""
    late = [
        stamps(1, start=datetime(2024, 1, 1) + timedelta(minutes=5 * i, seconds=(i * 37) % 60))[0] for i in range(N)
    ]
    return write(d / "jittered.csv", table(N, late))


@refused("jittered_feed", "jittered.csv", "not on one regular grid", "--resample 5min")
def _(d: Path) -> list[str]:
    return ["inspect", _jittered(d)]


@refused("bad_resample", "--resample '5 minutes' is not a pandas frequency", "e.g. 5min")
def _(d: Path) -> list[str]:
    return ["inspect", _jittered(d), "--resample", "5 minutes"]


@refused("agg_without_resample", "--agg max has no effect without --resample")
def _(d: Path) -> list[str]:
    return ["inspect", good(d), "--agg", "max"]


@refused("unknown_duplicates", "unknown duplicates policy 'drop'", "--duplicates error|first|last|mean")
def _(d: Path) -> list[str]:
    return ["inspect", good(d), "--duplicates", "drop"]


# ----------------------------------------------------------------------------- too short

SHORT_L, SHORT_H, SHORT_ROWS = 30, 10, 40
VAL, TEST = 0.1, 0.2


def needed_rows(lookback: int, horizon: int, val: float, test: float) -> int:
    """The fewest rows for which every split holds a window, found by brute force over n
    (splits take round(n * fraction) rows, as tsrnn rounds them)."""
    n = 1
    while not (
        n - round(n * val) - round(n * test) >= lookback + horizon
        and round(n * val) >= horizon
        and round(n * test) >= horizon
    ):
        n += 1
    return n


@refused(
    "too_few_rows",
    "train split has 28 rows (of 40)",
    "lookback 30 + horizon 10 = 40 rows",
    f"at least {needed_rows(SHORT_L, SHORT_H, VAL, TEST)} rows",
)
def _(d: Path) -> list[str]:
    return ["inspect", write(d / "short.csv", table(SHORT_ROWS)), "-L", str(SHORT_L), "-H", str(SHORT_H)]


@other("needed_rows_suffice")
def _(d: Path) -> list[str]:
    rows = table(needed_rows(SHORT_L, SHORT_H, VAL, TEST))
    return ["inspect", write(d / "enough.csv", rows), "-L", str(SHORT_L), "-H", str(SHORT_H), "--json"]


# ----------------------------------------------------------------------------- options


def good(d: Path) -> str:
    return write(d / "good.csv", table())


@refused("lookback_zero", "--lookback must be at least 1, got 0")
def _(d: Path) -> list[str]:
    return ["inspect", good(d), "--lookback", "0"]


@refused("negative_horizon", "--horizon must be at least 1, got -3")
def _(d: Path) -> list[str]:
    return ["inspect", good(d), "--horizon", "-3"]


@refused("absurd_lookback", "--lookback 1000000000", "absurdly large")
def _(d: Path) -> list[str]:
    return ["inspect", good(d), "--lookback", str(10**9)]


@refused("stride_zero", "--stride must be at least 1, got 0")
def _(d: Path) -> list[str]:
    return ["inspect", good(d), "--stride", "0"]


@refused("unknown_target", "no column named 'price'", "--target", "['time', 'load', 'temp']")
def _(d: Path) -> list[str]:
    return ["inspect", good(d), "--target", "price"]


@refused("target_case_typo", "no column named 'LOAD'", "did you mean 'load'?")
def _(d: Path) -> list[str]:
    return ["inspect", good(d), "--target", "LOAD"]


@refused("unknown_fill", "unknown fill policy 'mean'", "ffill", "interpolate", "zero")
def _(d: Path) -> list[str]:
    return ["inspect", good(d), "--fill", "mean"]


@refused("val_test_fractions_too_big", "splits do not fit in 200 rows", "validation 120, test 100", "--val")
def _(d: Path) -> list[str]:
    return ["inspect", good(d), "--val", "0.6", "--test", "0.5"]


@refused("val_test_rows_too_big", "splits do not fit in 200 rows", "validation 150, test 80", "--test")
def _(d: Path) -> list[str]:
    return ["inspect", good(d), "--val", "150", "--test", "80"]


@refused("val_fraction_out_of_range", "--val fraction must be in [0, 1), got 1.5")
def _(d: Path) -> list[str]:
    return ["inspect", good(d), "--val", "1.5"]


@refused("test_not_a_time", "--test 'someday'", "neither a fraction, a row count nor a timestamp")
def _(d: Path) -> list[str]:
    return ["inspect", good(d), "--test", "someday"]


@refused("unknown_option", "No such option", "--frobnicate")
def _(d: Path) -> list[str]:
    return ["inspect", good(d), "--frobnicate"]


@other("debug_traceback")
def _(d: Path) -> list[str]:
    rows = table()
    rows[7][1] = "oops"
    return ["--debug", "inspect", write(d / "data.csv", rows)]


# ----------------------------------------------------------------------------- running


BUILDS: dict[str, Callable[[Path], list[str]]] = {**{n: c.build for n, c in REFUSED.items()}, **OTHER}
# also run as `python -m tsrnn` subprocesses: a file error, a value error, click's own usage error,
# a success, and --debug
SUBPROCESS = ("missing_file", "non_numeric_value", "unknown_option", "fill_ffill", "debug_traceback")


def jobs(base: Path, names) -> dict[str, tuple[list[str], Path]]:
    """``{name: (args, folder)}``: each case's files written in a fresh folder of ``base``."""
    out = {}
    for name in names:
        folder = base / name
        folder.mkdir()
        out[name] = (BUILDS[name](folder), folder)
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    todo = jobs(tmp_path_factory.mktemp("bad_input"), BUILDS)
    return {name: invoke_cli(*args, cwd=folder) for name, (args, folder) in todo.items()}


@pytest.fixture(scope="module")
def real(tmp_path_factory, run_cli_many) -> dict[str, subprocess.CompletedProcess]:
    return run_cli_many(jobs(tmp_path_factory.mktemp("bad_input_real"), SUBPROCESS))


def no_traceback(r: subprocess.CompletedProcess) -> bool:
    return "Traceback" not in r.stdout + r.stderr


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_with_exit_2_and_a_message(name: str, results) -> None:
    r = results[name]
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert no_traceback(r), r.stderr
    assert "Warning" not in r.stderr, "no Python warning (e.g. numpy's RuntimeWarning) leaks to the terminal"
    for word in REFUSED[name].words:
        assert word in r.stderr, f"{word!r} not in stderr:\n{r.stderr}"
    assert r.stdout.strip() == "", "an error prints nothing on stdout"


@pytest.mark.parametrize("name", [n for n in REFUSED if n != "unknown_option"])
def test_tsrnn_errors_have_a_hint(name: str, results) -> None:
    assert "error:" in results[name].stderr and "hint:" in results[name].stderr


def test_sort_accepts_unsorted_rows(results) -> None:
    r = results["unsorted_with_sort"]
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["sorted_rows"] is True and info["rows"] == N and info["frequency"] == "h"


@pytest.mark.parametrize("policy", FILLS)
def test_fill_policies_accept_nan_and_inf(policy: str, results) -> None:
    r = results[f"fill_{policy}"]
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["filled"] == policy
    assert info["missing"] == {"load": {"nan": 1, "inf": 2}}
    assert info["rows"] == N


def test_the_stated_row_count_is_enough(results) -> None:
    r = results["needed_rows_suffice"]
    assert r.returncode == 0, r.stderr
    w = json.loads(r.stdout)["windows"]
    assert min(w["train"], w["val"], w["test"]) >= 1, w


@pytest.mark.slow  # runs the CLI as subprocesses
@pytest.mark.parametrize("name", [n for n in SUBPROCESS if n != "debug_traceback"])
def test_the_real_command_answers_the_same(name: str, results, real) -> None:
    r, want = real[name], results[name]
    assert (r.returncode, r.stdout, r.stderr) == (want.returncode, want.stdout, want.stderr)


@pytest.mark.slow  # runs the CLI as a subprocess
def test_debug_shows_the_traceback(real) -> None:
    r = real["debug_traceback"]
    assert r.returncode != 0
    assert "Traceback" in r.stderr and "DataError" in r.stderr and "line 9" in r.stderr
