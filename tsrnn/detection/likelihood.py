"""The anomaly likelihood: how unusual the last few scores are against the recent past (numpy only).

Ahmad, Lavin, Purdy and Agha, "Unsupervised real-time anomaly detection for streaming data",
Neurocomputing 262 (2017), section 4.3: at every step ``t`` the raw scores of the last
``long_window`` rows (``t`` included) give a mean ``mu_t`` and a standard deviation
``sigma_t``; the mean ``m_t`` of the last ``short_window`` raw scores is judged against them::

    L_t = 1 - Q((m_t - mu_t) / sigma_t)        Q: the standard normal tail, Q(z) = erfc(z / sqrt 2) / 2

so ``L_t`` is in [0, 1], 0.5 is typical, and it is near 1 when the scores of the last few rows
are high for the recent past, whatever their scale and however it drifts. The paper flags
``L_t >= 1 - epsilon`` (epsilon = 1e-5 on NAB). As in the paper, ``sigma_t`` is the spread of
single scores, not of short-window means: for independent scores the short mean varies
``sqrt(short_window)`` times less, which makes ``L_t`` conservative; smoothed (autocorrelated)
scores, like the detector's, are judged about at their own spread.

Conventions (documented choices where the paper says nothing):

* Rows without a score (NaN or +-inf) are left out: they are not in any window (the windows
  count scored rows only) and their likelihood is NaN.
* Warm-up: while fewer than ``long_window`` (or ``short_window``) scores have been seen, the
  windows hold the scores there are; so up to ``short_window`` scores both windows hold the
  same rows and the likelihood is 0.5 (it is 0.5 for the first score in any case).
* ``sigma_t`` is floored at ``min_std`` (in the units of the scores): constant scores give 0.5,
  and a change after a constant stretch is judged against ``min_std``.

``AnomalyLikelihood.update`` processes a chunk of scores with cumulative sums: O(1) amortised
work per row, state bounded by ``long_window`` (four arrays of it), and feeding a series in
chunks of any size gives bit-for-bit the output of one call. The sums restart at every multiple
of ``long_window`` scored rows (each window spans at most two such blocks), so rounding does not
build up over a long stream and does not depend on how the stream was chunked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tsrnn.checks import check_int, check_positive
from tsrnn.errors import ConfigError

__all__ = ["AnomalyLikelihood", "LikelihoodState", "anomaly_likelihood", "normal_cdf"]

_ERFC = np.frompyfunc(math.erfc, 1, 1)


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """The standard normal distribution function ``1 - Q(z)``, element-wise (NaN stays NaN)."""
    z = np.asarray(z, dtype=np.float64)
    return 0.5 * _ERFC(-z / math.sqrt(2.0)).astype(np.float64)


@dataclass
class LikelihoodState:
    """What ``AnomalyLikelihood`` carries between chunks. The scored rows are cut into blocks of
    ``long_window``; for the block before the current one and for the current one, the running
    sums of the scores and of their squares from the block's start (``prev_*`` are zeros until
    the first block is full; ``cur_*`` are filled up to offset ``seen % long_window``)."""

    seen: int  # scored rows so far
    prev_sum: np.ndarray  # (long_window,)
    prev_sq: np.ndarray
    cur_sum: np.ndarray
    cur_sq: np.ndarray

    @classmethod
    def start(cls, long_window: int) -> "LikelihoodState":
        """The state before any score."""
        return cls(0, *(np.zeros(long_window) for _ in range(4)))


class AnomalyLikelihood:
    """The anomaly likelihood of a stream of raw scores (see the module docstring).

    ``long_window``: scored rows whose mean and std are the reference (the paper's W, e.g. 1000);
    ``short_window`` (<= ``long_window``): scored rows averaged for the current level (W', e.g.
    10); ``min_std``: the floor of the reference std. ``update(scores)`` returns the likelihood
    of each new row and keeps the state (``state``) for the next chunk.
    """

    def __init__(
        self,
        long_window: int = 1000,
        short_window: int = 10,
        min_std: float = 1e-3,
        state: LikelihoodState | None = None,
    ) -> None:
        self.long_window = check_int("long_window", long_window, 2)
        self.short_window = check_int(
            "short_window", short_window, 1, hint=f"pass a whole number from 1 to long_window ({long_window})"
        )
        if self.short_window > self.long_window:
            check_int("long_window", long_window, self.short_window, hint="short_window must not exceed long_window")
        self.min_std = check_positive("min_std", min_std)
        if state is not None and len(state.prev_sum) != self.long_window:
            raise ConfigError(
                f"the state is of a long_window of {len(state.prev_sum)}, not {self.long_window}",
                "continue a state with the long_window it was made with",
            )
        self.state = state if state is not None else LikelihoodState.start(self.long_window)

    def update(self, scores: np.ndarray) -> np.ndarray:
        """Likelihoods (n,) of the next ``scores`` (n,) of the stream; NaN where a score is NaN or infinite."""
        x = np.asarray(scores, dtype=np.float64)
        if x.ndim != 1:
            raise ConfigError(f"scores must be 1-D (one per row), got shape {x.shape}", "pass one score per row")
        out = np.full(x.shape, np.nan)
        valid = np.isfinite(x)
        v = x[valid]
        res = np.empty(len(v))
        done = 0
        while done < len(v):  # one vectorised step per block of `long_window` scored rows touched
            done += self._block(v[done:], res[done:])
        out[valid] = res
        return out

    def _block(self, v: np.ndarray, res: np.ndarray) -> int:
        """Score as many of ``v`` as fit in the current block into ``res``; returns how many."""
        s, W, Ws = self.state, self.long_window, self.short_window
        o0 = s.seen % W
        n = min(len(v), W - o0)
        seg = v[:n]
        # running sums from the block's start, continued exactly as one cumsum of the whole block would
        s.cur_sum[o0 : o0 + n] = np.cumsum(np.concatenate([s.cur_sum[o0 - 1 : o0] if o0 else [0.0], seg]))[1:]
        s.cur_sq[o0 : o0 + n] = np.cumsum(np.concatenate([s.cur_sq[o0 - 1 : o0] if o0 else [0.0], seg * seg]))[1:]
        o = np.arange(o0, o0 + n)  # offsets in the block
        g = s.seen + o - o0  # global scored-row index
        long_sum, long_sq = self._window_sum(o, W)
        short_sum, _ = self._window_sum(o, Ws)
        n_long, n_short = np.minimum(g + 1, W), np.minimum(g + 1, Ws)
        mu = long_sum / n_long
        sigma = np.maximum(np.sqrt(np.maximum(long_sq / n_long - mu * mu, 0.0)), self.min_std)
        res[:n] = np.where(g >= 1, normal_cdf((short_sum / n_short - mu) / sigma), 0.5)
        s.seen += n
        if s.seen % W == 0:  # the block is full: it becomes the previous one
            s.prev_sum, s.cur_sum = s.cur_sum, s.prev_sum
            s.prev_sq, s.cur_sq = s.cur_sq, s.prev_sq
        return n

    def _window_sum(self, o: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Sums of the scores and their squares over the ``width`` scored rows ending at block offsets ``o``.

        ``sum(a + j - width, a + j] = C(j) - C(j - width)`` with ``C(j)`` the running sum from the
        block start ``a`` to offset ``j`` (``C(-1) = 0``; for ``j < -1``, minus the previous block's
        sum after its offset ``W + j``: ``prev[W + j] - prev[W - 1]``)."""
        s, W = self.state, self.long_window
        lo = o - width
        into_prev = np.clip(W + lo, 0, W - 1)
        into_cur = np.clip(lo, 0, W - 1)
        out = []
        for prev, cur in ((s.prev_sum, s.cur_sum), (s.prev_sq, s.cur_sq)):
            before = np.where(lo >= 0, cur[into_cur], prev[into_prev] - prev[W - 1])
            out.append(cur[o] - before)
        return out[0], out[1]

    def reset(self) -> None:
        """Forget every score seen."""
        self.state = LikelihoodState.start(self.long_window)


def anomaly_likelihood(
    scores: np.ndarray, long_window: int = 1000, short_window: int = 10, min_std: float = 1e-3
) -> np.ndarray:
    """The anomaly likelihood of every row of a whole series of raw scores (one ``update`` call)."""
    return AnomalyLikelihood(long_window, short_window, min_std).update(scores)
