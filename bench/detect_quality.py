"""Detection quality of tsrnn's RNNAnomalyDetector against simple baselines, on real and generated data.

Corpora
-------
* ``skab`` (real): the 34 labelled files of SKAB v0.9 (``../shared/datasets/anomaly/SKAB``, GPL-3.0,
  read in place and never copied). Protocol (``--skab-train head``, the default): the SKAB authors'
  per-file split exactly, one model per file fitted on the first ``--train-rows`` (400) rows (in
  ``other/2.csv`` they hold 296 anomalous rows, as in the authors' notebooks; ``--skab-cap`` stops
  the fit rows at a file's first anomaly instead). ``--skab-train free`` instead fits one model on ``anomaly-free/anomaly-free.csv`` and
  scores every labelled file with it. Inputs: the 8 sensor columns (``anomaly`` and ``changepoint``
  dropped); every row of the file is scored; labels = ``anomaly``.
* ``gen`` (generated): a stationary version of ``datasets/make_demo.py``'s ``make`` (``make_seasonal``:
  hourly, 3 channels, daily period 24; ``--gen-source demo`` uses ``make`` itself, whose random-walk
  weather drifts) with ``--gen-rows`` rows (6048 so that the calibration set holds 600 scores), one
  injected anomaly per series in its second half (types: spike, level
  shift, trend change, variance change, a missing daily cycle, frequency change 24 -> 12 for two
  days), on channel ``seed % 3``, for each of ``--seeds``; fitted on the first (normal) half.
  ``--drift`` adds normal change the labels do not mark (``add_drift``: a slow trend, a growing
  daily amplitude, a regime change), which a fixed threshold calls anomalous.

Methods (same rows, same labels)
--------------------------------
* tsrnn ``RNNAnomalyDetector`` with method reconstruction / forecast, default parameters (plus any
  ``--param k=v``, named as the detector names its parameters: ``lookback``, ``val``, ``epochs``,
  ...; the names before the rename, ``window`` and ``calibration``, are translated with a note). Each method is fitted and scored once; every threshold is then applied to the
  same scores: quantile / gaussian / pot / conformal from ``fit_threshold`` on the detector's
  ``calibration_scores_`` (with the detector's q / k / fpr / risk), ``dynamic_threshold`` on the
  test scores. ``pot~`` is POT with ``init_quantile`` lowered to ``1 - 12 / n_cal`` when the
  default 0.98 leaves fewer than 10 excesses (a proposed fallback; identical to pot otherwise).
  A threshold that raises ConfigError is recorded as failed for that file (``ok`` < files).
  ``spot`` / ``dspot`` (``tsrnn.detection.spot``, the detector's risk and spot_depth) and
  ``likelihood`` (``tsrnn.detection.likelihood``, >= 1 - likelihood_eps) run causally over the
  scores from the calibration scores on: each row's flag uses no later score.
* baselines, each scored on the training rows and thresholded at mean + 3 std of those scores
  (the gaussian k=3 rule tsrnn's gaussian threshold applies to its calibration scores):
  ``zscore``: per-channel trailing rolling z-score (window 50, rows t-50..t-1), max |z| over channels;
  ``iforest``: scikit-learn IsolationForest on 10 lags of every channel (standardised on the
  training rows), fitted on the training rows; ``snaive``: seasonal-naive residual
  |x_t - x_(t-m)| standardised per channel on the training rows, max over channels; m = 24 on the
  generated data; SKAB has no seasonality, so m = 1 there (the first difference).
  ``(flag every row)`` is a reference line: on SKAB, 35% of rows are anomalous, so flagging every
  row already scores point F1 0.52 and the leaderboard F1 0.70.

``--mode stream`` (the causal protocol): each series is fitted on its first 15 % (at most 750 rows),
then every later row is scored as it arrives (``update()`` in chunks of 100, the last fit rows sent
first as context), flagged by the detector's own threshold (``(own)``); configurations whose scores
use later rows (``combine`` mean / max) are refused. Baselines are scored on the same later rows.

Events: flagged rows closer than ``--merge-gap`` rows (default: the detector's ``merge_gap``) are
one event, as ``tsrnn detect`` reports them.

Metrics per file (all rows), averaged over files: event-wise precision / recall / F1
(``event_metrics``), point-wise F1 (``point_metrics``) and PR-AUC (``pr_auc``). For SKAB also the
authors' leaderboard F1 / FAR / MAR: TP, FP, FN, TN summed over the test parts (rows after the
training rows) of all files. In batch mode, for each tsrnn method also the **ceiling** of its
scores (``pooled_ceiling``): the best leaderboard F1 that one cutoff shared by every file reaches
with FAR <= ``--far-max`` % (15, the target's), over the test parts pooled; the scores are
standardised on each file's calibration, so one cutoff is a threshold any rule could choose: a
ceiling below a target says the scores, not the threshold, have to change.

    python bench/detect_quality.py [--corpus skab gen] [--files N] [--groups valve1 valve2 other]
        [--seeds 0 1 2] [--methods reconstruction forecast] [--param lookback=32 --param epochs=50]
        [--skab-train head|free] [--skab-cap] [--mode batch|stream] [--merge-gap N] [--threads 1]
        [--far-max 15] [--label NAME] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from speed import machine  # bench/ is the script's directory

ROOT = Path(__file__).resolve().parent.parent
SKAB = ROOT.parent / "shared" / "datasets" / "anomaly" / "SKAB"
GROUPS = ("valve1", "valve2", "other")
THRESHOLDS = ("quantile", "gaussian", "pot", "pot~", "conformal", "dynamic", "spot", "dspot", "likelihood")
STREAMING = ("spot", "dspot", "likelihood")  # thresholds that move with the scores, row by row
BASELINES = ("zscore", "iforest", "snaive")
# detector parameters renamed to match RNNForecaster's (old -> new); --param accepts either name
RENAMED = {"window": "lookback", "calibration": "val"}
KINDS = ("spike", "level_shift", "trend_change", "variance_change", "missing_cycle", "frequency_change")


# ----------------------------------------------------------------------------- corpora


def skab_files(groups: list[str], limit: int | None) -> list[Path]:
    files = []
    for g in groups:
        files += sorted((SKAB / g).glob("*.csv"), key=lambda p: int(p.stem))
    if limit is not None and limit < len(files):  # spread the subset over the groups
        idx = np.unique(np.linspace(0, len(files) - 1, limit).round().astype(int))
        files = [files[i] for i in idx]
    return files


def read_skab(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep=";")


def skab_cases(groups: list[str], limit: int | None, train_rows: int, cap: bool = False) -> list[dict]:
    """One case per file: fit on the first ``train_rows`` rows (the authors' split, even where a
    fault starts earlier); ``cap``: stop the fit rows at the file's first anomaly."""
    cases = []
    for p in skab_files(groups, limit):
        d = read_skab(p)
        y = d["anomaly"].to_numpy() > 0
        first = int(np.argmax(y)) if y.any() else len(d)
        n_train = min(train_rows, first) if cap else train_rows
        cases.append(
            {
                "name": f"{p.parent.name}/{p.name}",
                "frame": d.drop(columns=["anomaly", "changepoint"]),
                "labels": y,
                "n_train": n_train,
                "m": 1,
            }
        )
    return cases


def inject(df: pd.DataFrame, kind: str, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """One anomaly of ``kind`` in the second half of ``df`` (channel seed % 3); returns (frame, labels)."""
    rng = np.random.default_rng(1000 + seed)
    n = len(df)
    cols = [c for c in df.columns if c != "time"]
    col = cols[seed % len(cols)]
    x = df[col].to_numpy(dtype=float).copy()
    sd = float(np.std(x[: n // 2]))
    length = {
        "spike": 3,
        "level_shift": 48,
        "trend_change": 96,
        "variance_change": 48,
        "missing_cycle": 24,
        "frequency_change": 48,
    }[kind]
    start = int(rng.integers(int(0.6 * n), int(0.9 * n)))
    if kind in ("missing_cycle",):
        start -= start % 24  # a whole day
    seg = slice(start, start + length)
    if kind == "spike":
        x[seg] += 4 * sd
    elif kind == "level_shift":
        x[seg] += 2 * sd
    elif kind == "trend_change":
        x[seg] += np.linspace(0, 3 * sd, length)
    elif kind == "variance_change":
        x[seg] += rng.normal(0, sd, length)
    elif kind == "missing_cycle":
        x[seg] = x[seg].mean()
    elif kind == "frequency_change":  # play two days at double speed: period 24 -> 12
        x[seg] = x[start : start + 2 * length : 2]
    out = df.copy()
    out[col] = x.round(3)
    labels = np.zeros(n, dtype=bool)
    labels[seg] = True
    return out, labels


def make_seasonal(n: int, seed: int) -> pd.DataFrame:
    """A smooth, stationary 3-channel hourly series with a daily period of 24 (and a weekly one).

    ``datasets/make_demo.py``'s ``make`` has a random-walk "weather" and trends, so its second half
    drifts away from its first; this one keeps make's shapes (a load-like curve, a temperature-like
    sine, a solar bump with clouds) with stationary AR(1) noise, so that what is flagged is the anomaly.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    hour, day = t % 24, (t // 24) % 7

    def ar1(phi: float, sd: float) -> np.ndarray:
        e, out = rng.normal(0, sd, n), np.zeros(n)
        for i in range(1, n):
            out[i] = phi * out[i - 1] + e[i]
        return out

    temperature = 8 + 6 * np.sin(2 * np.pi * (hour - 9) / 24) + ar1(0.95, 0.3)
    load = (
        100
        + 18 * np.sin(2 * np.pi * (hour - 7) / 24)
        + 8 * np.sin(4 * np.pi * hour / 24)
        - 12 * (day >= 5)
        - 0.8 * temperature
        + 2.0 * ar1(0.8, 1.0)
    )
    clouds = np.clip(0.5 + np.convolve(rng.normal(0, 1, n), np.ones(12) / 4, mode="same"), 0, 1)
    solar = np.clip(np.sin(np.pi * (hour - 6) / 12), 0, None) * 50 * (1 - 0.7 * clouds)
    return pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=n, freq="h"),
            "load": load.round(3),
            "temperature": temperature.round(3),
            "solar": solar.round(3),
        }
    )


def gen_cases(seeds: list[int], n: int, kinds: list[str], source: str, drift: bool = False) -> list[dict]:
    if source == "demo":
        sys.path.insert(0, str(ROOT / "datasets"))
        from make_demo import make
    else:
        make = make_seasonal
    cases = []
    for kind in kinds:
        for s in seeds:
            base = make(n, seed=100 + s)
            frame, y = inject(add_drift(base, s) if drift else base, kind, s)
            cases.append({"name": f"{kind}/seed{s}", "frame": frame, "labels": y, "n_train": n // 2, "m": 24})
    return cases


# ----------------------------------------------------------------------------- baselines


def _values(frame: pd.DataFrame) -> np.ndarray:
    return frame.select_dtypes("number").to_numpy(dtype=float)


def baseline_scores(name: str, x: np.ndarray, n_train: int, m: int, seed: int) -> np.ndarray:
    mu, sd = x[:n_train].mean(axis=0), x[:n_train].std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    z = (x - mu) / sd
    if name == "zscore":
        w = 50
        s = pd.DataFrame(z)
        rm = s.rolling(w).mean().shift(1).to_numpy()
        rs = s.rolling(w).std(ddof=0).shift(1).to_numpy()
        rs = np.maximum(rs, 1e-3)  # channels standardised on the training rows: 1e-3 of their std
        out = np.nan_to_num(np.abs(z - rm) / rs, nan=0.0).max(axis=1)
        return out
    if name == "iforest":
        from sklearn.ensemble import IsolationForest

        lags = 10
        pad = np.concatenate([np.repeat(z[:1], lags - 1, axis=0), z])
        feats = np.concatenate([pad[i : i + len(z)] for i in range(lags)], axis=1)
        model = IsolationForest(n_estimators=100, random_state=seed).fit(feats[:n_train])
        return -model.score_samples(feats)
    if name == "snaive":
        r = np.zeros_like(z)
        r[m:] = np.abs(z[m:] - z[:-m])
        rmu, rsd = r[m:n_train].mean(axis=0), r[m:n_train].std(axis=0)
        rsd = np.where(rsd > 0, rsd, 1.0)
        out = ((r - rmu) / rsd).max(axis=1)
        out[:m] = 0.0
        return out
    raise ValueError(name)


# ----------------------------------------------------------------------------- metrics


def metrics(flags: np.ndarray | None, scores: np.ndarray, labels: np.ndarray, n_train: int, merge_gap: int = 0) -> dict:
    """Event metrics count the events flagged rows make once gaps of <= ``merge_gap`` rows are merged."""
    from tsrnn.detection.events import event_flags, event_metrics, point_metrics, pr_auc

    out: dict = {"pr_auc": pr_auc(scores, labels)}
    if flags is None:
        return out
    e, p = event_metrics(event_flags(flags, merge_gap=merge_gap), labels), point_metrics(flags, labels)
    out.update(
        {
            "event_p": e["precision"],
            "event_r": e["recall"],
            "event_f1": e["f1"],
            "point_p": p["precision"],
            "point_r": p["recall"],
            "point_f1": p["f1"],
            "flagged": float(flags.mean()),
        }
    )
    f, y = flags[n_train:], labels[n_train:]  # SKAB's leaderboard counts the test part only
    out["conf"] = [int(np.sum(f & y)), int(np.sum(f & ~y)), int(np.sum(~f & y)), int(np.sum(~f & ~y))]
    return out


# ----------------------------------------------------------------------------- tsrnn


def tsrnn_run(
    case: dict,
    method: str,
    params: dict,
    seed: int,
    train_frame: pd.DataFrame | None = None,
    fitted: dict | None = None,
    merge_gap: int = 0,
) -> tuple[dict, dict]:
    """Fit (or reuse) one detector, score the case once, apply every threshold. -> (results, info)."""
    from tsrnn.detection.thresholds import dynamic_threshold, fit_threshold
    from tsrnn.errors import ConfigError
    from tsrnn.estimators import RNNAnomalyDetector

    info: dict = {}
    key = method
    if fitted is not None and key in fitted:
        det = fitted[key]
    else:
        kw = {"method": method, "random_state": seed, **params}
        default_threshold = kw.pop("threshold", "pot")
        # the thresholds' own parameters are applied below, to the scores (the fit would refuse them
        # beside threshold="gaussian")
        threshold_params = {p: kw.pop(p) for p in ("q", "k", "fpr", "risk", "spot_depth") if p in kw}
        train = train_frame if train_frame is not None else case["frame"].iloc[: case["n_train"]]
        t0 = time.perf_counter()
        det = RNNAnomalyDetector(threshold="gaussian", **kw).fit(train)  # gaussian never fails: scores only
        det.set_params(**threshold_params)
        info["fit_s"] = time.perf_counter() - t0
        info["epochs"] = len(det.history_.epochs)
        try:  # would the detector with its own threshold have fitted?
            fit_threshold(default_threshold, det.calibration_scores_, q=det.q, k=det.k, fpr=det.fpr, risk=det.risk)
            info["default_ok"] = True
        except ConfigError as e:
            info["default_ok"] = False
            info["default_error"] = str(e).splitlines()[0]
        if fitted is not None:
            fitted[key] = det
            fitted[key + "_info"] = info
    cal = det.calibration_scores_
    info["n_cal"] = len(cal)
    scores = det.score_samples(case["frame"])
    info["test_scores"] = scores[case["n_train"] :]  # for the pooled ceiling; not written to the JSON
    res = {}
    for th in THRESHOLDS:
        flags = None
        try:
            if th in STREAMING:
                flags = streaming_flags(th, cal, scores, det)
            elif th == "dynamic":
                flags = dynamic_threshold(scores)
            else:
                kw2 = {"q": det.q, "k": det.k, "fpr": det.fpr, "risk": det.risk}
                name = th
                if th == "pot~":
                    name = "pot"
                    kw2["init_quantile"] = min(0.98, 1 - 12 / len(cal))
                flags = scores > fit_threshold(name, cal, **kw2)
        except ConfigError as e:
            res[th] = {"error": str(e).splitlines()[0], **metrics(None, scores, case["labels"], case["n_train"])}
            continue
        res[th] = metrics(flags, scores, case["labels"], case["n_train"], merge_gap)
    return res, info


def stream_case(case: dict) -> dict:
    """The streaming protocol's split: fit on the first 15% of the series, at most 750 rows."""
    return {**case, "n_train": min(750, int(0.15 * len(case["labels"])))}


def stream_run(case: dict, params: dict, seed: int, merge_gap: int) -> tuple[dict, dict]:
    """The detector as configured, causally: fitted on the case's fit rows, then every later row
    scored as it arrives (``update`` in chunks of 100, then ``flush``), flagged by its own
    threshold. Refuses a configuration whose scores would use later rows."""
    from tsrnn.estimators import RNNAnomalyDetector

    det = RNNAnomalyDetector(random_state=seed, **params)
    if det.method != "forecast" and det.combine != "last":
        raise SystemExit(f"--mode stream: method {det.method!r} with combine={det.combine!r} is not causal")
    n = case["n_train"]
    t0 = time.perf_counter()
    det.fit(case["frame"].iloc[:n])
    info = {
        "fit_s": time.perf_counter() - t0,
        "epochs": len(det.history_.epochs),
        "n_cal": len(det.calibration_scores_),
        "threshold": det.threshold_,
    }
    context = min(n, 2 * det.lookback)  # fit rows given first, so that the first later row has its window
    rest = case["frame"].iloc[n - context :]
    t0 = time.perf_counter()
    parts = [det.update(rest.iloc[i : i + 100]) for i in range(0, len(rest), 100)] + [det.flush()]
    info["score_s"] = time.perf_counter() - t0
    scored = pd.concat(parts, ignore_index=True).iloc[context:]
    scores, flags = scored["score"].to_numpy(), scored["is_anomaly"].to_numpy() > 0
    return {"own": metrics(flags, scores, case["labels"][n:], 0, merge_gap)}, info


def streaming_flags(name: str, cal: np.ndarray, scores: np.ndarray, det) -> np.ndarray:
    """Flags of a threshold that keeps learning from the scores, causally, from the calibration
    scores on: SPOT / DSPOT (depth = the detector's spot_depth) at the detector's risk, or the
    anomaly likelihood (the detector's windows) >= 1 - likelihood_eps."""
    import warnings

    from tsrnn.detection.likelihood import AnomalyLikelihood
    from tsrnn.detection.spot import Spot
    from tsrnn.detection.thresholds import CalibrationWarning

    if name == "likelihood":
        stage = AnomalyLikelihood(det.likelihood_window, det.likelihood_short)
        stage.update(cal)
        return np.nan_to_num(stage.update(scores), nan=0.5) >= 1 - det.likelihood_eps
    spot = Spot(det.risk, det.spot_depth if name == "dspot" else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        state = spot.start(cal)
    return spot.update(state, scores)[0]


def add_drift(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Normal change the labels do not mark, over the whole series: a slow trend in ``load`` (two
    training-half std over the series), the daily amplitude of ``temperature`` growing by half
    in the second half, and a regime change at 3/4 of the series (``solar`` 20 % lower)."""
    out = frame.copy()
    n = len(out)
    load, temp, solar = (out[c].to_numpy(dtype=float) for c in ("load", "temperature", "solar"))
    load = load + np.linspace(0, 2 * np.std(load[: n // 2]), n)
    mean = temp[: n // 2].mean()
    temp = mean + (temp - mean) * np.r_[np.ones(n // 2), np.linspace(1, 1.5, n - n // 2)]
    solar = solar * np.r_[np.ones(3 * n // 4), np.full(n - 3 * n // 4, 0.8)]
    return out.assign(load=load.round(3), temperature=temp.round(3), solar=solar.round(3))


# ----------------------------------------------------------------------------- summary

KEYS = ("event_p", "event_r", "event_f1", "point_f1", "pr_auc", "flagged")


def pooled_ceiling(scores: list[np.ndarray], labels: list[np.ndarray], far_max: float) -> dict:
    """The best F1 (TP, FP, FN, TN summed, as SKAB's leaderboard does) that flagging every row
    at or above one cutoff, the same in every file, reaches with FAR <= ``far_max`` %; its FAR, MAR and cutoff."""
    s, y = np.concatenate(scores), np.concatenate(labels).astype(bool)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp, fp = np.cumsum(y), np.cumsum(~y)  # flagging the k highest rows, k = 1..n
    cut = np.r_[s[1:] != s[:-1], True]  # cutoffs fall between distinct scores
    s, tp, fp = s[cut], tp[cut], fp[cut]
    pos, neg = int(y.sum()), int((~y).sum())
    far = 100 * fp / max(neg, 1)
    f1 = np.where(far <= far_max, 2 * tp / (tp + fp + pos), -1.0)
    i = int(np.argmax(f1))
    if f1[i] < 0:
        return {"f1": 0.0, "far": 0.0, "mar": 100.0, "cutoff": float(s[0])}
    return {
        "f1": float(f1[i]),
        "far": float(far[i]),
        "mar": float(100 * (pos - tp[i]) / max(pos, 1)),
        "cutoff": float(s[i]),
    }


def summarise(per_file: list[dict], methods: list[str]) -> dict:
    out = {}
    for m in methods:
        rows = [f["results"][m] for f in per_file if m in f["results"]]
        ok = [r for r in rows if "event_f1" in r]
        s: dict = {"files": len(rows), "ok": len(ok)}
        for k in KEYS:
            vals = [r[k] for r in (rows if k == "pr_auc" else ok) if k in r]
            s[k] = float(np.mean(vals)) if vals else None
        if ok:
            tp, fp, fn, tn = np.sum([r["conf"] for r in ok], axis=0)
            s["skab_f1"] = float(tp / (tp + (fp + fn) / 2)) if tp + fp + fn else 0.0
            s["far"] = float(100 * fp / (fp + tn)) if fp + tn else 0.0
            s["mar"] = float(100 * fn / (fn + tp)) if fn + tp else 0.0
        errs = sorted({r["error"] for r in rows if "error" in r})
        if errs:
            s["errors"] = errs[:2]
        out[m] = s
    return out


def table(summary: dict, title: str, skab: bool) -> str:
    head = f"{'method':<32}{'ok':>7}{'ev P':>7}{'ev R':>7}{'ev F1':>7}{'pt F1':>7}{'PR-AUC':>8}{'flag%':>7}"
    if skab:
        head += f"{'SKAB F1':>9}{'FAR%':>7}{'MAR%':>7}"
    lines = [title, head, "-" * len(head)]

    def f(v, w, d=3):
        return f"{v:>{w}.{d}f}" if v is not None else f"{'-':>{w}}"

    for m, s in summary.items():
        line = (
            f"{m:<32}{str(s['ok']) + '/' + str(s['files']):>7}{f(s['event_p'], 7)}{f(s['event_r'], 7)}"
            f"{f(s['event_f1'], 7)}{f(s['point_f1'], 7)}{f(s['pr_auc'], 8)}"
            f"{f(None if s['flagged'] is None else 100 * s['flagged'], 7, 1)}"
        )
        if skab:
            line += f"{f(s.get('skab_f1'), 9)}{f(s.get('far'), 7, 1)}{f(s.get('mar'), 7, 1)}"
        lines.append(line)
    return "\n".join(lines)


def parse_value(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(v.lower(), v)


def parse_params(items: list[str], ap: argparse.ArgumentParser) -> dict:
    """``--param k=v`` items -> detector keyword arguments, checked before anything is fitted."""
    import inspect

    from tsrnn.estimators import RNNAnomalyDetector

    known = set(inspect.signature(RNNAnomalyDetector).parameters)
    params = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep:
            ap.error(f"--param {item!r}: expected name=value")
        if k in RENAMED:
            print(f"note: --param {k} is now called {RENAMED[k]}", file=sys.stderr)
            k = RENAMED[k]
        if k not in known:
            ap.error(f"--param {k}: RNNAnomalyDetector has no such parameter")
        params[k] = parse_value(v)
    return params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", nargs="+", default=["skab", "gen"], choices=["skab", "gen"])
    ap.add_argument("--groups", nargs="+", default=list(GROUPS), choices=GROUPS)
    ap.add_argument("--files", type=int, default=None, help="SKAB: this many files, spread over the groups")
    ap.add_argument("--skab-train", default="head", choices=["head", "free"])
    ap.add_argument("--train-rows", type=int, default=400)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    ap.add_argument("--gen-rows", type=int, default=6048, help="generated series length (fit on the first half)")
    ap.add_argument(
        "--gen-source",
        default="seasonal",
        choices=["seasonal", "demo"],
        help="seasonal: stationary generator here; demo: datasets/make_demo.py's make (drifts)",
    )
    ap.add_argument("--drift", action="store_true", help="gen: add unlabelled drift (trend, amplitude, regime)")
    ap.add_argument("--methods", nargs="+", default=["hybrid", "reconstruction", "forecast"])
    ap.add_argument(
        "--mode",
        default="batch",
        choices=["batch", "stream"],
        help="batch: score every row at once, every threshold; stream: fit on the first 15%% of each series "
        "(at most 750 rows), then score the later rows as they arrive with the detector's own threshold",
    )
    ap.add_argument("--skab-cap", action="store_true", help="SKAB: stop the fit rows at a file's first anomaly")
    ap.add_argument(
        "--merge-gap", type=int, default=None, help="events: merge flags this close (default: the detector's)"
    )
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument(
        "--far-max", type=float, default=15.0, help="the ceiling's false-alarm rate limit, percent (default 15)"
    )
    ap.add_argument("--param", action="append", default=[], help="detector parameter k=v (repeatable)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--label", default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    params = parse_params(args.param, ap)
    if args.merge_gap is None:
        from tsrnn.estimators import RNNAnomalyDetector

        args.merge_gap = params.get("merge_gap", RNNAnomalyDetector().merge_gap)
    started = time.perf_counter()
    report: dict = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "label": args.label,
        "params": params,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine_start": machine(),
        "corpora": {},
    }
    for corpus in args.corpus:
        if corpus == "skab":
            cases = skab_cases(args.groups, args.files, args.train_rows, args.skab_cap)
        else:
            cases = gen_cases(args.seeds, args.gen_rows, args.kinds, args.gen_source, args.drift)
        shared = None
        free = None
        if corpus == "skab" and args.skab_train == "free":
            free = read_skab(SKAB / "anomaly-free" / "anomaly-free.csv")
            shared = {}
        per_file = []
        pooled: dict[str, tuple[list, list]] = {}  # method -> (test scores, test labels) of every file
        for i, case in enumerate(cases):
            t0 = time.perf_counter()
            results, infos = {}, {}
            seed = 0
            if args.mode == "stream":
                case = stream_case(case)
            for method in args.methods:
                if args.mode == "stream":
                    own = {k: v for k, v in params.items() if not (method == "forecast" and k == "combine")}
                    res, infos[method] = stream_run(case, {**own, "method": method}, seed, args.merge_gap)
                    results[f"tsrnn {method[:5]} (own)"] = res["own"]
                    continue
                res, info = tsrnn_run(
                    case, method, params, seed, train_frame=free, fitted=shared, merge_gap=args.merge_gap
                )
                kept = pooled.setdefault(method, ([], []))
                kept[0].append(info.pop("test_scores"))
                kept[1].append(case["labels"][case["n_train"] :])
                if shared is not None:
                    info = shared[method + "_info"] | {"n_cal": info["n_cal"]}
                infos[method] = info
                for th, r in res.items():
                    results[f"tsrnn {method[:5]} {th}"] = r
            if not args.no_baselines:
                x = _values(case["frame"])
                if free is not None:
                    xt = _values(free)
                    n_tr = len(xt)
                    x_all = np.concatenate([xt, x])
                else:
                    n_tr, x_all = case["n_train"], x
                for b in BASELINES:
                    s_all = baseline_scores(b, x_all, n_tr, case["m"], seed)
                    train_s = s_all[case["m"] if b == "snaive" else 0 : n_tr]
                    thr = train_s.mean() + 3 * train_s.std()
                    s = s_all[n_tr:] if free is not None else s_all
                    y, n_eval = case["labels"], case["n_train"]
                    if args.mode == "stream":  # the rows after the fit part, as for tsrnn
                        s, y, n_eval = s[n_tr:], y[n_tr:], 0
                    results[f"{b} gaussian3"] = metrics(s > thr, s, y, n_eval, args.merge_gap)
                y = case["labels"][case["n_train"] :] if args.mode == "stream" else case["labels"]
                n = len(y)  # reference: flag every row (PR-AUC = the anomalous fraction)
                n_eval = 0 if args.mode == "stream" else case["n_train"]
                results["(flag every row)"] = metrics(np.ones(n, bool), np.zeros(n), y, n_eval, args.merge_gap)
            per_file.append(
                {
                    "name": case["name"],
                    "rows": len(case["frame"]),
                    "n_train": case["n_train"],
                    "anomalous": int(case["labels"].sum()),
                    "tsrnn": infos,
                    "results": results,
                }
            )
            msg = "  ".join(
                f"{m[:5]}: cal {inf['n_cal']} ep {inf.get('epochs')} {inf.get('fit_s', 0):.1f}s"
                for m, inf in infos.items()
            )
            print(
                f"[{corpus} {i + 1}/{len(cases)}] {case['name']}: {msg}  ({time.perf_counter() - t0:.1f}s)",
                file=sys.stderr,
                flush=True,
            )
        names = list(per_file[0]["results"]) if per_file else []
        summary = summarise(per_file, names)
        default_ok = {m: sum(f["tsrnn"][m].get("default_ok", False) for f in per_file) for m in args.methods}
        ceiling = {m: pooled_ceiling(*kept, args.far_max) for m, kept in pooled.items()}
        report["corpora"][corpus] = {
            "files": len(per_file),
            "default_threshold_ok": default_ok,
            "summary": summary,
            f"ceiling_far_{args.far_max:g}": ceiling,
            "per_file": per_file,
        }
        if args.mode == "stream":
            how = "stream: fit on the first 15% (<= 750 rows), later rows scored as they arrive"
        elif corpus == "skab":
            how = f"first {args.train_rows} rows per file" if args.skab_train == "head" else "anomaly-free.csv"
        else:
            how = f"{args.gen_source}, {args.gen_rows} rows, fit on first half"
        how += f", events merged over gaps <= {args.merge_gap}"
        title = (
            f"== {corpus} ({how}), {len(per_file)} series; "
            f"tsrnn default threshold fitted on {default_ok} of {len(per_file)}"
        )
        print(table(summary, title, corpus == "skab"))
        for m, c in ceiling.items():
            print(
                f"ceiling of tsrnn {m}'s scores, one cutoff for every file, FAR <= {args.far_max:g} %: "
                f"F1 {c['f1']:.3f} (FAR {c['far']:.1f} %, MAR {c['mar']:.1f} %, cutoff {c['cutoff']:.2f})"
            )
        print()
    report["wall_s"] = time.perf_counter() - started
    report["machine_end"] = machine()
    out = args.out or ROOT / "bench" / "results" / f"detect_quality{'_' + args.label if args.label else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=float))
    print(
        json.dumps(
            {
                c: {
                    "default_threshold_ok": v["default_threshold_ok"],
                    "summary": {
                        m: {k: (round(x, 4) if isinstance(x, float) else x) for k, x in s.items() if k != "errors"}
                        for m, s in v["summary"].items()
                    },
                }
                for c, v in report["corpora"].items()
            }
        )
    )
    print(f"wrote {out} ({report['wall_s']:.0f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
