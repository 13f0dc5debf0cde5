"""Flags on long drifting streams: the calibrated threshold (normalize="none") against the anomaly
likelihood (normalize="likelihood") at several ``likelihood_eps``, from one fitted detector.

Each detector (default parameters, ``random_state=0``) is fitted on a prefix and scores every
row; the rows after the prefix are counted. The likelihood flags for every eps come from the same
``likelihood`` column (``likelihood_window`` 1000, ``likelihood_short`` 10): the detector is
fitted once with normalize="none" (POT threshold) and scored again after
``set_params(normalize="likelihood")`` (fitting with it gives the same model).

Corpora
-------
* ``etth2``: ``datasets/ETTh2.csv`` (no labels; its levels drift over two years): fitted on the
  first 2880 rows (four months; 576 calibration rows), 14,540 later rows. Reported: the share of
  later rows with score > 3.3 and the share flagged by each rule.
* ``skab``: the labelled SKAB files (``../shared/datasets/anomaly/SKAB``, read in place), one
  detector per file fitted on its first 400 rows (files whose anomaly starts before row 300 are
  skipped: 33 of 34); per file on the later rows: shares flagged, point and event F1 of each
  rule, PR-AUC of ``score`` and of ``likelihood``. Averages over files are printed at the end.

    python bench/likelihood_drift.py [--corpus etth2 skab] [--methods forecast reconstruction]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tsrnn import RNNAnomalyDetector
from tsrnn.detection.events import event_metrics, point_metrics, pr_auc

EPS = (1e-2, 1e-3, 1e-4, 1e-5)
SKAB = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "anomaly" / "SKAB"


def measure(name: str, frame: pd.DataFrame, n_train: int, method: str, labels: str | None = None) -> dict:
    t = time.time()
    inputs = frame.drop(columns=[labels]) if labels else frame
    det = RNNAnomalyDetector(method=method, random_state=0).fit(inputs.iloc[:n_train])
    plain = det.score_frame(inputs)
    det.set_params(normalize="likelihood")
    likelihood = det.score_frame(inputs)["likelihood"].to_numpy()[n_train:]
    score, flags = plain["score"].to_numpy()[n_train:], plain["is_anomaly"].to_numpy()[n_train:].astype(bool)
    rules = {"none_pot": flags, **{f"likelihood_{eps:g}": likelihood >= 1 - eps for eps in EPS}}
    row: dict = {
        "name": name,
        "method": method,
        "rows_after_fit": len(score),
        "share_score_gt_3.3": float((score > 3.3).mean()),
    }
    row["share_flagged"] = {k: float(v.mean()) for k, v in rules.items()}
    if labels:
        truth = frame[labels].to_numpy()[n_train:] > 0
        row["point_f1"] = {k: point_metrics(v, truth)["f1"] for k, v in rules.items()}
        row["event_f1"] = {k: event_metrics(v, truth)["f1"] for k, v in rules.items()}
        row["pr_auc"] = {"score": pr_auc(score, truth), "likelihood": pr_auc(likelihood, truth)}
    row["seconds"] = round(time.time() - t, 1)
    print(json.dumps(row), flush=True)
    return row


def average(rows: list[dict]) -> dict:
    out: dict = {"files": len(rows)}
    for key in ("share_flagged", "point_f1", "event_f1", "pr_auc"):
        out[key] = {k: round(float(np.mean([r[key][k] for r in rows])), 3) for k in rows[0][key]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", nargs="+", default=["etth2", "skab"], choices=["etth2", "skab"])
    ap.add_argument("--methods", nargs="+", default=["forecast", "reconstruction"])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    result: dict = {}
    for method in args.methods:
        if "etth2" in args.corpus:
            result[f"etth2_{method}"] = measure("ETTh2", pd.read_csv("datasets/ETTh2.csv"), 2880, method)
        if "skab" in args.corpus:
            rows = []
            for f in (
                sorted(SKAB.glob("valve1/*.csv")) + sorted(SKAB.glob("valve2/*.csv")) + sorted(SKAB.glob("other/*.csv"))
            ):
                df = pd.read_csv(f, sep=";").drop(columns=["changepoint"])
                n = min(400, int(np.argmax(df["anomaly"].to_numpy() > 0)))
                if n >= 300:
                    rows.append(measure(f"SKAB/{f.parent.name}/{f.name}", df, n, method, labels="anomaly"))
            result[f"skab_{method}"] = average(rows)
            print(json.dumps({f"skab_{method}": result[f"skab_{method}"]}, indent=2), flush=True)
    out = Path("bench/results/likelihood_drift.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
