"""Per-channel, per-series scaling fitted on training rows only.

The scikit-learn scalers (StandardScaler, MinMaxScaler, RobustScaler) are fitted on each
series' training rows; what they learned is kept as one affine map per series and channel,
``scaled = (x - center) / scale``, so that transform and inverse are exact, vectorised, and
saved as plain JSON (no pickle). A constant column gets scale 1 (scikit-learn's own rule), so
it never produces NaN or inf.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsrnn.checks import check_choice
from tsrnn.data import SeriesData
from tsrnn.errors import NotFittedError

SCALERS = ("standard", "minmax", "robust", "none")


def _affine(method: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(center, scale) of the scikit-learn scaler ``method`` fitted on ``rows`` (n, C)."""
    n_ch = rows.shape[1]
    if method == "none":
        return np.zeros(n_ch), np.ones(n_ch)
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    rows = rows.astype(np.float64)
    if method == "standard":
        s = StandardScaler().fit(rows)
        return s.mean_, s.scale_
    if method == "minmax":  # x * scale_ + min_  ==  (x - (-min_ / scale_)) / (1 / scale_)
        s = MinMaxScaler().fit(rows)
        return -s.min_ / s.scale_, 1.0 / s.scale_
    s = RobustScaler().fit(rows)
    return s.center_, s.scale_


class SeriesScaler:
    """Scale every channel of every series with its own affine map, fitted on that series' training rows."""

    def __init__(self, method: str = "standard") -> None:
        self.method = check_choice("scaler", method, SCALERS)

    def fit(self, data: SeriesData, train_end: np.ndarray) -> "SeriesScaler":
        """Fit on rows ``[0, train_end[i])`` of each series ``i``."""
        fitted = [_affine(self.method, data.series(i)[: int(train_end[i])]) for i in range(data.n_series)]
        self.center_ = np.stack([c for c, _ in fitted])  # (S, C)
        self.scale_ = np.stack([s for _, s in fitted])
        self.channels_ = data.channels
        return self

    def _params(self, series_number: int | np.ndarray, channels: Any = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "center_"):
            raise NotFittedError("the scaler is not fitted", "call fit first")
        return self.center_[series_number][..., channels], self.scale_[series_number][..., channels]

    def transform(self, data: SeriesData, rows: np.ndarray | None = None) -> np.ndarray:
        """(n_rows, C) float32: a scaled copy of every series' values.

        ``rows`` (n_series,): which fitted series' parameters scale each series of ``data``
        (default: series ``i`` by row ``i``, as at fit time)."""
        out = np.empty_like(data.values)
        for i in range(data.n_series):
            c, s = self._params(i if rows is None else int(rows[i]))
            lo, hi = data.offsets[i], data.offsets[i + 1]
            out[lo:hi] = (data.values[lo:hi] - c) / s
        return out

    def inverse(self, x: np.ndarray, series_number: int | np.ndarray, channels: Any = slice(None)) -> np.ndarray:
        """Map scaled values back to original units.

        ``x`` (..., len(channels)) belongs to one series (``series_number`` an int) or, with a
        leading window axis, to ``series_number`` (n,) one per row of ``x``; ``channels`` selects
        the channels of ``x``.
        """
        c, s = self._params(series_number, channels)
        if np.ndim(series_number) == 1:  # one series per leading row: broadcast over middle axes
            shape = (len(series_number),) + (1,) * (x.ndim - 2) + (c.shape[-1],)
            c, s = c.reshape(shape), s.reshape(shape)
        return x * s + c

    def scale_of(self, series_number: int | np.ndarray, channels: Any = slice(None)) -> np.ndarray:
        """The scale factors (for converting an error in scaled units to original units)."""
        return self._params(series_number, channels)[1]

    def state(self) -> dict[str, Any]:
        """JSON-able state for saving."""
        return {
            "method": self.method,
            "channels": list(self.channels_),
            "center": self.center_.tolist(),
            "scale": self.scale_.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "SeriesScaler":
        if not state.get("per_series", True):  # written by a tsrnn that could share one map across series
            raise ValueError("a scaler shared across series is no longer supported")
        s = cls(state["method"])
        s.center_ = np.asarray(state["center"], dtype=np.float64)
        s.scale_ = np.asarray(state["scale"], dtype=np.float64)
        s.channels_ = tuple(state["channels"])
        return s
