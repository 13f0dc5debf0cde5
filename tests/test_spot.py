"""SPOT / DSPOT streaming thresholds (Siffer et al., KDD 2017)."""

from __future__ import annotations

import numpy as np
import pytest

from tsrnn.detection.spot import Spot
from tsrnn.detection.thresholds import CalibrationWarning, fit_threshold


def test_spot_starts_at_the_pot_threshold_and_keeps_the_risk_on_stationary_scores():
    rng = np.random.default_rng(0)
    cal, stream = rng.standard_normal(2000), rng.standard_normal(50_000)
    spot = Spot(risk=1e-3)
    state = spot.start(cal)
    assert state.z == pytest.approx(fit_threshold("pot", cal, risk=1e-3), rel=0.1)  # moments vs likelihood
    flags, limits = spot.update(state, stream)
    assert flags[:25_000].mean() < 5e-3 and flags[25_000:].mean() < 5e-3  # near risk, and not drifting
    assert np.isfinite(limits).all() and len(state.peaks) <= spot.max_peaks


@pytest.mark.parametrize("depth", [None, 20])
@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_chunks_give_the_same_flags_as_one_pass(depth, chunk):
    rng = np.random.default_rng(1)
    cal, stream = rng.standard_normal(500), rng.standard_normal(3000) + np.linspace(0, 3, 3000)
    stream[[500, 1500, 2500]] += 8
    spot = Spot(risk=1e-2, depth=depth)
    whole = spot.update(spot.start(cal), stream)
    state = spot.start(cal)
    parts = [spot.update(state, stream[i : i + chunk]) for i in range(0, len(stream), chunk)]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), whole[0])
    np.testing.assert_allclose(np.concatenate([p[1] for p in parts]), whole[1])


def test_dspot_follows_a_drift_that_spot_flags():
    rng = np.random.default_rng(2)
    cal = rng.standard_normal(1000)
    stream = rng.standard_normal(5000) + np.linspace(0, 6, 5000)  # the level drifts by 6 std
    stream[4000] += 10  # an anomaly on top of the drift
    spot_flags, _ = Spot(risk=1e-3).update(Spot(risk=1e-3).start(cal), stream)
    dspot = Spot(risk=1e-3, depth=50)
    dspot_flags, limits = dspot.update(dspot.start(cal), stream)
    assert spot_flags[3000:].mean() > 0.2  # a fixed tail calls the drift anomalous
    assert dspot_flags[4000] and dspot_flags.sum() <= 20
    assert limits[4500] > limits[500] + 4  # the threshold moved with the level


def test_anomalies_teach_the_tail_nothing_and_nans_are_skipped():
    rng = np.random.default_rng(3)
    spot = Spot(risk=1e-3)
    state = spot.start(rng.standard_normal(1000))
    n, z = state.n, state.z
    flags, limits = spot.update(state, np.array([np.nan, 50.0, 60.0]))
    assert flags.tolist() == [False, True, True] and np.isnan(limits[0])
    assert (state.n, state.z) == (n, z)


def test_too_few_calibration_peaks_warn_and_use_a_normal_tail_until_the_stream_brings_them():
    rng = np.random.default_rng(4)
    with pytest.warns(CalibrationWarning, match="spot could not fit a tail"):
        state = Spot(risk=1e-3).start(rng.standard_normal(40))
    assert np.isfinite(state.z)


@pytest.mark.parametrize("kw", [dict(risk=0), dict(risk=1.5), dict(depth=0), dict(max_peaks=3)])
def test_bad_parameters_are_refused(kw):
    from tsrnn.errors import ConfigError

    with pytest.raises(ConfigError):
        Spot(**kw)
