"""Accuracy of tsrnn's RNNForecaster on the standard ETT long-horizon protocol.

Protocol (``shared/datasets/README.md``; Zhou et al. 2021 and every paper since):

* the frame is truncated to train + val + test rows (ETTh: 8640 + 2880 + 2880 = 14,400);
  rows [0, 8640) train, targets of validation windows in [8640, 11520), of test windows in
  [11520, 14400); validation and test windows look back L rows into the previous split;
* multivariate: every numeric column in and out; L = 96, H in {96, 192, 336, 720};
* a StandardScaler fitted on the train rows only; every test window, stride 1;
* MSE and MAE on the scaled values, averaged over all test windows, horizon steps and channels.

For each horizon (and each ``--seeds`` seed) the script fits ``RNNForecaster`` with its default
parameters except lookback / horizon / val / test / random_state (plus any ``--param k=v``),
reads its test scores and those of repeat-last and seasonal-naive from ``metrics_["test"]``,
and checks them all independently with plain numpy on the same windows: the split bounds and
window starts, the scaler, both baselines, and the model's own score (its network run on
windows built here). Any mismatch is an error.

    python bench/accuracy.py datasets/ETTh2.csv [--horizons 96 192 336 720] [--seeds 0 1 2]
           [--param channel_independent=true --param epochs=10 ...] [--label NAME] [--out FILE]

Any CSV in the ETT format works (a date column + numeric columns). Hourly data uses the ETTh row
counts; sub-hourly data (ETTm, 15 min) scales them by the steps per hour (34,560 / 11,520 /
11,520), as the protocol does; ``--train-rows/--val-rows/--test-rows`` override.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
TRAIN_H, VAL_H, TEST_H = 12 * 30 * 24, 4 * 30 * 24, 4 * 30 * 24  # ETTh row counts (hours)


def parse_param(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--param wants key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # a bare string, e.g. lr_schedule=none


def steps_per_hour(df: pd.DataFrame, time_col: str) -> int:
    t = pd.to_datetime(df[time_col].iloc[:1000])
    step = pd.Series(t).diff().median()
    return max(int(pd.Timedelta("1h") / step), 1) if step < pd.Timedelta("1h") else 1


def find_time_col(df: pd.DataFrame) -> str:
    for c in df.columns:
        if c.lower() in ("date", "datetime", "time", "timestamp", "ds"):
            return c
    return df.columns[0]


# ---------------------------------------------------------------------------- the numpy reference
def reference(values: np.ndarray, n_train: int, n_val: int, lookback: int, horizon: int, season: int | None):
    """Scaled data, window starts and baseline scores, computed here with numpy only."""
    n = len(values)
    mean, std = values[:n_train].mean(0), values[:n_train].std(0)  # StandardScaler: ddof 0
    std = np.where(std == 0, 1.0, std)
    scaled = (values - mean) / std
    starts = {
        "train": np.arange(0, n_train - lookback - horizon + 1),
        "val": np.arange(n_train - lookback, n_train + n_val - lookback - horizon + 1),
        "test": np.arange(n_train + n_val - lookback, n - lookback - horizon + 1),
    }
    win = np.lib.stride_tricks.sliding_window_view(scaled, lookback + horizon, axis=0)  # (n-L-H+1, C, L+H)
    w = win[starts["test"]].transpose(0, 2, 1)  # (n_test, L+H, C)
    x, y = w[:, :lookback], w[:, lookback:]
    preds = {"repeat_last": np.repeat(x[:, -1:], horizon, axis=1)}
    if season and season <= lookback:
        preds["seasonal_naive"] = x[:, lookback - season + np.arange(horizon) % season]
    scores = {k: {"mse": float(np.mean((p - y) ** 2)), "mae": float(np.mean(np.abs(p - y)))} for k, p in preds.items()}
    return scaled, starts, x, y, scores


def model_score(est, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The fitted network run on the reference windows (batches of 1024, no grad)."""
    import torch

    outs = []
    with torch.no_grad():
        for i in range(0, len(x), 1024):
            xb = torch.from_numpy(np.ascontiguousarray(x[i : i + 1024], dtype=np.float32)).to(est.device_)
            outs.append(est.model_(xb).float().cpu().numpy()[..., 0])
    p = np.concatenate(outs).astype(np.float64)
    return {"mse": float(np.mean((p - y) ** 2)), "mae": float(np.mean(np.abs(p - y)))}


def close(a: float, b: float, rtol: float) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-12)


# ---------------------------------------------------------------------------- one run
def run_one(
    df: pd.DataFrame,
    values: np.ndarray,
    n_train: int,
    n_val: int,
    n_test: int,
    lookback: int,
    horizon: int,
    seed: int,
    params: dict,
) -> dict:
    import torch

    from tsrnn import RNNForecaster

    est = RNNForecaster(lookback=lookback, horizon=horizon, val=n_val, test=n_test, random_state=seed, **params)
    t0, c0 = time.perf_counter(), time.process_time()
    est.fit(df)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    t1 = time.perf_counter()
    bt = est.backtest()
    backtest_s = time.perf_counter() - t1
    test = est.metrics_["test"]

    # --- independent checks on the same windows
    scaled, starts, x, y, ref = reference(values, n_train, n_val, lookback, horizon, est.season_)
    w = est.windows_
    problems = []
    if tuple(w.bounds[0]) != (0, n_train, n_train + n_val, len(values)):
        problems.append(f"split bounds {tuple(w.bounds[0])} != {(0, n_train, n_train + n_val, len(values))}")
    for split in ("train", "val", "test"):
        got = getattr(w, split).starts
        if not np.array_equal(got, starts[split]):
            problems.append(
                f"{split} window starts differ: tsrnn {len(got)} from {got[:1]} to {got[-1:]}, "
                f"protocol {len(starts[split])} from {starts[split][0]} to {starts[split][-1]}"
            )
    if not np.allclose(est.scaler_.center_[0], values[:n_train].mean(0), rtol=1e-6, atol=1e-6):
        problems.append("scaler centre differs from the train-rows mean")
    for name, s in ref.items():
        for m in ("mse", "mae"):
            if not close(test[name][m], s[m], 1e-4) or not close(float(bt.loc[name, m]), s[m], 1e-4):
                problems.append(
                    f"{name} {m}: tsrnn metrics_ {test[name][m]:.6f} / backtest "
                    f"{float(bt.loc[name, m]):.6f} vs numpy {s[m]:.6f}"
                )
    mine = model_score(est, x, y)
    for m in ("mse", "mae"):
        if not close(test["model"][m], mine[m], 1e-4):
            problems.append(f"model {m}: tsrnn {test['model'][m]:.6f} vs on numpy windows {mine[m]:.6f}")
    if problems:
        raise SystemExit(f"H={horizon} seed={seed}: tsrnn disagrees with the protocol:\n  " + "\n  ".join(problems))

    h = est.history_
    return {
        "seed": seed,
        "model": {k: test["model"][k] for k in ("mse", "mae")},
        "val_model": {k: est.metrics_["val"]["model"][k] for k in ("mse", "mae")},
        "repeat_last": ref["repeat_last"],
        "seasonal_naive": ref.get("seasonal_naive"),
        "test_windows": int(len(x)),
        "season": est.season_,
        "epochs_run": len(h.epochs),
        "status": h.status,
        "best_epoch": h.best_epoch,
        "fit_wall_s": fit_s,
        "fit_cpu_s": fit_cpu,
        "backtest_s": backtest_s,
        "train_samples_per_s_median": statistics.median(e["samples_per_s"] for e in h.epochs),
        "load1": os.getloadavg()[0],
        "torch_threads": torch.get_num_threads(),
        "history": [{k: e.get(k) for k in ("epoch", "loss", "val_loss", "lr")} for e in h.epochs],
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", type=Path)
    ap.add_argument("--horizons", type=int, nargs="+", default=[96, 192, 336, 720])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--lookback", type=int, default=96)
    ap.add_argument(
        "--param",
        type=parse_param,
        action="append",
        default=[],
        help="an RNNForecaster parameter, key=JSON value (repeatable), e.g. channel_independent=true",
    )
    ap.add_argument("--train-rows", type=int)
    ap.add_argument("--val-rows", type=int)
    ap.add_argument("--test-rows", type=int)
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: torch's default; 1 is far faster on a busy machine)",
    )
    ap.add_argument("--label", default="default")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "accuracy.json")
    args = ap.parse_args(argv)
    params = dict(args.param)

    import torch

    import tsrnn

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    raw = pd.read_csv(args.csv)
    tcol = find_time_col(raw)
    k = steps_per_hour(raw, tcol)
    n_train = args.train_rows or TRAIN_H * k
    n_val = args.val_rows or VAL_H * k
    n_test = args.test_rows or TEST_H * k
    n = n_train + n_val + n_test
    if len(raw) < n:
        raise SystemExit(f"{args.csv} has {len(raw)} rows; the protocol needs {n_train} + {n_val} + {n_test} = {n}")
    df = raw.iloc[:n].reset_index(drop=True)
    values = df.drop(columns=[tcol]).select_dtypes("number").to_numpy(np.float64)
    print(
        f"# {args.csv}: {n} rows ({n_train}/{n_val}/{n_test}), {values.shape[1]} channels, L={args.lookback}, "
        f"params {params or 'defaults'}, seeds {args.seeds}, load {os.getloadavg()}",
        file=sys.stderr,
    )

    out: dict = {
        "csv": str(args.csv),
        "label": args.label,
        "params": params,
        "lookback": args.lookback,
        "rows": {"train": n_train, "val": n_val, "test": n_test},
        "channels": values.shape[1],
        "seeds": args.seeds,
        "tsrnn": tsrnn.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "nproc": os.cpu_count(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "horizons": {},
    }
    for horizon in args.horizons:
        t0 = time.perf_counter()
        runs = [run_one(df, values, n_train, n_val, n_test, args.lookback, horizon, s, params) for s in args.seeds]
        for r in runs:
            print(
                f"# H={horizon} seed={r['seed']}: test MSE {r['model']['mse']:.4f} MAE {r['model']['mae']:.4f} "
                f"(val MSE {r['val_model']['mse']:.4f}), {r['epochs_run']} epochs ({r['status']}, best "
                f"{r['best_epoch']}), fit {r['fit_wall_s']:.0f}s wall / {r['fit_cpu_s']:.0f}s CPU, "
                f"load1 {r['load1']:.2f}",
                file=sys.stderr,
            )

        def mean(key, m, runs=runs):
            return float(np.mean([r[key][m] for r in runs]))

        out["horizons"][str(horizon)] = {
            "model": {
                "mse": mean("model", "mse"),
                "mae": mean("model", "mae"),
                "mse_std": float(np.std([r["model"]["mse"] for r in runs])),
            },
            "repeat_last": runs[0]["repeat_last"],
            "seasonal_naive": runs[0]["seasonal_naive"],
            "season": runs[0]["season"],
            "test_windows": runs[0]["test_windows"],
            "wall_s": time.perf_counter() - t0,
            "checks": "windows, scaler, baselines and model score match numpy",
            "runs": runs,
        }
    out["uptime"] = os.popen("uptime").read().strip()

    print(json.dumps(out, indent=2))
    print(f"\n{args.csv.name} L={args.lookback} [{args.label}] {params or ''}")
    print(
        f"{'H':>4s} {'windows':>7s} {'tsrnn MSE':>9s} {'MAE':>6s} {'repeat MSE':>10s} {'MAE':>6s} "
        f"{'snaive MSE':>10s} {'MAE':>6s} {'wall s':>7s}"
    )
    for horizon, r in out["horizons"].items():
        sn = r["seasonal_naive"] or {"mse": float("nan"), "mae": float("nan")}
        print(
            f"{horizon:>4s} {r['test_windows']:7d} {r['model']['mse']:9.4f} {r['model']['mae']:6.4f} "
            f"{r['repeat_last']['mse']:10.4f} {r['repeat_last']['mae']:6.4f} {sn['mse']:10.4f} {sn['mae']:6.4f} "
            f"{r['wall_s']:7.0f}"
        )
    print(out["uptime"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
