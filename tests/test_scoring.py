"""tsrnn.detection.scoring: the detector's EWMA (equal to pandas, NaN rows skipped, streamable)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsrnn.detection.scoring import ewma


@pytest.mark.parametrize("span, n", [(1, 20), (7, 50), (10, 3000), (100, 500)])
def test_ewma_is_pandas_unadjusted_ewm(span, n):
    x = np.random.default_rng(6).standard_normal((n, 2)) * 10 + 3
    expected = pd.DataFrame(x).ewm(span=span, adjust=False).mean().to_numpy()
    smoothed, last = ewma(x, span)
    np.testing.assert_allclose(smoothed, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(last, expected[-1], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ewma(x[:, 0], span)[0], expected[:, 0], rtol=1e-10, atol=1e-10)


def test_ewma_skips_rows_with_nan():
    x = np.random.default_rng(7).standard_normal((30, 2))
    x[[0, 5, 6, 17], 1] = np.nan  # a row with any NaN is skipped whole
    smoothed, _ = ewma(x, 5)
    bad = np.isnan(x).any(axis=1)
    assert np.isnan(smoothed[bad]).all()
    expected = pd.DataFrame(x[~bad]).ewm(span=5, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(smoothed[~bad], expected, rtol=1e-12)


def test_ewma_continues_a_stream_exactly():
    x = np.random.default_rng(8).standard_normal((100, 3))
    x[40] = np.nan
    whole, whole_last = ewma(x, 12)
    parts, state = [], None
    for lo, hi in [(0, 1), (1, 40), (40, 41), (41, 77), (77, 100)]:  # one chunk is only the NaN row
        part, state = ewma(x[lo:hi], 12, state)
        parts.append(part)
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-12)
    np.testing.assert_allclose(state, whole_last, rtol=1e-12)


def test_ewma_of_only_nan_rows_keeps_the_state():
    state = np.array([1.0, 2.0])
    smoothed, last = ewma(np.full((3, 2), np.nan), 4, state)
    assert np.isnan(smoothed).all()
    np.testing.assert_array_equal(last, state)
    assert ewma(np.full((2, 2), np.nan), 4)[1] is None
