"""tsrnn.detection.thresholds: exact small cases, statistical guarantees on large samples, bad parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tsrnn.detection.events import runs
from tsrnn.detection.scoring import ewma
from tsrnn.detection.thresholds import (
    THRESHOLDS,
    CalibrationWarning,
    apply_threshold,
    dynamic_threshold,
    fit_gpd,
    fit_threshold,
)
from tsrnn.errors import ConfigError


def gpd_sample(rng: np.random.Generator, gamma: float, sigma: float, n: int) -> np.ndarray:
    """GPD draws by inverting the survival function (1 + gamma y / sigma)^(-1/gamma)."""
    u = rng.uniform(size=n)
    return -sigma * np.log(u) if gamma == 0 else sigma / gamma * (u**-gamma - 1.0)


# ----------------------------------------------------------------------------- quantile / gaussian


def test_quantile_is_numpys_linear_quantile():
    cal = np.array([5.0, 1.0, 4.0, 2.0, 3.0])
    assert fit_threshold("quantile", cal, q=0.5) == 3.0
    assert fit_threshold("quantile", cal, q=0.9) == pytest.approx(4.6)


def test_gaussian_is_mean_plus_k_population_std():
    cal = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert fit_threshold("gaussian", cal, k=2.0) == pytest.approx(3.0 + 2.0 * math.sqrt(2.0))


def test_gaussian_on_standard_normal_is_about_three():
    cal = np.random.default_rng(0).standard_normal(100_000)
    assert fit_threshold("gaussian", cal) == pytest.approx(3.0, abs=0.05)


# ----------------------------------------------------------------------------- conformal


@pytest.mark.parametrize("n, fpr, rank", [(99, 0.01, 99), (19, 0.1, 18), (9, 0.1, 9), (100, 0.05, 96)])
def test_conformal_is_the_ceil_n_plus_1_times_1_minus_fpr_th_smallest(n, fpr, rank):
    cal = np.random.default_rng(n).permutation(np.arange(1.0, n + 1))  # the k-th smallest is k
    assert fit_threshold("conformal", cal, fpr=fpr) == rank


def test_conformal_false_positive_rate_holds_on_fresh_normal_scores():
    rng = np.random.default_rng(1)
    threshold = fit_threshold("conformal", rng.standard_normal(10_000), fpr=0.01)
    fresh = rng.standard_normal(100_000)
    assert 0.005 <= apply_threshold(fresh, threshold).mean() <= 0.015


def test_conformal_on_too_few_scores_warns_and_takes_the_largest():
    with pytest.warns(CalibrationWarning, match=r"fpr=0.01 needs at least 99 calibration scores, got 98"):
        assert fit_threshold("conformal", np.arange(98.0), fpr=0.01) == 97.0
    with pytest.warns(CalibrationWarning, match=r"needs at least 19 calibration scores, got 18"):
        assert fit_threshold("conformal", np.arange(18.0), fpr=0.05) == 17.0


# ----------------------------------------------------------------------------- GPD and POT


@pytest.mark.parametrize("gamma, sigma", [(0.3, 2.0), (0.7, 1.0), (0.0, 1.5), (-0.2, 1.0)])
def test_fit_gpd_recovers_known_parameters(gamma, sigma):
    y = gpd_sample(np.random.default_rng(2), gamma, sigma, 5000)
    g, s = fit_gpd(y)
    assert g == pytest.approx(gamma, abs=0.06)
    assert s == pytest.approx(sigma, rel=0.1)


def test_fit_gpd_keeps_the_exponential_unless_the_data_reject_it():
    rng = np.random.default_rng(5)
    # 15 exponential excesses: a fitted shape would be noise; the likelihood-ratio test keeps gamma = 0
    kept = [fit_gpd(rng.exponential(2.0, 15))[0] == 0.0 for _ in range(40)]
    assert np.mean(kept) >= 0.9  # the test's level is 5 %
    y = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 0.2, 0.7, 1.2])  # a root exists, but no significant gain
    assert fit_gpd(y) == (0.0, pytest.approx(y.mean()))  # the exponential's sigma is the mean excess
    # a clearly heavy tail is not flattened: 300 excesses of a GPD with gamma 0.5
    assert fit_gpd(gpd_sample(rng, 0.5, 1.0, 300))[0] > 0.3


def test_fit_gpd_falls_back_to_the_exponential_when_no_root_exists():
    assert fit_gpd(np.full(20, 2.5)) == (0.0, 2.5)  # equal excesses: Grimshaw's equation has no root


def test_pot_on_exponential_scores_extrapolates_to_the_true_tail_quantile():
    cal = np.random.default_rng(3).exponential(size=20_000)
    assert fit_threshold("pot", cal, risk=1e-3) == pytest.approx(-math.log(1e-3), abs=0.7)


def test_pot_on_pareto_tailed_scores_matches_the_true_quantile():
    gamma, sigma, risk = 0.3, 1.0, 1e-4
    cal = gpd_sample(np.random.default_rng(4), gamma, sigma, 50_000)
    truth = sigma / gamma * (risk**-gamma - 1.0)  # 1e-4 is beyond the sample: 5 points per 50,000
    assert fit_threshold("pot", cal, risk=risk) == pytest.approx(truth, rel=0.2)


def test_pot_is_the_papers_formula_over_the_init_quantile():
    cal = np.random.default_rng(5).lognormal(size=4000)
    t = np.quantile(cal, 0.95)
    excess = cal[cal > t] - t
    gamma, sigma = fit_gpd(excess)
    ratio = 1e-4 * cal.size / excess.size
    assert gamma != 0.0
    expected = t + sigma / gamma * (ratio**-gamma - 1.0)
    assert fit_threshold("pot", cal, risk=1e-4, init_quantile=0.95) == pytest.approx(expected, rel=1e-9)


def test_pot_exponential_limit_when_gamma_is_zero():
    cal = np.concatenate([np.zeros(990), np.ones(10)])  # t = 0, ten equal excesses of 1: gamma 0, sigma 1
    assert fit_threshold("pot", cal, risk=1e-3) == pytest.approx(-math.log(1e-3 * 1000 / 10))


def test_pot_lowers_its_initial_threshold_for_small_calibration_sets():
    rng = np.random.default_rng(0)
    cal = rng.exponential(size=100)  # 0.98 leaves 2 peaks: the initial threshold drops to leave 12
    expected = fit_threshold("pot", cal, risk=1e-3, init_quantile=1 - 12 / 100)
    assert fit_threshold("pot", cal, risk=1e-3) == pytest.approx(expected)
    assert expected > np.quantile(cal, 0.98)  # still a tail extrapolation, beyond the observed peaks


@pytest.mark.parametrize("cal", [np.arange(50.0), np.ones(500), np.r_[np.zeros(495), np.ones(5)]])
def test_pot_without_a_tail_to_fit_warns_and_uses_a_normal_tail(cal):
    """Too few scores (50), a constant series, or too few peaks (5): mean + z_(1-risk) std."""
    with pytest.warns(CalibrationWarning, match=r"pot could not fit a tail.*mean \+ 3.09 std"):
        got = fit_threshold("pot", cal, risk=1e-3)
    assert got == pytest.approx(cal.mean() + 3.0902323 * cal.std(), abs=1e-6)


def test_pot_errors_name_the_parameter_to_change():
    with pytest.raises(ConfigError, match=r"risk=0.05 is not below"):
        fit_threshold("pot", np.arange(1000.0), risk=0.05)


@pytest.mark.parametrize(
    "bad", [np.array([1.0]), np.array([1.0, -0.5]), np.zeros(5), np.array([1.0, np.nan]), np.ones((3, 2))]
)
def test_fit_gpd_rejects_what_is_not_excesses(bad):
    with pytest.raises(ConfigError, match="excesses"):
        fit_gpd(bad)


# ----------------------------------------------------------------------------- dynamic


def smooth(raw: np.ndarray, span: int = 10) -> np.ndarray:
    """Telemanom's smoothed errors: the EWMA of the absolute errors, as the forecast detector smooths them."""
    return ewma(np.abs(raw), span)[0]


def bursts(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed |N(0, 1)| errors with two bursts of +8 (rows 1000-1029 and 3000-3019), and the burst mask."""
    raw = np.random.default_rng(seed).standard_normal(5000)
    truth = np.zeros(5000, dtype=bool)
    truth[1000:1030] = truth[3000:3020] = True
    raw[truth] += 8.0
    return smooth(raw), truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dynamic_flags_the_bursts_and_little_else(seed):
    e, truth = bursts(seed)
    flags = dynamic_threshold(e)
    assert flags[1000:1030].mean() > 0.6 and flags[3000:3020].mean() > 0.6
    near = np.zeros_like(truth)
    near[995:1045] = near[2995:3035] = True  # the smoothed bursts decay for a few rows after they end
    assert not flags[~near].any()


def test_dynamic_on_pure_noise_flags_nothing():
    e = smooth(np.random.default_rng(7).standard_normal(5000))
    assert dynamic_threshold(e).sum() == 0
    assert dynamic_threshold(e, window=1000).sum() <= 5


def test_dynamic_shifts_negative_scores_to_a_zero_minimum():
    raw = np.random.default_rng(8).standard_normal(5000)
    raw[2000:2025] += 8.0
    signed = ewma(raw, 10)[0]  # smoothed signed noise: about half the values are negative
    assert signed.min() < 0
    flags = dynamic_threshold(signed)
    np.testing.assert_array_equal(flags, dynamic_threshold(signed - signed.min()))
    assert runs(flags).shape == (1, 2) and 2000 <= runs(flags)[0, 0] <= 2010
    eps = fit_threshold("dynamic", signed)
    assert eps == pytest.approx(fit_threshold("dynamic", signed - signed.min()) + signed.min())


def pruning_case() -> np.ndarray:
    """A strong sequence (3 points at 9), a weak one (1 point at 7) and a normal point at 6.3 just below eps."""
    e = (np.arange(1000) % 10) / 10.0
    e[300:303] = 9.0
    e[700] = 7.0
    e[500] = 6.3
    return e


def test_pruning_drops_a_weak_sequence_next_to_a_dominant_one():
    e = pruning_case()
    assert 6.3 < fit_threshold("dynamic", e) < 7.0  # before pruning, eps flags both sequences
    # peaks 9, 7 then the highest normal 6.3: decreases 2/9 = 0.22 and 0.7/7 = 0.1
    assert runs(dynamic_threshold(e, min_percent=0.0)).tolist() == [[300, 302], [700, 700]]
    assert runs(dynamic_threshold(e)).tolist() == [[300, 302]]  # 0.1 <= 0.13: the weak one goes
    assert not dynamic_threshold(e, min_percent=0.25).any()  # no decrease above 0.25: everything goes
    assert not dynamic_threshold(e, min_percent=2 / 9).any()  # a decrease must be strictly above min_percent


def test_pruning_keeps_every_sequence_up_to_the_last_large_decrease():
    e = (np.arange(1000) % 10) / 10.0
    e[300:303], e[700], e[800], e[500] = 10.0, 8.0, 7.7, 5.0
    # peaks 10, 8, 7.7 then the highest normal 5: decreases 0.2, 0.04, 0.35; the 7.7 keeps the 8 flagged
    assert runs(dynamic_threshold(e)).tolist() == [[300, 302], [700, 700], [800, 800]]


def test_dynamic_never_flags_half_a_window():
    e = np.repeat([0.0, 1.0], [40, 60])
    assert fit_threshold("dynamic", e, z_range=(0.5, 0.5)) == np.inf  # mean + 0.5 std = 0.84 flags 60 of 100
    assert fit_threshold("dynamic", 1.0 - e, z_range=(0.5, 0.5)) == pytest.approx(0.4 + 0.5 * np.sqrt(0.24))


def test_dynamic_windows_follow_a_drifting_error_level():
    rng = np.random.default_rng(9)
    e = np.concatenate([0.5 + 0.1 * rng.standard_normal(2000), 5.0 + 0.5 * rng.standard_normal(2000)])
    e[500:510] = 3.0  # anomalous for the quiet first half, ordinary for the whole series
    assert not dynamic_threshold(e)[500:510].any()
    windowed = dynamic_threshold(e, window=2000)
    assert runs(windowed).tolist() == [[500, 509]]


def test_dynamic_remainder_joins_the_last_full_window():
    raw = np.random.default_rng(10).standard_normal(2500)
    raw[1000:1030] += 8.0
    raw[2200:2210] += 4.0  # a bump the last 500 rows alone would flag, but not beside the big burst
    e = smooth(raw)
    assert dynamic_threshold(e[2000:])[2200 - 2000 : 2215 - 2000].any()
    flags = dynamic_threshold(e, window=1000)  # windows: rows 0-999 and 1000-2499
    np.testing.assert_array_equal(flags, np.concatenate([dynamic_threshold(e[:1000]), dynamic_threshold(e[1000:])]))
    assert flags[1000:1030].any() and not flags[2000:].any()
    np.testing.assert_array_equal(dynamic_threshold(e, window=5000), dynamic_threshold(e))  # one short window


def test_dynamic_z_range_and_step_set_the_candidates():
    e = pruning_case()
    mu, sd = e.mean(), e.std()
    assert fit_threshold("dynamic", e) == pytest.approx(mu + 9.5 * sd)  # the first z above the 6.3: 9.5
    assert fit_threshold("dynamic", e, z_step=4.0) == pytest.approx(mu + 10.0 * sd)  # z in 2, 6, 10
    assert fit_threshold("dynamic", e, z_range=(3.0, 3.0)) == pytest.approx(mu + 3.0 * sd)


def test_dynamic_on_constant_scores_flags_nothing():
    assert not dynamic_threshold(np.full(100, 2.0)).any()
    assert fit_threshold("dynamic", np.full(100, 2.0)) == np.inf
    assert dynamic_threshold(np.array([])).shape == (0,)


# ----------------------------------------------------------------------------- apply


def test_apply_threshold_is_strict_and_never_flags_nan():
    flags = apply_threshold(np.array([1.0, 2.0, 3.0, np.nan]), 2.0)
    assert flags.tolist() == [False, False, True, False]
    assert flags.dtype == bool


@pytest.mark.parametrize("bad", [float("nan"), "2", True])
def test_apply_threshold_rejects_a_non_number(bad):
    with pytest.raises(ConfigError, match="threshold"):
        apply_threshold(np.ones(3), bad)


def test_apply_threshold_rejects_2d_scores():
    with pytest.raises(ConfigError, match="scores must be 1-D"):
        apply_threshold(np.ones((3, 2)), 1.0)


# ----------------------------------------------------------------------------- bad parameters


def test_every_method_fits_a_finite_or_infinite_number():
    cal = np.random.default_rng(11).exponential(size=2000)
    for method in THRESHOLDS:
        assert isinstance(fit_threshold(method, cal), float)


@pytest.mark.parametrize(
    "kw, name",
    [
        ({"q": 0.0}, "q"),
        ({"q": 1.0}, "q"),
        ({"q": 1.5}, "q"),
        ({"q": True}, "q"),
        ({"q": "0.9"}, "q"),
        ({"fpr": 0.0}, "fpr"),
        ({"fpr": 1.2}, "fpr"),
        ({"risk": 0.0}, "risk"),
        ({"risk": 1.0}, "risk"),
        ({"init_quantile": 1.0}, "init_quantile"),
        ({"init_quantile": -0.1}, "init_quantile"),
        ({"k": 0.0}, "k"),
        ({"k": -1.0}, "k"),
        ({"k": float("inf")}, "k"),
        ({"z_range": (5.0, 2.0)}, "z_range"),
        ({"z_range": (2.0,)}, "z_range"),
        ({"z_range": (2.0, np.inf)}, "z_range"),
        ({"z_step": 0.0}, "z_step"),
        ({"z_step": 1e-9}, "candidates"),
    ],
)
def test_fit_threshold_bad_parameters_are_named(kw, name):
    with pytest.raises(ConfigError, match=rf"\b{name}\b"):
        fit_threshold("quantile", np.arange(10.0), **kw)  # checked whatever the method


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown threshold method 'zscore'") as err:
        fit_threshold("zscore", np.arange(10.0))
    assert "quantile, gaussian, dynamic, pot, conformal" in str(err.value)


@pytest.mark.parametrize(
    "cal, match",
    [
        (np.array([]), "calibration is empty"),
        (np.ones((4, 2)), "calibration must be 1-D"),
        (np.array([1.0, np.inf]), "calibration holds 1 NaN/inf"),
    ],
)
def test_bad_calibration_is_named(cal, match):
    with pytest.raises(ConfigError, match=match):
        fit_threshold("gaussian", cal)


@pytest.mark.parametrize(
    "kw, name",
    [
        ({"window": 1}, "window"),
        ({"window": 10.5}, "window"),
        ({"min_percent": 1.0}, "min_percent"),
        ({"min_percent": -0.1}, "min_percent"),
        ({"z_step": -1.0}, "z_step"),
    ],
)
def test_dynamic_threshold_bad_parameters_are_named(kw, name):
    with pytest.raises(ConfigError, match=rf"\b{name}\b"):
        dynamic_threshold(np.ones(10), **kw)


def test_dynamic_threshold_rejects_nan_scores():
    with pytest.raises(ConfigError, match="scores holds 1 NaN/inf"):
        dynamic_threshold(np.array([1.0, np.nan, 2.0]))


@pytest.mark.parametrize(
    "n, peaks",
    [(100, 12), (200, 20), (686, 30), (2000, None), (59, None)],  # None: init_quantile as given
)
def test_pot_tail_starts_low_enough_to_leave_enough_peaks(n, peaks):
    """Up to 30 peaks (10 % of a small set, at least 12); a large set keeps 0.98; below 60 scores no lowering."""
    from tsrnn.detection.thresholds import tail_start

    q = tail_start(n, 0.98)
    if peaks is None:
        assert q == 0.98
    else:
        assert n * (1 - q) == pytest.approx(peaks)
    cal = np.random.default_rng(n).exponential(size=n)
    if n >= 60:  # POT starts its tail there: its threshold is the exponential tail over that quantile
        t = np.quantile(cal, q)
        excess = cal[cal > t] - t
        expected = t - excess.mean() * math.log(1e-4 * n / excess.size)
        assert fit_threshold("pot", cal, risk=1e-4) == pytest.approx(expected, rel=1e-9)
