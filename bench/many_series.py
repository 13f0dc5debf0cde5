"""Many series in one global model: memory and training throughput of ``RNNForecaster.fit``.

Data (generated here, seeded): ``--series`` series of ``--steps`` hourly steps, one channel each,
every series its own level, amplitude, period (12, 24 or 168 steps), trend and noise; built as
the ``SeriesData`` that ``load_series(..., id_col=...)`` returns (one (rows, 1) float32 array,
offsets, ids, timestamps). The default is 10,000 x 2,000 = 20 M rows.

Runs, each in a fresh process so that its peak RSS is its own:

* ``single``: one series of the same number of rows (the same data size, about as many windows);
* ``uniform``: all series, ``sampling="uniform"`` (today's default);
* ``balanced``: all series, ``sampling="balanced"``;
* ``embedding``: all series, balanced, ``series_embedding=8``.

Each fits the default forecaster (32-unit LSTM, channel-independent, instance norm; lookback
``--lookback``, horizon ``--horizon``, batch ``--batch-size``) on the CPU. ``--max-batches K``
stops every run after K training batches (a fraction of an epoch: a full epoch of 12.8 M windows
takes hours on a CPU); then the epoch's validation and the final test metrics are not run.
Reported per run: peak RSS (``ru_maxrss``) against the raw data (values, and values + timestamps),
RSS after the imports, set-up time (``fit()`` until training starts: scaling, windows, series
numbers), the time from the epoch's start to its first batch's end (it includes drawing the
epoch's order), and windows/s over the other batches.

    python bench/many_series.py                                   # full size, all runs
    OMP_NUM_THREADS=1 python bench/many_series.py --threads 1 --max-batches 200
    python bench/many_series.py --series 200 --steps 500 --max-batches 20   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RUNS = ("single", "uniform", "balanced", "embedding")


def make_series(n_series: int, steps: int, seed: int):
    """``SeriesData`` of ``n_series`` generated series of ``steps`` rows (all series in one array)."""
    from tsrnn.data import DataReport, SeriesData

    rng = np.random.default_rng(seed)
    k = np.arange(steps, dtype=np.float32)
    values = np.empty((n_series, steps), dtype=np.float32)
    chunk = 1000
    for lo in range(0, n_series, chunk):  # in chunks: no (series, steps) float64 temporaries
        n = min(chunk, n_series - lo)
        level = rng.normal(0, 50, (n, 1)).astype(np.float32)
        amp = rng.uniform(0.5, 20, (n, 1)).astype(np.float32)
        period = rng.choice(np.array([12, 24, 168], dtype=np.float32), (n, 1))
        trend = rng.normal(0, 0.01, (n, 1)).astype(np.float32)
        noise = rng.standard_normal((n, steps), dtype=np.float32) * (0.1 * amp)
        values[lo : lo + n] = level + amp * np.sin(2 * np.pi * k / period) + trend * k + noise
    offsets = np.arange(0, n_series * steps + 1, steps, dtype=np.int64)
    grid = np.datetime64("2020-01-01T00:00", "ns") + np.arange(steps) * np.timedelta64(1, "h")
    times = np.tile(grid.astype("datetime64[ns]"), n_series)
    ids = tuple(f"s{i}" for i in range(n_series)) if n_series > 1 else None
    return SeriesData(
        values.reshape(-1, 1),
        offsets,
        times,
        ("y",),
        (),
        ids,
        "time",
        "id" if ids else None,
        "h",
        None,
        "<generated>",
        DataReport(rows=n_series * steps),
    )


def rss_mib() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(args: argparse.Namespace) -> dict:
    """One run in this process; returns its figures."""
    import torch

    from tsrnn import RNNForecaster
    from tsrnn.training import Callback

    torch.set_num_threads(args.threads)
    rss_imports = rss_mib()
    single = args.worker == "single"
    data = make_series(1 if single else args.series, args.steps * (args.series if single else 1), args.seed)
    rss_data = rss_mib()

    class Budget(Exception):
        pass

    class Clock(Callback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.windows: list[int] = []

        def on_fit_start(self, trainer) -> None:
            self.fit_start = time.perf_counter()

        def on_epoch_start(self, trainer, epoch) -> None:
            self.epoch_start = time.perf_counter()

        def on_batch_end(self, trainer, batch, loss, n) -> None:
            self.times.append(time.perf_counter())
            self.windows.append(n)
            if args.max_batches and len(self.times) >= args.max_batches:
                raise Budget

    clock = Clock()
    params = {
        "uniform": {},
        "single": {},
        "balanced": {"sampling": "balanced"},
        "embedding": {"sampling": "balanced", "series_embedding": 8},
    }[args.worker]
    est = RNNForecaster(
        lookback=args.lookback,
        horizon=args.horizon,
        batch_size=args.batch_size,
        epochs=args.epochs,
        patience=None,
        random_state=args.seed,
        device="cpu",
        callbacks=[clock],
        **params,
    )
    t0 = time.perf_counter()
    finished = True
    try:
        est.fit(data)
    except Budget:
        finished = False
    end = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    from tsrnn.windows import make_windows

    n_train = len(est.windows_.train) if finished else len(make_windows(data, args.lookback, args.horizon).train)
    steady = (
        np.array(clock.windows[1:]).sum() / max(clock.times[-1] - clock.times[0], 1e-9)
        if len(clock.times) > 1
        else None
    )
    return {
        "run": args.worker,
        "series": data.n_series,
        "rows": data.n_rows,
        "train_windows_per_epoch": n_train,
        "params": params,
        "batches_run": len(clock.times),
        "finished_fit": finished,
        "values_mib": data.values.nbytes / 2**20,
        "times_mib": data.times.nbytes / 2**20,
        "rss_after_imports_mib": rss_imports,
        "rss_after_data_mib": rss_data,
        "peak_rss_mib": peak,
        "setup_s": clock.fit_start - t0,
        "first_batch_s": clock.times[0] - clock.epoch_start if clock.times else None,
        "windows_per_s": steady,
        "fit_wall_s": end - t0,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=2_000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-batches", type=int, default=None, help="stop each run after this many training batches")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lookback", type=int, default=96)
    ap.add_argument("--horizon", type=int, default=24)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads in each run (default 1)")
    ap.add_argument("--runs", nargs="+", default=list(RUNS), choices=RUNS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "many_series.json")
    ap.add_argument("--worker", choices=RUNS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return {}

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from speed import machine

    info = machine()
    info["torch_threads"] = args.threads
    info["load1_before"] = os.getloadavg()[0]
    results: dict = {
        "machine": info,
        "args": {k: v for k, v in vars(args).items() if k not in ("worker", "out")},
        "runs": {},
    }
    passed = [
        f"--{k.replace('_', '-')}={v}"
        for k, v in vars(args).items()
        if k not in ("worker", "out", "runs") and v is not None
    ]
    for run in args.runs:
        cmd = [sys.executable, __file__, *passed, "--worker", run]
        t = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"run {run} failed:\n{done.stderr[-3000:]}")
        res = json.loads(done.stdout.strip().splitlines()[-1])
        res["process_wall_s"] = time.perf_counter() - t
        res["load1_after"] = os.getloadavg()[0]
        results["runs"][run] = res
        print(
            f"# {run}: {res['windows_per_s'] or 0:,.0f} windows/s, peak RSS {res['peak_rss_mib']:,.0f} MiB, "
            f"load1 {res['load1_after']:.2f}",
            file=sys.stderr,
        )
    results["uptime"] = os.popen("uptime").read().strip()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    base = results["runs"].get("single", {}).get("windows_per_s")
    print(
        f"\n{'run':10s} {'series':>7s} {'rows':>11s} {'windows/epoch':>13s} {'values MiB':>10s} {'+times MiB':>10s} "
        f"{'RSS imports':>11s} {'peak RSS':>9s} {'set-up s':>8s} {'1st batch s':>11s} {'windows/s':>9s} {'vs single':>9s}"
    )
    for run, r in results["runs"].items():
        ratio = f"{r['windows_per_s'] / base:.2f}" if base and r["windows_per_s"] else "-"
        print(
            f"{run:10s} {r['series']:>7,d} {r['rows']:>11,d} {r['train_windows_per_epoch']:>13,d} "
            f"{r['values_mib']:>10,.0f} {r['values_mib'] + r['times_mib']:>10,.0f} {r['rss_after_imports_mib']:>11,.0f} "
            f"{r['peak_rss_mib']:>9,.0f} {r['setup_s']:>8.1f} {r['first_batch_s'] or 0:>11.2f} "
            f"{r['windows_per_s'] or 0:>9,.0f} {ratio:>9s}"
        )
    print(f"results written to {args.out}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
