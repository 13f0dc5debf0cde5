"""Error metrics and the naive baselines every forecast is compared with.

All functions take numpy arrays of windows: inputs x (n, L, C) and truths y (n, H, C_t), where
the targets are the first C_t channels of x (tsrnn's channel order).
"""

from __future__ import annotations

import numpy as np

# seasonal period by the frequency's unit (pandas offset aliases)
_SEASONS = {
    "min": 60,
    "T": 60,
    "h": 24,
    "H": 24,
    "D": 7,
    "B": 5,
    "W": 52,
    "M": 12,
    "MS": 12,
    "ME": 12,
    "Q": 4,
    "QS": 4,
    "QE": 4,
    "s": 60,
    "S": 60,
}


def season_length(freq: str | None) -> int | None:
    """The natural seasonal period of a frequency: hourly -> 24 (a day), daily -> 7, 15min -> 96..."""
    if not freq:
        return None
    import pandas as pd

    off = pd.tseries.frequencies.to_offset(freq)
    base = off.rule_code.split("-")[0]
    if base in ("min", "T", "s", "S") and off.n > 1:  # sub-hourly multiples: one day
        step = int(pd.Timedelta(off).total_seconds())
        if 86400 % step:
            return None
        per_day = 86400 // step
        return per_day if per_day > 1 else None
    if base in ("h", "H") and off.n > 1:
        return max(24 // off.n, 1) if 24 % off.n == 0 else None
    if off.n != 1:
        return None
    return _SEASONS.get(base)


def repeat_last(x: np.ndarray, n_targets: int, horizon: int) -> np.ndarray:
    """(n, H, C_t): the last observed value repeated over the horizon."""
    return np.repeat(x[:, -1:, :n_targets], horizon, axis=1)


def seasonal_naive(x: np.ndarray, n_targets: int, horizon: int, season: int) -> np.ndarray:
    """(n, H, C_t): the value one season earlier, ``y[h] = x[L - m + (h mod m)]``."""
    lookback = x.shape[1]
    if season > lookback:
        raise ValueError(f"seasonal-naive needs a lookback of at least one season ({season}), got {lookback}")
    idx = lookback - season + (np.arange(horizon) % season)
    return x[:, idx, :n_targets]


def error_sums(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """[sum of squared errors, sum of absolute errors] in float64: summed chunk by chunk and
    divided by the count, they give MSE and MAE over windows, steps and channels."""
    err = pred.astype(np.float64) - truth
    return np.array([np.square(err).sum(), np.abs(err).sum()])


def coverage(lower: np.ndarray, upper: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of truths inside [lower, upper] (for prediction intervals)."""
    return float(np.mean((truth >= lower) & (truth <= upper)))
