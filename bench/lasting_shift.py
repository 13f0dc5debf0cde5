"""How long the default detector keeps alarming after a level shift that lasts: the new normal.

A 5-minute series of N(10, 1) noise; the default detector is fitted on its first ``--fit-rows``
rows (NAB-style: a short normal prefix), then the rest streams through ``update()`` in chunks
of 100 rows. At row ``--shift-at`` the level moves up by each of ``--shifts`` (in units of the
noise's std) and stays there. Printed per shift: the share of rows flagged in each block of
``--block`` rows from the shift on, the median score per block, and the fine-tunes made,
skipped and accepted (``adapt_persist``). A detector that learns the new normal stops flagging
after a few blocks; one that cannot flags every row to the end.

    python bench/lasting_shift.py                       # shifts of 3 and 20 std, 14,000 rows

It prints one JSON object (also written to bench/results/lasting_shift.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detect_quality import parse_params  # noqa: E402
from speed import machine  # noqa: E402

from tsrnn import RNNAnomalyDetector  # noqa: E402


def series(rows: int, shift_at: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    value = rng.normal(10.0, 1.0, rows)
    value[shift_at:] += shift
    return pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=rows, freq="5min"), "value": value})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=14_000)
    parser.add_argument("--fit-rows", type=int, default=600)
    parser.add_argument("--shift-at", type=int, default=2_000)
    parser.add_argument("--shifts", type=float, nargs="+", default=[3.0, 20.0])
    parser.add_argument("--block", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--param", action="append", default=[], help="detector parameter k=v (repeatable)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    params = {"random_state": 0, "device": "cpu", **parse_params(args.param, parser)}
    out: dict = {"rows": args.rows, "fit_rows": args.fit_rows, "shift_at": args.shift_at, "params": params}
    for shift in args.shifts:
        df = series(args.rows, args.shift_at, shift, args.seed)
        t0 = time.perf_counter()
        det = RNNAnomalyDetector(**params).fit(df.iloc[: args.fit_rows])
        parts = [det.update(df.iloc[i : i + 100]) for i in range(args.fit_rows, args.rows, 100)]
        adapt = det._stream.adapt if det._stream is not None else None  # before flush ends the stream
        scored = pd.concat([*parts, det.flush()])
        after = args.shift_at - args.fit_rows  # the shift's position among the scored rows
        flags, scores = scored["is_anomaly"].to_numpy()[after:], scored["score"].to_numpy()[after:]
        starts = range(0, len(flags), args.block)
        out[f"shift={shift:g}"] = {
            "threshold": round(float(det.threshold_), 3),
            "flagged_by_block": [round(float(flags[i : i + args.block].mean()), 3) for i in starts],
            "median_score_by_block": [round(float(np.median(scores[i : i + args.block])), 2) for i in starts],
            "flagged_before_shift": round(float(scored["is_anomaly"].to_numpy()[:after].mean()), 4),
            "fine_tunes": None if adapt is None else adapt.adaptations - adapt.skipped,
            "fine_tunes_skipped": None if adapt is None else adapt.skipped,
            "fine_tunes_accepted": None if adapt is None else adapt.accepted,  # learned from flagged rows
            "seconds": round(time.perf_counter() - t0, 1),
        }
    out["machine"] = machine()
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "lasting_shift.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
