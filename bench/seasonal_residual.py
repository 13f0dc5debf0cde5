"""Would a seasonal-median residual find the missing daily cycles that tsrnn's scores miss?

A flat day is easy to rebuild and to forecast from the last value, so tsrnn's hybrid scores stay
low through it (the shipped demo's flat solar day; ``missing_cycle`` seeds 0 and 2 of the drift
suite). A classical score for it is the residual from the same hour's median over the last
``--periods`` days, ``|x_t - median(x_(t-24), ..., x_(t-24K))|``, standardised per channel on the
fit rows (mean and std), the maximum over channels. This script scores, with numpy alone:

* ``datasets/demo_anomalies.csv``, fitted rows = its first half (as ``tsrnn detect`` does): the
  flat day's highest score against the highest of the normal rows after the fit part;
* the drift suite of ``detect_quality.py --corpus gen --drift --mode stream`` (fit on the first
  750 rows): per file, the anomaly's highest score against the highest normal one.

An anomaly is separable by some threshold only where its maximum is above every normal row's.

    python bench/seasonal_residual.py [--periods 7]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import detect_quality as dq  # noqa: E402

PERIOD = 24
KINDS = ["spike", "level_shift", "trend_change", "variance_change", "missing_cycle", "frequency_change"]


def seasonal_score(x: np.ndarray, n_fit: int, periods: int) -> np.ndarray:
    """(n, C) values -> (n,) max over channels of the standardised seasonal-median residual
    (NaN for the first ``periods`` days)."""
    lags = PERIOD * np.arange(1, periods + 1)
    first = lags[-1]
    resid = np.full(x.shape, np.nan)
    idx = np.arange(first, len(x))
    resid[first:] = np.abs(x[first:] - np.median(x[idx[:, None] - lags], axis=1))  # (n - first, C)
    cal = resid[first:n_fit]
    return ((resid - cal.mean(0)) / cal.std(0)).max(1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--periods", type=int, default=7, help="days in the median (K)")
    args = ap.parse_args(argv)

    demo = pd.read_csv(ROOT / "datasets" / "demo_anomalies.csv")
    y = demo.pop("anomaly").to_numpy(bool)
    x = demo[["load", "temperature", "solar"]].to_numpy(float)
    n = len(x) // 2
    s = seasonal_score(x, n, args.periods)
    edges = np.flatnonzero(np.diff(np.r_[0, y.astype(int), 0]))  # the labelled runs' starts and ends
    solar = demo["solar"].to_numpy()
    flat = np.zeros(len(x), bool)
    for lo, hi in edges.reshape(-1, 2):
        if hi - lo >= PERIOD and (solar[lo:hi] == 0).all():  # the missing cycle: a whole day of zeros
            flat[lo:hi] = True
    normal = ~y & (np.arange(len(x)) >= n)
    print(f"K = {args.periods} days; scores in calibration stds")
    print(f"demo_anomalies.csv: flat day max {np.nanmax(s[flat]):.2f}, normal rows max {np.nanmax(s[normal]):.2f}")

    print(f"{'drift suite, streamed split':26s} {'anomaly max':>11s} {'normal max':>10s} {'fit max':>8s}  separable")
    for case in dq.gen_cases([0, 1, 2], 6048, KINDS, "seasonal", drift=True):
        case = dq.stream_case(case)
        x = case["frame"][["load", "temperature", "solar"]].to_numpy(float)
        y, n = case["labels"].astype(bool), case["n_train"]
        s = seasonal_score(x, n, args.periods)
        a, b, f = np.nanmax(s[n:][y[n:]]), np.nanmax(s[n:][~y[n:]]), np.nanmax(s[PERIOD * args.periods : n])
        print(f"{case['name']:26s} {a:11.2f} {b:10.2f} {f:8.2f}  {'yes' if a > b else 'no'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
