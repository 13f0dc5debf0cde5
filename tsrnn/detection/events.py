"""Events from point flags, and how well flags match labels (numpy; pandas only for event tables).

An event is a run of consecutive flagged points; ``start`` and ``end`` are inclusive. Labels are
0/1 (or boolean) per point, and a true event is a run of 1s.

Metrics return precision, recall and F1 with scikit-learn's ``zero_division=0`` convention: a
ratio with nothing to count (no predictions, no labelled anomalies) is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tsrnn.checks import check_int
from tsrnn.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

EVENT_COLUMNS = ("start", "end", "length", "peak_time", "peak_score", "channels")
TOP_CHANNELS = 3  # channels named per event


def _as_flags(x: Any, name: str) -> np.ndarray:
    """1-D bool array from booleans or 0/1 numbers."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ConfigError(
            f"{name} must be 1-D (one flag per time step), got shape {arr.shape}",
            f"pass {name} as a flat array of 0/1 or booleans",
        )
    if arr.dtype == bool:
        return arr
    if arr.size and (arr.dtype.kind not in "iuf" or not np.all((arr == 0) | (arr == 1))):
        raise ConfigError(f"{name} must hold only 0/1 or booleans", f"e.g. {name} = scores > threshold")
    return arr.astype(bool)


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ConfigError(
            "arrays of different lengths: " + ", ".join(f"{k}={v}" for k, v in lengths.items()),
            "pass one value per time step in each",
        )


def runs(flags: np.ndarray) -> np.ndarray:
    """(k, 2) int64: the inclusive ``[start, end]`` index of each run of True in ``flags`` (n,)."""
    f = np.asarray(flags, dtype=bool)
    edges = np.diff(f.astype(np.int8), prepend=0, append=0)
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1], axis=1).astype(np.int64)


def _event_runs(flags: np.ndarray, min_length: int, merge_gap: int) -> np.ndarray:
    """Runs merged across gaps of <= ``merge_gap`` unflagged points, then those shorter than ``min_length`` dropped."""
    r = runs(flags)
    if len(r) > 1:
        first = np.concatenate([[True], r[1:, 0] - r[:-1, 1] - 1 > merge_gap])  # run i starts a new event
        r = np.stack([r[first, 0], r[np.append(first[1:], True), 1]], axis=1)
    return r[r[:, 1] - r[:, 0] + 1 >= min_length]


def event_flags(flags: np.ndarray, *, min_length: int = 1, merge_gap: int = 0) -> np.ndarray:
    """(n,) bool: True on the points of the events ``flags_to_events`` reports for these options
    (gaps merged into their events, short events gone), so event-wise metrics count those events."""
    f = _as_flags(flags, "flags")
    r = _event_runs(
        f, check_int("min_length", min_length, 1, hint="e.g. min_length=1"), check_int("merge_gap", merge_gap, 0)
    )
    out = np.zeros(len(f), dtype=bool)
    for a, b in r:
        out[a : b + 1] = True
    return out


def flags_to_events(
    flags: np.ndarray,
    scores: np.ndarray,
    times: Any = None,
    *,
    min_length: int = 1,
    merge_gap: int = 0,
    channel_scores: np.ndarray | None = None,
    channel_names: Sequence[str] | None = None,
) -> "pd.DataFrame":
    """One row per event, with the columns ``EVENT_COLUMNS``.

    ``flags`` (n,) 0/1 per point, ``scores`` (n,) the anomaly score per point, ``times`` (n,)
    the time of each point (None: the integer index is used for start, end and peak_time).
    Events separated by at most ``merge_gap`` unflagged points are merged first (the gap becomes
    part of the event), then events of fewer than ``min_length`` points are dropped.

    ``start`` / ``end``: first and last point (inclusive); ``length``: points from start to end;
    ``peak_time`` / ``peak_score``: where the score is highest inside the event (the first such
    point on ties); ``channels``: with ``channel_scores`` (n, C), the names (``channel_names``,
    default "0", "1", ...) of the (up to) 3 channels with the highest mean channel score over the
    event, highest first, comma-separated; "" without ``channel_scores``.
    """
    import pandas as pd

    f = _as_flags(flags, "flags")
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ConfigError(
            f"scores must be 1-D (one score per time step), got shape {s.shape}",
            "combine channels into one score per row first",
        )
    _same_length(flags=f, scores=s)
    min_length = check_int("min_length", min_length, 1, hint="e.g. min_length=1")
    merge_gap = check_int("merge_gap", merge_gap, 0, hint="e.g. merge_gap=1")
    index = None if times is None else pd.Index(times)
    if index is not None:
        _same_length(flags=f, times=index)
    names: list[str] = []
    if channel_scores is not None:
        ch = np.asarray(channel_scores, dtype=np.float64)
        if ch.ndim != 2 or len(ch) != len(f):
            raise ConfigError(
                f"channel_scores must be (n, C) with n = {len(f)} rows, got shape {ch.shape}",
                "pass one row of per-channel scores per time step",
            )
        names = [str(c) for c in range(ch.shape[1])] if channel_names is None else [str(c) for c in channel_names]
        if len(names) != ch.shape[1]:
            raise ConfigError(
                f"channel_names has {len(names)} names for {ch.shape[1]} channels",
                "pass one name per column of channel_scores",
            )
    elif channel_names is not None:
        raise ConfigError("channel_names was given without channel_scores", "pass channel_scores too, or drop it")

    r = _event_runs(f, min_length, merge_gap)
    peaks = np.array([a + int(np.argmax(s[a : b + 1])) for a, b in r], dtype=np.int64)
    channels = []
    for a, b in r:
        if channel_scores is None:
            channels.append("")
        else:
            mean = ch[a : b + 1].mean(axis=0)
            channels.append(",".join(names[c] for c in np.argsort(-mean, kind="stable")[:TOP_CHANNELS]))
    pos = (lambda i: i) if index is None else (lambda i: index[i])
    return pd.DataFrame(
        {
            "start": pos(r[:, 0]),
            "end": pos(r[:, 1]),
            "length": r[:, 1] - r[:, 0] + 1,
            "peak_time": pos(peaks),
            "peak_score": s[peaks],
            "channels": channels,
        }
    )


def _prf(hit_pred: int, n_pred: int, hit_true: int, n_true: int) -> dict[str, float]:
    precision = hit_pred / n_pred if n_pred else 0.0
    recall = hit_true / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def _pair(pred_flags: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, y = _as_flags(pred_flags, "pred_flags"), _as_flags(labels, "labels")
    _same_length(pred_flags=p, labels=y)
    return p, y


def point_metrics(pred_flags: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Point-wise precision, recall and F1 of flags (n,) against labels (n,)."""
    p, y = _pair(pred_flags, labels)
    tp = int(np.sum(p & y))
    return _prf(tp, int(p.sum()), tp, int(y.sum()))


def _overlapping(r: np.ndarray, other: np.ndarray) -> int:
    """How many of the runs ``r`` (k, 2) contain at least one True of ``other`` (n,)."""
    before = np.concatenate([[0], np.cumsum(other)])
    return int(np.sum(before[r[:, 1] + 1] - before[r[:, 0]] > 0))


def event_metrics(pred_flags: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Event-wise precision, recall and F1 (n,) flags against (n,) labels.

    Recall: the fraction of true events (runs of labels) that at least one flag overlaps.
    Precision: the fraction of predicted events (runs of flags) that overlap a true event.
    """
    p, y = _pair(pred_flags, labels)
    pred_runs, true_runs = runs(p), runs(y)
    return _prf(_overlapping(pred_runs, y), len(pred_runs), _overlapping(true_runs, p), len(true_runs))


def pr_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Point-wise average precision of scores (n,) against 0/1 labels (n,): area under the PR curve.

    ``sum_k (R_k - R_(k-1)) P_k`` over the distinct score thresholds, highest first (the same step
    rule as scikit-learn's ``average_precision_score``; no interpolation).
    """
    s = np.asarray(scores, dtype=np.float64)
    y = _as_flags(labels, "labels")
    if s.ndim != 1:
        raise ConfigError(
            f"scores must be 1-D (one score per time step), got shape {s.shape}",
            "combine channels into one score per row first",
        )
    _same_length(scores=s, labels=y)
    if not np.all(np.isfinite(s)):
        raise ConfigError(f"scores holds {int(np.sum(~np.isfinite(s)))} NaN/inf values", "drop or fill them first")
    if not y.any():
        raise ConfigError(
            "labels has no anomalies, so average precision is undefined",
            "evaluate on data with at least one labelled anomaly",
        )
    order = np.argsort(-s, kind="mergesort")
    s_sorted, hit = s[order], y[order]
    last = np.append(np.flatnonzero(np.diff(s_sorted)), len(s) - 1)  # last point of each distinct score
    tp = np.cumsum(hit)[last]
    precision = tp / (last + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))
