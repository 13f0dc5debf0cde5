"""The anomaly likelihood (tsrnn.detection.likelihood): the paper's formula, chunked == whole,
bounded state, warm-up, constant input, rows without a score, adaptation after a level shift."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tsrnn.detection.likelihood import AnomalyLikelihood, anomaly_likelihood, normal_cdf
from tsrnn.errors import ConfigError


def naive(x: np.ndarray, long_window: int, short_window: int, min_std: float = 1e-3) -> np.ndarray:
    """The definition, row by row: windows of the last scored rows, NaN rows left out."""
    seen: list[float] = []
    out = []
    for v in x:
        if not np.isfinite(v):
            out.append(np.nan)
            continue
        seen.append(v)
        if len(seen) < 2:
            out.append(0.5)
            continue
        ref, short = np.array(seen[-long_window:]), np.array(seen[-short_window:])
        z = (short.mean() - ref.mean()) / max(ref.std(), min_std)
        out.append(0.5 * math.erfc(-z / math.sqrt(2)))
    return np.array(out)


def scores(n: int = 2500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 1.0, n)  # skewed, like errors
    x[n // 2 :] += 2.0
    x[[3, 40, 41, 1234]] = np.nan
    x[77] = np.inf
    return x


@pytest.mark.parametrize("long_window,short_window", [(100, 10), (50, 1), (7, 7)])
def test_equals_the_definition_row_by_row(long_window: int, short_window: int) -> None:
    x = scores()
    np.testing.assert_allclose(
        anomaly_likelihood(x, long_window, short_window), naive(x, long_window, short_window), rtol=0, atol=1e-10
    )


@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_chunked_equals_one_call(chunk: int) -> None:
    x = scores()
    whole = anomaly_likelihood(x, 100, 10)
    stage = AnomalyLikelihood(100, 10)
    parts = np.concatenate([stage.update(x[i : i + chunk]) for i in range(0, len(x), chunk)])
    np.testing.assert_array_equal(parts, whole)  # bit for bit: the sums do not depend on the chunks


def test_state_is_bounded_by_the_long_window() -> None:
    stage = AnomalyLikelihood(64, 10)
    sizes = set()
    for i in range(50):
        stage.update(np.random.default_rng(i).normal(size=97))
        state = stage.state
        sizes.add(sum(a.nbytes for a in (state.prev_sum, state.prev_sq, state.cur_sum, state.cur_sq)))
    assert sizes == {4 * 64 * 8} and stage.state.seen == 50 * 97


def test_values_lie_in_the_unit_interval_and_warm_up() -> None:
    x = scores()
    out = anomaly_likelihood(x, 100, 10)
    ok = np.isfinite(out)
    assert ((out[ok] >= 0) & (out[ok] <= 1)).all()
    # fewer than short_window scores seen: both windows hold the same rows, so 0.5
    assert (out[:11][np.isfinite(out[:11])] == 0.5).all()  # 10 scores in the first 11 rows (row 3 is NaN)
    assert out[11] != 0.5  # 11 scores: the short window holds the last 10 of them


def test_rows_without_a_score_are_nan_and_left_out_of_the_windows() -> None:
    x = scores()
    out = anomaly_likelihood(x, 100, 10)
    assert np.array_equal(np.isnan(out), ~np.isfinite(x))
    kept = np.isfinite(x)
    np.testing.assert_array_equal(out[kept], anomaly_likelihood(x[kept], 100, 10))  # as if they were not there


def test_constant_scores_give_one_half() -> None:
    out = anomaly_likelihood(np.full(3000, 0.1), 1000, 10)
    np.testing.assert_allclose(out, 0.5, atol=1e-6)
    # after a constant stretch a small change is judged against min_std: 0.1 + 5e-3 is 5 stds of 1e-3 / short window
    x = np.r_[np.full(500, 0.1), np.full(20, 0.105)]
    assert anomaly_likelihood(x, 1000, 10)[509] > 0.999


def test_a_level_shift_is_likely_at_first_then_the_long_window_adapts() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=3000)
    x[1500:] += 5.0
    out = anomaly_likelihood(x, 200, 10)
    before = out[1000:1500]
    assert before.max() < 0.99 and 0.3 < before.mean() < 0.7  # stationary: nothing stands out
    assert out[1506:1520].min() > 0.99  # the first rows after the shift (once the short mean has moved)
    assert out[1600:1700].mean() < 0.8  # the long window fills with shifted scores ...
    later = out[1800:2400]  # ... until it holds only them: typical again
    assert later.max() < 0.99 and 0.3 < later.mean() < 0.7
    # a long window that never forgets (one spanning the whole series) stays alarmed for much longer
    assert anomaly_likelihood(x, 3000, 10)[1800:2400].mean() > later.mean() + 0.2


def test_normal_cdf_and_checks() -> None:
    np.testing.assert_allclose(normal_cdf(np.array([0.0, 1.0, -1.0])), [0.5, 0.841344746, 0.158655254], atol=1e-9)
    assert normal_cdf(np.array([40.0]))[0] == 1.0 and normal_cdf(np.array([-40.0]))[0] == 0.0
    with pytest.raises(ConfigError, match="long_window"):
        AnomalyLikelihood(1, 1)
    with pytest.raises(ConfigError, match="short_window must not exceed"):
        AnomalyLikelihood(10, 11)
    with pytest.raises(ConfigError, match="long_window of 10, not 20"):
        AnomalyLikelihood(20, 2, state=AnomalyLikelihood(10, 2).state)
    with pytest.raises(ConfigError, match="1-D"):
        AnomalyLikelihood(10, 2).update(np.zeros((3, 2)))
