"""GPU training speed: ``RNNForecaster.fit`` against a plain PyTorch loop of the same model, with
all data on the device on both sides, fp32 and bf16.

Written to run on an H100 (``--device cuda``, the default when a GPU is there); ``--device cpu
--quick`` runs the same code with tiny sizes to check the script itself. No mlflow import.

Data: ``--data synthetic`` (default: ``--rows`` rows of 7 seeded channels, sines of several
periods plus noise) or an ETT-format CSV such as datasets/ETTh2.csv (all numeric columns);
standardized on the CPU before anything is timed. Windows L = 96 -> H = 96, stride 1, every
window in every epoch, a fresh shuffle per epoch.

Model (both sides): ``nn.LSTM`` / ``nn.GRU`` (7 -> hidden, ``layers``, batch_first, optionally
bidirectional) and a Linear from the last layer's final hidden state (both directions) to all
96 x 7 outputs; Adam lr 1e-3, MSE, no clipping, no schedule, no validation, no instance norm.
tsrnn runs ``RNNForecaster(cell, hidden_size, num_layers, bidirectional, batch_size,
norm="none", channel_independent=False, clip_grad_norm=None, lr_schedule="none", val=0,
test=0, patience=None, precision=fp32|bf16)``; bf16 is ``torch.autocast(dtype=bfloat16)`` on
both sides. The plain loop builds all windows on the device once (``unfold``) and indexes
batches out of them; tsrnn gathers each batch on the device from the (rows, 7) series by index.

Configurations: LSTM 2x64 at batch 32, 256, 1024 and 4096; LSTM 2x256, GRU 2x256 and BiLSTM
2x256 at batch 256 (``--configs`` picks some). Each side runs ``--warmup`` untimed epochs (cuDNN
autotuning, allocator) then ``--epochs`` timed ones; an epoch is timed between two
``torch.cuda.synchronize()`` calls. Sides are interleaved per configuration (plain, tsrnn).
Reported: the median samples/s of each side and the ratio tsrnn / plain; on CUDA, with
``--sync-debug``, also how many host-device synchronisations tsrnn's timed epochs made
(``torch.cuda.set_sync_debug_mode("warn")``): a number that grows with the batches of an epoch
would be a per-batch round trip.

Not done here: ``torch.compile`` or CUDA graphs (tsrnn has no such option; comparing them only on
the plain side would not be the same work).

    python bench/gpu_speed.py                                   # on a GPU machine
    python bench/gpu_speed.py --configs lstm2x64-b32 lstm2x64-b4096 --precisions bf16 --sync-debug
    python bench/gpu_speed.py --device cpu --quick              # a check of the script, anywhere
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import machine  # noqa: E402  (bench/speed.py: cpu, torch, python, date)

CONFIGS = {  # name: (cell, hidden, layers, bidirectional, batch)
    "lstm2x64-b32": ("lstm", 64, 2, False, 32),
    "lstm2x64-b256": ("lstm", 64, 2, False, 256),
    "lstm2x64-b1024": ("lstm", 64, 2, False, 1024),
    "lstm2x64-b4096": ("lstm", 64, 2, False, 4096),
    "lstm2x256-b256": ("lstm", 256, 2, False, 256),
    "gru2x256-b256": ("gru", 256, 2, False, 256),
    "bilstm2x256-b256": ("lstm", 256, 2, True, 256),
}
LR = 1e-3


def synthetic(rows: int, channels: int = 7, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = np.arange(rows)[:, None]
    periods = np.array([24, 168, 12, 24, 48, 24 * 7, 6])[:channels]
    x = np.sin(2 * np.pi * k / periods + rng.uniform(0, 6.3, channels)) + 0.2 * rng.standard_normal((rows, channels))
    return x.astype(np.float32)


def load_values(data: str, rows: int) -> np.ndarray:
    """(rows, 7) float32, standardized per channel."""
    if data == "synthetic":
        v = synthetic(rows).astype(np.float64)
    else:
        import pandas as pd

        v = pd.read_csv(data).select_dtypes("number").to_numpy(np.float64)[:rows]
    return ((v - v.mean(0)) / v.std(0)).astype(np.float32)


class PlainModel(nn.Module):
    def __init__(self, n_ch: int, horizon: int, cell: str, hidden: int, layers: int, bidirectional: bool) -> None:
        super().__init__()
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(
            n_ch, hidden, layers, batch_first=True, bidirectional=bidirectional
        )
        self.d, self.n_ch, self.horizon = (2 if bidirectional else 1), n_ch, horizon
        self.head = nn.Linear(self.d * hidden, horizon * n_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(x)
        h = state[0] if isinstance(state, tuple) else state  # (layers * D, B, hidden)
        last = torch.cat([h[-2], h[-1]], dim=-1) if self.d == 2 else h[-1]  # last layer, [fwd, bwd]
        return self.head(last).view(-1, self.horizon, self.n_ch)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def plain_run(
    values: np.ndarray,
    cfg: tuple,
    L: int,
    H: int,
    bf16: bool,
    epochs: int,
    warmup: int,
    device: torch.device,
    seed: int,
) -> dict:
    cell, hidden, layers, bidi, batch = cfg
    torch.manual_seed(seed)
    w = torch.from_numpy(values).to(device).unfold(0, L + H, 1).permute(0, 2, 1)  # (N, L+H, C) on the device
    x_all, y_all = w[:, :L].contiguous(), w[:, L:].contiguous()
    n = len(x_all)
    model = PlainModel(values.shape[1], H, cell, hidden, layers, bidi).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(seed)
    sps = []
    for e in range(warmup + epochs):
        sync(device)
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen).to(device)
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            with autocast(device, bf16):
                loss = nn.functional.mse_loss(model(x_all[idx]).float(), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)
        if e >= warmup:
            sps.append(n / (time.perf_counter() - t0))
    return {
        "samples_per_s": sps,
        "n_windows": n,
        "params": sum(p.numel() for p in model.parameters()),
        "final_loss": float(loss.detach()),
    }


def tsrnn_run(
    values: np.ndarray,
    cfg: tuple,
    L: int,
    H: int,
    bf16: bool,
    epochs: int,
    warmup: int,
    device: torch.device,
    seed: int,
    sync_debug: bool,
) -> dict:
    from tsrnn import RNNForecaster
    from tsrnn.data import from_arrays
    from tsrnn.training import Callback

    cell, hidden, layers, bidi, batch = cfg

    class Clock(Callback):  # epoch wall time between device syncs; host syncs counted with --sync-debug
        def __init__(self) -> None:
            self.sps: list[float] = []
            self.syncs: list[int] = []

        def on_epoch_start(self, trainer, epoch) -> None:
            sync(device)
            self.t0 = time.perf_counter()
            if sync_debug and epoch > warmup:
                self.caught = warnings.catch_warnings(record=True)
                self.seen = self.caught.__enter__()
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")

        def on_epoch_end(self, trainer, epoch, logs) -> None:
            if sync_debug and epoch > warmup:
                torch.cuda.set_sync_debug_mode("default")
                self.syncs.append(sum("synchroniz" in str(w.message) for w in self.seen))
                self.caught.__exit__(None, None, None)
            sync(device)
            if epoch > warmup:
                self.sps.append(n / (time.perf_counter() - self.t0))

    clock = Clock()
    data = from_arrays(values)
    est = RNNForecaster(
        cell=cell,
        hidden_size=hidden,
        num_layers=layers,
        bidirectional=bidi,
        lookback=L,
        horizon=H,
        batch_size=batch,
        lr=LR,
        norm="none",
        channel_independent=False,
        clip_grad_norm=None,
        lr_schedule="none",
        val=0,
        test=0,
        patience=None,
        epochs=warmup + epochs,
        random_state=seed,
        device=str(device),
        precision="bf16" if bf16 else "fp32",
        scaler="none",
        callbacks=[clock],
    )
    n = len(values) - L - H + 1
    est.fit(data)
    out = {
        "samples_per_s": clock.sps,
        "n_windows": len(est.windows_.train),
        "params": sum(p.numel() for p in est.model_.parameters()),
        "final_loss": est.history_.epochs[-1]["loss"],
        "batches_per_epoch": -(-n // batch),
    }
    if sync_debug:
        out["host_syncs_per_epoch"] = clock.syncs
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto (cuda when there), cuda, cuda:N or cpu")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a check that the script runs, e.g. on a CPU)")
    ap.add_argument("--data", default="synthetic", help="synthetic, or an ETT-format CSV (datasets/ETTh2.csv)")
    ap.add_argument("--rows", type=int, default=50_000, help="rows of data (default 50,000; a CSV: at most)")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per side (default 3)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed epochs first (default 1)")
    ap.add_argument("--sync-debug", action="store_true", help="CUDA: count tsrnn's host syncs per timed epoch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu_speed.json")
    args = ap.parse_args(argv)

    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else "cpu"
        if args.device == "auto"
        else args.device
    )
    if args.sync_debug and device.type != "cuda":
        ap.error("--sync-debug counts CUDA synchronisations: it needs --device cuda")
    L = H = 96
    configs = {k: CONFIGS[k] for k in args.configs}
    if args.quick:  # the same code paths on sizes a CPU runs in seconds
        L = H = 24
        args.rows = min(args.rows, 600)
        args.epochs, args.warmup = 1, min(args.warmup, 1)
        configs = {k: (c, max(h // 16, 4), n, b, min(bs, 256)) for k, (c, h, n, b, bs) in configs.items()}
    values = load_values(args.data, args.rows)
    info = machine()
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    info["load1_before"] = os.getloadavg()[0]
    print(
        f"# {info.get('gpu', info['cpu'])}, torch {info['torch']}, device {device}, {len(values):,} rows, "
        f"L={L} H={H}{' (quick)' if args.quick else ''}",
        file=sys.stderr,
    )
    results: dict = {
        "machine": info,
        "device": str(device),
        "quick": args.quick,
        "data": args.data,
        "rows": len(values),
        "lookback": L,
        "horizon": H,
        "epochs": args.epochs,
        "warmup": args.warmup,
        "cells": {},
    }
    for name, cfg in configs.items():
        for prec in args.precisions:
            bf16 = prec == "bf16"
            if bf16 and (device.type != "cuda" or not torch.cuda.is_bf16_supported()):
                print(f"# {name} bf16: skipped (tsrnn's bf16 is for CUDA GPUs that support it)", file=sys.stderr)
                continue
            plain = plain_run(values, cfg, L, H, bf16, args.epochs, args.warmup, device, args.seed)
            ours = tsrnn_run(values, cfg, L, H, bf16, args.epochs, args.warmup, device, args.seed, args.sync_debug)
            if plain["params"] != ours["params"]:
                print(
                    f"# WARNING {name}: parameter counts differ: plain {plain['params']}, tsrnn {ours['params']}",
                    file=sys.stderr,
                )
            med = {
                "plain": statistics.median(plain["samples_per_s"]),
                "tsrnn": statistics.median(ours["samples_per_s"]),
            }
            row = {
                "config": dict(zip(("cell", "hidden", "layers", "bidirectional", "batch"), cfg)),
                "precision": prec,
                "params": ours["params"],
                "samples_per_s_median": med,
                "ratio_tsrnn_over_plain": med["tsrnn"] / med["plain"],
                "plain": plain,
                "tsrnn": ours,
            }
            results["cells"][f"{name}-{prec}"] = row
            print(
                f"# {name} {prec}: plain {med['plain']:,.0f}, tsrnn {med['tsrnn']:,.0f} samples/s "
                f"({row['ratio_tsrnn_over_plain']:.2f})"
                + (
                    f", tsrnn host syncs per epoch {ours['host_syncs_per_epoch']} of {ours['batches_per_epoch']} batches"
                    if args.sync_debug
                    else ""
                ),
                file=sys.stderr,
            )
    results["load1_after"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(
        f"\n{'configuration':18s} {'prec':5s} {'params':>10s} {'plain samples/s':>15s} {'tsrnn samples/s':>15s} "
        f"{'tsrnn/plain':>11s}"
    )
    for key, r in results["cells"].items():
        name = key.rsplit("-", 1)[0]
        m = r["samples_per_s_median"]
        print(
            f"{name:18s} {r['precision']:5s} {r['params']:>10,d} {m['plain']:>15,.0f} {m['tsrnn']:>15,.0f} "
            f"{r['ratio_tsrnn_over_plain']:>11.2f}"
        )
    print(f"results written to {args.out}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
