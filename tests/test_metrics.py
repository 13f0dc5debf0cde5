"""Tests for tsrnn.metrics: seasonal periods by frequency, the naive baselines, error sums, coverage."""

from __future__ import annotations

import numpy as np
import pytest

from tsrnn.metrics import coverage, error_sums, repeat_last, season_length, seasonal_naive


@pytest.mark.parametrize(
    "freq, season",
    [
        ("h", 24),
        ("1h", 24),
        ("D", 7),
        ("15min", 96),
        ("30min", 48),
        ("2h", 12),
        ("6h", 4),
        ("W", 52),
        ("MS", 12),
        ("B", 5),
        (None, None),
        ("", None),
        ("5h", None),  # 24 is not a multiple of 5: no whole-day season
        ("2D", None),
    ],
)
def test_season_length(freq, season):
    assert season_length(freq) == season


def test_season_length_sub_hourly_step_that_does_not_divide_a_day():
    assert season_length("7min") is None


def _windows():
    """Two windows, lookback 6, two targets and one covariate; values encode (window, step, channel)."""
    n, L, C = 2, 6, 3
    x = np.array([[[100 * w + 10 * t + c for c in range(C)] for t in range(L)] for w in range(n)], dtype=np.float32)
    return x


def test_repeat_last_repeats_the_last_target_values():
    x = _windows()
    out = repeat_last(x, n_targets=2, horizon=4)
    assert out.shape == (2, 4, 2)
    expected = np.array([[[50, 51]] * 4, [[150, 151]] * 4], dtype=np.float32)
    np.testing.assert_array_equal(out, expected)


def test_seasonal_naive_takes_the_value_one_season_earlier():
    x = _windows()  # lookback 6
    out = seasonal_naive(x, n_targets=2, horizon=5, season=3)
    assert out.shape == (2, 5, 2)
    # y[h] = x[L - m + (h mod m)]: steps 3, 4, 5, 3, 4
    steps = [3, 4, 5, 3, 4]
    expected = np.stack([np.array([[100 * w + 10 * t + c for c in range(2)] for t in steps]) for w in range(2)])
    np.testing.assert_array_equal(out, expected)


def test_seasonal_naive_is_exact_on_a_periodic_series():
    period, L, H = 4, 12, 10
    series = np.tile(np.array([1.0, -2.0, 3.0, 0.5]), 10)
    x = series[None, :L, None]
    truth = series[None, L : L + H, None]
    np.testing.assert_array_equal(seasonal_naive(x, 1, H, period), truth)
    assert error_sums(seasonal_naive(x, 1, H, period), truth).tolist() == [0.0, 0.0]


def test_seasonal_naive_with_season_equal_to_lookback_is_allowed():
    x = _windows()
    out = seasonal_naive(x, 1, 6, season=6)
    np.testing.assert_array_equal(out, x[:, :, :1])


def test_seasonal_naive_season_longer_than_lookback_raises():
    with pytest.raises(ValueError, match="lookback"):
        seasonal_naive(_windows(), 1, 3, season=7)


def test_error_sums_by_hand():
    pred = np.array([[[1.0], [2.0]], [[3.0], [4.0]]])
    truth = np.array([[[1.0], [0.0]], [[6.0], [4.0]]])
    # errors 0, 2, -3, 0
    assert error_sums(pred, truth).tolist() == [0 + 4 + 9 + 0, 0 + 2 + 3 + 0]


def test_error_sums_in_float64_for_float32_inputs():
    pred = np.full((1, 1, 1), 1e4 + 1, dtype=np.float32)
    truth = np.full((1, 1, 1), 1e4, dtype=np.float64)
    assert error_sums(pred, truth).tolist() == [1.0, 1.0]


def test_coverage():
    truth = np.array([0.0, 1.0, 2.0, 3.0])
    lower = np.array([-1.0, 1.5, 2.0, 0.0])
    upper = np.array([1.0, 2.0, 2.0, 2.0])
    assert coverage(lower, upper, truth) == pytest.approx(0.5)  # 0 in, 1 out, 2 in (closed), 3 out
