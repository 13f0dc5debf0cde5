"""The MLflow parts against real servers: a tracking server (`mlflow server`, sqlite backend)
and a model server (`tsrnn serve`), both started here on 127.0.0.1 on a free port; the pyfunc
model, `runs:/` and `models:/` URIs, --register, and resume of a killed run.

What trains, tracks or serves runs as `python -m tsrnn` subprocesses; commands that only read what
those made (`tsrnn runs`, `tsrnn predict --model runs:/...`) and refusals of mistakes run the same
command line in this process (``cli.invoke_cli``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli import TSRNN, invoke_cli, run_cli, start, start_cli
from tracked_cli import SMALL, hourly_workdir

pytestmark = pytest.mark.slow  # servers, and the CLI as subprocesses (or reading what they made)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {proc.communicate()[1][-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not come up")


def start_server(cmd: list[str], cwd: Path, **env: str) -> subprocess.Popen:
    """A server in its own process group, so that stopping it stops its workers too."""
    return start(cmd, cwd, env, stdout=subprocess.DEVNULL, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # workers left behind by the server, if any
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hourly_workdir(tmp_path_factory, "servers", trend=0.01)


@pytest.fixture(scope="module")
def local_run(workdir: Path) -> str:
    """A `tsrnn fit` into the default local store, registered as `demo`."""
    r = run_cli("fit", "data.csv", *SMALL, "--out", "m", "--json", "--register", "demo", cwd=workdir)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["run_id"]


def local_store(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"


def local_forecast(workdir: Path, frame: pd.DataFrame) -> pd.DataFrame:
    from tsrnn import RNNForecaster

    return RNNForecaster.load(workdir / "m").predict(frame).reset_index()


# ----------------------------------------------------------------------------- the pyfunc model


def test_logged_model_is_a_pyfunc_with_signature_that_forecasts(local_run: str, workdir: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(local_store(workdir))
    frame = pd.read_csv(workdir / "data.csv")  # times as strings, as read from a CSV
    model = mlflow.pyfunc.load_model(f"runs:/{local_run}/model")
    inputs = {c.name: str(c.type).removeprefix("DataType.") for c in model.metadata.get_input_schema().inputs}
    assert inputs == {"time": "Any", "a": "double", "b": "double"}
    got = model.predict(frame)
    pd.testing.assert_frame_equal(got, local_forecast(workdir, frame))
    frame["time"] = pd.to_datetime(frame["time"])  # datetimes pass the signature too
    pd.testing.assert_frame_equal(model.predict(frame.tail(60)), local_forecast(workdir, frame.tail(60)))
    example = mlflow.MlflowClient(local_store(workdir)).search_logged_models(
        experiment_ids=[mlflow.get_experiment_by_name("tsrnn").experiment_id]
    )[0]
    assert example.source_run_id == local_run


def test_predict_cli_takes_runs_and_models_uris(local_run: str, workdir: Path) -> None:
    by_dir = invoke_cli("predict", "data.csv", "--model", "m", cwd=workdir)
    by_run = invoke_cli("predict", "data.csv", "--model", f"runs:/{local_run}/model", cwd=workdir)
    by_name = invoke_cli("predict", "data.csv", "--model", "models:/demo/1", cwd=workdir)
    assert by_dir.returncode == by_run.returncode == by_name.returncode == 0, by_run.stderr + by_name.stderr
    assert by_dir.stdout == by_run.stdout == by_name.stdout and by_dir.stdout.count("\n") == 13


def test_bad_model_uris_are_clear_errors(local_run: str, workdir: Path) -> None:
    r = invoke_cli("predict", "data.csv", "--model", "runs:/0123456789abcdef0123456789abcdef/model", cwd=workdir)
    assert r.returncode == 2 and "cannot fetch the model" in r.stderr and "Traceback" not in r.stderr
    r = invoke_cli("predict", "data.csv", "--model", "models:/no-such-model/3", cwd=workdir)
    assert r.returncode == 2 and "cannot fetch the model" in r.stderr
    r = invoke_cli("predict", "data.csv", "--model", "m", "--tracking-uri", local_store(workdir), cwd=workdir)
    assert r.returncode == 2 and "--tracking-uri applies to an MLflow model" in r.stderr


def test_register_needs_tracking(workdir: Path) -> None:
    r = invoke_cli("fit", "data.csv", "--no-track", "--register", "x", cwd=workdir)
    assert r.returncode == 2 and "--register" in r.stderr and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- detectors


@pytest.fixture(scope="module")
def detector_run(workdir: Path) -> tuple[str, dict]:
    """A `tsrnn detect` that fits a detector, tracked in experiment `det`: (run id, its --json report)."""
    r = run_cli(
        "detect",
        "data.csv",
        "--epochs",
        "2",
        "--window",
        "16",
        "--threshold",
        "quantile",
        "--json",
        "--experiment",
        "det",
        cwd=workdir,
    )
    assert r.returncode == 0, r.stderr
    runs = json.loads(invoke_cli("runs", "--experiment", "det", "--json", cwd=workdir).stdout)
    return runs[0]["run_id"], json.loads(r.stdout)


def test_detector_runs_log_a_servable_model_used_by_detect(detector_run: tuple[str, dict], workdir: Path) -> None:
    run_id, report = detector_run
    uri = f"runs:/{run_id}/model"
    again = invoke_cli("detect", "data.csv", "--model", uri, "--json", "--no-track", cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["flagged"] == report["flagged"]
    import mlflow

    mlflow.set_tracking_uri(local_store(workdir))
    scored = mlflow.pyfunc.load_model(uri).predict(pd.read_csv(workdir / "data.csv"))
    assert list(scored.columns[:3]) == ["time", "score", "is_anomaly"] and len(scored) == 500
    assert int(scored["is_anomaly"].sum()) == report["flagged"]


# ----------------------------------------------------------------------------- resume a killed run


def test_killed_run_resumes_from_its_checkpoint_by_run_id(workdir: Path) -> None:
    args = ["fit", "data.csv", "-L", "48", "-H", "12", "--epochs", "300", "--hidden", "8", "--patience", "0"]
    p = start_cli(*args, "--out", "killed", "--experiment", "resume", "--quiet", cwd=workdir)
    ckpt = workdir / ".killed.checkpoint" / "last.safetensors"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    run = json.loads(invoke_cli("runs", "--experiment", "resume", "--json", cwd=workdir).stdout)[0]
    assert run["status"] == "KILLED" and f"--resume {run['run_id']}" in err
    import mlflow

    client = mlflow.MlflowClient(local_store(workdir))
    done = len(client.get_metric_history(run["run_id"], "loss"))
    r = invoke_cli(
        "fit",
        "data.csv",
        "--resume",
        run["run_id"],
        "--epochs",
        str(done + 2),
        "--out",
        "resumed",
        "--json",
        cwd=workdir,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["run_id"] == run["run_id"] and out["epochs"] == done + 2
    assert client.get_run(run["run_id"]).info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run["run_id"], "loss")] == list(range(1, done + 3))
    params = client.get_run(run["run_id"]).data
    assert params.params["lookback"] == "48" and params.tags["resumed.epochs"] == str(done + 2)


def test_resume_refuses_what_it_cannot_use(workdir: Path) -> None:
    r = invoke_cli("fit", "data.csv", "--resume", "not-a-run", cwd=workdir)
    assert r.returncode == 2 and "neither a checkpoint file nor an MLflow run id" in r.stderr
    r = invoke_cli("fit", "data.csv", "--resume", "0123456789abcdef0123456789abcdef", cwd=workdir)
    assert r.returncode == 2 and "no MLflow run" in r.stderr
    r = invoke_cli("fit", "data.csv", "--resume", "0123456789abcdef0123456789abcdef", "--no-track", cwd=workdir)
    assert r.returncode == 2 and "--no-track" in r.stderr


# ----------------------------------------------------------------------------- tracking from code


def test_code_api_tracks_a_fit(workdir: Path, tmp_path: Path) -> None:
    import mlflow

    from tsrnn import RNNForecaster
    from tsrnn.tracking import start_run

    store = f"sqlite:///{tmp_path / 'code.db'}"
    with start_run(experiment="code", tracking_uri=store) as run:
        model = RNNForecaster(
            lookback=24, horizon=6, hidden_size=8, epochs=2, random_state=0, verbose=False, callbacks=[run.callback]
        ).fit(workdir / "data.csv")
        run.log_estimator(model)
    client = mlflow.MlflowClient(store)
    info = client.get_run(run.id)
    assert info.info.status == "FINISHED" and info.data.params["horizon"] == "6"
    assert info.data.metrics["test_model_mse"] == pytest.approx(model.metrics_["test"]["model"]["mse"])
    assert [m.step for m in client.get_metric_history(run.id, "val_loss")] == [1, 2]
    mlflow.set_tracking_uri(store)
    got = mlflow.pyfunc.load_model(f"runs:/{run.id}/model").predict(pd.read_csv(workdir / "data.csv"))
    pd.testing.assert_frame_equal(got, model.predict().reset_index())


def test_code_api_marks_a_failing_run_failed(tmp_path: Path) -> None:
    import mlflow

    from tsrnn import RNNForecaster
    from tsrnn.errors import DataError
    from tsrnn.tracking import start_run

    store = f"sqlite:///{tmp_path / 'code.db'}"
    with pytest.raises(DataError):
        with start_run(experiment="code", tracking_uri=store) as run:
            RNNForecaster(callbacks=[run.callback]).fit(tmp_path / "missing.csv")
    info = mlflow.MlflowClient(store).get_run(run.id)
    assert info.info.status == "FAILED" and "missing.csv" in info.data.tags["tsrnn.error"]


# ----------------------------------------------------------------------------- real servers


def mlflow_server(folder: Path, port: int, *options: str) -> subprocess.Popen:
    """`mlflow server` on 127.0.0.1:``port`` with a sqlite store in ``folder``, one worker, no
    background job workers (nothing here uses them)."""
    return start_server(
        [
            *(sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)),
            *("--backend-store-uri", f"sqlite:///{folder / 'server.db'}", "--workers", "1", *options),
        ],
        folder,
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
    )


@pytest.fixture(scope="module")
def tracking_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, subprocess.Popen]]]:
    """Two tracking servers, started side by side (each takes seconds to come up): "remote" for a
    test to log to, "gone" for a test to stop mid-training. ``{name: (url, process)}``."""
    remote, gone = tmp_path_factory.mktemp("remote"), tmp_path_factory.mktemp("gone")
    servers = {}
    try:
        for name, folder, options in (
            ("remote", remote, ("--artifacts-destination", str(remote / "artifacts"))),
            ("gone", gone, ()),
        ):
            port = free_port()
            servers[name] = (f"http://127.0.0.1:{port}", mlflow_server(folder, port, *options))
        for url, proc in servers.values():
            wait_until_up(url + "/health", proc)
        yield servers
    finally:
        for _, proc in servers.values():
            if proc.poll() is None:
                stop(proc)


@pytest.fixture()
def tracking_server(tracking_servers) -> str:
    return tracking_servers["remote"][0]


def test_fit_logs_to_a_real_tracking_server(tracking_server: str, workdir: Path) -> None:
    r = run_cli(
        "fit",
        "data.csv",
        *SMALL,
        "--out",
        "served",
        "--force",
        "--json",
        "--tracking-uri",
        tracking_server,
        "--experiment",
        "remote",
        "--register",
        "remote-demo",
        cwd=workdir,
    )
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["run_id"]
    listed = invoke_cli("runs", "--tracking-uri", tracking_server, "--experiment", "remote", "--json", cwd=workdir)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["run_id"] == run_id
    assert not (workdir / "mlruns" / "artifacts" / run_id).exists()  # nothing went to the local store
    import mlflow

    mlflow.set_tracking_uri(tracking_server)
    frame = pd.read_csv(workdir / "data.csv")
    got = mlflow.pyfunc.load_model("models:/remote-demo/1").predict(frame)
    from tsrnn import RNNForecaster

    pd.testing.assert_frame_equal(got, RNNForecaster.load(workdir / "served").predict(frame).reset_index())
    by_cli = invoke_cli(
        "predict", "data.csv", "--model", f"runs:/{run_id}/model", "--tracking-uri", tracking_server, cwd=workdir
    )
    assert by_cli.returncode == 0 and by_cli.stdout.count("\n") == 13, by_cli.stderr


def test_tracking_server_going_away_during_training_keeps_the_model(tracking_servers, workdir: Path) -> None:
    url, server = tracking_servers["gone"]
    fit = start_cli(
        *("fit", "data.csv", "-L", "48", "-H", "12", "--epochs", "300", "--hidden", "8", "--patience", "0"),
        *("--out", "orphan", "--quiet", "--tracking-uri", url),
        cwd=workdir,
    )
    ckpt = workdir / ".orphan.checkpoint" / "last.safetensors"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and fit.poll() is None:
        time.sleep(0.1)
    stop(server)  # the server goes away after the first epoch was logged
    time.sleep(3)
    fit.send_signal(signal.SIGINT)
    _, err = fit.communicate(timeout=240)
    assert fit.returncode == 130, err
    assert "MLflow tracking failed" in err and "the model is saved in orphan" in err and "Traceback" not in err
    from tsrnn import RNNForecaster

    assert len(RNNForecaster.load(workdir / "orphan").predict()) == 12


@pytest.fixture(scope="module")
def model_servers(local_run: str, workdir: Path) -> Iterator[dict[str, int]]:
    """`tsrnn serve` of the local run's model, by run URI ("run") and by directory ("directory"),
    started side by side (each takes seconds to come up): ``{source: port}``."""
    models = {"run": f"runs:/{local_run}/model", "directory": "m"}
    servers: dict[str, tuple[int, subprocess.Popen]] = {}
    try:
        for source, model in models.items():
            port = free_port()
            servers[source] = (port, start_server([*TSRNN, "serve", "--model", model, "--port", str(port)], workdir))
        for port, proc in servers.values():
            wait_until_up(f"http://127.0.0.1:{port}/ping", proc)
        yield {source: port for source, (port, _) in servers.items()}
    finally:
        for _, proc in servers.values():
            stop(proc)


@pytest.mark.parametrize("source", ["run", "directory"])
def test_model_server_answers_invocations_with_the_forecast(source: str, model_servers, workdir: Path) -> None:
    port = model_servers[source]
    frame = pd.read_csv(workdir / "data.csv").tail(100)
    body = json.dumps({"dataframe_split": frame.to_dict(orient="split")}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as r:
        answer = json.loads(r.read())["predictions"]
    short = json.dumps({"dataframe_split": frame.tail(10).to_dict(orient="split")}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", short, {"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 400
    assert "looks back 48 rows" in json.loads(refused.value.read())["message"]  # tsrnn's words, first
    got = pd.DataFrame(answer)
    want = local_forecast(workdir, frame)
    assert list(got.columns) == ["time", "a", "b"] and len(got) == 12
    assert list(pd.to_datetime(got["time"])) == list(want["time"])
    np.testing.assert_allclose(got[["a", "b"]].to_numpy(), want[["a", "b"]].to_numpy(), rtol=1e-6)


def test_serve_refuses_a_busy_port_and_a_missing_model(workdir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = invoke_cli("serve", "--model", "m", "--port", str(s.getsockname()[1]), cwd=workdir)
    assert r.returncode == 2 and "cannot listen" in r.stderr and "Traceback" not in r.stderr
    r = invoke_cli("serve", "--model", "no-such-dir", "--port", str(free_port()), cwd=workdir)
    assert r.returncode == 2 and "no-such-dir" in r.stderr and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- user mistakes


def test_a_mistaken_resume_leaves_the_named_run_as_it_was(
    local_run: str, detector_run: tuple[str, dict], workdir: Path
) -> None:
    import mlflow

    client = mlflow.MlflowClient(local_store(workdir))
    before = client.get_run(local_run)
    (workdir / "other.csv").write_text((workdir / "data.csv").read_text().replace(",0.", ",1."))
    r = invoke_cli("fit", "other.csv", "--resume", local_run, cwd=workdir)  # other data
    assert r.returncode == 2 and "is not the data MLflow run" in r.stderr and "Traceback" not in r.stderr
    r = invoke_cli("fit", "data.csv", "--resume", detector_run[0], cwd=workdir)  # no forecaster checkpoint
    assert r.returncode == 2 and "has no params.json" in r.stderr
    assert client.get_run(detector_run[0]).info.status == "FINISHED"
    after = client.get_run(local_run)
    assert (after.info.status, after.data.tags, after.data.params) == (
        before.info.status,
        before.data.tags,
        before.data.params,
    )


@pytest.mark.parametrize(
    "args,words",
    [
        (["fit", "data.csv", "--tracking-uri", "garbage://x", "--epochs", "1"], ["cannot use the tracking store"]),
        (["runs", "--tracking-uri", "garbage://x"], ["cannot use the tracking store"]),
        (["fit", "data.csv", "--experiment", ""], ["--experiment must not be empty"]),
        (["fit", "data.csv", "--register", "bad/name"], ["--register", "bad/name"]),
        (["serve", "--model", "m", "--port", "99999"], ["not a TCP port"]),
        (["fit", "data.csv", "--resume", "data.csv", "--out", "never"], ["not a tsrnn checkpoint"]),
        (
            ["fit", "data.csv", "--resume", "0123456789abcdef0123456789abcdef", "--run-name", "x"],
            ["--run-name", "--resume"],
        ),
    ],
)
def test_mistakes_are_refused_before_anything_runs(workdir: Path, args: list[str], words: list[str]) -> None:
    r = invoke_cli(*args, cwd=workdir)
    assert r.returncode == 2, r.stderr
    assert all(w in r.stderr for w in words) and "Traceback" not in r.stderr
    assert not (workdir / "never").exists()


def test_reading_commands_create_no_store_and_errors_name_the_uri(
    local_run: str, workdir: Path, tmp_path: Path
) -> None:
    r = invoke_cli("runs", cwd=tmp_path)
    assert r.returncode == 2 and "no MLflow store" in r.stderr and not (tmp_path / "mlruns").exists()
    r = invoke_cli("detect", "data.csv", "--model", f"runs:/{local_run}/model", "--no-track", cwd=workdir)
    assert r.returncode == 2 and f"runs:/{local_run}/model holds a RNNForecaster" in r.stderr
    assert "/tmp/tsrnn-model-" not in r.stderr
