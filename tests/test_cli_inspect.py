"""`tsrnn inspect` on good files, run as the real CLI; `--help`; and that importing tsrnn is light.

All the commands run once in a module fixture, in this process (``cli.invoke_cli``: the exit
status, stdout and stderr that `python -m tsrnn` would give); each test checks its own result. A
sample also runs as `python -m tsrnn` subprocesses, which must print byte for byte the same, and
`--help` is checked on the module and on the console script. The tests that run the CLI as a
subprocess are marked slow; the in-process runs and the import checks are not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cli import invoke_cli, run

N = 240
HEAVY = ("torch", "pandas", "mlflow", "matplotlib", "numpy", "sklearn")


def stamps(n: int, step: timedelta = timedelta(hours=1)) -> list[str]:
    return [(datetime(2024, 1, 1) + i * step).strftime("%Y-%m-%d %H:%M:%S") for i in range(n)]


def write(path: Path, header: list[str], rows: list[list[str]], sep: str = ",") -> str:
    path.write_text(sep.join(header) + "\n" + "".join(sep.join(r) + "\n" for r in rows))
    return path.name


def load_temp(i: int) -> list[str]:
    return [f"{100 + (i * 7) % 13:.1f}", f"{20 + (i % 24) / 4:.2f}"]


def good_csv(d: Path) -> str:
    return write(d / "good.csv", ["time", "load", "temp"], [[t, *load_temp(i)] for i, t in enumerate(stamps(N))])


GAPPY_DROP = [50, 51, 52, 130, 131]  # two gaps: 3 and 2 missing hours


def gappy_csv(d: Path) -> str:
    rows = [[t, *load_temp(i)] for i, t in enumerate(stamps(N)) if i not in GAPPY_DROP]
    return write(d / "gappy.csv", ["time", "load", "temp"], rows)


def long_csv(d: Path) -> str:
    # long format, rows interleaved; "south" appears first
    rows = []
    for i, t in enumerate(stamps(N)):
        rows.append([t, "south", f"{i % 17}.5"])
        rows.append([t, "north", f"{i % 11}.25"])
    return write(d / "long.csv", ["time", "site", "load"], rows)


def parquet(d: Path) -> str:
    import pandas as pd

    t = pd.date_range("2024-01-01", periods=N, freq="15min")
    pd.DataFrame({"ts": t, "load": [float(i % 13) for i in range(N)]}).to_parquet(d / "data.parquet")
    return "data.parquet"


def jittered_csv(d: Path) -> str:
    """A 5-minute feed whose rows arrive 0 to 59 seconds late (sample 100 never arrives)."""
    rows = [
        [
            (datetime(2024, 1, 1) + timedelta(minutes=5 * i, seconds=(i * 37) % 60)).strftime("%Y-%m-%d %H:%M:%S"),
            *load_temp(i),
        ]
        for i in range(N)
        if i != 100
    ]
    return write(d / "jittered.csv", ["time", "load", "temp"], rows)


def repeated_hour_csv(d: Path) -> str:
    """Local wall times without a zone: 02:00 twice when the clocks go back (2024-10-27 in Europe)."""
    hours = [datetime(2024, 10, 26, 12) + timedelta(hours=i) for i in range(N)]
    hours.insert(15, hours[14])  # 02:00 again, an hour later in real time
    rows = [[h.strftime("%Y-%m-%d %H:%M:%S"), *load_temp(i)] for i, h in enumerate(hours)]
    return write(d / "repeated_hour.csv", ["time", "load", "temp"], rows)


def day_first_csv(d: Path) -> str:
    """Hourly rows from 1 to 10 January written 01/01/2024 01:00: the day or the month could be first."""
    rows = [[(datetime(2024, 1, 1) + timedelta(hours=i)).strftime("%d/%m/%Y %H:%M"), *load_temp(i)] for i in range(N)]
    return write(d / "day_first.csv", ["time", "load", "temp"], rows)


IMPORT_CHECK = f"import sys, {{mod}}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
JSON_L, JSON_H, JSON_STRIDE = 24, 6, 2

JOBS = {
    "table": lambda d: ["inspect", good_csv(d)],
    "json": lambda d: [
        "inspect",
        good_csv(d),
        "--json",
        "-L",
        str(JSON_L),
        "-H",
        str(JSON_H),
        "--stride",
        str(JSON_STRIDE),
    ],
    "long": lambda d: ["inspect", long_csv(d), "--id-col", "site", "--json"],
    "gaps": lambda d: ["inspect", gappy_csv(d)],
    "gaps_filled": lambda d: ["inspect", gappy_csv(d), "--fill", "interpolate", "--json"],
    "semicolon": lambda d: [
        "inspect",
        write(d / "semi.csv", ["time", "load", "temp"], [[t, *load_temp(i)] for i, t in enumerate(stamps(N))], sep=";"),
        "--json",
    ],
    "parquet": lambda d: ["inspect", parquet(d), "--json", "-L", "24", "-H", "4"],
    "help": lambda d: ["--help"],
    "jittered": lambda d: ["inspect", jittered_csv(d), "--resample", "5min"],
    "jittered_json": lambda d: [
        "inspect",
        jittered_csv(d),
        "--resample",
        "5min",
        "--agg",
        "last",
        "--fill",
        "ffill",
        "--json",
    ],
    "repeated_hour": lambda d: ["inspect", repeated_hour_csv(d), "--duplicates", "mean", "--json"],
    "either_way": lambda d: ["inspect", day_first_csv(d), "--json"],
    "day_first": lambda d: ["inspect", day_first_csv(d), "--day-first", "--json"],
}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("inspect")


SUBPROCESS = ("table", "json", "parquet", "help")  # also run as `python -m tsrnn` subprocesses


def jobs(base: Path, names) -> dict[str, tuple[list[str], Path]]:
    """``{name: (args, folder)}``: each job's files written in a fresh folder of ``base``."""
    out = {}
    for name in names:
        folder = base / name
        folder.mkdir()
        out[name] = (JOBS[name](folder), folder)
    return out


@pytest.fixture(scope="module")
def results(base) -> dict[str, subprocess.CompletedProcess]:
    return {name: invoke_cli(*args, cwd=folder) for name, (args, folder) in jobs(base, JOBS).items()}


@pytest.fixture(scope="module")
def real(tmp_path_factory, run_cli_many) -> dict[str, subprocess.CompletedProcess]:
    return run_cli_many(jobs(tmp_path_factory.mktemp("inspect_real"), SUBPROCESS))


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    return r


def test_table_names_rows_frequency_and_targets(results) -> None:
    out = ok(results["table"]).stdout
    lines = {
        line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines() if line.count("│") == 3
    }
    assert lines["rows"] == str(N)
    assert lines["frequency"] == "h"
    assert lines["targets"] == "load, temp"
    assert lines["series"] == "1"
    assert lines["gaps"].startswith("0 ")
    assert lines["time"] == "time: 2024-01-01 00:00:00 -> 2024-01-10 23:00:00"


def test_json_matches_make_windows(results, base) -> None:
    from tsrnn.data import load_series
    from tsrnn.windows import make_windows

    info = json.loads(ok(results["json"]).stdout)
    assert info["rows"] == N
    assert info["frequency"] == "h"
    assert info["targets"] == ["load", "temp"] and info["covariates"] == []
    assert info["series"] == 1 and info["gaps"]["count"] == 0
    w = make_windows(load_series(base / "json" / "good.csv"), JSON_L, JSON_H, JSON_STRIDE, 0.1, 0.2)
    assert {k: info["windows"][k] for k in ("train", "val", "test")} == w.counts()
    assert info["windows"]["lookback"] == JSON_L and info["windows"]["horizon"] == JSON_H
    assert min(w.counts().values()) > 0  # the comparison is not between empty splits
    assert info["split_rows"] == {"train": 168, "val": 24, "test": 48}


def test_long_format_reports_two_series(results) -> None:
    info = json.loads(ok(results["long"]).stdout)
    assert info["series"] == 2
    assert info["series_ids"] == ["south", "north"]  # order of first appearance
    assert info["id_column"] == "site"
    assert info["rows"] == 2 * N
    assert info["series_lengths"] == {"min": N, "max": N}
    assert info["targets"] == ["load"] and info["frequency"] == "h"


def test_gaps_are_reported(results) -> None:
    out = ok(results["gaps"]).stdout
    assert "2 (5 missing steps)" in out and f"│ {N - 5} " in out
    assert "gap: 3 step(s) missing between 2024-01-03 01:00:00 and 2024-01-03 05:00:00" in out
    assert "gap: 2 step(s) missing between 2024-01-06 09:00:00 and 2024-01-06 12:00:00" in out
    assert "rows inserted" not in out


def test_fill_interpolate_inserts_the_missing_rows(results) -> None:
    info = json.loads(ok(results["gaps_filled"]).stdout)
    assert info["filled_gap_rows"] == 5
    assert info["rows"] == N
    assert info["gaps"]["count"] == 0
    assert info["filled"] == "interpolate"


def test_a_jittered_feed_is_resampled(results) -> None:
    r = ok(results["jittered"])
    lines = {
        line.split("│")[1].strip(): line.split("│")[2].strip() for line in r.stdout.splitlines() if line.count("│") == 3
    }
    assert lines["frequency"] == "5min (resampled: mean of the rows in each step)"
    assert lines["rows"] == str(N - 1) and lines["gaps"] == "1 (1 missing steps)"
    assert "gap: 1 step(s) missing between 2024-01-01 08:15:00 and 2024-01-01 08:25:00" in r.stdout
    info = json.loads(ok(results["jittered_json"]).stdout)
    assert info["resampled"] == {"frequency": "5min", "agg": "last", "bins": N, "combined_rows": 0}
    assert info["rows"] == N and info["filled_gap_rows"] == 1 and info["frequency"] == "5min"


def test_a_repeated_local_hour_is_collapsed(results) -> None:
    r = ok(results["repeated_hour"])
    info = json.loads(r.stdout)
    assert info["rows"] == N and info["frequency"] == "h" and info["collapsed_rows"] == 1
    assert any("--duplicates mean" in w for w in info["warnings"])


def test_day_first_reads_dates_that_could_be_either_way(results) -> None:
    info = json.loads(ok(results["either_way"]).stdout)
    assert info["end"].startswith("2024-10-01 23:00")  # month first: 1 January, then 1 February, ...
    assert any("--day-first" in w for w in info["warnings"])
    info = json.loads(ok(results["day_first"]).stdout)
    assert info["start"].startswith("2024-01-01") and info["end"].startswith("2024-01-10 23:00")
    assert info["frequency"] == "h" and not info["warnings"]


def test_semicolon_separator_is_detected(results) -> None:
    info = json.loads(ok(results["semicolon"]).stdout)
    assert info["targets"] == ["load", "temp"] and info["rows"] == N and info["time_column"] == "time"


def test_parquet_is_read(results) -> None:
    info = json.loads(ok(results["parquet"]).stdout)
    assert info["rows"] == N and info["frequency"] == "15min"
    assert info["time_column"] == "ts" and info["targets"] == ["load"]


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in SUBPROCESS if n != "help"])
def test_the_real_command_prints_the_same(name: str, results, real) -> None:
    r, want = ok(real[name]), results[name]
    assert (r.returncode, r.stdout, r.stderr) == (want.returncode, want.stdout, want.stderr)


def test_help(results) -> None:
    out = ok(results["help"]).stdout
    assert "Usage: tsrnn" in out and "inspect" in out


@pytest.mark.slow
def test_python_m_tsrnn_help(results, real) -> None:
    assert ok(real["help"]).stdout == results["help"].stdout


@pytest.mark.slow
def test_console_script_help(tmp_path) -> None:
    script = Path(sys.executable).with_name("tsrnn")
    assert script.exists(), f"no console script at {script}"
    r = ok(run([str(script), "--help"], tmp_path))
    assert "Usage: tsrnn" in r.stdout and "inspect" in r.stdout


@pytest.mark.parametrize("mod", ["tsrnn", "tsrnn.cli", "tsrnn.errors"])
def test_import_is_light(mod: str, tmp_path) -> None:
    r = ok(run([sys.executable, "-c", IMPORT_CHECK.format(mod=mod)], tmp_path))
    assert r.stdout.strip() == "[]", f"import {mod} pulls in {r.stdout.strip()}"
