"""End-to-end: the real `tsrnn fit / predict / backtest` commands on real CSV files, as
`python -m tsrnn` subprocesses; refusals of bad input, and some commands reading a model a
subprocess saved, run the same command line in this process (``cli.invoke_cli``)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli import invoke_cli, run_cli, start_cli
from frames import sine_frame

pytestmark = pytest.mark.slow  # every test runs the CLI as a subprocess, or uses what one made


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    sine_frame(600, offset=10).to_csv(d / "data.csv", index=False)
    return d


SMALL = ["-L", "48", "-H", "12", "--epochs", "2", "--hidden", "8", "--layers", "1", "--quiet", "--no-track"]


def long_csv(folder: Path) -> str:
    """Long format: stores s0, s1, s2 with 300, 120 and 200 hourly rows."""
    t = np.arange(300)
    long = pd.concat(
        [
            pd.DataFrame(
                {
                    "time": pd.date_range("2024-01-01", periods=n, freq="h"),
                    "store": f"s{k}",
                    "units": (k + 1) * np.sin(2 * np.pi * t[:n] / 24) + k,
                }
            )
            for k, n in enumerate((300, 120, 200))
        ]
    )
    long.to_csv(folder / "long.csv", index=False)
    return "long.csv"


@pytest.fixture(scope="module")
def fits(workdir: Path, run_cli_many) -> dict[str, subprocess.CompletedProcess]:
    """The `tsrnn fit` runs the tests read, side by side (each spends seconds starting Python and
    importing torch; two at once keep both cores busy): ``{name: result}``."""
    return run_cli_many(
        {
            "quantiles": (["fit", "data.csv", *SMALL, "--out", "m", "--quantiles", "0.1,0.5,0.9"], workdir),
            "gru": (
                ["fit", "data.csv", *SMALL, "--out", "m2", "--json", "--cell", "gru", "--head", "seq2seq"],
                workdir,
            ),
            "global": (
                [
                    *("fit", long_csv(workdir), "--id-col", "store", "--sampling", "balanced"),
                    *("--series-embedding", "4", "-L", "24", "-H", "6", "--epochs", "2", "--hidden", "8"),
                    *("--quiet", "--no-track", "--out", "global", "--json"),
                ],
                workdir,
            ),
        }
    )


@pytest.fixture(scope="module")
def fitted(fits, workdir: Path) -> Path:
    """The model with quantiles saved by `tsrnn fit --out m`."""
    r = fits["quantiles"]
    assert r.returncode == 0, r.stderr
    return workdir / "m"


def test_fit_saves_model_and_reports_baselines(fitted: Path, workdir: Path) -> None:
    assert (fitted / "weights.safetensors").is_file() and (fitted / "config.json").is_file()
    assert (fitted / "checkpoint" / "last.safetensors").is_file()
    config = json.loads((fitted / "config.json").read_text())
    assert set(config["metrics"]["test"]) == {"model", "repeat_last", "seasonal_naive"}
    assert not list(workdir.glob(".m.checkpoint"))  # staging area cleaned up


def test_fit_json_and_refuses_existing_out(fits, fitted: Path, workdir: Path) -> None:
    before = (fitted / "weights.safetensors").read_bytes()
    r = invoke_cli("fit", "data.csv", *SMALL, "--out", "m", cwd=workdir)
    assert r.returncode == 2 and "already exists" in r.stderr and "--force" in r.stderr
    assert (fitted / "weights.safetensors").read_bytes() == before
    r = fits["gru"]  # --out m2 --json --cell gru --head seq2seq
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model_dir"] == "m2" and out["metrics"]["val"]["model"]["mse"] > 0


def test_predict_writes_csv_and_plot(fitted: Path, workdir: Path) -> None:
    r = run_cli("predict", "data.csv", "--model", "m", "--output", "f.csv", "--plot", "f.png", cwd=workdir)
    assert r.returncode == 0, r.stderr
    f = pd.read_csv(workdir / "f.csv", parse_dates=["time"])
    assert len(f) == 12 and f["time"].iloc[0] == pd.Timestamp("2024-01-01") + pd.Timedelta(hours=600)
    assert {"a", "b", "a_q0.1", "a_q0.9"} <= set(f.columns)
    assert 5 < f["a"].mean() < 15  # original units, not scaled ones
    assert (workdir / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = invoke_cli("predict", "data.csv", "--model", "m", "--output", "f.csv", cwd=workdir)
    assert r.returncode == 2 and "already exists" in r.stderr


def test_predict_prints_the_data_warnings(fitted: Path, workdir: Path) -> None:
    df = pd.read_csv(workdir / "data.csv")
    df.drop(index=range(len(df) - 10, len(df) - 5)).to_csv(workdir / "gap.csv", index=False)
    r = invoke_cli("predict", "gap.csv", "--model", "m", cwd=workdir)
    assert r.returncode == 0 and "warning: 1 gap(s) in the time grid (5 missing steps)" in r.stderr, r.stderr


def test_predict_and_backtest_sort_unsorted_rows(fitted: Path, workdir: Path) -> None:
    df = pd.read_csv(workdir / "data.csv")
    df.iloc[::-1].to_csv(workdir / "reversed.csv", index=False)
    r = invoke_cli("predict", "reversed.csv", "--model", "m", cwd=workdir)
    assert r.returncode == 2 and "--sort" in r.stderr
    want = invoke_cli("predict", "data.csv", "--model", "m", cwd=workdir).stdout
    assert invoke_cli("predict", "reversed.csv", "--model", "m", "--sort", cwd=workdir).stdout == want
    r = invoke_cli("backtest", "reversed.csv", "--model", "m", "--sort", "--json", cwd=workdir)
    assert r.returncode == 0 and json.loads(r.stdout)["windows"] > 0, r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "data.csv", "--model", "m", "--output", "nodir/f.csv"],
        ["predict", "data.csv", "--model", "m", "--plot", "nodir/f.png"],
        ["backtest", "data.csv", "--model", "m", "--output", "nodir/hf.csv"],
    ],
)
def test_an_output_in_a_missing_folder_is_refused_before_any_work(fitted: Path, workdir: Path, args) -> None:
    r = invoke_cli(*args, cwd=workdir)
    assert r.returncode == 2 and "nodir" in r.stderr and "does not exist" in r.stderr and "mkdir" in r.stderr
    assert "Traceback" not in r.stderr and not (workdir / "nodir").exists()


def test_backtest_table(fitted: Path, workdir: Path) -> None:
    r = run_cli("backtest", "data.csv", "--model", "m", "--json", cwd=workdir)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["windows"] > 0 and {"model", "repeat_last", "seasonal_naive"} <= set(out["methods"])


def test_backtest_writes_every_windows_forecast(fitted: Path, workdir: Path) -> None:
    r = run_cli("backtest", "data.csv", "--model", "m", "--output", "hf.csv", "--json", cwd=workdir)
    assert r.returncode == 0, r.stderr
    hf = pd.read_csv(workdir / "hf.csv")
    assert list(hf.columns) == [
        "origin",
        "time",
        "step",
        "a",
        "b",
        "a_q0.1",
        "b_q0.1",
        "a_q0.5",
        "b_q0.5",
        "a_q0.9",
        "b_q0.9",
    ]
    assert len(hf) == json.loads(r.stdout)["windows"] * 12
    again = run_cli("backtest", "data.csv", "--model", "m", "--output", "hf.csv", cwd=workdir)
    assert again.returncode == 2 and "hf.csv already exists" in again.stderr and "Traceback" not in again.stderr


def test_export_onnx_runs_without_torch(fitted: Path, workdir: Path) -> None:
    pytest.importorskip("onnx", reason="ONNX export needs the onnx package (pip install 'tsrnn[onnx]')")
    pytest.importorskip("onnxruntime", reason="running exported models needs onnxruntime")
    r = run_cli("export", "--model", "m", "--format", "onnx", "--out", "exported", cwd=workdir)
    assert r.returncode == 0, r.stderr
    code = (
        "import sys, numpy as np, pandas as pd; sys.modules['torch'] = None\n"  # importing torch would fail
        "from tsrnn.onnx_runner import OnnxForecaster\n"
        "m = OnnxForecaster('exported')\n"
        "x = pd.read_csv('data.csv')[m.channels].to_numpy()[-m.lookback:]\n"
        "print(m.forecast(x)[0, :, :, m.point_index].tolist())"
    )
    from cli import run

    ran = run([sys.executable, "-c", code], cwd=workdir)
    assert ran.returncode == 0, ran.stderr
    predicted = run_cli("predict", "data.csv", "--model", "m", "--json", cwd=workdir)
    want = pd.DataFrame(json.loads(predicted.stdout))[["a", "b"]].to_numpy()
    np.testing.assert_allclose(np.array(json.loads(ran.stdout)), want, rtol=1e-4, atol=1e-4)
    bad = run_cli("export", "--model", "m", "--format", "tflite", "--out", "x", cwd=workdir)
    assert bad.returncode == 2 and "--format 'tflite' is not an export format" in bad.stderr


@pytest.mark.parametrize(
    "args,words",
    [
        (["predict", "data.csv", "--model", "missing"], ["no model at missing"]),
        (["predict", "data.csv", "--model", "data.csv"], ["not a model directory"]),
        (["predict", "other.csv", "--model", "m"], ["lacks column", "'b'"]),
        (["predict", "short.csv", "--model", "m"], ["has 10 rows", "48"]),
        (["fit", "data.csv", "--cell", "transformer", "--quiet"], ["cell", "lstm"]),
        (["fit", "data.csv", "--quantiles", "0.1,x", "--quiet"], ["--quantiles"]),
        (["fit", "data.csv", "--quantiles", "0,1.5", "--quiet"], ["quantiles"]),
        (["fit", "data.csv", "--device", "cuda", "--quiet"], ["CUDA"]),
        (["fit", "data.csv", "--stateful", "--quiet"], ["--tbptt-steps", "e.g. --tbptt-steps 100"]),  # flags, not names
    ],
)
def test_bad_input_exits_2(fitted: Path, workdir: Path, args: list[str], words: list[str]) -> None:
    df = pd.read_csv(workdir / "data.csv")
    df[["time", "a"]].to_csv(workdir / "other.csv", index=False)
    df.head(10).to_csv(workdir / "short.csv", index=False)
    r = invoke_cli(*args, cwd=workdir)
    assert r.returncode == 2, r.stderr
    for w in words:
        assert w in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_damaged_model_directory(fitted: Path, workdir: Path) -> None:
    import shutil

    shutil.copytree(fitted, workdir / "broken", dirs_exist_ok=True)
    (workdir / "broken" / "weights.safetensors").write_bytes(b"not a safetensors file")
    r = invoke_cli("predict", "data.csv", "--model", "broken", cwd=workdir)
    assert r.returncode == 2 and "damaged" in r.stderr and "Traceback" not in r.stderr


def test_ctrl_c_stops_cleanly_and_resume_continues(workdir: Path) -> None:
    args = [
        "fit",
        "data.csv",
        "-L",
        "48",
        "-H",
        "12",
        "--epochs",
        "200",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--patience",
        "0",
        "--out",
        "ctrlc",
        "--no-track",
    ]
    p = start_cli(*args, cwd=workdir)
    ckpt = workdir / ".ctrlc.checkpoint" / "last.safetensors"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.1)
    assert ckpt.exists(), "no checkpoint was written"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err  # saved, but not finished
    assert "interrupted" in err and "Traceback" not in err
    saved = workdir / "ctrlc" / "checkpoint" / "last.safetensors"
    assert saved.is_file() and (workdir / "ctrlc" / "weights.safetensors").is_file()
    config = json.loads((workdir / "ctrlc" / "config.json").read_text())
    done = len(config["history"]["epochs"])
    assert config["history"]["status"] == "interrupted" and done < 200
    r = invoke_cli(
        "fit",
        "data.csv",
        "-L",
        "48",
        "-H",
        "12",
        "--epochs",
        str(done + 1),
        "--hidden",
        "8",
        "--layers",
        "1",
        "--patience",
        "0",
        "--out",
        "resumed",
        "--resume",
        str(saved),
        "--quiet",
        "--json",
        "--no-track",
        cwd=workdir,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["epochs"] == done + 1  # the resumed history continues the old one


def test_predict_short_skip_forecasts_the_series_that_are_long_enough(fits, workdir: Path) -> None:
    assert fits["global"].returncode == 0, fits["global"].stderr
    long = pd.read_csv(workdir / "long.csv")
    s0 = long[long.store == "s0"]
    pd.concat([s0.tail(10), long[long.store != "s0"]]).to_csv(workdir / "short.csv", index=False)  # s0: 10 rows < L=24
    r = invoke_cli("predict", "short.csv", "--model", "global", cwd=workdir)
    assert r.returncode == 2 and "series 's0'" in r.stderr and "--short skip" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    r = invoke_cli(
        "predict", "short.csv", "--model", "global", "--short", "skip", "--json", "--plot", "s.png", cwd=workdir
    )
    assert r.returncode == 0, r.stderr
    assert "warning: 1 of 3 series in short.csv has fewer than 24 rows" in r.stderr and "'s0'" in r.stderr
    rows = json.loads(r.stdout)
    assert sorted({row["store"] for row in rows}) == ["s1", "s2"] and len(rows) == 12
    assert (workdir / "s.png").exists()
    r = invoke_cli("backtest", "short.csv", "--model", "global", cwd=workdir)  # s0 has no test window
    assert r.returncode == 0 and "warning: 1 of 3 series in short.csv has no test window" in r.stderr, r.stderr
    r = invoke_cli("predict", "short.csv", "--model", "global", "--short", "drop", cwd=workdir)
    assert r.returncode == 2 and "unknown --short 'drop'" in r.stderr and "error, skip" in r.stderr, r.stderr


def test_many_series_with_balanced_sampling_and_series_embedding(fits, workdir: Path) -> None:
    r = fits["global"]  # long.csv: --id-col store --sampling balanced --series-embedding 4
    assert r.returncode == 0, r.stderr
    from tsrnn import RNNForecaster

    model = RNNForecaster.load(workdir / "global")
    assert model.sampling == "balanced" and model.series_embedding == 4
    r = invoke_cli("predict", "long.csv", "--model", "global", "--json", cwd=workdir)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert sorted({row["store"] for row in rows}) == ["s0", "s1", "s2"] and len(rows) == 18
