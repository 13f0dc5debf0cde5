"""MLflow tracking of `tsrnn fit` into a real local store, `tsrnn runs`, --no-track (Ctrl-C and resume: test_mlflow_servers).

The tracked fit runs as a `python -m tsrnn` subprocess; `tsrnn runs`, which reads what it tracked,
and refusals run the same command line in this process (``cli.invoke_cli``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cli import invoke_cli, run, run_cli
from tracked_cli import SMALL, hourly_workdir

pytestmark = pytest.mark.slow  # the CLI as subprocesses, or reading what one tracked


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hourly_workdir(tmp_path_factory, "track")


@pytest.fixture(scope="module")
def tracked(workdir: Path) -> str:
    r = run_cli("fit", "data.csv", *SMALL, "--out", "m", "--json", "--run-name", "first", cwd=workdir)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["run_id"]


def test_fit_is_an_mlflow_run_in_the_local_store(tracked: str, workdir: Path) -> None:
    assert (workdir / "mlruns" / "mlflow.db").is_file()
    r = invoke_cli("runs", "--json", cwd=workdir)
    assert r.returncode == 0, r.stderr
    runs = json.loads(r.stdout)
    assert runs[0]["run_id"] == tracked and runs[0]["status"] == "FINISHED"
    assert "tsrnn fit data.csv" in runs[0]["command"] and runs[0]["data"] == "data.csv"
    assert runs[0]["metrics"]["test_model_mse"] > 0


def test_runs_show_has_params_metrics_per_epoch_and_artifacts(tracked: str, workdir: Path) -> None:
    r = invoke_cli("runs", "show", tracked, "--json", cwd=workdir)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["params"]["lookback"] == "48" and info["params"]["data.rows"] == "500"
    assert len(info["params"]["data.hash"]) == 16 and info["params"]["data.train_rows"] == "350"
    assert {"loss", "val_loss", "lr", "grad_norm", "samples_per_s", "test_seasonal_naive_mse"} <= set(info["metrics"])
    assert {"tsrnn.version", "torch.version", "python.version", "tsrnn.device"} <= set(info["tags"])
    assert {"config.json", "params.json", "forecast.png", "checkpoint/last.safetensors"} <= set(info["artifacts"])
    assert [m["name"] for m in info["models"]] == ["model"]
    import mlflow

    history = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}").get_metric_history(tracked, "loss")
    assert [m.step for m in history] == [1, 2]  # one point per epoch


def test_no_track_never_imports_mlflow(workdir: Path) -> None:
    code = (
        "import sys; from tsrnn.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('mlflow' in sys.modules)"
    )
    r = run([sys.executable, "-c", code, "fit", "data.csv", *SMALL, "--out", "nt", "--no-track"], workdir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "False"


def test_unreachable_server_is_reported_before_training(workdir: Path) -> None:
    import socket

    with socket.socket() as s:  # a free port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = invoke_cli(
        "fit", "data.csv", *SMALL, "--out", "never", "--tracking-uri", f"http://127.0.0.1:{port}", cwd=workdir
    )
    assert r.returncode == 2 and "does not answer" in r.stderr and "--no-track" in r.stderr
    assert not (workdir / "never").exists()


def test_no_track_refuses_tracking_options(workdir: Path) -> None:
    r = invoke_cli("fit", "data.csv", "--no-track", "--experiment", "x", cwd=workdir)
    assert r.returncode == 2 and "--experiment" in r.stderr and "Traceback" not in r.stderr
