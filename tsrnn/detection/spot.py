"""Streaming peaks-over-threshold: SPOT and DSPOT (numpy only).

Siffer, Fouque, Termier and Largouet, "Anomaly detection in streams with extreme value theory",
KDD 2017. POT (``thresholds.fit_threshold("pot", ...)``) fits a generalised Pareto tail to the
calibration scores once; SPOT keeps fitting it as the stream goes on:

- a score above the current threshold ``z`` is an anomaly, and teaches the tail nothing;
- a score above the initial threshold ``t`` (but not above ``z``) is a new peak: the tail is
  refitted and ``z`` moves;
- any other score only counts (``n`` grows, so ``z`` creeps up to keep the risk per score).

DSPOT does the same on the score minus the mean of the last ``depth`` normal scores, so a slow
drift of the scores' level does not turn into alarms. The tail is fitted by the method of moments
from running sums of the peaks (O(1) work per peak; the paper refits by maximum likelihood, which
costs milliseconds per peak), so a stream runs at numpy-loop speed. State is a dataclass with a bounded peak
list (the oldest peaks are dropped beyond ``max_peaks``), so memory does not grow with the
stream and chunks of any size give the same flags as one pass.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from tsrnn.checks import check_int, check_optional_int
from tsrnn.detection.thresholds import MIN_EXCESSES, _normal_quantile, _open_unit, _warn, tail_start


@dataclass
class SpotState:
    """Where a SPOT stream stands."""

    t: float  # the initial threshold: scores above it are peaks
    peaks: deque  # excesses over t of the normal scores seen (the newest max_peaks)
    n: float  # how many normal scores the peaks stand for
    z: float  # the current threshold (on the drift-corrected score for DSPOT)
    recent: deque = field(default_factory=deque)  # DSPOT: the last `depth` normal scores
    recent_sum: float = 0.0
    peak_sum: float = 0.0  # running sums of the peaks and their squares (the moments of the tail)
    peak_sq: float = 0.0


class Spot:
    """SPOT (``depth=None``) or DSPOT (``depth`` = the drift window) with tail probability ``risk``.

    ``start(calibration)`` fits the first tail on calibration scores; ``update(state, scores)``
    returns (flags, thresholds) per score, in the scores' units, and advances ``state``.
    """

    def __init__(
        self, risk: float = 1e-3, depth: int | None = None, init_quantile: float = 0.98, max_peaks: int = 1000
    ) -> None:
        self.risk = _open_unit("risk", risk, "1e-3")
        self.depth = check_optional_int("depth", depth, 1)
        self.init_quantile = _open_unit("init_quantile", init_quantile, "0.98")
        self.max_peaks = check_int("max_peaks", max_peaks, MIN_EXCESSES)

    def start(self, calibration: np.ndarray) -> SpotState:
        """The state after the calibration scores (NaN ignored)."""
        cal = np.asarray(calibration, dtype=np.float64)
        cal = cal[np.isfinite(cal)]
        recent: deque = deque(maxlen=self.depth)
        if self.depth is not None:  # DSPOT works on the score minus the mean of the previous `depth`
            d = self.depth
            if len(cal) <= d:
                _warn(f"dspot with depth={d} needs more than {d} calibration scores, got {len(cal)}: using them all")
                d = max(len(cal) - 1, 1)
            means = np.convolve(cal, np.ones(d) / d, mode="valid")[:-1]  # mean of cal[i-d:i] for i >= d
            recent.extend(float(v) for v in cal[-self.depth :])
            cal = cal[d:] - means
        n = len(cal)
        t = float(np.quantile(cal, tail_start(n, self.init_quantile))) if n else 0.0
        peaks = deque((float(v) for v in cal[cal > t] - t), maxlen=self.max_peaks)
        state = SpotState(t, peaks, float(n), math.inf, recent, float(sum(recent)))
        state.peak_sum, state.peak_sq = float(sum(peaks)), float(sum(v * v for v in peaks))
        state.z = self._threshold(state, cal)
        if len(peaks) < MIN_EXCESSES:
            _warn(
                f"spot could not fit a tail: {len(peaks)} of {n} calibration scores are peaks (it needs "
                f"{MIN_EXCESSES}); using a normal tail with risk={self.risk:g} until the stream brings them"
            )
        return state

    def _threshold(self, state: SpotState, cal: np.ndarray | None = None) -> float:
        """z from the peaks (a normal tail on the calibration scores while there are too few)."""
        if len(state.peaks) < MIN_EXCESSES:
            if cal is None or len(cal) == 0:
                return state.z
            return float(cal.mean() + _normal_quantile(1.0 - self.risk) * cal.std())
        k = len(state.peaks)
        mean = state.peak_sum / k
        var = state.peak_sq / k - mean * mean
        ratio = self.risk * state.n / k
        if ratio >= 1.0 or mean <= 0 or var <= 0:
            return state.t + max(state.peaks)
        gamma = 0.5 * (1.0 - mean * mean / var)  # method of moments for the generalised Pareto
        sigma = 0.5 * mean * (mean * mean / var + 1.0)
        if abs(gamma) < 1e-12:
            return state.t - sigma * math.log(ratio)
        return state.t + sigma / gamma * math.expm1(-gamma * math.log(ratio))

    def update(self, state: SpotState, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(flags (n,) bool, thresholds (n,)) for ``scores`` in order; ``state`` moves on. A NaN
        score is neither flagged nor learned from."""
        x = np.asarray(scores, dtype=np.float64)
        flags = np.zeros(len(x), dtype=bool)
        limits = np.full(len(x), np.nan)
        for i, v in enumerate(x):
            if not math.isfinite(v):
                continue
            level = state.recent_sum / len(state.recent) if state.recent else 0.0
            limits[i] = state.z + level
            w = v - level
            if w > state.z:
                flags[i] = True
                continue  # an anomaly: nothing learned
            if w > state.t:
                if len(state.peaks) == self.max_peaks:  # the oldest peak is forgotten: keep the peak rate
                    state.n *= (self.max_peaks - 1) / self.max_peaks
                    state.peak_sum -= state.peaks[0]
                    state.peak_sq -= state.peaks[0] ** 2
                y = w - state.t
                state.peaks.append(y)
                state.peak_sum += y
                state.peak_sq += y * y
                state.n += 1
                state.z = self._threshold(state)
            else:
                state.n += 1
            if self.depth is not None:
                if len(state.recent) == self.depth:
                    state.recent_sum -= state.recent[0]
                state.recent.append(v)
                state.recent_sum += v
        return flags, limits
