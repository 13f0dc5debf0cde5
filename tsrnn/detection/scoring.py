"""Per-row anomaly scores from per-window errors (numpy only).

Every scorer here works on one series' contiguous rows and returns one value per row, so no row
of the user's frame is ever dropped.
"""

from __future__ import annotations

import numpy as np

COMBINE = ("mean", "max", "last")  # "last": the error of the one window ending at the row (causal)


def accumulate(total: np.ndarray, count: np.ndarray, starts: np.ndarray, errors: np.ndarray, combine: str) -> None:
    """Add window errors into per-row accumulators, in place.

    ``errors`` (n_windows, W, C): the error of every step of window ``i``, which covers rows
    ``starts[i] .. starts[i] + W - 1`` of ``total`` (n_rows, C) and ``count`` (n_rows,).
    ``total`` holds sums ("mean") or running maxima ("max"; start it at -inf).
    """
    n_w, width, n_ch = errors.shape
    rows = (starts[:, None] + np.arange(width)).ravel()  # (n_w * W,)
    flat = errors.reshape(n_w * width, n_ch)
    if combine == "mean":
        np.add.at(total, rows, flat)
    else:
        np.maximum.at(total, rows, flat)
    np.add.at(count, rows, 1.0)


def finish(total: np.ndarray, count: np.ndarray, combine: str) -> np.ndarray:
    """Accumulators -> (n_rows, C) row errors; NaN for a row no window covers."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total.copy() if combine == "max" else total / count[:, None]
    out[count == 0] = np.nan
    return out


def empty(n_rows: int, n_ch: int, combine: str) -> tuple[np.ndarray, np.ndarray]:
    """Fresh accumulators for ``accumulate``."""
    return np.full((n_rows, n_ch), -np.inf if combine == "max" else 0.0), np.zeros(n_rows)


def ewma(x: np.ndarray, span: int, state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Exponentially weighted moving average along axis 0 of ``x`` (n,) or (n, C), NaN rows skipped.

    ``y_t = alpha x_t + (1 - alpha) y_(t-1)`` with ``alpha = 2 / (span + 1)`` and ``y_0 = x_0``: pandas'
    ``ewm(span=span, adjust=False).mean()`` on the rows without NaN. A row holding a NaN is skipped
    (NaN out, state unchanged). ``state``: the last smoothed row of an earlier call, to continue a
    stream exactly. Returns (smoothed, last state; None while no row has been seen).
    """
    from scipy.signal import lfilter

    alpha = 2.0 / (span + 1.0)
    out = np.full(x.shape, np.nan)
    keep = ~np.isnan(x).any(axis=1) if x.ndim == 2 else ~np.isnan(x)
    rows = x[keep]  # the rows that move the average, in order
    if len(rows) == 0:
        return out, None if state is None else state.copy()
    if state is None:  # y_0 = x_0
        state, rows, first = rows[0], rows[1:], rows[:1]
    else:
        first = rows[:0]
    # y_t = alpha x_t + (1 - alpha) y_(t-1), run by scipy's linear filter from the state
    smooth = lfilter([alpha], [1.0, alpha - 1.0], rows, axis=0, zi=((1 - alpha) * np.asarray(state, float))[None])[0]
    done = np.concatenate([first, smooth])
    out[keep] = done
    return out, done[-1].copy()
