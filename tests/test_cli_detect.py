"""End-to-end: the real `tsrnn detect` (fit, save, load, score, stream) on real CSV files, as
`python -m tsrnn` subprocesses; refusals of bad input, and `tsrnn runs` reading what a subprocess
tracked, run the same command line in this process (``cli.invoke_cli``)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli import invoke_cli, run_cli, start_cli
from frames import sine_frame

pytestmark = pytest.mark.slow  # every test runs the CLI as a subprocess, or uses what one made
SMALL = ["--lookback", "24", "--epochs", "2", "--threshold", "gaussian", "--calibration-folds", "none"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("detect")
    df = sine_frame(500, noise=0.05).assign(label=0, other_label=0)
    df.loc[400:402, "a"] += 4
    df.loc[400:402, "label"] = 1
    df.to_csv(d / "data.csv", index=False)
    return d


JITTERED_ROWS = 400


def jittered_csv(folder: Path) -> str:
    """A 5-minute feed arriving 0-59 s late, one sample missed, a labelled spike."""
    n = JITTERED_ROWS
    rng = np.random.default_rng(0)
    t = np.arange(n)
    df = pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=n, freq="5min") + pd.to_timedelta(rng.integers(0, 60, n), "s"),
            "a": np.sin(2 * np.pi * t / 48) + 0.05 * rng.normal(size=n),
            "label": 0,
        }
    )
    df.loc[330:332, "a"] += 4
    df.loc[330:332, "label"] = 1
    df.drop(index=100).to_csv(folder / "jittered.csv", index=False)
    return "jittered.csv"


@pytest.fixture(scope="module")
def fits(workdir: Path, run_cli_many) -> dict[str, subprocess.CompletedProcess]:
    """The `tsrnn detect` runs that fit a detector, side by side (each spends seconds starting
    Python and importing torch; two at once keep both cores busy): ``{name: result}``."""
    jittered = workdir / "jittered"
    jittered.mkdir()
    return run_cli_many(
        {
            # --labels and an excluded column, tracked in experiment det-runs. No --plot: the run
            # then logs its plot as anomalies.png ("jittered" checks --plot)
            "labelled": (
                [
                    *("detect", "data.csv", *SMALL, "--labels", "label", "-x", "other_label"),
                    *("--output", "scores.csv", "--experiment", "det-runs", "--json"),
                ],
                workdir,
            ),
            "likelihood": (
                [
                    *("detect", "data.csv", "--lookback", "24", "--epochs", "2", "-t", "a", "-t", "b"),
                    *("--normalize", "likelihood", "--likelihood-window", "200", "--likelihood-eps", "0.01"),
                    *("--output", "likely.csv", "--json", "--no-track"),
                ],
                workdir,
            ),
            # fitted on every row and saved as workdir/det
            "detector": (
                [
                    *("detect", "data.csv", "-t", "a", "-t", "b", "-L", "24", "--epochs", "2"),
                    *("--train-fraction", "1", "--threshold", "gaussian", "--out", "det", "--quiet", "--no-track"),
                ],
                workdir,
            ),
            "jittered": (
                [
                    *("detect", jittered_csv(jittered), *SMALL, "--labels", "label", "--no-track", "--json"),
                    *("--resample", "5min", "--fill", "interpolate", "--train-until", "2024-01-01 16:00"),
                    *("--output", "scores.csv", "--plot", "scores.png"),
                ],
                jittered,
            ),
        }
    )


@pytest.fixture(scope="module")
def labelled(fits) -> dict:
    """The --json report of the labelled, tracked detect."""
    r = fits["labelled"]
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_detect_fits_scores_every_row_and_reports_metrics(labelled: dict, workdir: Path) -> None:
    out = labelled
    assert out["rows"] == 500 and {"precision", "recall", "f1"} <= set(out["point"]) and 0 <= out["pr_auc"] <= 1
    scores = pd.read_csv(workdir / "scores.csv")
    assert list(scores.columns) == ["time", "score", "is_anomaly", "likelihood", "score_a", "score_b"]  # no labels
    assert len(scores) == 500
    assert scores["score"].iloc[400:403].max() > scores["score"].iloc[300:390].max()  # the spike stands out


def test_detect_normalize_likelihood_flags_from_the_likelihood_column(fits, workdir: Path) -> None:
    r = fits["likelihood"]
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["threshold"] == "likelihood" and out["likelihood_threshold"] == 0.99
    scores = pd.read_csv(workdir / "likely.csv")
    likelihood = scores["likelihood"].to_numpy()
    assert ((likelihood >= 0) & (likelihood <= 1)).all()
    assert (scores["is_anomaly"].to_numpy() == (likelihood >= 0.99)).all() and out["flagged"] == scores[
        "is_anomaly"
    ].sum()
    assert likelihood[400:412].max() > likelihood[300:390].max()  # the spike stands out against the recent past


@pytest.fixture(scope="module")
def detector(fits, workdir: Path) -> Path:
    """A detector fitted on every row and saved by `tsrnn detect --out` as workdir/det."""
    r = fits["detector"]
    assert r.returncode == 0, r.stderr
    assert "fitting a hybrid detector on 500 of 500 rows" in r.stderr
    return workdir / "det"


def test_detect_out_then_detect_model_and_stdin(detector: Path, workdir: Path) -> None:
    assert (detector / "weights.safetensors").is_file()
    r = invoke_cli("detect", "data.csv", "--model", "det", "--json", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"] == 500
    # how flags become events applies to a saved detector too: long events only
    r = invoke_cli("detect", "data.csv", "--model", "det", "--min-event-length", "400", "--json", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["events"] == 0
    lines = (workdir / "data.csv").read_text().splitlines()[:101]
    r = run_cli("detect", "-", "--model", "det", cwd=workdir, stdin="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    printed = [line for line in r.stdout.splitlines() if line.strip()]
    assert len(printed) == 100 and all(line.split()[-1] in ("ok", "ANOMALY") for line in printed)


def test_detect_model_adapts_while_scoring_without_changing_the_saved_detector(detector: Path, workdir: Path) -> None:
    saved = (detector / "weights.safetensors").read_bytes()
    r = invoke_cli(
        "detect",
        "data.csv",
        "--model",
        "det",
        "--adapt-every",
        "50",
        "--adapt-rows",
        "100",
        "-o",
        "a.csv",
        "--force",
        "--json",
        cwd=workdir,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"] == 500
    r = invoke_cli("detect", "data.csv", "--model", "det", "-o", "p.csv", "--force", "--json", cwd=workdir)
    adapted, plain = pd.read_csv(workdir / "a.csv"), pd.read_csv(workdir / "p.csv")
    assert (adapted["score"] - plain["score"]).abs().max() > 1e-3
    assert (detector / "weights.safetensors").read_bytes() == saved


def test_follow_prints_flags_for_appended_rows(detector: Path, workdir: Path) -> None:
    import queue
    import threading

    live = workdir / "live.csv"
    lines = (workdir / "data.csv").read_text().splitlines()
    live.write_text("\n".join(lines[:301]) + "\n")
    p = start_cli("detect", "live.csv", "--model", "det", "--follow", cwd=workdir)  # SIGINT at its default
    printed: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [printed.put(line) for line in p.stdout], daemon=True)
    reader.start()

    def wait_for(text: str, seconds: float = 120) -> list[str]:
        seen, deadline = [], time.time() + seconds
        while time.time() < deadline:
            try:
                seen.append(printed.get(timeout=0.5))
            except queue.Empty:
                continue
            if text in seen[-1]:
                return seen
        raise AssertionError(f"{text!r} never printed; got {seen[-5:]}")

    try:
        wait_for("rows flagged")  # the report on the file so far; then it waits for rows
        with open(live, "a") as fh:
            fh.write("\n".join(lines[301:331]) + "\n")
        streamed = wait_for(lines[330].split(",")[0])  # the last appended row, scored as it arrives
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()  # leave no process behind
            p.wait()
            raise
        err = p.stderr.read()
    assert p.returncode == 0, err
    assert "Traceback" not in err
    reader.join(timeout=60)  # everything printed up to the exit
    while not printed.empty():
        streamed.append(printed.get())
    streamed = [line for line in streamed if line.rstrip().endswith(("ok", "ANOMALY"))]
    assert any(lines[330].split(",")[0] in line for line in streamed), streamed[-5:]


@pytest.mark.parametrize(
    "args,words",
    [
        (["detect", "data.csv", "--labels", "nope", *SMALL], ["nope", "--labels"]),
        (["detect", "data.csv", "--model", "det", "--epochs", "3"], ["--epochs", "--model"]),
        (["detect", "data.csv", "--threshold", "magic", "--epochs", "1"], ["threshold", "pot"]),
        (["detect", "-", "--window", "24"], ["--model"]),
        (["detect", "data.csv", "--model", "det", "--out", "again"], ["--out", "--model"]),
        (["detect", "data.csv", "--model", "det", "--window", "12"], ["--lookback", "--model"]),
        (
            ["detect", "data.csv", "--method", "forecast", "--combine", "max", *SMALL],
            ["combine='max'", "method='forecast'"],
        ),
        (["detect", "data.csv", "--q", "0.9", *SMALL], ["q=0.9", "threshold='gaussian'"]),
        (["detect", "data.csv", "--likelihood-window", "500"], ["likelihood_window=500", 'normalize="none"']),
        (
            ["detect", "data.csv", "--normalize", "likelihood", *SMALL],
            ["threshold='gaussian'", "normalize='likelihood'"],
        ),
        (["detect", "data.csv", "--model", "det", "--normalize", "likelihood"], ["--normalize", "--model"]),
        (
            ["detect", "data.csv", "--adapt-rows", "100", "--adapt-every", "0", *SMALL],
            ["--adapt-rows", "--adapt-every"],
        ),
        (["detect", "data.csv", "--model", "det", "--adapt-every", "-1"], ["adapt_every"]),
        (
            ["detect", "data.csv", "--adapt-persist", "3", "--adapt-every", "0", *SMALL],
            ["--adapt-persist has no effect with --adapt-every 0"],
        ),
        (["detect", "data.csv", "--adapt-persist", "-1", *SMALL], ["--adapt-persist must be at least 1", "or 0 (off)"]),
        (["fit", "data.csv", "--patience", "-1", "--no-track"], ["--patience must be at least 1", "or 0 (off)"]),
        (["detect", "data.csv", "--calibration-folds", "many"], ["--calibration-folds", "auto"]),
        (["fit", "data.csv", "--task", "detect"], ["--task"]),  # fitting detectors is `tsrnn detect`'s job
        (["fit", "data.csv", "--series-embedding", "4", "--no-track"], ["series_embedding", "one series", "--id-col"]),
        (["detect", "data.csv", "--train-fraction", "1.5"], ["--train-fraction"]),
        (["detect", "data.csv", "--train-fraction", "0.0001"], ["--train-fraction 0.0001", "leaves no row to fit on"]),
        (["detect", "data.csv", "--train-until", "1999-01-01"], ["no rows before"]),
        (["detect", "data.csv", "--model", "det", "--day-first"], ["--day-first", "--model"]),
        (["detect", "data.csv", *SMALL, "--output", "nodir/s.csv"], ["nodir", "does not exist"]),  # before the fit
        (
            ["detect", "data.csv", "--train-until", "2024-01-10", "--train-fraction", "0.3"],
            ["--train-fraction has no effect with --train-until"],
        ),
        (["detect", "-", "--model", "det", "--sort"], ["--sort has no effect reading standard input"]),
        (["detect", "short.csv", "--model", "det"], ["short.csv", "lacks column"]),  # named, not <DataFrame>
        (["detect", "data.csv", "--layers", "0"], ["--layers must be at least 1"]),  # the flag, not num_layers
        (["fit", "data.csv", "--hidden", "0", "--no-track"], ["--hidden must be at least 1"]),
    ],
)
def test_bad_input_exits_2(detector: Path, workdir: Path, args: list[str], words: list[str]) -> None:
    pd.read_csv(workdir / "data.csv")[["time", "a"]].to_csv(workdir / "short.csv", index=False)
    r = invoke_cli(*args, cwd=workdir, stdin="")
    assert r.returncode == 2, r.stderr
    for w in words:
        assert w in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_detect_is_tracked_unless_no_track(labelled: dict, workdir: Path) -> None:
    r = invoke_cli("runs", "--experiment", "det-runs", "--json", cwd=workdir)
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)[0]
    assert run["status"] == "FINISHED" and "tsrnn detect" in run["command"]
    r = invoke_cli("runs", "show", run["run_id"], "--json", cwd=workdir)
    info = json.loads(r.stdout)
    assert "point_f1" in info["metrics"] and "pr_auc" in info["metrics"] and "loss" in info["metrics"]
    assert {"events.csv", "anomalies.png", "config.json"} <= set(info["artifacts"])
    assert [m["name"] for m in info["models"]] == ["model"]
    r = invoke_cli("detect", "data.csv", *SMALL, "--no-track", "--experiment", "x", cwd=workdir)
    assert r.returncode == 2 and "--experiment" in r.stderr


def test_detect_resamples_a_jittered_feed(fits, workdir: Path) -> None:
    folder = workdir / "jittered"
    r = invoke_cli("detect", "jittered.csv", *SMALL, "--labels", "label", "--no-track", cwd=folder)
    assert r.returncode == 2 and "--resample 5min" in r.stderr and "Traceback" not in r.stderr
    r = fits["jittered"]  # with --resample 5min --fill interpolate --train-until 16:00
    assert r.returncode == 0, r.stderr
    assert "fitting a hybrid detector on 191 of 399 rows" in r.stderr  # the file's rows before 16:00
    out = json.loads(r.stdout)
    assert (
        out["rows"] == JITTERED_ROWS and out["point"]["recall"] > 0
    )  # one row per 5-minute step, the missed one filled
    scores = pd.read_csv(folder / "scores.csv")
    assert len(scores) == JITTERED_ROWS and scores["time"].iloc[1] == "2024-01-01 00:05:00"
    assert (folder / "scores.png").read_bytes()[:4] == b"\x89PNG"


def test_detect_reads_the_training_part_in_the_whole_files_date_order(tmp_path: Path) -> None:
    """The first half of this day-first file runs from 01/01 to 11/01, dates that could be read
    either way; the whole file (13/01 onwards) shows the day first, and the detector reads its
    training part that way. --month-first contradicts it and is refused, naming --day-first."""
    df = sine_frame(500, noise=0.05)
    df.assign(time=df["time"].dt.strftime("%d/%m/%Y %H:%M")).to_csv(tmp_path / "dayfirst.csv", index=False)
    args = ["detect", "dayfirst.csv", *SMALL, "--train-fraction", "0.5", "--no-track"]
    r = invoke_cli(*args, "--output", "scores.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "could have the day or the month first" not in r.stderr
    times = pd.read_csv(tmp_path / "scores.csv")["time"]
    assert len(times) == 500 and times.iloc[0] == "2024-01-01 00:00:00" and times.iloc[-1] == "2024-01-21 19:00:00"
    r = invoke_cli(*args, "--month-first", cwd=tmp_path)
    assert r.returncode == 2 and "have the day first" in r.stderr and "--day-first" in r.stderr
    assert "Traceback" not in r.stderr


def test_detect_sort_and_whole_file_problems_refused_before_the_fit(tmp_path: Path) -> None:
    """Two rows swapped near the end: refused before any fitting (it used to be found after the
    whole fit, when the file was scored); --sort reads them in time order."""
    df = sine_frame(300, noise=0.05)
    df.iloc[[280, 281]] = df.iloc[[281, 280]].to_numpy()
    df.to_csv(tmp_path / "swapped.csv", index=False)
    args = ["detect", "swapped.csv", *SMALL, "--no-track"]
    r = invoke_cli(*args, cwd=tmp_path)
    assert r.returncode == 2 and "not in time order" in r.stderr and "--sort" in r.stderr
    assert "fitting" not in r.stderr
    r = invoke_cli(*args, "--sort", "--output", "s.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    times = pd.to_datetime(pd.read_csv(tmp_path / "s.csv")["time"])
    assert times.is_monotonic_increasing and len(times) == 300


def test_train_until_with_an_offset_cuts_at_that_instant() -> None:
    """Berlin times (UTC+2 until 27 October): 2024-10-25T00:00-05:00 is 07:00 in Berlin, seven
    rows after its midnight; without an offset it is a wall time; a naive file refuses an offset."""
    from tsrnn.cli.detect_cmd import split_training
    from tsrnn.errors import ConfigError

    t = pd.date_range("2024-10-15", periods=400, freq="h", tz="Europe/Berlin")
    zoned = pd.DataFrame({"time": t, "a": np.sin(np.arange(400.0))})
    assert len(split_training(zoned, None, "2024-10-25T00:00-05:00", 0.5)[1]) == 247
    assert len(split_training(zoned, None, "2024-10-25", 0.5)[1]) == 240
    with pytest.raises(ConfigError, match="has a UTC offset"):
        split_training(zoned.iloc[:280].assign(time=t[:280].tz_localize(None)), None, "2024-10-25T00:00Z", 0.5)
