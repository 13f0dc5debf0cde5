"""tsrnn.distributed: a no-op outside torchrun, and a real 2-process data-parallel fit (gloo, CPU)
under torchrun on datasets/demo.csv (tests/distributed_fit.py is what each process runs)."""

from __future__ import annotations

import json
import math
import socket
import sys
from pathlib import Path

import pytest
import torch
from cli import invoke_cli, run
from safetensors.torch import load_file

from tsrnn import RNNForecaster, distributed

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_torchrun(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def test_outside_torchrun_everything_is_single_process(no_torchrun):
    assert distributed.world_size() == 1 and distributed.rank() == 0 and distributed.is_main()
    cpu = torch.device("cpu")
    assert distributed.init(cpu) == cpu and not torch.distributed.is_initialized()
    t = torch.tensor([1.5, -2.0])
    for reduce in (distributed.all_reduce_sum, distributed.all_reduce_max):
        assert torch.equal(reduce(t), t)
    assert distributed.same_everywhere(7, cpu) == 7
    distributed.shutdown()  # nothing to leave: no error


def test_rank_and_world_come_from_torchrun_variables(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    assert distributed.world_size() == 4 and distributed.rank() == 2 and not distributed.is_main()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """Two processes train one model with DistributedDataParallel over gloo; their reports."""
    out = tmp_path_factory.mktemp("ddp")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--nnodes",
        "1",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{free_port()}",
        str(ROOT / "tests" / "distributed_fit.py"),
        str(out),
    ]
    done = run(cmd, ROOT, timeout=120)  # cli.ENV: one OpenMP thread, no torchrun variables from outside
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    reports = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    weights = [load_file(str(out / f"weights{r}.safetensors")) for r in (0, 1)]
    return out, reports, weights


@pytest.mark.slow  # torchrun
def test_both_processes_end_with_the_same_weights_and_logs(ddp_run):
    _, (r0, r1), (w0, w1) = ddp_run
    assert (r0["world"], r0["is_main"], r1["world"], r1["is_main"]) == (2, True, 2, False)
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    assert r0["history"] == r1["history"] and r0["status"] == r1["status"]
    assert len(r0["history"]) >= 1 and all("val_loss" in e and math.isfinite(e["loss"]) for e in r0["history"])


@pytest.mark.slow  # torchrun
def test_each_process_trains_on_half_of_every_epoch(ddp_run):
    _, reports, _ = ddp_run
    for r in reports:
        assert r["windows_trained"] == [math.ceil(r["train_windows"] / 2)] * len(r["history"])


@pytest.mark.slow  # torchrun
def test_the_saved_model_loads_and_predicts(ddp_run):
    out, _, (w0, _) = ddp_run
    model = RNNForecaster.load(out / "model")
    for k, v in model.model_.state_dict().items():
        assert torch.equal(v, w0[k])
    forecast = model.predict()
    assert forecast.shape == (6, 3) and forecast.notna().all().all()
    assert (out / "checkpoint" / "last.safetensors").is_file()


@pytest.mark.slow  # torchrun
def test_stateful_mode_is_refused_by_every_process(ddp_run):
    _, reports, _ = ddp_run
    for r in reports:
        assert "cannot be split across torchrun's 2 processes" in r["stateful"]


@pytest.mark.slow  # torchrun
def test_torchrun_tsrnn_fit_tracks_saves_and_prints_once(tmp_path):
    """`torchrun -m tsrnn fit`: both processes train, rank 0 alone writes the model, the MLflow run
    and the report."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--nnodes",
        "1",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{free_port()}",
        "-m",
        "tsrnn",
        "fit",
        str(ROOT / "datasets" / "demo.csv"),
        "-L",
        "24",
        "-H",
        "6",
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--quiet",
        "--json",
        "--out",
        "model",
        "--experiment",
        "ddp",
    ]
    done = run(cmd, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout)  # one report: rank 1 printed nothing
    assert summary["epochs"] == 2 and summary["model_dir"] == "model"
    assert len(RNNForecaster.load(tmp_path / "model").predict()) == 6
    runs = invoke_cli("runs", "--experiment", "ddp", "--json", cwd=tmp_path)
    assert [r["run_id"] for r in json.loads(runs.stdout)] == [summary["run_id"]]
