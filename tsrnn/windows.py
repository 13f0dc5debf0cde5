"""Lazy sliding windows over one or many series, and chronological splits without leakage.

A window is ``lookback`` input rows followed by ``horizon`` target rows. Windows are never
materialised: a split is an int64 array of start rows into the one ``(n_rows, C)`` value
array, and a batch is gathered from it by index arithmetic (``values[starts[:, None] +
arange(L + H)]``), so memory is the data plus 8 bytes per window.

Splits are chronological per series: rows ``[0, train_end)`` train, ``[train_end, val_end)``
validation, ``[val_end, n)`` test. A window belongs to the split that holds all of its
*target* rows; its inputs may look back into the previous split (as in the ETT protocol), so
no target is ever predicted in two splits. Windows never cross series boundaries.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np

from tsrnn.checks import check_fraction, check_int
from tsrnn.data import SeriesData
from tsrnn.errors import ConfigError, DataError, DataWarning

if TYPE_CHECKING:
    import pandas as pd
    import torch

SplitSize = Union[float, int, str, None]
SPLITS = ("train", "val", "test")
MAX_WINDOW = 1_000_000  # lookback/horizon above this are certainly a typo


def _check_lengths(lookback: int, horizon: int, stride: int) -> None:
    for opt, v in (("lookback", lookback), ("horizon", horizon), ("stride", stride)):
        check_int(f"--{opt}", v, 1, hint=f"pass a positive whole number, e.g. --{opt} 24")
        if v > MAX_WINDOW:
            raise ConfigError(f"--{opt} {v} is absurdly large (limit {MAX_WINDOW:,})", f"pass a smaller --{opt}")


def _split_rows(size: SplitSize, n: int, times: np.ndarray, option: str, tz: str | None = None) -> int:
    """Rows a split takes from the end of a series of ``n`` rows (a start time counts the rows after it)."""
    if size is None:
        return 0
    if isinstance(size, bool):
        raise ConfigError(f"{option} must be a fraction, a row count or a timestamp, got {size!r}")
    if isinstance(size, (float, np.floating)):
        return int(round(n * check_fraction(f"{option} fraction", size, include_one=False, hint=f"e.g. {option} 0.2")))
    if isinstance(size, (int, np.integer)):
        return check_int(option, size, 0, hint=f"pass a row count >= 0, e.g. {option} 500")
    import pandas as pd

    try:
        ts = pd.Timestamp(size)
        if tz is not None:  # times are UTC instants: a time without zone is local time in ``tz``
            ts = (ts.tz_localize(tz) if ts.tz is None else ts).tz_convert("UTC")
        start = np.datetime64(ts.tz_localize(None).to_datetime64(), "ns")
    except (ValueError, TypeError) as e:
        raise ConfigError(
            f"{option} {size!r} is neither a fraction, a row count nor a timestamp",
            f"e.g. {option} 0.2, {option} 500 or {option} 2018-01-01",
        ) from e
    return int(n - np.searchsorted(times, start, side="left"))


def split_bounds(data: SeriesData, val: SplitSize = 0.1, test: SplitSize = 0.2) -> np.ndarray:
    """(n_series, 4) local row bounds ``[0, train_end, val_end, n]`` of each series.

    ``val`` / ``test``: a fraction of each series' rows (0.2), a row count (500), or a
    timestamp where that split starts ("2018-01-01"); the rest before them is training.
    A timestamp for ``val`` is where validation starts; the test split is taken first.
    """
    bounds = np.zeros((data.n_series, 4), dtype=np.int64)
    inside = {"--test": False, "--val": False}  # a start time within some series' rows
    for i in range(data.n_series):
        n = int(data.lengths[i])
        t = data.times[data.offsets[i] : data.offsets[i + 1]]
        n_test = _split_rows(test, n, t, "--test", data.tz)
        n_val = _split_rows(val, n, t, "--val", data.tz)
        inside["--test"] |= 0 < n_test < n
        inside["--val"] |= 0 < n_val < n
        if isinstance(val, str):  # a start time: validation runs up to the test split
            n_val -= n_test
        if n_val < 0 or n_val + n_test > n:
            raise ConfigError(
                f"the splits do not fit in {n} rows (validation {n_val}, test {n_test})",
                "make --val and --test smaller, or put the validation start before the test start",
            )
        bounds[i] = (0, n - n_val - n_test, n - n_test, n)
    for option, size in (("--test", test), ("--val", val)):
        if isinstance(size, str) and not inside[option]:  # a split of no row, or of every row, in every series
            spans = [data.series_times(i)[[0, -1]] for i in range(data.n_series)]
            inner = data.series_times(0)[int(data.lengths[0] * (0.8 if option == "--test" else 0.7))]
            raise ConfigError(
                f"{option} {size} is outside the data, which runs from {min(t[0] for t in spans)} "
                f"to {max(t[1] for t in spans)}",
                f"pass a start time inside it, e.g. {option} {inner}",
            )
    return bounds


@dataclass(frozen=True)
class WindowIndex:
    """The windows of one split: ``starts`` are global rows where each window's input begins."""

    starts: np.ndarray  # (n_windows,) int64
    lookback: int
    horizon: int

    def __len__(self) -> int:
        return len(self.starts)


@dataclass(frozen=True)
class Windows:
    """Windows of every split over ``data`` (its values stay where they are)."""

    data: SeriesData
    bounds: np.ndarray  # (n_series, 4), see split_bounds
    lookback: int
    horizon: int
    stride: int
    train: WindowIndex
    val: WindowIndex
    test: WindowIndex

    def counts(self) -> dict[str, int]:
        return {s: len(getattr(self, s)) for s in SPLITS}

    def series_of(self, index: WindowIndex) -> np.ndarray:
        """(n_windows,) series number of each window of ``index``."""
        return np.searchsorted(self.data.offsets, index.starts, side="right") - 1


def _starts(lo_target: int, hi: int, lookback: int, horizon: int, stride: int, offset: int) -> np.ndarray:
    """Global starts of windows whose targets lie in local rows [lo_target, hi)."""
    first = max(lo_target - lookback, 0)
    last = hi - lookback - horizon  # inclusive
    if last < first:
        return np.empty(0, dtype=np.int64)
    return np.arange(first, last + 1, stride, dtype=np.int64) + offset


def make_windows(
    data: SeriesData,
    lookback: int,
    horizon: int,
    stride: int = 1,
    val: SplitSize = 0.1,
    test: SplitSize = 0.2,
    require: tuple[str, ...] = ("train",),
) -> Windows:
    """Index the windows of every split. ``require`` names splits that must not be empty."""
    _check_lengths(lookback, horizon, stride)
    bounds = split_bounds(data, val, test)
    parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for i, (b0, b1, b2, b3) in enumerate(bounds):
        off = int(data.offsets[i])
        parts["train"].append(_starts(b0 + lookback, b1, lookback, horizon, stride, off))
        parts["val"].append(_starts(b1, b2, lookback, horizon, stride, off))
        parts["test"].append(_starts(b2, b3, lookback, horizon, stride, off))
    idx = {
        s: WindowIndex(np.concatenate(p) if p else np.empty(0, np.int64), lookback, horizon) for s, p in parts.items()
    }
    w = Windows(data, bounds, lookback, horizon, stride, idx["train"], idx["val"], idx["test"])
    for s in require:
        if len(idx[s]) == 0:
            raise DataError(_too_short(s, w, val, test), _too_short_hint(s))
        empty = [i for i, p in enumerate(parts[s]) if len(p) == 0]
        if empty:
            inside = f"all of them in the {s} split" if s == "train" else f"the last {horizon} in the {s} split"
            _warn_left_out(
                data, empty, f"no {s} window (one needs {lookback + horizon} rows, {inside})", f"the {s} split"
            )
    return w


def _too_short(split: str, w: Windows, val: SplitSize, test: SplitSize) -> str:
    col = SPLITS.index(split)
    sizes = w.bounds[:, col + 1] - w.bounds[:, col]
    i = int(np.argmin(sizes))
    need = w.lookback + w.horizon if split == "train" else w.horizon
    what = f"lookback {w.lookback} + horizon {w.horizon}" if split == "train" else f"horizon {w.horizon}"
    who = f"series {w.data.ids[i]!r} of " if w.data.ids else ""
    msg = (
        f"{who}{w.data.source}: the {split} split has {int(sizes[i])} rows "
        f"(of {int(w.bounds[i, 3])}), but one window needs {what} = {need} rows"
    )
    fractions = [f for f in (val, test) if isinstance(f, float)]
    if len(fractions) == 2:
        total = _rows_needed(w.lookback, w.horizon, float(val), float(test))
        msg += f"; with --val {val} and --test {test} the series needs at least {total} rows"
    return msg


def _rows_needed(lookback: int, horizon: int, val: float, test: float) -> int:
    """The fewest rows whose fraction splits (rounded as split_bounds rounds them) leave every
    split at least one window: train lookback + horizon rows, validation and test horizon rows."""
    if val + test >= 1:
        return 0
    n = max(math.ceil((lookback + horizon) / (1 - val - test)), 1)
    while True:
        n_test, n_val = int(round(n * test)), int(round(n * val))
        if (
            n - n_val - n_test >= lookback + horizon
            and (not val or n_val >= horizon)
            and (not test or n_test >= horizon)
        ):
            return n
        n += 1


def _too_short_hint(split: str) -> str:
    if split == "train":
        return "use a shorter --lookback/--horizon, smaller --val/--test, or more data"
    return f"use a larger --{split}, a shorter --horizon, or more data"


def latest_windows(data: SeriesData, lookback: int) -> np.ndarray:
    """(n_series, lookback, C): the last ``lookback`` rows of every series (the inputs of a
    forecast), gathered in one indexing step."""
    lengths = data.lengths
    short = np.flatnonzero(lengths < lookback)
    if len(short):
        i = int(short[0])
        who = f"series {data.ids[i]!r} of " if data.ids else ""
        more = f" ({len(short)} series are that short)" if len(short) > 1 else ""
        raise DataError(
            f"{who}{data.source} has {int(lengths[i])} rows, but the model looks back {lookback} rows{more}",
            f"pass at least {lookback} rows of history"
            + (" for every series, or forecast the others: short='skip' (--short skip)" if data.ids else ""),
        )
    return data.values[data.offsets[1:, None] - lookback + np.arange(lookback)]  # (S, L, C)


SHORT = ("error", "skip")  # what predict does with a series shorter than the lookback: refuse, or leave it out


def skip_short(data: SeriesData, lookback: int) -> SeriesData:
    """``data`` without its series of fewer than ``lookback`` rows, with a ``DataWarning`` naming
    them; unchanged when none or every series is that short (``latest_windows`` refuses then)."""
    short = data.lengths < lookback
    if not short.any() or short.all():
        return data
    _warn_left_out(data, np.flatnonzero(short), f"fewer than {lookback} rows (the model's lookback)", "the forecast")
    return data.select(np.flatnonzero(~short))


def _warn_left_out(data: SeriesData, which: "list[int] | np.ndarray", why: str, what: str) -> None:
    """A ``DataWarning``: series ``which`` (positions in ``data``) have ``why``, so ``what`` leaves them out."""
    names = [data.ids[i] for i in which] if data.ids else [str(i) for i in which]
    listed = ", ".join(repr(n) for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    verb = "has" if len(names) == 1 else "have"
    warnings.warn(
        f"{len(names)} of {data.n_series} series in {data.source} {verb} {why}; left out of {what}: {listed}",
        DataWarning,
        stacklevel=4,
    )


def future_times(last: "pd.DatetimeIndex", freq: str, horizon: int) -> "pd.DatetimeIndex":
    """(S * horizon,): the ``horizon`` times after each of ``last`` (S,) at frequency ``freq``,
    series by series (as ``pd.date_range(last[i], periods=horizon + 1, freq=freq)[1:]``)."""
    import pandas as pd

    offset = pd.tseries.frequencies.to_offset(freq)
    steps = [(last + k * offset).as_unit("ns").asi8 for k in range(1, horizon + 1)]  # horizon x (S,)
    flat = np.stack(steps, axis=1).ravel()  # (S * H,) UTC instants when zoned
    out = pd.DatetimeIndex(flat.view("datetime64[ns]"))
    return out.tz_localize("UTC").tz_convert(last.tz) if last.tz is not None else out


# ----------------------------------------------------------------------------- torch side


def gather(
    values: "torch.Tensor", starts: "torch.Tensor", lookback: int, horizon: int, n_targets: int
) -> tuple["torch.Tensor", "torch.Tensor"]:
    """One batch by index arithmetic: x (B, lookback, C) and y (B, horizon, n_targets).

    ``values`` (n_rows, C) and ``starts`` (B,) int64 live on the same device; only the batch
    is copied.
    """
    width = lookback + horizon
    # every window of the array as a strided view (no copy), then the batch's rows of it
    s0, s1 = values.stride()
    view = values.as_strided((values.shape[0] - width + 1, width, values.shape[1]), (s0, s0, s1))  # (N-W+1, W, C)
    window = view.index_select(0, starts)  # (B, L+H, C): the only copy
    return window[:, :lookback], window[:, lookback:, :n_targets]


class WindowDataset:
    """A map-style torch dataset over one split: item ``i`` is (x, y) as *views* of the data.

    For users who want their own DataLoader; tsrnn's trainer gathers whole batches instead.
    """

    def __init__(self, values: np.ndarray, index: WindowIndex, n_targets: int) -> None:
        import torch

        self.values = torch.from_numpy(values)  # shares memory with the array
        self.index = index
        self.n_targets = n_targets

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple["torch.Tensor", "torch.Tensor"]:
        s, L = int(self.index.starts[i]), self.index.lookback
        return self.values[s : s + L], self.values[s + L : s + L + self.index.horizon, : self.n_targets]


class WindowBatches:
    """The batches of one split for ``tsrnn.training.Trainer``: a fresh order every epoch.

    ``values`` (n_rows, C) sits on the training device; batches are gathered there by index.
    Each batch is (x, y), or (x, y, s) when ``series_numbers`` (n_windows,) gives the series
    number of every window: s (B,) int64 on the device says which series each window comes from.

    ``shuffle``: the order of epoch ``e`` is drawn with seed ``seed + e``, so runs repeat
    exactly; ``sampling`` "uniform" visits every window once, "balanced" draws equal quotas per
    series (it needs ``series_numbers``; see ``tsrnn.sampling``). ``shard`` gives one torchrun
    process its share of every epoch.
    """

    def __init__(
        self,
        values: "torch.Tensor",
        index: WindowIndex,
        n_targets: int,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        series_numbers: np.ndarray | None = None,
        sampling: str = "uniform",
    ) -> None:
        import torch

        from tsrnn.sampling import check_sampling

        if check_sampling(sampling) == "balanced" and (series_numbers is None or not shuffle):
            raise ConfigError(
                "balanced sampling draws a shuffled epoch over many series",
                "pass shuffle=True and the series number of every window",
            )
        self.values = values
        self.index = index
        self.n_targets = n_targets
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.sampling = sampling
        self.starts = torch.from_numpy(index.starts).to(values.device)
        given = series_numbers is not None
        self.series_numbers_cpu = torch.from_numpy(np.asarray(series_numbers, dtype=np.int64)) if given else None
        self.series_numbers = self.series_numbers_cpu.to(values.device) if given else None
        self.rank, self.world, self.pad = 0, 1, False
        self.n_windows = len(index)
        self.n_batches = -(-self.n_windows // batch_size)

    def shard(self, rank: int, world: int, pad: bool) -> "WindowBatches":
        """A copy that yields only process ``rank`` of ``world``'s share of every epoch (see
        ``tsrnn.sampling.shard``); ``pad`` evens the shares so every process runs as many batches."""
        import copy

        out = copy.copy(self)
        out.rank, out.world, out.pad = rank, world, pad
        out.n_windows = -(-len(self.index) // world) if pad else len(range(rank, len(self.index), world))
        out.n_batches = -(-out.n_windows // self.batch_size)
        return out

    def __len__(self) -> int:
        return self.n_windows

    def order(self, epoch: int) -> "torch.Tensor":
        """(n_windows,) the window numbers this process visits in ``epoch``, in order, on the device."""
        import torch

        from tsrnn.sampling import balanced_order, shard, uniform_order

        n = len(self.index)
        if not self.shuffle:
            order = torch.arange(n)
        elif n == 0:
            order = torch.empty(0, dtype=torch.int64)
        else:
            gen = torch.Generator().manual_seed(self.seed + epoch)
            order = (
                balanced_order(self.series_numbers_cpu, gen) if self.sampling == "balanced" else uniform_order(n, gen)
            )
        if self.world > 1:
            order = shard(order, self.rank, self.world, self.pad)
        return order.to(self.starts.device)

    def epoch(self, epoch: int) -> Iterator[tuple["torch.Tensor", ...]]:
        order = self.order(epoch)
        L, H = self.index.lookback, self.index.horizon
        for i in range(0, len(order), self.batch_size):
            pick = order[i : i + self.batch_size]  # (B,)
            x, y = gather(self.values, self.starts[pick], L, H, self.n_targets)
            yield (x, y) if self.series_numbers is None else (x, y, self.series_numbers[pick])
