"""Thresholds that turn anomaly scores into flags (numpy only).

Scores are 1-D float arrays, one per time step, higher = more anomalous. A threshold is fitted
on calibration scores (held-out rows assumed mostly normal) or, for ``dynamic``, on the scores
being tested; a point is flagged when its score is strictly above the threshold.

=========  ====================================================  =========================================
method     assumes                                               use when
=========  ====================================================  =========================================
quantile   calibration is normal and has >> 1/(1-q) points       a simple, known alarm budget ``1 - q``
gaussian   calibration scores are roughly Gaussian               a quick baseline; heavy tails -> too many
                                                                 alarms
conformal  calibration and new normal scores are exchangeable    you need P(false alarm) <= ``fpr``,
                                                                 guaranteed for any distribution
pot        the tail above the ``init_quantile`` quantile is      alarm rates (``risk``) far below 1/n,
           a Generalized Pareto Distribution                     beyond the calibration data's range
dynamic    anomalies are rare, short bursts in smoothed,         no clean calibration set, or errors whose
           non-negative errors                                   level drifts (per-window, Hundman 2018)
=========  ====================================================  =========================================

``pot`` is Siffer et al., "Anomaly Detection in Streams with Extreme Value Theory" (KDD 2017):
the Generalized Pareto Distribution is fitted by maximum likelihood with Grimshaw's reduction
to one variable (as in the paper), roots bracketed on a grid and refined by bisection; the
exponential tail (gamma = 0) is always a candidate, so the fit falls back to it when no other
root exists or none has a higher likelihood.

``dynamic`` is the non-parametric dynamic threshold of Hundman et al., "Detecting Spacecraft
Anomalies Using LSTMs and Nonparametric Dynamic Thresholding" (KDD 2018, telemanom), with its
pruning step; smooth the raw errors first (the detector uses ``tsrnn.detection.scoring.ewma``).
"""

from __future__ import annotations

import math

import numpy as np

from tsrnn.checks import check_choice, check_fraction, check_number, check_optional_int, check_positive
from tsrnn.errors import ConfigError

THRESHOLDS = ("quantile", "gaussian", "dynamic", "pot", "conformal")
MIN_EXCESSES = 10  # POT needs at least this many calibration scores above its initial threshold
TAIL_PEAKS = 30  # a small calibration set: the initial threshold is lowered to leave this many peaks (see tail_start)
GPD_MIN_EXCESSES = 50  # fewer excesses: the exponential tail (the shape's standard error is about 1/sqrt(N))
LR_CRITICAL = 3.841458820694124  # chi-square(1) 95 % quantile: the likelihood-ratio test of gamma = 0
MAX_CANDIDATES = 10_000  # dynamic: more z values than this is certainly a typo in z_range / z_step


# ----------------------------------------------------------------------------- checks


def _open_unit(name: str, value: object, example: str) -> float:
    """A probability strictly between 0 and 1."""
    return check_fraction(name, value, include_zero=False, include_one=False, hint=f"e.g. {name}={example}")


def _check_scores(name: str, x: np.ndarray, *, allow_empty: bool = False) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ConfigError(
            f"{name} must be 1-D (one score per time step), got shape {arr.shape}",
            "combine channels into one score per row first",
        )
    if arr.size == 0 and not allow_empty:
        raise ConfigError(f"{name} is empty", f"pass at least one score in {name}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(
            f"{name} holds {int(np.sum(~np.isfinite(arr)))} NaN/inf values",
            f"drop or fill the non-finite values of {name}",
        )
    return arr


def _check_z(z_range: tuple[float, float], z_step: float) -> np.ndarray:
    """The candidate z values ``lo, lo + step, ... <= hi``."""
    try:
        lo, hi = (float(v) for v in z_range)
    except (TypeError, ValueError) as e:
        raise ConfigError(
            f"z_range must be two numbers (low, high), got {z_range!r}", "e.g. z_range=(2.0, 10.0)"
        ) from e
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ConfigError(f"z_range must be finite with low <= high, got {z_range!r}", "e.g. z_range=(2.0, 10.0)")
    z_step = check_positive("z_step", z_step, hint="e.g. z_step=0.5")
    count = int(math.floor((hi - lo) / z_step + 1e-9)) + 1
    if count > MAX_CANDIDATES:
        raise ConfigError(
            f"z_range {z_range!r} with z_step {z_step} gives {count:,} candidates (limit {MAX_CANDIDATES:,})",
            "use a larger z_step",
        )
    return lo + z_step * np.arange(count)


# ----------------------------------------------------------------------------- GPD / POT


def _grimshaw_w(x: float, y: np.ndarray) -> float:
    """Grimshaw's equation ``u(x) v(x) - 1`` written as ``a + b + a b`` (accurate near x = 0)."""
    xy = x * y
    a = float(np.mean(-xy / (1.0 + xy)))  # u - 1
    b = float(np.mean(np.log1p(xy)))  # v - 1
    return a + b + a * b


def fit_gpd(excesses: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood (gamma, sigma) of a Generalized Pareto Distribution, by Grimshaw's method.

    ``excesses``: (N,) values >= 0 (scores minus the POT threshold), not all zero. The GPD has
    survival ``(1 + gamma y / sigma)^(-1/gamma)`` (``exp(-y / sigma)`` at gamma = 0).

    With ``x = gamma / sigma`` the likelihood equations reduce to ``u(x) v(x) = 1``, where
    ``u = mean(1 / (1 + x y))`` and ``v = 1 + mean(log(1 + x y))``, and then ``gamma = v - 1``,
    ``sigma = gamma / x``. Roots lie in ``(-1 / max y, 0)`` or ``x > 0``; they are bracketed on a
    log-spaced grid of each side (on excesses scaled to mean 1) and refined by bisection. The
    exponential fit (gamma = 0, sigma = mean) is the default: a root with a higher likelihood
    replaces it only where the likelihood-ratio test of gamma = 0 rejects it at the 5 % level
    (twice the log-likelihood gain above 3.84, the chi-square(1) quantile). With a few dozen
    excesses the shape is hard to estimate, and a shape fitted to noise moves an extrapolated
    threshold far; the exponential is also what remains when no root exists: equal excesses, or a tail so short
    (gamma <= -1) that the likelihood has no interior maximum, where it overstates the tail, so
    a POT threshold errs towards fewer alarms.
    """
    y = np.asarray(excesses, dtype=np.float64)
    if y.ndim != 1 or y.size < 2:
        raise ConfigError(
            f"excesses must be 1-D with at least 2 values, got shape {y.shape}",
            "pass the scores above the POT threshold minus that threshold",
        )
    if not np.all(np.isfinite(y)) or np.any(y < 0) or not np.any(y > 0):
        raise ConfigError(
            "excesses must be finite, >= 0 and not all zero",
            "pass the scores above the POT threshold minus that threshold",
        )
    scale = float(y.mean())
    y = y / scale
    n_grid = 200
    f = np.concatenate([np.geomspace(1e-6, 0.5, n_grid), 1.0 - np.geomspace(0.5, 1e-9, n_grid)[1:]])
    grids = [np.geomspace(1e-6, 1e8, 2 * n_grid), -f / float(y.max())]  # positive side, negative side
    exponential_ll = -1.0  # log-likelihood / N of the exponential fit: -(log 1 + 1)
    best_gamma, best_sigma, best_ll = 0.0, 1.0, exponential_ll + LR_CRITICAL / (2 * y.size)
    for grid in grids:
        w = np.array([_grimshaw_w(float(x), y) for x in grid])
        for i in np.flatnonzero(np.sign(w[:-1]) * np.sign(w[1:]) < 0):
            lo, hi, w_lo = float(grid[i]), float(grid[i + 1]), w[i]
            for _ in range(80):
                mid = 0.5 * (lo + hi)
                w_mid = _grimshaw_w(mid, y)
                if np.sign(w_mid) == np.sign(w_lo):
                    lo, w_lo = mid, w_mid
                else:
                    hi = mid
            x = 0.5 * (lo + hi)
            gamma = float(np.mean(np.log1p(x * y)))
            sigma = gamma / x  # > 0: gamma has the sign of x
            ll = -(math.log(sigma) + 1.0 + gamma)  # log-likelihood / N, since sum log(1 + x y) = N gamma
            if ll > best_ll:
                best_gamma, best_sigma, best_ll = gamma, sigma, ll
    return best_gamma, best_sigma * scale


POT_MIN_SCORES = 60  # below this, a tail fit is guesswork: a normal tail stands in (with a warning)


def tail_start(n: int, init_quantile: float) -> float:
    """The quantile of ``n`` calibration scores where a POT or SPOT tail starts: ``init_quantile``,
    lowered on a small set (of at least POT_MIN_SCORES) so that ``TAIL_PEAKS`` peaks lie above it
    (10 % of the scores when that is fewer, but never fewer than MIN_EXCESSES + 2).

    Why: the tail's scale is estimated from the peaks' mean, with a relative standard error near
    1/sqrt(peaks), and a 1e-4 threshold lies about five scales above the initial threshold: with
    the 14 peaks that 0.98 leaves of 686 scores, that distance is uncertain by about a quarter
    (1/sqrt(14)); 30 peaks halve its variance. With the default detector it took the streamed drift
    suite's event F1 from 0.650 to 0.791, and SKAB's leaderboard F1 from 0.765 to 0.771 at the
    same false-alarm rate (bench/README.md).
    """
    want = min(TAIL_PEAKS, max(MIN_EXCESSES + 2, 0.1 * n))
    if n * (1.0 - init_quantile) < want and n >= POT_MIN_SCORES:
        return 1.0 - want / n
    return init_quantile


def _pot(calibration: np.ndarray, risk: float, init_quantile: float) -> float:
    """Peaks over threshold. On a small calibration set (of at least POT_MIN_SCORES scores) the
    initial threshold is lowered to leave up to TAIL_PEAKS peaks (``tail_start``). With fewer scores, or too few distinct
    peaks, no tail can be fitted: a normal tail with the same ``risk`` stands in, with a warning.
    With fewer than GPD_MIN_EXCESSES peaks the tail is exponential (the GPD with gamma = 0): a
    shape estimated from a few dozen peaks has a standard error near 1/sqrt(N), and a shape of
    +0.5 fitted to noise puts a 1e-4 threshold about ten times too far out."""
    n = calibration.size
    t = float(np.quantile(calibration, tail_start(n, init_quantile)))
    excess = calibration[calibration > t] - t
    if excess.size < MIN_EXCESSES:
        k = _normal_quantile(1.0 - risk)
        _warn(
            f"pot could not fit a tail: {excess.size} of {n} calibration scores lie above its initial threshold "
            f"(it needs {MIN_EXCESSES}, from about {POT_MIN_SCORES} scores); using mean + {k:.2f} std "
            f"(a normal tail with risk={risk:g}) instead. More fit data gives a real tail fit"
        )
        return float(calibration.mean() + k * calibration.std())
    ratio = risk * n / excess.size
    if ratio >= 1.0:
        raise ConfigError(
            f"risk={risk} is not below the fraction of calibration scores above the initial "
            f"threshold ({excess.size / n:.3g}); POT only extrapolates further into the tail",
            "use a smaller risk, a higher init_quantile, or the quantile threshold",
        )
    gamma, sigma = fit_gpd(excess) if excess.size >= GPD_MIN_EXCESSES else (0.0, float(excess.mean()))
    if gamma == 0.0:
        return t - sigma * math.log(ratio)
    return t + sigma / gamma * math.expm1(-gamma * math.log(ratio))  # (ratio^-gamma - 1), accurate as gamma -> 0


def _normal_quantile(p: float) -> float:
    """The standard normal quantile, by bisection on the CDF (math.erfc): dependency-free, exact to 1e-12."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(-mid / math.sqrt(2)) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


class CalibrationWarning(UserWarning):
    """A threshold fitted on too few (or degenerate) calibration scores, with a stand-in rule."""


def _warn(message: str) -> None:
    import warnings

    warnings.warn(message, CalibrationWarning, stacklevel=3)


# ----------------------------------------------------------------------------- dynamic (telemanom)


def _select_epsilon(e: np.ndarray, zs: np.ndarray) -> float | None:
    """Hundman's epsilon: the ``mean + z std`` maximising (dmean/mean + dstd/std) / (|e_a| + |E_seq|^2).

    Only candidates flagging at least one point and fewer than half are considered; None if none is.
    ``e`` must be non-negative.
    """
    from tsrnn.detection.events import runs

    n = e.size
    if n < 2:
        return None
    mu, sd = float(e.mean()), float(e.std())
    if sd == 0.0:  # constant: nothing stands out (and non-negative with sd > 0 means mean > 0)
        return None
    best_score, best_eps = -np.inf, None
    for z in zs:
        eps = mu + float(z) * sd
        above = e > eps
        n_a = int(above.sum())
        if n_a == 0 or 2 * n_a >= n:
            continue
        below = e[~above]
        gain = (mu - float(below.mean())) / mu + (sd - float(below.std())) / sd
        score = gain / (n_a + len(runs(above)) ** 2)
        if score > best_score:
            best_score, best_eps = score, eps
    return best_eps


def _prune(e: np.ndarray, above: np.ndarray, min_percent: float) -> np.ndarray:
    """Hundman's pruning: keep the anomalous sequences whose peaks stand clear of the next lower peak."""
    from tsrnn.detection.events import runs

    seq = runs(above)  # the caller flags at least one point and fewer than half
    peaks = np.maximum.reduceat(np.where(above, e, -np.inf), seq[:, 0])  # max of run i (normal points -> -inf)
    order = np.argsort(-peaks, kind="stable")
    chain = np.append(peaks[order], e[~above].max())
    drop = (chain[:-1] - chain[1:]) / chain[:-1]
    big = np.flatnonzero(drop > min_percent)
    out = np.zeros_like(above)
    if big.size:
        for s, t in seq[order[: big[-1] + 1]]:
            out[s : t + 1] = True
    return out


def _non_negative(e: np.ndarray) -> np.ndarray:
    """Shift scores with negative values (e.g. standardised ones) so their minimum is 0."""
    low = float(e.min()) if e.size else 0.0
    return e - low if low < 0 else e


def dynamic_threshold(
    scores: np.ndarray,
    *,
    window: int | None = None,
    z_range: tuple[float, float] = (2.0, 10.0),
    z_step: float = 0.5,
    min_percent: float = 0.13,
) -> np.ndarray:
    """Boolean flags (n,) from Hundman et al.'s non-parametric dynamic threshold with pruning.

    ``scores``: (n,) smoothed errors (e.g. an EWMA of the absolute errors). The method's criteria
    are ratios to the mean and to peak values, so they need a zero point: non-negative scores are
    used as they are, and scores with negative values (e.g. standardised ones) are first shifted
    so their minimum is 0.

    In each window the threshold is ``eps = mean + z std`` for the ``z`` in ``z_range`` (step
    ``z_step``) that maximises ``(dmean/mean + dstd/std) / (|e_a| + |E_seq|^2)``: the relative drop
    of the mean and std when the points above ``eps`` (``e_a``) are removed, over their count plus
    the squared number of their contiguous sequences (``E_seq``); only an ``eps`` that flags at
    least one point and fewer than half of the window is a candidate (none: nothing is flagged).
    Pruning: the sequences' peaks, sorted descending, followed by the highest unflagged score, give
    percent decreases ``d_i = (p_i - p_(i+1)) / p_i``; the sequences up to the last ``i`` with
    ``d_i > min_percent`` stay flagged, the others become normal.

    ``window``: None thresholds the whole array at once; an int >= 2 thresholds consecutive
    windows of that many points independently, the remainder (shorter than ``window``) joining
    the last full window.
    """
    e = _non_negative(_check_scores("scores", scores, allow_empty=True))
    zs = _check_z(z_range, z_step)
    min_percent = check_fraction("min_percent", min_percent, include_one=False, hint="e.g. min_percent=0.13")
    window = check_optional_int("window", window, 2, hint="e.g. window=2000, or None for the whole array at once")
    n = e.size
    bounds = [0, n] if window is None else [*range(0, max(n - window, 0) + 1, window), n]
    flags = np.zeros(n, dtype=bool)
    for s, t in zip(bounds[:-1], bounds[1:]):
        part = e[s:t]
        eps = _select_epsilon(part, zs)
        if eps is not None:
            flags[s:t] = _prune(part, part > eps, min_percent)
    return flags


# ----------------------------------------------------------------------------- fitting


def fit_threshold(
    method: str,
    calibration: np.ndarray,
    *,
    q: float = 0.99,
    k: float = 3.0,
    fpr: float = 0.01,
    risk: float = 1e-3,
    init_quantile: float = 0.98,
    z_range: tuple[float, float] = (2.0, 10.0),
    z_step: float = 0.5,
) -> float:
    """The threshold of ``method`` (one of ``THRESHOLDS``) fitted on ``calibration`` (n,) scores.

    - ``quantile``: the ``q``-quantile (numpy's linear interpolation).
    - ``gaussian``: ``mean + k * std`` (population std, ddof=0).
    - ``conformal``: the ``ceil((n + 1)(1 - fpr))``-th smallest score, so that a new score
      exchangeable with the calibration ones exceeds it with probability <= ``fpr``; needs
      ``n >= 1/fpr - 1``.
    - ``pot``: ``t`` = the ``init_quantile`` quantile, a GPD (``fit_gpd``) fitted to the N_t
      excesses over ``t``, and ``z = t + sigma/gamma ((risk n / N_t)^-gamma - 1)`` (``t - sigma
      log(risk n / N_t)`` at gamma = 0): the score exceeded with probability ``risk``.
    - ``dynamic``: Hundman's ``eps`` (``z_range``, ``z_step``) chosen on the whole array, without
      pruning; ``+inf`` if no candidate flags anything. Usually fitted on the scores being tested;
      ``dynamic_threshold`` adds windows and pruning and returns flags.

    Every parameter is checked whatever the method, so a typo never passes silently.
    """
    check_choice("threshold method", method, THRESHOLDS)
    cal = _check_scores("calibration", calibration)
    q = _open_unit("q", q, "0.99")
    fpr = _open_unit("fpr", fpr, "0.01")
    risk = _open_unit("risk", risk, "1e-3")
    init_quantile = _open_unit("init_quantile", init_quantile, "0.98")
    k = check_positive("k", k, hint="e.g. k=3")
    zs = _check_z(z_range, z_step)

    if method == "quantile":
        return float(np.quantile(cal, q))
    if method == "gaussian":
        return float(cal.mean() + k * cal.std())
    if method == "conformal":
        n = cal.size
        rank = math.ceil((n + 1) * (1.0 - fpr) - 1e-9)
        if rank > n:
            need = math.ceil(1.0 / fpr - 1.0 - 1e-9)
            _warn(
                f"conformal with fpr={fpr} needs at least {need} calibration scores, got {n}: using the "
                f"largest one, which bounds the false-positive rate by {1 / (n + 1):.3g} only"
            )
            rank = n
        return float(np.partition(cal, rank - 1)[rank - 1])
    if method == "pot":
        return _pot(cal, risk, init_quantile)
    low = float(cal.min())
    eps = _select_epsilon(_non_negative(cal), zs)
    return np.inf if eps is None else eps + min(low, 0.0)


def apply_threshold(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean flags (n,): ``scores > threshold`` (a NaN score is never flagged)."""
    threshold = check_number("threshold", threshold, hint="fit one with fit_threshold")
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1:
        raise ConfigError(
            f"scores must be 1-D (one score per time step), got shape {arr.shape}",
            "combine channels into one score per row first",
        )
    with np.errstate(invalid="ignore"):
        return arr > threshold
