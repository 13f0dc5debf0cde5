"""Training speed of tsrnn's ``RNNForecaster.fit`` against the fastest honest plain PyTorch loop.

Same model, same data, same work on both sides:

* data: the first 8640 rows (the ETT train split) of an ETT-format CSV, all numeric columns,
  standardized on those rows; windows L=96 -> H=96, stride 1 (8449 windows);
* model: nn.LSTM / nn.GRU (7 -> 64, 2 layers, batch_first, optionally bidirectional), then a
  Linear (D*64 -> 96*7) on the last layer's final hidden state (both directions concatenated);
* Adam lr 1e-3, MSE, batch 32, a fresh shuffle of the windows every epoch, no clipping, no
  schedule, no validation, no instance norm.

The plain loop pre-builds all windows once with ``unfold`` (the fastest plain loop there is);
tsrnn gathers each batch from the value array by index. Runs are interleaved (plain, tsrnn,
plain, tsrnn, ...) so drifts of the shared machine's load hit both sides alike; the median
samples/s of each side is reported, and the ratio tsrnn / plain (and the ratio of the best
epochs, the least disturbed by other load). Beside wall-clock samples/s,
samples per second of *process CPU time* are reported (tsrnn side: a timing callback whose
per-batch hook is the base no-op): on a shared machine wall time swings with other people's
load, CPU time much less (with --threads 1; with several threads, spinning inflates it too).

    python bench/speed.py [--data datasets/ETTh2.csv] [--rounds 3] [--epochs 1]
                          [--cells lstm gru bilstm] [--threads N]

``--suite models`` compares three *different* models instead, each doing its own default work, at
L = 96 and L = 720 (``--lookbacks``), H = 96, on the same 8640 training rows: the plain-loop LSTM
above (64 x 2, multivariate, batch 32), tsrnn's per-step model as the default was before segment
recurrence (``STEP_MODEL``: LSTM 32 x 1, channel-independent, instance norm, direct head, no dropout, batch 32)
and tsrnn's default model of the day (``RNNForecaster()``'s own defaults). For each, interleaved,
it reports windows/s and seconds per epoch (wall and process CPU); one window is one (L, 7) input
and its (H, 7) target, whatever the model does inside (channel independence makes it 7 sequences).

    python bench/speed.py --suite models --threads 1 [--lookbacks 96 720] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from tsrnn.training import Callback

ROOT = Path(__file__).resolve().parent.parent
L, H, BATCH, HIDDEN, LAYERS, LR, TRAIN_ROWS = 96, 96, 32, 64, 2, 1e-3, 8640
CELLS = {"lstm": ("lstm", False), "gru": ("gru", False), "bilstm": ("lstm", True)}


def load_frame(path: Path) -> pd.DataFrame:
    """The first 8640 rows of an ETT-format CSV (a date column + numeric columns)."""
    df = pd.read_csv(path).iloc[:TRAIN_ROWS].reset_index(drop=True)
    return df


def numeric_values(df: pd.DataFrame) -> np.ndarray:
    """Numeric columns (the date column dropped), standardized on these rows, float32."""
    num = df.select_dtypes("number").to_numpy(np.float64)
    return ((num - num.mean(0)) / num.std(0)).astype(np.float32)  # StandardScaler: ddof=0


class PlainModel(nn.Module):
    def __init__(self, n_ch: int, cell: str, bidirectional: bool) -> None:
        super().__init__()
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(n_ch, HIDDEN, LAYERS, batch_first=True, bidirectional=bidirectional)
        self.d = 2 if bidirectional else 1
        self.head = nn.Linear(self.d * HIDDEN, H * n_ch)
        self.n_ch = n_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(x)
        h = state[0] if isinstance(state, tuple) else state  # (layers * D, B, hidden)
        last = torch.cat([h[-2], h[-1]], dim=-1) if self.d == 2 else h[-1]  # last layer, [fwd, bwd]
        return self.head(last).view(-1, H, self.n_ch)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def plain_run(values: np.ndarray, cell: str, bidirectional: bool, epochs: int, seed: int, lookback: int = L) -> dict:
    """Build windows + model, train ``epochs`` epochs; samples/s of each epoch and the total wall time."""
    t_start = time.perf_counter()
    torch.manual_seed(seed)
    v = torch.from_numpy(values)
    w = v.unfold(0, lookback + H, 1).permute(0, 2, 1).contiguous()  # (N, L+H, C), built once
    x_all, y_all = w[:, :lookback].contiguous(), w[:, lookback:].contiguous()
    n = len(w)
    model = PlainModel(values.shape[1], cell, bidirectional)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.MSELoss()
    gen = torch.Generator().manual_seed(seed)
    sps = []
    model.train()
    cpu = []
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, BATCH):
            idx = perm[i : i + BATCH]
            xb, yb = x_all[idx], y_all[idx]
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sps.append(n / (time.perf_counter() - t0))
        cpu.append(n / (time.process_time() - c0))
    return {
        "samples_per_s": sps,
        "samples_per_cpu_s": cpu,
        "wall_s": time.perf_counter() - t_start,
        "n_windows": n,
        "params": n_params(model),
        "final_loss": loss.item(),
    }


def tsrnn_run(df: pd.DataFrame, cell: str, bidirectional: bool, epochs: int, seed: int) -> dict:
    from tsrnn import RNNForecaster

    timer = EpochCPU()

    t_start = time.perf_counter()
    est = RNNForecaster(
        cell=cell,
        bidirectional=bidirectional,
        lookback=L,
        horizon=H,
        hidden_size=HIDDEN,
        num_layers=LAYERS,
        batch_size=BATCH,
        lr=LR,
        norm="none",
        channel_independent=False,
        clip_grad_norm=None,
        patience=None,
        lr_schedule="none",
        val=0,
        test=0,
        epochs=epochs,
        random_state=seed,
        device="cpu",
        callbacks=[timer],
    )
    est.fit(df)
    wall = time.perf_counter() - t_start
    n = len(est.windows_.train)
    return {
        "samples_per_s": [e["samples_per_s"] for e in est.history_.epochs],
        "samples_per_cpu_s": [n / c for c in timer.cpu],
        "wall_s": wall,
        "n_windows": len(est.windows_.train),
        "params": n_params(est.model_),
        "final_loss": est.history_.epochs[-1]["loss"],
    }


STEP_MODEL = dict(
    cell="lstm",
    hidden_size=32,
    num_layers=1,
    head="direct",
    norm="instance",
    channel_independent=True,
    segment_length=None,
    batch_size=32,
    lr=1e-3,
    dropout=0.0,
)  # tsrnn's default model before segment recurrence


class EpochCPU(Callback):
    """A training callback: process CPU seconds of every epoch (its per-batch hook is the base no-op)."""

    def __init__(self) -> None:
        self.cpu: list[float] = []

    def on_epoch_start(self, trainer, epoch) -> None:
        self.c0 = time.process_time()

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        self.cpu.append(time.process_time() - self.c0)


def model_run(df: pd.DataFrame, params: dict, lookback: int, epochs: int, seed: int) -> dict:
    """``epochs`` epochs of RNNForecaster(**params) at this lookback, H = 96: windows/s and s/epoch."""
    from tsrnn import RNNForecaster

    timer = EpochCPU()
    est = RNNForecaster(
        **params, lookback=lookback, horizon=H, epochs=epochs, patience=None, lr_schedule="none", val=0, test=0,
        random_state=seed, device="cpu", callbacks=[timer],
    )  # fmt: skip
    est.fit(df)
    n = len(est.windows_.train)
    sps = [e["samples_per_s"] for e in est.history_.epochs]
    return {
        "samples_per_s": sps,
        "epoch_s": [n / v for v in sps],
        "epoch_cpu_s": timer.cpu,
        "n_windows": n,
        "params": n_params(est.model_),
    }


def plain_model_run(values: np.ndarray, lookback: int, epochs: int, seed: int) -> dict:
    """The plain-loop LSTM (64 x 2, multivariate) at this lookback: windows/s and s/epoch."""
    c0 = time.process_time()
    res = plain_run(values, "lstm", False, epochs, seed, lookback)
    res["epoch_s"] = [res["n_windows"] / v for v in res["samples_per_s"]]
    res["epoch_cpu_s"] = [res["n_windows"] / v for v in res["samples_per_cpu_s"]]
    res["setup_cpu_s"] = time.process_time() - c0 - sum(res["epoch_cpu_s"])
    return res


def models_suite(args: argparse.Namespace, df: pd.DataFrame, values: np.ndarray, info: dict) -> dict:
    from tsrnn import RNNForecaster

    default = {k: v for k, v in RNNForecaster().get_params().items() if k in STEP_MODEL}
    sides = {
        "plain_lstm": lambda lb, r: plain_model_run(values, lb, args.epochs, args.seed + r),
        "step_model": lambda lb, r: model_run(df, STEP_MODEL, lb, args.epochs, args.seed + r),
        "default": lambda lb, r: model_run(df, default, lb, args.epochs, args.seed + r),
    }
    results: dict = {"machine": info, "suite": "models", "step_model": STEP_MODEL, "default": default, "lookbacks": {}}
    for lookback in args.lookbacks:
        runs: dict[str, list] = {name: [] for name in sides}
        for r in range(args.rounds):
            for name, run in sides.items():
                res = run(lookback, r)
                res["load1"] = os.getloadavg()[0]
                runs[name].append(res)
                print(
                    f"# L={lookback} round {r + 1} {name:10s}: {res['samples_per_s'][-1]:.0f} windows/s, "
                    f"{res['epoch_s'][-1]:.1f} s/epoch, {res['epoch_cpu_s'][-1]:.1f} CPU-s/epoch, "
                    f"load1 {res['load1']:.2f}",
                    file=sys.stderr,
                )
        results["lookbacks"][lookback] = {
            name: {
                "params": rs[0]["params"],
                "n_windows": rs[0]["n_windows"],
                "windows_per_s_median": statistics.median(x for r in rs for x in r["samples_per_s"]),
                "epoch_s_median": statistics.median(x for r in rs for x in r["epoch_s"]),
                "epoch_cpu_s_median": statistics.median(x for r in rs for x in r["epoch_cpu_s"]),
                "epoch_s_all": [x for r in rs for x in r["epoch_s"]],
            }
            for name, rs in runs.items()
        }
    print(json.dumps(results, indent=2))
    print(f"\n{'L':>4s} {'model':12s} {'params':>9s} {'windows/s':>10s} {'s/epoch':>8s} {'CPU-s/epoch':>11s}")
    for lookback, table in results["lookbacks"].items():
        for name, c in table.items():
            print(
                f"{lookback:4d} {name:12s} {c['params']:9d} {c['windows_per_s_median']:10.0f} "
                f"{c['epoch_s_median']:8.2f} {c['epoch_cpu_s_median']:11.2f}"
            )
    return results


def machine() -> dict:
    """The machine a figure was taken on (the other bench scripts import this)."""
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "loadavg": list(os.getloadavg()),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "datasets" / "ETTh2.csv")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per side (default 3)")
    ap.add_argument("--epochs", type=int, default=1, help="epochs per run (default 1)")
    ap.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: leave torch's default, one per core)"
    )
    ap.add_argument("--suite", choices=("cells", "models"), default="cells")
    ap.add_argument("--lookbacks", type=int, nargs="+", default=[96, 720], help="--suite models: lookbacks")
    ap.add_argument("--out", type=Path, default=None, help="default bench/results/speed.json (speed_models.json)")
    args = ap.parse_args(argv)
    args.out = args.out or ROOT / "bench" / "results" / ("speed.json" if args.suite == "cells" else "speed_models.json")

    import tsrnn  # noqa: F401  (import cost outside the timings)

    if args.threads is not None:
        torch.set_num_threads(args.threads)

    df = load_frame(args.data)
    values = numeric_values(df)
    info = machine()
    print(
        f"# {info['cpu']}, nproc {info['nproc']}, torch {info['torch']} "
        f"({info['torch_threads']} torch threads), load {os.getloadavg()}",
        file=sys.stderr,
    )
    info["threads_source"] = "torch default" if args.threads is None else "--threads"
    if args.suite == "models":
        results = models_suite(args, df, values, info)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
        return results
    results: dict = {
        "machine": info,
        "data": str(args.data),
        "rows": len(df),
        "channels": values.shape[1],
        "lookback": L,
        "horizon": H,
        "batch_size": BATCH,
        "epochs_per_run": args.epochs,
        "rounds": args.rounds,
        "cells": {},
    }
    for name in args.cells:
        cell, bidi = CELLS[name]
        runs: dict[str, list] = {"plain": [], "tsrnn": []}
        load_before = os.getloadavg()
        for r in range(args.rounds):
            for side in ("plain", "tsrnn"):
                res = (
                    plain_run(values, cell, bidi, args.epochs, args.seed + r)
                    if side == "plain"
                    else tsrnn_run(df, cell, bidi, args.epochs, args.seed + r)
                )
                res["load1"] = os.getloadavg()[0]
                runs[side].append(res)
                print(
                    f"# {name} round {r + 1} {side:5s}: "
                    f"{', '.join(f'{s:.0f}' for s in res['samples_per_s'])} samples/s, "
                    f"{', '.join(f'{s:.0f}' for s in res['samples_per_cpu_s'])} samples/CPU-s, "
                    f"wall {res['wall_s']:.2f}s, load1 {res['load1']:.2f}",
                    file=sys.stderr,
                )
        p_params, t_params = runs["plain"][0]["params"], runs["tsrnn"][0]["params"]
        if p_params != t_params:
            print(f"# WARNING {name}: parameter counts differ: plain {p_params}, tsrnn {t_params}", file=sys.stderr)
        med = {s: statistics.median([x for r in runs[s] for x in r["samples_per_s"]]) for s in runs}
        med_cpu = {s: statistics.median([x for r in runs[s] for x in r["samples_per_cpu_s"]]) for s in runs}
        wall = {s: statistics.median([r["wall_s"] for r in runs[s]]) for s in runs}
        results["cells"][name] = {
            "params": {"plain": p_params, "tsrnn": t_params},
            "n_windows": {"plain": runs["plain"][0]["n_windows"], "tsrnn": runs["tsrnn"][0]["n_windows"]},
            "samples_per_s_median": med,
            "ratio_tsrnn_over_plain": med["tsrnn"] / med["plain"],
            "samples_per_s_best": {s: max(x for r in runs[s] for x in r["samples_per_s"]) for s in runs},
            "samples_per_cpu_s_median": med_cpu,  # samples per second of process CPU time: robust to load
            "cpu_ratio_tsrnn_over_plain": med_cpu["tsrnn"] / med_cpu["plain"],
            "best_ratio_tsrnn_over_plain": (
                max(x for r in runs["tsrnn"] for x in r["samples_per_s"])
                / max(x for r in runs["plain"] for x in r["samples_per_s"])
            ),
            "run_wall_s_median": wall,  # whole run: windows/model set-up + epochs (tsrnn: all of fit())
            "samples_per_s_all": {s: [x for r in runs[s] for x in r["samples_per_s"]] for s in runs},
            "load1_before": load_before[0],
            "load1_after": os.getloadavg()[0],
        }
    results["uptime"] = os.popen("uptime").read().strip()

    print(json.dumps(results, indent=2))
    print(
        f"\n{'cell':8s} {'params':>14s} {'plain s/s':>10s} {'tsrnn s/s':>10s} {'ratio':>6s} "
        f"{'best ratio':>10s} {'plain/cpu':>9s} {'tsrnn/cpu':>9s} {'ratio':>6s} {'plain run s':>11s} {'fit() s':>8s} {'load1':>10s}"
    )
    for name, c in results["cells"].items():
        pp = c["params"]
        params = f"{pp['plain']}" if pp["plain"] == pp["tsrnn"] else f"{pp['plain']}/{pp['tsrnn']}"
        print(
            f"{name:8s} {params:>14s} {c['samples_per_s_median']['plain']:10.0f} "
            f"{c['samples_per_s_median']['tsrnn']:10.0f} {c['ratio_tsrnn_over_plain']:6.3f} "
            f"{c['best_ratio_tsrnn_over_plain']:10.3f} "
            f"{c['samples_per_cpu_s_median']['plain']:9.0f} {c['samples_per_cpu_s_median']['tsrnn']:9.0f} "
            f"{c['cpu_ratio_tsrnn_over_plain']:6.3f} "
            f"{c['run_wall_s_median']['plain']:11.2f} {c['run_wall_s_median']['tsrnn']:8.2f} "
            f"{c['load1_before']:4.2f}->{c['load1_after']:4.2f}"
        )
    default = "torch default" if args.threads is None else "set with --threads"
    print(f"torch threads: {info['torch_threads']} ({default}), {results['uptime']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
