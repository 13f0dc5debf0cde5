"""tsrnn.scaling: scalers fitted on training rows only, exact inverses, JSON state, constant columns."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsrnn.data import from_arrays
from tsrnn.errors import ConfigError, NotFittedError
from tsrnn.scaling import SCALERS, SeriesScaler

PROPS = settings(max_examples=60, deadline=None)
METHODS = pytest.mark.parametrize("method", SCALERS)


@st.composite
def datasets(draw):
    """1-3 series of 8-60 rows and 1-3 channels; each channel has its own level and spread."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_ch = draw(st.integers(1, 3))
    arrays, train_end = [], []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(8, 60))
        spread = 10.0 ** rng.uniform(-2, 3, n_ch)
        level = rng.uniform(-10, 10, n_ch) * spread
        arrays.append(level + spread * rng.standard_normal((n, n_ch)))
        train_end.append(draw(st.integers(4, n)))
    return from_arrays(arrays), np.array(train_end)


@METHODS
@PROPS
@given(datasets(), st.integers(0, 2**32 - 1))
def test_scaler_contract(method, data, seed) -> None:
    """Every method: an exact inverse, a JSON state, and no look at later rows.

    (One test for the three properties: each example fits scikit-learn scalers, which is the slow part.)
    """
    d, train_end = data
    s = SeriesScaler(method).fit(d, train_end)
    assert s.center_.shape == s.scale_.shape == (d.n_series, d.values.shape[1])
    z = s.transform(d)
    assert z.dtype == np.float32 and z.shape == d.values.shape and np.isfinite(z).all()

    # transform is (x - center) / scale and inverse undoes it
    atol = 1e-5 * float(np.abs(d.values).max())  # float32 round-off at the scale of the data
    for i in range(d.n_series):
        lo, hi = d.offsets[i], d.offsets[i + 1]
        np.testing.assert_allclose(s.inverse(z[lo:hi], i), d.series(i), rtol=0, atol=atol)
        expected = (d.series(i).astype(np.float64) - s.center_[i]) / s.scale_[i]
        np.testing.assert_allclose(z[lo:hi], expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())

    # state() is plain JSON and from_state gives identical transforms
    t = SeriesScaler.from_state(json.loads(json.dumps(s.state())))
    assert (t.method, t.channels_) == (method, d.channels)
    np.testing.assert_array_equal(t.transform(d), z)
    np.testing.assert_array_equal(t.inverse(z[: d.lengths[0]], 0), s.inverse(z[: d.lengths[0]], 0))
    np.testing.assert_array_equal(t.scale_of(0), s.scale_of(0))

    # fitted on training rows only: scrambling every later row changes nothing
    rng = np.random.default_rng(seed)
    for i in range(d.n_series):
        after = d.series(i)[train_end[i] :]
        after[:] = rng.uniform(-1e6, 1e6, after.shape)
    again = SeriesScaler(method).fit(d, train_end)
    np.testing.assert_array_equal(s.center_, again.center_)
    np.testing.assert_array_equal(s.scale_, again.scale_)


@PROPS
@given(datasets())
def test_standard_scaler_gives_mean_0_std_1_on_train_rows(data) -> None:
    d, train_end = data
    z = SeriesScaler("standard").fit(d, train_end).transform(d)
    blocks = [z[d.offsets[i] : d.offsets[i] + train_end[i]].astype(np.float64) for i in range(d.n_series)]
    for block in blocks:
        np.testing.assert_allclose(block.mean(axis=0), 0, atol=1e-4)
        np.testing.assert_allclose(block.std(axis=0), 1, atol=1e-4)


@PROPS
@given(datasets())
def test_minmax_maps_train_rows_to_0_1(data) -> None:
    d, train_end = data
    z = SeriesScaler("minmax").fit(d, train_end).transform(d)
    blocks = [z[d.offsets[i] : d.offsets[i] + train_end[i]] for i in range(d.n_series)]
    for block in blocks:
        np.testing.assert_allclose(block.min(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(block.max(axis=0), 1, atol=1e-5)


def test_robust_scaler_uses_median_and_iqr() -> None:
    v = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 1000])[:, None]  # the outlier moves neither
    s = SeriesScaler("robust").fit(from_arrays(v), np.array([10]))
    assert s.center_.tolist() == [[5.5]] and s.scale_.tolist() == [[4.5]]


@METHODS
def test_constant_columns_give_finite_values(method) -> None:
    flat = np.full(40, 3.0)
    flat_in_train = np.concatenate([np.full(30, -2.0), np.linspace(0, 1e3, 10)])
    zeros = np.zeros(40)
    d = from_arrays([np.stack([flat, flat_in_train, zeros], axis=1)] * 2)
    s = SeriesScaler(method).fit(d, np.array([30, 30]))
    z = s.transform(d)
    assert np.isfinite(z).all() and np.isfinite(s.scale_).all() and (s.scale_ > 0).all()
    np.testing.assert_allclose(s.inverse(z[:40], 0), d.series(0), atol=1e-3)


def window_data():
    rng = np.random.default_rng(7)
    d = from_arrays([rng.normal(10 * (i + 1), i + 1, (50, 3)) for i in range(3)])
    return d, np.array([40, 40, 40])


@METHODS
def test_inverse_broadcasts_a_series_per_window(method) -> None:
    d, train_end = window_data()
    s = SeriesScaler(method).fit(d, train_end)
    rng = np.random.default_rng(0)
    n, H = 7, 5
    series = np.array([2, 0, 1, 1, 0, 2, 2])
    x = rng.standard_normal((n, H, 3))
    out = s.inverse(x, series)
    assert out.shape == (n, H, 3)
    for k in range(n):
        np.testing.assert_allclose(out[k], s.inverse(x[k], int(series[k])), rtol=1e-12)
    # a subset of channels: the targets 0 and 2
    out = s.inverse(x[..., [0, 2]], series, channels=[0, 2])
    for k in range(n):
        np.testing.assert_allclose(out[k], s.inverse(x[k], int(series[k]))[:, [0, 2]], rtol=1e-12)
    assert s.scale_of(series, [0, 2]).shape == (n, 2)


def test_every_series_has_its_own_parameters() -> None:
    d, train_end = window_data()
    own = SeriesScaler("standard").fit(d, train_end)
    assert own.center_.shape == (3, 3)
    assert not np.allclose(own.center_[0], own.center_[2])


def test_a_saved_shared_scaler_is_refused() -> None:
    d, train_end = window_data()
    state = SeriesScaler("standard").fit(d, train_end).state()
    assert SeriesScaler.from_state({**state, "per_series": True}).center_.shape == (3, 3)  # older files say so
    with pytest.raises(ValueError, match="shared across series"):
        SeriesScaler.from_state({**state, "per_series": False})


def test_none_scaler_is_the_identity() -> None:
    d, train_end = window_data()
    s = SeriesScaler("none").fit(d, train_end)
    np.testing.assert_array_equal(s.transform(d), d.values)


def test_unknown_method_and_unfitted_use_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown scaler 'zscore'"):
        SeriesScaler("zscore")
    d, _ = window_data()
    with pytest.raises(NotFittedError, match="not fitted"):
        SeriesScaler().transform(d)
    with pytest.raises(NotFittedError):
        SeriesScaler().inverse(np.zeros((2, 3)), 0)
