"""tsrnn.windows: property tests against a brute-force enumeration of windows, plus examples."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsrnn.data import from_arrays
from tsrnn.errors import ConfigError, DataError, DataWarning
from tsrnn.windows import (
    MAX_WINDOW,
    SPLITS,
    WindowBatches,
    WindowDataset,
    gather,
    latest_windows,
    make_windows,
    skip_short,
    split_bounds,
)

# ----------------------------------------------------------------------------- reference


def encoded(lengths: list[int]):
    """Series whose rows say who they are: channel 0 = global row, 1 = series, 2 = local row."""
    arrays = [np.stack([np.zeros(n), np.full(n, i), np.arange(n)], axis=1) for i, n in enumerate(lengths)]
    d = from_arrays(arrays)
    d.values[:, 0] = np.arange(d.n_rows)
    return d


def target_rows(index) -> np.ndarray:
    """(n_windows, horizon) global row of every target of the windows of ``index``."""
    return index.starts[:, None] + index.lookback + np.arange(index.horizon)


def rows_of(size, n: int) -> int:
    """Rows a --val/--test value takes from a series of n rows (a fraction rounds, a count is exact)."""
    return int(round(n * size)) if isinstance(size, float) else int(size)


def brute_force(lengths, lookback, horizon, stride, val, test):
    """Every window start of every series, classified by the split that holds all of its targets."""
    out = {s: [] for s in SPLITS}
    offset = 0
    for n in lengths:
        n_val, n_test = rows_of(val, n), rows_of(test, n)
        train_end, val_end = n - n_val - n_test, n - n_test
        found = {s: [] for s in SPLITS}
        for s in range(0, n - lookback - horizon + 1):
            first, last = s + lookback, s + lookback + horizon - 1  # target rows
            if last < train_end:
                found["train"].append(s)
            elif first >= train_end and last < val_end:
                found["val"].append(s)
            elif first >= val_end:
                found["test"].append(s)
        for split, starts in found.items():
            out[split].extend(offset + s for s in starts[::stride])  # every stride-th window of the split
        offset += n
    return {s: np.array(v, dtype=np.int64) for s, v in out.items()}


split_size = st.one_of(st.sampled_from([0.0, 0.1, 0.15, 0.2, 0.25, 0.3]), st.integers(0, 40))


@st.composite
def configs(draw):
    lengths = draw(st.lists(st.integers(1, 90), min_size=1, max_size=3))
    return dict(
        lengths=lengths,
        lookback=draw(st.integers(1, 20)),
        horizon=draw(st.integers(1, 10)),
        stride=draw(st.integers(1, 4)),
        val=draw(split_size),
        test=draw(split_size),
    )


def fits(cfg) -> bool:
    return all(rows_of(cfg["val"], n) + rows_of(cfg["test"], n) <= n for n in cfg["lengths"])


PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- properties


@pytest.mark.filterwarnings("ignore::tsrnn.errors.DataWarning")  # short series are part of the property
@PROPS
@given(configs())
def test_window_counts_and_starts_match_brute_force(cfg) -> None:
    d = encoded(cfg["lengths"])
    args = (cfg["lookback"], cfg["horizon"], cfg["stride"], cfg["val"], cfg["test"])
    if not fits(cfg):
        with pytest.raises(ConfigError, match="do not fit"):
            make_windows(d, *args, require=())
        return
    w = make_windows(d, *args, require=())
    expected = brute_force(cfg["lengths"], *args)
    for split in SPLITS:
        np.testing.assert_array_equal(getattr(w, split).starts, expected[split], err_msg=split)
    assert w.counts() == {s: len(expected[s]) for s in SPLITS}
    if len(expected["train"]) == 0:  # the default require=("train",) refuses it
        with pytest.raises(DataError):
            make_windows(d, *args)
    else:
        assert make_windows(d, *args).counts() == w.counts()


@PROPS
@given(configs())
def test_every_window_is_inside_one_series_and_splits_do_not_leak(cfg) -> None:
    if not fits(cfg):
        return
    d = encoded(cfg["lengths"])
    L, H = cfg["lookback"], cfg["horizon"]
    w = make_windows(d, L, H, cfg["stride"], cfg["val"], cfg["test"], require=())
    values = torch.from_numpy(d.values)
    seen_targets: dict[str, set[int]] = {}
    for split in SPLITS:
        index = getattr(w, split)
        if len(index) == 0:
            seen_targets[split] = set()
            continue
        starts = torch.from_numpy(index.starts)
        x, y = gather(values, starts, L, H, n_targets=3)
        assert x.shape == (len(index), L, 3) and y.shape == (len(index), H, 3)
        series = w.series_of(index)
        lo, hi = d.offsets[series], d.offsets[series + 1]
        # (4) never across a series boundary
        assert (index.starts >= lo).all() and (index.starts + L + H <= hi).all()
        # (2) x = rows [s, s+L), y = rows [s+L, s+L+H) of the same series
        s = index.starts[:, None]
        np.testing.assert_array_equal(x[..., 0].numpy(), s + np.arange(L))
        np.testing.assert_array_equal(y[..., 0].numpy(), s + L + np.arange(H))
        assert (x[..., 1].numpy() == series[:, None]).all() and (y[..., 1].numpy() == series[:, None]).all()
        np.testing.assert_array_equal(y[..., 2].numpy(), (s - lo[:, None]) + L + np.arange(H))
        np.testing.assert_array_equal(target_rows(index), y[..., 0].numpy())
        # (5) the targets lie inside the split's own rows (inputs may look back before them)
        col = SPLITS.index(split)
        local = target_rows(index) - lo[:, None]
        assert (local >= w.bounds[series, col][:, None]).all()
        assert (local < w.bounds[series, col + 1][:, None]).all()
        seen_targets[split] = set(target_rows(index).ravel().tolist())
    # (3) no target row is predicted in two splits
    assert not seen_targets["train"] & seen_targets["val"]
    assert not seen_targets["train"] & seen_targets["test"]
    assert not seen_targets["val"] & seen_targets["test"]


@PROPS
@given(configs(), st.integers(1, 64), st.integers(0, 2**31 - 1))
def test_window_batches_cover_every_window_once(cfg, batch_size: int, seed: int) -> None:
    if not fits(cfg):
        return
    d = encoded(cfg["lengths"])
    w = make_windows(d, cfg["lookback"], cfg["horizon"], cfg["stride"], cfg["val"], cfg["test"], require=())
    values = torch.from_numpy(d.values)
    for shuffle in (False, True):
        wb = WindowBatches(values, w.train, 1, batch_size, shuffle=shuffle, seed=seed)
        batches = list(wb.epoch(1))
        assert len(batches) == wb.n_batches == math.ceil(len(w.train) / batch_size)
        assert all(len(x) == batch_size for x, _ in batches[:-1])
        got = np.concatenate([x[:, 0, 0].numpy() for x, _ in batches]) if batches else np.empty(0)
        if not shuffle:
            np.testing.assert_array_equal(got, w.train.starts)
        np.testing.assert_array_equal(np.sort(got), w.train.starts)
        for x, y in batches:  # y holds the first n_targets=1 channel of the rows after x
            assert y.shape[-1] == 1
            np.testing.assert_array_equal(y[:, 0, 0].numpy(), x[:, -1, 0].numpy() + 1)


# ----------------------------------------------------------------------------- examples


def test_shuffle_changes_the_order_every_epoch() -> None:
    d = encoded([300])
    w = make_windows(d, 4, 2, 1, 0.1, 0.1)
    values = torch.from_numpy(d.values)

    def first_column(shuffle: bool, epoch: int) -> torch.Tensor:
        wb = WindowBatches(values, w.train, 1, 32, shuffle=shuffle, seed=0)
        return torch.cat([x[:, 0, 0] for x, _ in wb.epoch(epoch)])

    plain, shuffled = first_column(False, 1), first_column(True, 1)
    assert not torch.equal(plain, shuffled) and torch.equal(plain.sort().values, shuffled.sort().values)
    assert torch.equal(first_column(True, 1), shuffled) and not torch.equal(first_column(True, 2), shuffled)
    assert torch.equal(first_column(False, 2), plain)


def test_split_by_timestamp() -> None:
    d = encoded([100])  # hourly from 2000-01-01 00:00
    assert split_bounds(d, "2000-01-03", "2000-01-04").tolist() == [[0, 48, 72, 100]]
    assert split_bounds(d, "2000-01-03 12:00", 0.2).tolist() == [[0, 60, 80, 100]]
    assert split_bounds(d, 10, "2000-01-04").tolist() == [[0, 62, 72, 100]]
    w = make_windows(d, 6, 3, 1, "2000-01-03", "2000-01-04")
    assert target_rows(w.val).min() == 48 and target_rows(w.test).min() == 72
    with pytest.raises(ConfigError, match="do not fit"):
        split_bounds(d, "2000-01-04 06:00", "2000-01-04")  # validation would start after the test split


def test_split_by_timestamp_in_a_zone() -> None:
    import pandas as pd

    from tsrnn.data import load_series

    t = pd.date_range("2024-01-01", periods=48, freq="h", tz="Asia/Tokyo")
    d = load_series(pd.DataFrame({"time": t, "v": np.arange(48.0)}))
    assert split_bounds(d, 0, "2024-01-02T00:00+09:00").tolist() == [[0, 24, 24, 48]]  # the same instant
    assert split_bounds(d, 0, "2024-01-01T15:00Z").tolist() == [[0, 24, 24, 48]]
    assert split_bounds(d, 0, "2024-01-02").tolist() == [[0, 24, 24, 48]]  # local time, as in the file


def test_window_dataset_items_are_views() -> None:
    d = encoded([50, 40])
    w = make_windows(d, 8, 4, 1, 0.1, 0.2)
    ds = WindowDataset(d.values, w.val, n_targets=2)
    assert len(ds) == len(w.val) > 0
    base = ds.values.untyped_storage().data_ptr()
    assert base == d.values.ctypes.data  # torch.from_numpy: no copy
    for i in (0, len(ds) - 1):
        x, y = ds[i]
        assert x.untyped_storage().data_ptr() == base and y.untyped_storage().data_ptr() == base
        assert np.shares_memory(x.numpy(), d.values) and np.shares_memory(y.numpy(), d.values)
        s = int(w.val.starts[i])
        assert x.shape == (8, 3) and y.shape == (4, 2)
        np.testing.assert_array_equal(x[:, 0].numpy(), np.arange(s, s + 8))
        np.testing.assert_array_equal(y[:, 0].numpy(), np.arange(s + 8, s + 12))
    x, _ = ds[0]
    d.values[w.val.starts[0], 1] = -5.0  # a write to the data shows through the item
    assert x[0, 1].item() == -5.0


def test_latest_windows_are_the_last_rows_of_every_series() -> None:
    d = encoded([30, 12])
    v = latest_windows(d, 5)  # (2, 5, C)
    np.testing.assert_array_equal(v[0, :, 0], np.arange(25, 30))
    np.testing.assert_array_equal(v[1, :, 0], np.arange(37, 42))
    with pytest.raises(DataError, match="series '1' of <array> has 12 rows, but the model looks back 20 rows") as e:
        latest_windows(d, 20)
    assert "short='skip' (--short skip)" in e.value.hint


def test_select_and_skip_short_keep_the_long_series_rows_and_ids() -> None:
    d = encoded([30, 4, 12, 3])
    kept = d.select(np.array([0, 2]))
    assert kept.ids == (d.ids[0], d.ids[2]) and kept.offsets.tolist() == [0, 30, 42]
    np.testing.assert_array_equal(kept.values, np.r_[d.series(0), d.series(2)])
    np.testing.assert_array_equal(kept.times, np.r_[d.times[:30], d.times[34:46]])
    with pytest.warns(DataWarning, match="2 of 4 series in <array> have fewer than 5 rows.*'1', '3'"):
        skipped = skip_short(d, 5)
    np.testing.assert_array_equal(latest_windows(skipped, 5), latest_windows(kept, 5))
    assert skip_short(d, 3) is d  # none short
    assert skip_short(d, 40) is d  # all short: latest_windows refuses


def test_make_windows_warns_of_series_without_a_window_in_a_required_split() -> None:
    d = encoded([40, 5, 40])
    with pytest.warns(
        DataWarning,
        match=r"1 of 3 series in <array> has no train window \(one needs 12 rows, all of them in the train split\).*'1'",
    ):
        w = make_windows(d, 8, 4, 1, 0.0, 0.0)
    assert set(w.series_of(w.train)) == {0, 2}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_windows(encoded([40, 40]), 8, 4, 1, 0.0, 0.0)  # every series has windows: no warning


def test_too_short_names_the_rows_needed() -> None:
    d = from_arrays(np.zeros((40, 1)))
    with pytest.raises(DataError) as e:
        make_windows(d, 30, 10, 1, 0.1, 0.2)
    msg = str(e.value)
    assert "the train split has 28 rows (of 40)" in msg
    assert "one window needs lookback 30 + horizon 10 = 40 rows" in msg
    # 95 rows: round(9.5) = 10 validation rows = one horizon; 94 rows leave 9
    assert "the series needs at least 95 rows" in msg
    assert make_windows(from_arrays(np.zeros((95, 1))), 30, 10, 1, 0.1, 0.2, require=SPLITS).counts()["val"] == 1
    with pytest.raises(DataError):
        make_windows(from_arrays(np.zeros((94, 1))), 30, 10, 1, 0.1, 0.2, require=SPLITS)


def test_too_short_with_row_counts_and_many_series() -> None:
    d = from_arrays([np.zeros((32, 1)), np.zeros((30, 1))])
    with pytest.raises(
        DataError,
        match=r"series '1' of <array>: the train split has 20 rows \(of 30\), but one "
        r"window needs lookback 16 \+ horizon 8 = 24 rows",
    ):
        make_windows(d, 16, 8, 1, 5, 5)
    with pytest.raises(DataError, match=r"the test split has 0 rows .* needs horizon 8 = 8 rows"):
        make_windows(d, 16, 8, 1, 5, 0, require=("train", "test"))


@PROPS
@given(
    st.integers(1, 40),
    st.integers(1, 12),
    st.sampled_from([0.05, 0.1, 0.15, 0.2, 0.25, 0.3]),
    st.sampled_from([0.05, 0.1, 0.15, 0.2, 0.25, 0.3]),
)
def test_the_stated_row_count_is_enough(lookback: int, horizon: int, val: float, test: float) -> None:
    with pytest.raises(DataError) as e:
        make_windows(from_arrays(np.zeros((lookback + horizon - 1, 1))), lookback, horizon, 1, val, test)
    need = int(str(e.value).split("needs at least ")[1].split(" rows")[0])
    make_windows(from_arrays(np.zeros((need, 1))), lookback, horizon, 1, val, test, require=SPLITS)
    # "at least": every longer series has a window in every split too (the rounding makes this non-trivial)
    for n in range(need, need + 100):
        n_val, n_test = int(round(n * val)), int(round(n * test))
        assert n - n_val - n_test >= lookback + horizon and min(n_val, n_test) >= horizon, n


@pytest.mark.parametrize("option", ["lookback", "horizon", "stride"])
@pytest.mark.parametrize("bad", [0, -1, MAX_WINDOW + 1, 10**9, 2.0, True, "3", None])
def test_bad_lengths_raise_config_error(option: str, bad) -> None:
    args = {"lookback": 4, "horizon": 2, "stride": 1, option: bad}
    with pytest.raises(ConfigError, match=f"--{option}"):
        make_windows(encoded([50]), **args)


@pytest.mark.parametrize(
    "val, test, match",
    [
        (1.0, 0.2, "--val fraction must be in"),
        (0.1, -0.5, "--test fraction must be in"),
        (-3, 0.2, "--val must be at least 0, got -3"),
        (True, 0.2, "--val must be a fraction"),
        ("soon", 0.2, "--val 'soon' is neither"),
        (0.6, 0.5, "do not fit in 50 rows"),
        (0.1, "2030-01-01", "--test 2030-01-01 is outside the data, which runs from 2000-01-01"),  # no test row
        ("1999-01-01", 0.2, "--val 1999-01-01 is outside the data"),  # no training row
    ],
)
def test_bad_split_sizes_raise_config_error(val, test, match) -> None:
    with pytest.raises(ConfigError, match=match):
        make_windows(encoded([50]), 4, 2, 1, val, test)


# ----------------------------------------------------------------------------- WindowBatches


def epoch_series(batches, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """(global start rows, series numbers) of every window of one epoch, in order."""
    rows, series = [], []
    for x, _, s in batches.epoch(epoch):
        rows.append(x[:, 0, 0].numpy())
        series.append(s.numpy())
        np.testing.assert_array_equal(s.numpy(), x[:, 0, 1].numpy())  # s is the window's own series
    return np.concatenate(rows).astype(np.int64), np.concatenate(series)


def test_window_batches_balanced_sampling_weighs_series_equally() -> None:
    d = encoded([60, 400, 3000])  # very different lengths
    w = make_windows(d, 8, 4, 1, 0.0, 0.0)
    values = torch.from_numpy(d.values)
    sid = w.series_of(w.train)
    uniform = WindowBatches(values, w.train, 1, 64, shuffle=True, seed=1, series_numbers=sid)
    balanced = WindowBatches(values, w.train, 1, 64, shuffle=True, seed=1, series_numbers=sid, sampling="balanced")
    assert balanced.n_batches == uniform.n_batches == math.ceil(len(w.train) / 64)
    _, s_uniform = epoch_series(uniform, 1)
    assert np.bincount(s_uniform).tolist() == np.bincount(sid).tolist()  # long series dominate
    rows, s_balanced = epoch_series(balanced, 1)
    per_series = np.bincount(s_balanced)
    assert per_series.max() - per_series.min() <= 1 and per_series.sum() == len(w.train)
    assert set(rows) <= set(w.train.starts.tolist())
    again, _ = epoch_series(
        WindowBatches(values, w.train, 1, 64, shuffle=True, seed=1, series_numbers=sid, sampling="balanced"), 1
    )
    np.testing.assert_array_equal(rows, again)  # same seed and epoch, same draws
    assert not np.array_equal(rows, epoch_series(balanced, 2)[0])  # a new draw every epoch


def test_window_batches_refuse_balanced_sampling_without_series() -> None:
    d = encoded([50, 50])
    w = make_windows(d, 4, 2, 1, 0.0, 0.0)
    with pytest.raises(ConfigError, match="balanced sampling"):
        WindowBatches(torch.from_numpy(d.values), w.train, 1, 8, shuffle=True, sampling="balanced")
    with pytest.raises(ConfigError, match="unknown sampling"):
        WindowBatches(torch.from_numpy(d.values), w.train, 1, 8, sampling="roundrobin")


@pytest.mark.parametrize("sampling", ["uniform", "balanced"])
@pytest.mark.parametrize("world", [2, 3])
def test_window_batches_shards_split_each_epoch_between_processes(sampling: str, world: int) -> None:
    d = encoded([37, 120, 64])
    w = make_windows(d, 6, 3, 1, 0.0, 0.0)
    whole = WindowBatches(
        torch.from_numpy(d.values),
        w.train,
        1,
        16,
        shuffle=True,
        seed=4,
        series_numbers=w.series_of(w.train),
        sampling=sampling,
    )
    full = epoch_series(whole, 3)[0]
    shards = [whole.shard(r, world, pad=True) for r in range(world)]
    assert len({s.n_batches for s in shards}) == 1 and len({len(s) for s in shards}) == 1
    got = [epoch_series(s, 3)[0] for s in shards]
    assert all(len(g) == len(shards[0]) for g in got)
    assert all(sum(1 for _ in s.epoch(3)) == s.n_batches for s in shards)
    for r in range(world):  # rank r gets elements r, r + world, ... of the same epoch order
        np.testing.assert_array_equal(got[r][: len(full[r::world])], full[r::world])
    assert set(np.concatenate(got)) == set(full)
    unpadded = [whole.shard(r, world, pad=False) for r in range(world)]
    assert sorted(np.concatenate([epoch_series(s, 3)[0] for s in unpadded])) == sorted(full)
    assert sum(len(s) for s in unpadded) == len(w.train)
