"""Load and validate time-series data: a CSV, a Parquet file or a pandas DataFrame.

``load_series`` finds the time column, the targets and covariates, splits long-format data into
series by ``id_col``, infers the frequency, and checks for the problems that silently spoil a
forecast (unsorted rows, duplicate timestamps, NaN and inf, mixed frequencies). What it
understood is returned as one ``SeriesData``: every series' values in one contiguous float32
array (targets first, then covariates), row offsets per series, timestamps and a report.

Each refusal names the one option that remedies it: ``sort`` (rows out of time order),
``duplicates`` (repeated timestamps), ``resample`` with ``agg`` (times off a regular grid, mixed
steps), ``fill`` (NaN, inf and gaps).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tsrnn.checks import check_choice, check_frequency
from tsrnn.errors import ConfigError, DataError

if TYPE_CHECKING:  # pandas is imported where it is used, not at `import tsrnn`
    import pandas as pd

FILL_POLICIES = ("error", "ffill", "interpolate", "zero")
DUPLICATE_POLICIES = ("error", "first", "last", "mean")
AGGREGATIONS = ("mean", "last", "first", "sum", "max", "min")
TIME_NAMES = ("date", "datetime", "time", "timestamp", "ds", "period")
_SHOW = 5  # how many bad rows a message lists
_FLOAT32_MAX = float(np.finfo(np.float32).max)  # values are stored as float32: larger ones become inf


@dataclass(frozen=True)
class Gap:
    """Missing timestamps inside one series: ``missing`` steps between ``after`` and ``before``."""

    series: str | None
    after: str
    before: str
    missing: int


@dataclass
class DataReport:
    """What validation found; warnings do not stop anything, errors are raised instead."""

    rows: int
    ignored_columns: list[str] = field(default_factory=list)
    constant_columns: list[str] = field(default_factory=list)
    # column -> {"nan": n, "inf": n}; "inf" counts values beyond float32's range too (stored, they would be inf)
    missing: dict[str, dict[str, int]] = field(default_factory=dict)
    filled: str | None = None
    filled_gap_rows: int = 0
    gaps: list[Gap] = field(default_factory=list)
    sorted_rows: bool = False
    collapsed_rows: int = 0  # rows merged into another row with the same timestamp (duplicates=)
    # resample=: {"frequency": "5min", "agg": "mean", "bins": n, "combined_rows": k} (bins: rows after
    # resampling; combined_rows: rows that shared their step with an earlier row, e.g. a repeated hour)
    resampled: dict[str, Any] | None = None
    # times written with the year last (31/12/2024): whether they were read day first; None otherwise
    dayfirst: bool | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SeriesData:
    """One or many series as tsrnn uses them.

    ``values`` is (n_rows, n_channels) float32, C-contiguous; series ``i`` is the view
    ``values[offsets[i]:offsets[i+1]]``. Channels are ``targets`` then ``covariates``.
    ``times`` is (n_rows,) datetime64[ns] (UTC when ``tz`` names a zone, else as given).
    """

    values: np.ndarray
    offsets: np.ndarray
    times: np.ndarray
    targets: tuple[str, ...]
    covariates: tuple[str, ...] = ()
    ids: tuple[str, ...] | None = None
    time_col: str = "time"
    id_col: str | None = None
    freq: str | None = None
    tz: str | None = None
    source: str = "<array>"
    report: DataReport | None = None

    @property
    def n_series(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_rows(self) -> int:
        return int(self.offsets[-1])

    @property
    def channels(self) -> tuple[str, ...]:
        return self.targets + self.covariates

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def series(self, i: int) -> np.ndarray:
        """(T_i, C) view of series ``i``'s values."""
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def series_times(self, i: int) -> "pd.DatetimeIndex":
        return self.datetimes(np.arange(self.offsets[i], self.offsets[i + 1]))

    def datetimes(self, rows: np.ndarray) -> "pd.DatetimeIndex":
        """The times of ``rows`` (positions in ``times``) as a DatetimeIndex in the data's time zone."""
        import pandas as pd

        idx = pd.DatetimeIndex(self.times[rows])
        return idx.tz_localize("UTC").tz_convert(self.tz) if self.tz else idx

    def select(self, keep: np.ndarray) -> "SeriesData":
        """The series at positions ``keep`` (ascending), in one gather of their rows (a copy, C-contiguous)."""
        lengths = self.lengths[keep]
        rows = np.repeat(self.offsets[keep] - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(lengths.sum())
        ids = tuple(self.ids[i] for i in keep) if self.ids is not None else None
        offsets = np.r_[0, np.cumsum(lengths)].astype(self.offsets.dtype)
        return replace(self, values=self.values[rows], offsets=offsets, times=self.times[rows], ids=ids)

    def content_hash(self) -> str:
        """sha256 of the values and times, for tracking which data a model saw."""
        h = hashlib.sha256(self.values.tobytes())
        h.update(self.times.view("int64").tobytes())
        return h.hexdigest()[:16]


def from_arrays(
    values: np.ndarray | Sequence[np.ndarray],
    *,
    targets: Sequence[str] | None = None,
    start: str = "2000-01-01",
    freq: str = "h",
) -> SeriesData:
    """Build ``SeriesData`` straight from arrays (one (T, C) array, or a list for many series).

    For generated data and benchmarks: timestamps are a regular range from ``start``.
    """
    import pandas as pd

    arrays = [np.asarray(values)] if isinstance(values, np.ndarray) else [np.asarray(v) for v in values]
    arrays = [a[:, None] if a.ndim == 1 else a for a in arrays]
    n_ch = arrays[0].shape[1]
    if any(a.ndim != 2 or a.shape[1] != n_ch for a in arrays):
        raise ConfigError("from_arrays needs 2-D arrays with the same number of channels")
    lengths = [len(a) for a in arrays]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    vals = np.empty((int(offsets[-1]), n_ch), dtype=np.float32)
    for a, lo in zip(arrays, offsets[:-1]):
        vals[lo : lo + len(a)] = a
    times = np.concatenate([pd.date_range(start, periods=n, freq=freq).as_unit("ns").values for n in lengths])
    names = tuple(targets) if targets else tuple(f"y{i}" for i in range(n_ch))
    ids = tuple(str(i) for i in range(len(arrays))) if len(arrays) > 1 else None
    return SeriesData(
        vals,
        offsets,
        times,
        names,
        (),
        ids,
        "time",
        "id" if ids else None,
        freq,
        None,
        "<array>",
        DataReport(rows=int(offsets[-1])),
    )


# ----------------------------------------------------------------------------- reading


def read_frame(source: "str | Path | pd.DataFrame", sep: str | None = None) -> tuple["pd.DataFrame", str, bool]:
    """Read ``source`` into a DataFrame. Returns (frame, display name, is_file). ``sep`` is found
    from the header when None; in a file not separated by ``,``, text columns of numbers with a
    decimal comma ("1,5") are read as numbers; a file that is not UTF-8 is read as Windows-1252,
    else Latin-1."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):  # attrs["source"]: the file a frame was read from
        return source, str(source.attrs.get("source", "<DataFrame>")), False
    if not isinstance(source, (str, Path)):
        raise ConfigError(
            f"cannot read data from a {type(source).__name__}",
            "pass a path to a CSV or Parquet file, or a pandas DataFrame",
        )
    path = Path(source)
    name = str(source)
    if not path.exists():
        raise DataError(f"{name}: no such file", "check the path (it is relative to the current directory)")
    if path.is_dir():
        raise DataError(f"{name} is a directory, not a data file", "pass the path of a CSV or Parquet file inside it")
    if path.stat().st_size == 0:
        raise DataError(f"{name} is empty (0 bytes)", "pass a CSV with a header row and at least one data row")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path), name, True
        except ImportError as e:
            raise DataError(f"{name}: reading Parquet needs pyarrow", "pip install pyarrow") from e
        except Exception as e:  # pyarrow raises its own error types for damaged files
            raise DataError(f"{name} is not a readable Parquet file ({e})", "check the file or export it as CSV") from e
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls", ".ods"):
        raise DataError(
            f"{name} is a spreadsheet, not a CSV",
            "save the sheet as CSV (File > Save as), or read it with pandas.read_excel and pass the DataFrame",
        )
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if b"\x00" in head:
        raise DataError(f"{name} looks like a binary file, not a CSV", "pass a text CSV file (or a .parquet file)")
    encoding = _encoding(head)
    try:
        first_line = head.decode(encoding, errors="ignore").splitlines()[0]
    except IndexError:
        first_line = ""
    skip = 0
    if (hinted := re.fullmatch(r"\s*\"?sep=(.)\"?\s*", first_line)) is not None:  # Excel's "sep=;" line
        sep, skip = sep or hinted.group(1), 1
        lines = head.decode(encoding, errors="ignore").splitlines()
        first_line = lines[1] if len(lines) > 1 else ""
    if not first_line.strip():
        raise DataError(f"{name} has no header on its first line", "the first line must name the columns")
    if sep is None:
        counts = {c: first_line.count(c) for c in (",", ";", "\t", "|")}
        sep = max(counts, key=counts.get) if max(counts.values()) > 0 else ","
    df = _read_csv(path, name, sep, encoding, skip)
    if sep != ",":  # "1,5" in a ;-separated file: a decimal comma
        commas = _decimal_comma_columns(df)
        for c in commas:
            text = df[c].astype(str).str.strip()
            grouped = text.str.match(_GROUPED)  # 1.234,5: the dots group thousands
            text = text.where(~grouped, text.str.replace(".", "", regex=False))
            df[c] = pd.to_numeric(text.str.replace(",", ".", regex=False)).where(df[c].notna())
        if commas:  # where numbers have decimal commas, 6.811 beside them is 6811, not 6.811
            _thousands_dots(df, path, sep, df.attrs["tsrnn_encoding"], skip)
    else:  # "5,034.6" quoted in a ,-separated file: the commas group thousands
        for c in _decimal_comma_columns(df, _COMMA_GROUPED, _DOT_DECIMAL):
            df[c] = pd.to_numeric(df[c].astype(str).str.replace(",", "", regex=False)).where(df[c].notna())
    return df, name, True


_DOT_GROUPED = r"^\s*[+-]?(?:[1-9]\d{0,2}(?:\.\d{3})+|\d+)\s*$"  # 6.811, 12.000.000, 7


def _thousands_dots(df: "pd.DataFrame", path: Path, sep: str, encoding: str, skip: int) -> None:
    """In a file whose numbers have decimal commas, columns pandas read as dot decimals whose
    every value is a whole number with dots between groups of three digits (6.811, 1.234.567)
    are those whole numbers: converted in place. Their text is read again, for those columns only."""
    import pandas as pd

    def candidate(s: "pd.Series") -> bool:  # read as dot decimals with at most 3 places, none in (0, 1)
        if not (isinstance(s.dtype, np.dtype) and s.dtype.kind == "f"):
            return False
        v = np.abs(s.dropna().to_numpy())
        if not len(v) or ((v > 0) & (v < 1)).any():
            return False
        return bool(np.allclose(v * 1000, np.round(v * 1000), rtol=0, atol=1e-6))

    cols = [i for i, c in enumerate(df.columns) if candidate(df[c])]
    if not cols:
        return
    text = pd.read_csv(path, sep=sep, encoding=encoding, skipinitialspace=True, usecols=cols, dtype=str, skiprows=skip)
    for i, raw in zip(cols, text.columns):
        values = text[raw].dropna()
        if values.str.contains(".", regex=False).any() and values.str.match(_DOT_GROUPED).all():
            c = df.columns[i]
            df[c] = pd.to_numeric(text[raw].str.replace(".", "", regex=False)).where(df[c].notna())
            df.attrs.setdefault("tsrnn_warnings", []).append(
                f"column {c!r}: numbers such as {values[values.str.contains('.', regex=False)].iloc[0]} read as "
                "whole numbers with dots between thousands, as beside the file's decimal commas "
                "(write decimals with a comma to be read as decimals)"
            )


def _encoding(head: bytes) -> str:
    """UTF-8 (with or without a byte-order mark) if the first bytes are UTF-8, else Windows-1252,
    the encoding of spreadsheet CSV exports on Windows, or Latin-1 for the 5 bytes that it leaves
    undefined (Latin-1 reads any byte)."""
    try:
        head.decode("utf-8-sig")
        return "utf-8-sig"
    except UnicodeDecodeError as e:
        if e.start >= len(head) - 3 and e.reason == "unexpected end of data":  # a character cut at the end
            return "utf-8-sig"
    try:
        head.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _read_csv(path: Path, name: str, sep: str, encoding: str, skip: int = 0) -> "pd.DataFrame":
    """The CSV as a frame with stripped column names; a file that is UTF-8 only in its first bytes
    is read again as Windows-1252, then Latin-1 (see ``_encoding``)."""
    import pandas as pd

    try:
        df = pd.read_csv(path, sep=sep, encoding=encoding, skipinitialspace=True, skiprows=skip)
    except pd.errors.ParserError as e:
        raise DataError(
            f"{name}: rows do not match the header ({str(e).strip().removeprefix('Error tokenizing data. C error: ')})",
            "every row needs as many fields as the header has columns",
        ) from e
    except UnicodeDecodeError:  # Latin-1 reads any byte: the last fallback never gets here
        return _read_csv(path, name, sep, {"utf-8-sig": "cp1252", "cp1252": "latin-1"}[encoding], skip)
    except pd.errors.EmptyDataError as e:
        raise DataError(f"{name} has no columns", "the first line must name the columns") from e
    df.columns = [str(c).strip() for c in df.columns]
    df.attrs["tsrnn_encoding"] = encoding  # the one that read it, after any fallback
    return df


# 1,5 / -0,25 / 1.234,5 (dots between thousands) / 2,5e3, as spreadsheets in much of Europe write numbers
_GROUPED = r"^[+-]?\d{1,3}(?:\.\d{3})+(?:,|$)"
_DECIMAL_COMMA = r"^\s*[+-]?(?:\d{1,3}(?:\.\d{3})+|\d*),\d+(?:[eE][+-]?\d+)?\s*$"
_WHOLE = r"^\s*[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:[eE][+-]?\d+)?\s*$"  # mixed in: 7, 1.234, 1e3


def _is_text(s: "pd.Series") -> bool:
    """Whether pandas read ``s`` as text (object or string dtype)."""
    import pandas as pd

    return pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)


def _decimal_comma_columns(df: "pd.DataFrame", marked: str = _DECIMAL_COMMA, plain: str = _WHOLE) -> list[str]:
    """The text columns that hold only numbers written with a decimal comma (whole numbers may
    mix in, at least one has a comma), as spreadsheets in much of Europe save them; with other
    patterns, the columns whose values all match ``marked`` or ``plain``, at least one ``marked``."""
    found = []
    for c in df.columns:
        if _is_text(df[c]):
            values = df[c].dropna().astype(str)
            if not values.str.contains(",", regex=False).any():  # cheap, first: most text columns have none
                continue
            comma = values.str.match(marked)
            if comma.any() and (comma | values.str.match(plain)).all():
                found.append(c)
    return found


# "5,034.6" (quoted in a ,-separated file): commas between thousands, a dot before the decimals
_COMMA_GROUPED = r"^\s*[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?\s*$"
_DOT_DECIMAL = r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$"


def _rows(index: Sequence[Any], is_file: bool) -> str:
    """How a message names rows: file line numbers (header is line 1) or frame index labels."""
    shown = list(index[:_SHOW])
    more = f" and {len(index) - _SHOW} more" if len(index) > _SHOW else ""
    if is_file:
        return "line" + ("s " if len(index) > 1 else " ") + ", ".join(str(int(i) + 2) for i in shown) + more
    return "row" + ("s " if len(index) > 1 else " ") + ", ".join(repr(i) for i in shown) + more


def _no_such_column(kind: str, col: str, df: "pd.DataFrame", name: str, option: str) -> DataError:
    lower = {str(c).lower(): c for c in df.columns}
    close = [lower[m] for m in difflib.get_close_matches(col.lower(), list(lower), n=1)]
    hint = f"did you mean {close[0]!r}? " if close else ""
    return DataError(
        f"{name}: no column named {col!r} (the {kind}); columns are {list(df.columns)}",
        f"{hint}pass an existing column to {option}",
    )


# ----------------------------------------------------------------------------- columns


def _looks_like_time(s: "pd.Series") -> bool:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if not _is_text(s):
        return False
    sample = s.dropna().astype(str).head(50)
    if sample.empty or sample.str.fullmatch(r"[-+]?\d*\.?\d+(e[-+]?\d+)?", case=False).all():
        return False
    try:
        parsed = _to_datetime(sample)
    except (ValueError, TypeError):  # e.g. some times with a zone, some without
        return False
    return parsed.notna().mean() >= 0.8


_NUMERIC_DATE = r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](?:\d{4}|\d{2})\b"  # 31/12/2024, 12.31.24, 31-12-2024


def _to_datetime(s: "pd.Series", dayfirst: bool | None = None) -> "pd.Series":
    """Text as times (NaT where not a time). Times whose UTC offsets differ, as they do across a
    daylight-saving change (+02:00, then +01:00), are read as the instants they are, in UTC.
    Dates with the year last are read day first or month first, the same way for every row
    (``dayfirst``; None: as ``_date_order`` finds)."""
    import pandas as pd

    year_last = _year_last_rows(s)  # read apart: pandas' dayfirst also swaps ISO dates (2024-01-05 as 1 May)
    dayfirst = bool(_date_order(s, rows=year_last)[0] if dayfirst is None else dayfirst)

    def parse(**kw: Any) -> "pd.Series":
        if not year_last.any():
            return pd.to_datetime(s, errors="coerce", format="mixed", **kw)
        days = _year_last_times(s[year_last], dayfirst, **kw)
        if year_last.all():
            return days
        rest = pd.to_datetime(s[~year_last], errors="coerce", format="mixed", **kw)
        return pd.concat([rest, days]).reindex(s.index)

    try:
        return parse()
    except ValueError:
        text = s.dropna().astype(str).str.strip()
        if not text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$").all():
            raise  # some times have no offset: which zone they are in is unknown
        return parse(utc=True)


def _year_last_times(text: "pd.Series", dayfirst: bool, **kw: Any) -> "pd.Series":
    """Year-last dates as times: with the format of the first one where the rows share it (pandas'
    compiled parser), the rest row by row (dateutil, many times slower)."""
    import pandas as pd
    from pandas.tseries.api import guess_datetime_format

    def one_by_one(part: "pd.Series") -> "pd.Series":
        return pd.to_datetime(part, errors="coerce", format="mixed", dayfirst=dayfirst, **kw)

    fmt = guess_datetime_format(str(text.iloc[0]).strip(), dayfirst=dayfirst)
    if fmt is None:
        return one_by_one(text)
    out = pd.to_datetime(text, errors="coerce", format=fmt, **kw)
    missed = out.isna()
    return out if not missed.any() else out.where(~missed, one_by_one(text[missed]).reindex(text.index))


def _year_last_rows(s: "pd.Series") -> "pd.Series":
    """Which rows of text times are written with the year last (31/12/2024), as a boolean Series.
    ISO rows (2024-...) start with four digits: ruled out first, cheaply, before the pattern."""
    text = s.astype(str)
    rows = s.notna() & ~text.str.slice(0, 4).str.isdigit().fillna(False).astype(bool)
    if rows.any():
        rows[rows] = text[rows].str.match(_NUMERIC_DATE).fillna(False).astype(bool)
    return rows


def _date_order(s: "pd.Series", asked: bool | None = None, rows: "pd.Series | None" = None) -> tuple[bool | None, bool]:
    """(day first, ambiguous) for the dates of ``s`` written with the year last (day first None
    where there are none): parsed one by one, 01/02/2024 would be month first and 13/02/2024 day
    first in the same column. Day first where a first field exceeds 12 (month first where a second
    one does); where every date could be either, the reading that keeps the rows in time order,
    else month first (pandas' default), and ambiguous when both readings keep it or neither does
    (rows not yet sorted). ``asked``: the order to read them in (a ValueError where a field above
    12 shows the other). Rows written otherwise (2024-01-31) are left out: they are read as written.
    ``rows``: ``_year_last_rows(s)``, where the caller has it already."""

    rows = _year_last_rows(s) if rows is None else rows
    if not rows.any():
        return None, False
    text = s[rows].astype(str)
    fields = text.str.extract(_NUMERIC_DATE)
    first, second = fields[0].astype(int), fields[1].astype(int)
    if (first > 12).any() or (second > 12).any():
        if (first > 12).any() and (second > 12).any():
            raise ValueError("some dates have the day first and some the month first")
        found = bool((first > 12).any())
        if asked is not None and asked != found:
            example = text[(first > 12) if found else (second > 12)].iloc[0]
            raise _OrderError(f"dates such as {example} have the {'day' if found else 'month'} first")
        return found, False
    if asked is not None:
        return asked, False
    month_first = _year_last_times(text, False).is_monotonic_increasing
    day_first = _year_last_times(text, True).is_monotonic_increasing
    return (not month_first and day_first), (month_first == day_first and len(text) > 1)


class _OrderError(ValueError):
    """Dates whose fields show the other order than the one asked for."""


# Unix times in seconds, milliseconds, microseconds or nanoseconds from 1973 to 2128: the ranges
# do not overlap, so the unit is known from the values
_EPOCH_UNITS = (("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9))
_EPOCH_RANGE = (10**8, 5 * 10**9)


def _whole_numbers(s: "pd.Series") -> np.ndarray | None:
    """The values of a numeric column of whole numbers without gaps, else None."""
    if not isinstance(s.dtype, np.dtype) or s.dtype.kind not in "iuf" or s.isna().any() or len(s) == 0:
        return None
    v = s.to_numpy()
    return None if v.dtype.kind == "f" and not np.array_equal(v, np.round(v)) else v


def _epoch_unit(s: "pd.Series") -> str | None:
    """The unit of a numeric column of whole-number Unix times, or None if it is not one."""
    if (v := _whole_numbers(s)) is None:
        return None
    lo, hi = float(v.min()), float(v.max())
    for unit, scale in _EPOCH_UNITS:
        if _EPOCH_RANGE[0] * scale <= lo and hi <= _EPOCH_RANGE[1] * scale:
            return unit
    return None


def _number_date_format(s: "pd.Series") -> str | None:
    """The strptime format of a numeric column of dates written as whole numbers: "%Y%m%d"
    (20240131), "%Y" (years); None for other numbers. Both within the years nanosecond times
    hold, 1678 to 2261."""
    if (v := _whole_numbers(s)) is None:
        return None
    v = v.astype(np.int64)
    if ((v >= 1678) & (v <= 2261)).all():
        return "%Y"
    month, day = v // 100 % 100, v % 100
    if ((v >= 1678_01_01) & (v <= 2261_12_31) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)).all():
        return "%Y%m%d"
    return None


def _find_time_col(df: "pd.DataFrame", name: str, time_col: str | None) -> str:
    if time_col is not None:
        if time_col not in df.columns:
            raise _no_such_column("time column", time_col, df, name, "--time-col / time_col")
        return time_col
    found = [c for c in df.columns if _looks_like_time(df[c])]
    if not found:  # a time-named column whose values do not parse: let _parse_times name them
        found = [c for c in df.columns if c.lower() in TIME_NAMES and not _mostly_numeric(df[c])]
    if not found:  # a time-named column of Unix times, or of dates written as numbers (20240131)
        found = [
            c
            for c in df.columns
            if c.lower() in TIME_NAMES and (_epoch_unit(df[c]) is not None or _number_date_format(df[c]) is not None)
        ]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        named = [c for c in found if c.lower() in TIME_NAMES]
        if len(named) == 1:
            return named[0]
        raise ConfigError(
            f"{name}: several columns look like times: {found}",
            "name the time column with --time-col / time_col",
        )
    raise DataError(
        f"{name}: no column of dates or times found (columns: {list(df.columns)})",
        "add a time column, or name it with --time-col / time_col if it is there",
    )


def _parse_times(
    s: "pd.Series", col: str, name: str, is_file: bool, dayfirst: bool | None = None
) -> "pd.DatetimeIndex":
    import pandas as pd

    if s.dtype.kind == "M" or pd.api.types.is_datetime64_any_dtype(s):  # kind first: cheap, and the common case
        parsed = s
    elif (unit := _epoch_unit(s)) is not None:
        parsed = pd.to_datetime(s, unit=unit, utc=True)
    elif (fmt := _number_date_format(s)) is not None:
        parsed = pd.to_datetime(s.astype("int64").astype(str), format=fmt)
    elif (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)) and s.isna().any():
        bad = np.flatnonzero(s.isna().to_numpy())
        raise DataError(
            f"{name}: column {col!r} has {len(bad)} empty cell(s) ({_rows(s.index[bad], is_file)})",
            "fill or remove those rows: every row needs its time",
        )
    elif pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        vals = ", ".join(repr(v) for v in s.dropna().head(3).tolist())
        raise DataError(
            f"{name}: column {col!r} holds numbers that are not times ({vals}): numbers are read as times only "
            "when they are Unix times (seconds to nanoseconds since 1970), dates such as 20240131, or years "
            "(from 1678 to 2261)",
            "name the column of times with --time-col / time_col, or write its times as 2024-01-31 13:00",
        )
    else:
        try:
            parsed = _to_datetime(s, dayfirst)
        except (ValueError, TypeError) as e:  # e.g. mixed time zones
            raise _unreadable_times(name, col, e) from e
    index = pd.DatetimeIndex(parsed).as_unit("ns")
    bad = np.flatnonzero(index.isna())
    if len(bad):
        vals = ", ".join(repr(str(v)) for v in s.iloc[bad[:3]])
        raise DataError(
            f"{name}: column {col!r} has {len(bad)} value(s) that are not dates or times "
            f"({_rows(s.index[bad], is_file)}: {vals})",
            "fix or remove those rows; times look like 2024-01-31 or 2024-01-31 13:00:00",
        )
    return index


def _unreadable_times(name: str, col: str, e: Exception) -> DataError:
    return DataError(
        f"{name}: column {col!r} holds times that cannot be read together ({e})",
        "write every time in one format and one time zone",
    )


def time_column(frame: "pd.DataFrame", time_col: str | None = None, name: str = "<DataFrame>") -> str:
    """The column ``load_series`` reads ``frame``'s times from: ``time_col``, else the one date-like column."""
    return _find_time_col(frame, name, time_col)


def date_order(frame: "pd.DataFrame", time_col: str | None = None, name: str = "<DataFrame>") -> bool | None:
    """How ``load_series`` reads ``frame``'s dates written with the year last, as ``dayfirst``
    for a part of it (whose own dates may all be ambiguous): True day first, False month first;
    None where its times are written otherwise, could be either (read month first, with a
    warning), or cannot be read together (refused by ``load_series``, naming the rows)."""
    tcol = time_column(frame, time_col, name)
    if not _is_text(frame[tcol]):
        return None
    try:
        order, ambiguous = _date_order(frame[tcol])
    except ValueError:
        return None
    return None if ambiguous else order


def sort_rows(
    frame: "pd.DataFrame", time_col: str | None = None, name: str = "<DataFrame>", dayfirst: bool | None = None
) -> "pd.DataFrame":
    """``frame``'s rows in time order (rows of one time keep their order), as ``sort=True`` reads
    them: for a command that splits a file's rows before reading them."""
    tcol = time_column(frame, time_col, name)
    order = np.argsort(row_times(frame, tcol, name, dayfirst).asi8, kind="stable")
    out = frame.iloc[order].reset_index(drop=True)
    out.attrs = dict(frame.attrs)
    return out


def row_times(
    frame: "pd.DataFrame", time_col: str, name: str = "<DataFrame>", dayfirst: bool | None = None
) -> "pd.DatetimeIndex":
    """The times of ``frame``'s rows, read as ``load_series`` reads them (zoned times keep their zone)."""
    return _parse_times(frame[time_col], time_col, name, False, dayfirst)


def _numeric(df: "pd.DataFrame", col: str, name: str, is_file: bool, role: str) -> np.ndarray:
    """Column ``col`` as a float64 array (NaN where missing), or a DataError naming the first
    cells that are not numbers."""
    import pandas as pd

    s = df[col]
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "biuf":  # checked first: the common case, and cheap
        return s.to_numpy(dtype=np.float64)
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):  # nullable and other extension dtypes
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    coerced = pd.to_numeric(s, errors="coerce")
    bad = np.flatnonzero(coerced.isna().to_numpy() & s.notna().to_numpy())
    if not len(bad):  # text that holds numbers only
        return coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    vals = ", ".join(repr(str(v)) for v in s.iloc[bad[:3]])
    raise DataError(
        f"{name}: {role} column {col!r} holds {len(bad)} value(s) that are not numbers "
        f"({_rows(s.index[bad], is_file)}: {vals})",
        "fix those cells (leave a cell empty for a missing value), or choose other columns with --target",
    )


def _row_numbers(s: "pd.Series", name: object) -> bool:
    """Whether column ``name`` is a row index written out with the data: unnamed (pandas reads
    an empty header as "Unnamed: 0") or named index, and counting up by one."""
    named = isinstance(name, str) and (re.fullmatch(r"unnamed: \d+|index|", name.strip().lower()) is not None)
    if not named or len(s) < 2 or not (isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu"):
        return False
    return bool((np.diff(s.to_numpy()) == 1).all())


def _mostly_numeric(s: "pd.Series") -> bool:
    import pandas as pd

    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return True
    if not _is_text(s):
        return False
    nonnull = s.dropna()
    return len(nonnull) > 0 and pd.to_numeric(nonnull, errors="coerce").notna().mean() >= 0.5


# ----------------------------------------------------------------------------- frequency


def _step_and_gaps(t: "pd.DatetimeIndex", sid: str | None, name: str, where: str) -> tuple[Any, list[Gap]]:
    """The sampling step of one sorted series and its gaps; DataError for irregular steps (times
    off one grid, mixed frequencies), whose hint suggests a ``--resample`` frequency."""
    import pandas as pd

    if len(t) < 3:
        return None, []
    with warnings.catch_warnings():  # pandas 3.1 warns that infer_freq will return an offset; both work below
        warnings.filterwarnings("ignore", message=".*infer_freq.*")
        freq = pd.infer_freq(t)
    if freq is not None:
        return pd.tseries.frequencies.to_offset(freq), []
    diffs = pd.Series(np.diff(t.asi8))
    counts = diffs.value_counts()
    step = int(counts.index[0])
    day = 86_400_000_000_000
    if t.tz is not None and step % day == 0:
        # daily or longer steps in a zone: a DST change makes them 23 or 25 hours; use local time
        diffs = pd.Series(np.diff(t.tz_localize(None).asi8))
        counts = diffs.value_counts()
        step = int(counts.index[0])
    who = f" series {sid!r}" if sid is not None else ""
    off_grid = np.flatnonzero(diffs.to_numpy() % step != 0)
    if len(off_grid):
        i = int(off_grid[0])
        raise DataError(
            f"{name}{who}: times are not on one regular grid: the most common step is "
            f"{pd.Timedelta(step)}, but {t[i]} -> {t[i + 1]} is {pd.Timedelta(int(diffs[i]))} "
            f"({len(off_grid)} such steps)",
            _resample_hint(diffs.to_numpy()),
        )
    if len(counts) > 1 and counts.iloc[1] >= 0.2 * len(diffs):
        raise DataError(
            f"{name}{who}: mixed frequencies: {counts.iloc[0]} steps of {pd.Timedelta(step)} and "
            f"{counts.iloc[1]} steps of {pd.Timedelta(int(counts.index[1]))}",
            _resample_hint(diffs.to_numpy()),
        )
    gaps = [
        Gap(sid, str(t[i]), str(t[i + 1]), int(diffs[i] // step) - 1) for i in np.flatnonzero(diffs.to_numpy() != step)
    ]
    return _offset(step), gaps


_UNITS = (("D", 86_400_000_000_000), ("h", 3_600_000_000_000), ("min", 60_000_000_000), ("s", 1_000_000_000))


def suggest_frequency(steps_ns: np.ndarray) -> str:
    """A pandas frequency for irregular steps (ns): their median rounded to a whole unit, e.g. '5min'."""
    median = float(np.median(steps_ns))
    for unit, ns in _UNITS:
        if median >= ns:
            return f"{max(1, round(median / ns))}{unit}"
    return f"{max(1, round(median / 1e6))}ms"


def _resample_hint(steps_ns: np.ndarray) -> str:
    freq = suggest_frequency(steps_ns)
    return (
        f"put the rows on a regular grid with --resample {freq} (the median step; rows within a step "
        "are averaged, --agg last|first|sum|max|min to combine them otherwise)"
    )


def _offset(step_ns: int) -> Any:
    """A pandas offset for a fixed step: whole days as 'D' (as infer_freq names them), else a Timedelta."""
    import pandas as pd

    day = 86_400_000_000_000
    if step_ns % day == 0:
        return pd.tseries.frequencies.to_offset(f"{step_ns // day}D")
    return pd.tseries.frequencies.to_offset(pd.Timedelta(step_ns))


# ----------------------------------------------------------------------------- main entry


def load_series(
    source: "str | Path | pd.DataFrame",
    *,
    time_col: str | None = None,
    target: str | Sequence[str] | None = None,
    covariates: Sequence[str] | None = None,
    id_col: str | None = None,
    fill: str = "error",
    sort: bool = False,
    duplicates: str = "error",
    resample: str | None = None,
    agg: str = "mean",
    dayfirst: bool | None = None,
    sep: str | None = None,
    source_name: str | None = None,
) -> SeriesData:
    """Read and validate ``source``; see the module docstring.

    ``target``: a column name or names (default: every numeric column that is not the time, id
    or a covariate). ``fill``: what to do with NaN/inf (values beyond float32's range, such as
    1e300, count as inf) and with gaps in the time grid: "error" (default) raises naming the
    column and rows; "ffill", "interpolate" (linear in time) or
    "zero" fill NaN/inf, and also insert the missing timestamps of gaps and fill them.
    ``sort``: sort rows by time instead of refusing unsorted input.
    ``duplicates``: rows with the same timestamp (within a series): "error" (default) refuses
    them; "first", "last" keep that row of each timestamp, "mean" averages them (NaN skipped).
    ``resample``: a pandas frequency ("5min", "1h", "1D"): every series is put on that regular
    grid, bins labelled by their left edge from the series' first time floored to the frequency;
    the rows within a bin are combined by ``agg`` ("mean", "last", "first", "sum", "max", "min";
    NaN skipped), and empty bins are gaps, left out and reported, or inserted and filled by
    ``fill``. It mends times off the grid (jitter) and irregular steps, and combines duplicates.
    ``dayfirst``: how to read times written with the year last (31/12/2024, 01/02/2024): day
    first (True) or month first (False); None (default): as the data show (a field above 12 decides;
    ambiguous dates are read month first with a warning); an order asked for that a field above
    12 contradicts is refused. The choice is ``report.dayfirst``;
    estimators read new data as they read their fit data.
    ``source_name``: how messages name a DataFrame source (e.g. the file it was read from).
    """
    import pandas as pd

    check_choice("fill policy", fill, FILL_POLICIES)
    check_choice(
        "duplicates policy", duplicates, DUPLICATE_POLICIES, hint=f"pass --duplicates {'|'.join(DUPLICATE_POLICIES)}"
    )
    check_choice("agg", agg, AGGREGATIONS, hint=f"pass --agg {'|'.join(AGGREGATIONS)}")
    if not (dayfirst is None or isinstance(dayfirst, bool)):
        raise ConfigError(
            f"dayfirst must be True, False or None, got {dayfirst!r}", "pass dayfirst=True for 31/12/2024"
        )
    offset = None
    if resample is not None:
        offset = pd.tseries.frequencies.to_offset(check_frequency("--resample", resample))
    elif agg != "mean":
        raise ConfigError(
            f"--agg {agg} has no effect without --resample (it combines the rows within a resampled step)",
            "pass --resample FREQ too, e.g. --resample 5min, or leave --agg at mean",
        )
    df, name, is_file = read_frame(source, sep)
    if source_name is not None:
        name = source_name
    if len(df.columns) == 0 or len(df) == 0:
        raise DataError(f"{name} has a header but no data rows", "add rows of data below the header")
    tcol = _find_time_col(df, name, time_col)
    if id_col is not None and id_col not in df.columns:
        raise _no_such_column("id column", id_col, df, name, "--id-col / id_col")
    if id_col == tcol:
        raise ConfigError(f"the id column and the time column are both {tcol!r}", "name two different columns")
    covariates = list(covariates or [])
    reserved = {tcol, id_col}
    for c in covariates:
        if c not in df.columns:
            raise _no_such_column("covariate", c, df, name, "--covariate / covariates")
        if c in reserved:
            raise ConfigError(f"{c!r} is the time or id column and cannot be a covariate", "choose a value column")
    report = DataReport(rows=len(df))
    report.warnings.extend(df.attrs.get("tsrnn_warnings", []))  # read_frame's (e.g. thousands dots)
    if target is not None:
        targets = [target] if isinstance(target, str) else list(target)
        if not targets:
            raise ConfigError("the target list is empty", "name at least one column with --target")
        for c in targets:
            if c not in df.columns:
                raise _no_such_column("target", c, df, name, "--target / target")
            if c in reserved:
                raise ConfigError(f"{c!r} is the time or id column and cannot be a target", "choose a value column")
            if c in covariates:
                raise ConfigError(f"{c!r} is both a target and a covariate", "use it as one or the other")
        if len(set(targets)) != len(targets):
            raise ConfigError(f"a target is named twice in {targets}", "name each target once")
    else:
        rest = [c for c in df.columns if c not in reserved and c not in covariates]
        numbering = [c for c in rest if _row_numbers(df[c], c)]
        targets = [c for c in rest if _mostly_numeric(df[c]) and c not in numbering]
        report.ignored_columns = [c for c in rest if c not in targets]
        for c in numbering:
            report.warnings.append(
                f"column {c!r} numbers the rows ({df[c].iloc[0]}, {df[c].iloc[1]}, ...), as pandas' to_csv "
                "writes its index: left out (name it with --target to model it)"
            )
        if not targets:
            raise DataError(
                f"{name}: no numeric column to forecast (columns: {list(df.columns)})",
                f"{numbering[0]!r} numbers the rows and is left out: name it with --target to model it"
                if numbering
                else "tsrnn needs at least one column of numbers besides the time",
            )
    cols = targets + covariates
    vals = np.column_stack([_numeric(df, c, name, is_file, "target" if c in targets else "covariate") for c in cols])
    order, ambiguous = None, False
    if _is_text(df[tcol]):  # text times only
        try:
            order, ambiguous = _date_order(df[tcol], dayfirst)
        except _OrderError as e:  # the order asked for (or a model's fit data's) is not the data's
            asked = "day" if dayfirst else "month"
            raise DataError(
                f"{name}: column {tcol!r}: {e}, but they are to be read with the {asked} first "
                f"(--{asked}-first / dayfirst={dayfirst}, or a model fitted on dates read that way)",
                f"pass --{'month' if dayfirst else 'day'}-first (dayfirst={not dayfirst}), or write the dates "
                "as 2024-01-31; a fitted model reads new data as it read its fit data: refit it",
            ) from e
        except ValueError as e:  # day first and month first in one column
            raise _unreadable_times(name, tcol, e) from e
    # found once, not again inside (times written otherwise read as asked)
    times = _parse_times(df[tcol], tcol, name, is_file, order if order is not None else bool(dayfirst))
    report.dayfirst = order
    if ambiguous:
        report.warnings.append(
            f"column {tcol!r}: dates such as {df[tcol].iloc[0]} could have the day or the month first; "
            "read with the month first (if they are day first, pass --day-first / dayfirst=True to fit, "
            "detect or inspect, since a fitted model reads new dates as it read its fit data; "
            "written as 2024-01-31 they are sure)"
        )
    tz = str(times.tz) if times.tz is not None else None
    # a zoned index stays zoned through the checks: order and duplicates compare instants (asi8 is
    # UTC), infer_freq reads steps in local time, and messages and gaps show local times

    if id_col is not None:
        if df[id_col].isna().any():
            missing = np.flatnonzero(df[id_col].isna().to_numpy())
            raise DataError(
                f"{name}: {len(missing)} row(s) have no series id in column {id_col!r} ({_rows(df.index[missing], is_file)})",
                "give every row its series id, or remove those rows",
            )
        groups, codes = _group_codes(df[id_col])
        sizes = np.bincount(codes, minlength=len(groups))
        # rows grouped by series, each series' rows in their own order (None: they already are)
        order = None if (np.diff(codes) >= 0).all() else np.argsort(codes, kind="stable")
    else:
        groups, sizes, order = [None], np.array([len(df)]), None

    # the common case, checked for all series at once, has nothing to repair or report
    fast = _clean_regular(times, vals, order, sizes) if offset is None and tz is None else None
    row_sets = np.split(np.arange(len(df)) if order is None else order, np.cumsum(sizes)[:-1]) if fast is None else []
    numeric = pd.DataFrame(vals, columns=cols, index=df.index) if fast is None else None
    arrays, time_arrays, freqs = [], [], []
    combined = 0  # rows resampled into a step that already had one
    for sid, rows in zip(groups, row_sets):
        t = times[rows]
        block = numeric.iloc[rows]
        labels = df.index[rows]
        who = f" series {sid!r}:" if sid is not None else ""
        if not t.is_monotonic_increasing:
            if not sort:
                i = int(np.flatnonzero(np.diff(t.asi8) < 0)[0])
                raise DataError(
                    f"{name}:{who} rows are not in time order: {t[i + 1]} "
                    f"({_rows(block.index[i + 1 : i + 2], is_file)}) comes after {t[i]}",
                    "sort the rows by time, or pass --sort / sort=True",
                )
            order = np.argsort(t.asi8, kind="stable")
            t, block, labels = t[order], block.iloc[order], labels[order]
            report.sorted_rows = True
        dup = np.flatnonzero(np.diff(t.asi8) == 0)
        if len(dup) and duplicates == "error" and offset is None:
            raise DataError(
                f"{name}:{who} {len(dup)} duplicate timestamp(s), first {t[dup[0]]} "
                f"({_rows(block.index[dup[:1]].append(block.index[dup[:1] + 1]), is_file)})",
                "collapse duplicate timestamps (clock changes for daylight saving repeat an hour) with "
                "--duplicates first|last|mean, or --resample FREQ"
                + ("" if id_col else "; if the file holds several series, pass --id-col"),
            )
        if len(dup) and duplicates != "error":
            n = len(t)
            t, block, labels = _collapse(t, block, labels, duplicates)
            report.collapsed_rows += n - len(t)
        block = block.set_axis(t)
        if offset is not None:
            n_in = len(block)
            block, gaps, inserted = _resample(block, offset, agg, fill, sid)
            combined += n_in - (len(block) - inserted)
            t, labels, step = block.index, None, offset
            report.filled_gap_rows += inserted
            report.gaps.extend(gaps)
        else:
            step, gaps = _step_and_gaps(t, sid, name, who)
            if gaps and fill != "error":
                grid = pd.date_range(t[0], t[-1], freq=step).as_unit("ns")
                report.filled_gap_rows += len(grid) - len(t)
                block = block.reindex(grid)
                t = grid
            else:
                report.gaps.extend(gaps)
        freqs.append(step)
        block = _check_missing(block, fill, name, is_file, sid, report, labels)
        arrays.append(block.to_numpy(dtype=np.float32))
        time_arrays.append(t.asi8)

    known = {f.freqstr: f for f in freqs if f is not None}
    if len(known) > 1:
        coarsest = max(known, key=lambda f: pd.Timestamp("2000-01-01") + known[f])
        raise DataError(
            f"{name}: the series have different frequencies ({sorted(known)})",
            f"put every series on one grid with --resample FREQ, e.g. --resample {coarsest} (the coarsest)",
        )
    if fast is None:
        values = np.ascontiguousarray(np.concatenate(arrays) if len(arrays) > 1 else arrays[0])
        time_ns = np.concatenate(time_arrays)
    else:
        values, time_ns, freqs = fast
    lengths = sizes if fast is not None else [len(a) for a in arrays]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    firsts = np.repeat(values[offsets[:-1][np.diff(offsets) > 0]], [n for n in lengths if n], axis=0)  # (rows, C)
    for c in np.flatnonzero((values == firsts).all(axis=0)):  # not ptp: it overflows near float32 max
        report.constant_columns.append(cols[c])
    if report.collapsed_rows:
        kept = {"first": "the first row", "last": "the last row", "mean": "the mean"}[duplicates]
        report.warnings.append(
            f"{report.collapsed_rows} row(s) repeated a timestamp and were collapsed, keeping {kept} of each "
            f"timestamp (--duplicates {duplicates})"
        )
    if offset is not None:
        report.resampled = {"frequency": offset.freqstr, "agg": agg, "bins": len(values), "combined_rows": combined}
    if report.constant_columns:
        report.warnings.append(f"constant column(s) {report.constant_columns}: they carry no information")
    if report.gaps:
        report.warnings.append(
            f"{len(report.gaps)} gap(s) in the time grid ({sum(g.missing for g in report.gaps)} missing steps); "
            "windows treat the rows around a gap as consecutive (pass --fill to insert and fill them)"
        )
    freq = next((f.freqstr for f in freqs if f is not None), None)
    ids = tuple(str(g) for g in groups) if id_col is not None else None
    return SeriesData(
        values,
        offsets,
        time_ns.view("datetime64[ns]"),
        tuple(targets),
        tuple(covariates),
        ids,
        tcol,
        id_col,
        freq,
        tz,
        name,
        report,
    )


def last_rows(frame: "pd.DataFrame", time_col: str, id_col: str | None, rows: int) -> "pd.DataFrame":
    """The last ``rows`` rows of each series of ``frame`` (all of a shorter one), for a reader
    that uses no more, such as a forecast from the latest window: what ``load_series`` then
    checks is those rows only, so a long history costs one pass over the id and time columns.

    Each series' other rows must come before its last ``rows`` in time; where one does not (the
    frame is not in time order) or the series' rows are not contiguous, ``frame`` is returned
    whole, for ``load_series`` to refuse or sort it. Only for data loaded without repairs
    (fill, duplicates and resample at their defaults): a repair could change which rows are last.
    """
    import pandas as pd

    if id_col is None:
        sizes = np.array([len(frame)])
    else:
        codes, _ = pd.factorize(frame[id_col], sort=False, use_na_sentinel=False)
        if not (codes[1:] >= codes[:-1]).all():  # one series' rows are not together
            return frame
        sizes = np.bincount(codes)
    if sizes.max() <= rows:
        return frame
    times = frame[time_col]
    if not pd.api.types.is_datetime64_any_dtype(times):
        return frame  # text times: load_series parses and checks all of them
    t = pd.DatetimeIndex(times).asi8  # (n_rows,) no copy; zoned times as UTC instants
    ends = np.cumsum(sizes)
    tails = ends - np.minimum(sizes, rows)  # first kept row of each series
    long = sizes > rows
    bounds = np.stack([ends - sizes, tails], axis=1)[long].ravel()  # [start, tail) of each long series
    head_max = np.maximum.reduceat(t, bounds)[::2]  # the latest time before each tail
    if not (head_max < t[tails[long]]).all():
        return frame
    kept = ends - tails  # (n_series,) rows kept of each series
    keep = np.arange(kept.sum()) + np.repeat(tails - (np.cumsum(kept) - kept), kept)  # (kept rows,) in order
    return frame.iloc[keep]


def _group_codes(ids: "pd.Series") -> tuple[list[str], np.ndarray]:
    """The distinct ids of a column as text, in order of first appearance, and each row's series
    number (n_rows,). Hashes the column once (ids of any dtype), then turns only the distinct
    values into text; values that become the same text (1 and "1") are one series, as before."""
    import pandas as pd

    codes, uniques = pd.factorize(ids, sort=False, use_na_sentinel=False)
    names = [str(u) for u in uniques]
    if len(set(names)) < len(names):  # distinct values with the same text: group by the text
        codes, uniques = pd.factorize(ids.astype(str), sort=False, use_na_sentinel=False)
        names = [str(u) for u in uniques]
    return names, codes.astype(np.int64)


def _clean_regular(
    times: "pd.DatetimeIndex", vals: np.ndarray, order: np.ndarray | None, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[Any]] | None:
    """(values (n_rows, C) float32, times (n_rows,) int64 ns, [step]) of every series at once from
    ``vals`` (n_rows, C) float64, rows
    grouped by series by ``order`` (None: already grouped; ``sizes``: rows per series), when there
    is nothing to sort, collapse, fill or report: every series sorted with one step (a day or less)
    and no gaps, at least 3 rows, every value finite and within float32. None otherwise: the
    series-by-series path then finds and names the problem (or the calendar frequency)."""
    if sizes.min() < 3:
        return None
    t = times.asi8 if order is None else times.asi8[order]  # (n_rows,)
    steps = np.diff(t)
    step = int(steps[0])
    off = np.flatnonzero(steps != step)  # allowed only where one series ends and the next begins
    if not 0 < step <= 86_400_000_000_000 or not np.isin(off, np.cumsum(sizes)[:-1] - 1).all():
        return None
    if not (vals.max() <= _FLOAT32_MAX and vals.min() >= -_FLOAT32_MAX):  # NaN, inf or beyond float32
        return None
    values = np.ascontiguousarray(vals if order is None else vals[order], dtype=np.float32)
    return values, t, [_regular_freq(step)] * len(sizes)


@functools.lru_cache(maxsize=64)
def _regular_freq(step_ns: int) -> Any:
    """infer_freq's offset for times (without a zone) at one fixed step of a day or less, e.g.
    "h": a function of the step alone, so worked out once per step (a stream's every chunk asks)."""
    import pandas as pd

    grid = pd.DatetimeIndex(np.arange(3, dtype=np.int64) * step_ns + pd.Timestamp("2000-01-03").value)
    return _step_and_gaps(grid, None, "", "")[0]


def _collapse(t: "pd.DatetimeIndex", block: "pd.DataFrame", labels: Any, how: str) -> tuple[Any, Any, Any]:
    """One row per timestamp of a sorted series: the first or last row of each, or their mean."""
    if how == "mean":
        first = ~t.duplicated(keep="first")
        means = block.set_axis(t).groupby(level=0, sort=False).mean()
        return t[first], means.set_axis(block.index[first]), labels[first]
    keep = ~t.duplicated(keep=how)
    return t[keep], block.iloc[keep], labels[keep]


def _resample(block: "pd.DataFrame", offset: Any, agg: str, fill: str, sid: str | None) -> tuple[Any, list[Gap], int]:
    """``block`` (indexed by its sorted times) on the regular grid of ``offset``: bins labelled by
    their left edge, starting at the first time floored to the frequency, the rows in each combined
    by ``agg``. Empty bins are left out and returned as gaps (``fill="error"``), else kept as NaN
    rows for the fill policy. Returns (block, gaps, inserted rows)."""
    first = block.index[0]
    try:  # calendar frequencies (MS, W) have no floor: pandas starts them at their own boundaries
        origin: Any = first.floor(offset, ambiguous=bool(first.dst()), nonexistent="shift_backward")
    except ValueError:
        origin = "start_day"
    bins = block.resample(offset, label="left", closed="left", origin=origin)
    rows = bins.size().to_numpy()
    out = bins.sum(min_count=1) if agg == "sum" else getattr(bins, agg)()
    out.index = out.index.as_unit("ns")
    empty = rows == 0
    if fill != "error" or not empty.any():
        return out, [], int(empty.sum())
    kept = np.flatnonzero(~empty)
    t = out.index
    gaps = [
        Gap(sid, str(t[kept[i]]), str(t[kept[i + 1]]), int(kept[i + 1] - kept[i]) - 1)
        for i in np.flatnonzero(np.diff(kept) > 1)
    ]
    return out.iloc[kept], gaps, 0


def _check_missing(
    block: "pd.DataFrame", fill: str, name: str, is_file: bool, sid: str | None, report: DataReport, labels: Any
) -> "pd.DataFrame":
    """Refuse NaN, inf and values beyond float32's range (they would become inf when stored), or
    fill them as ``fill`` says; the report counts values beyond the range as inf."""
    arr = block.to_numpy(dtype=np.float64)
    nan, inf = np.isnan(arr), np.isinf(arr)
    with np.errstate(invalid="ignore"):
        big = np.isfinite(arr) & (np.abs(arr) > _FLOAT32_MAX)
    if not (nan.any() or inf.any() or big.any()):
        return block
    who = f" series {sid!r}," if sid is not None else ""
    for c, col in enumerate(block.columns):
        n_nan, n_inf, n_big = int(nan[:, c].sum()), int(inf[:, c].sum()), int(big[:, c].sum())
        if n_nan or n_inf or n_big:
            m = report.missing.setdefault(col, {"nan": 0, "inf": 0})
            m["nan"] += n_nan
            m["inf"] += n_inf + n_big
            if fill == "error":
                bad = np.flatnonzero(nan[:, c] | inf[:, c] | big[:, c])
                at = (
                    _rows(labels[bad[bad < len(labels)]], is_file)
                    if labels is not None and len(labels) == len(block)
                    else "at times " + ", ".join(str(block.index[i]) for i in bad[:_SHOW])
                )
                words = [k for k, n in (("missing (NaN)", n_nan), ("infinite", n_inf), ("out-of-range", n_big)) if n]
                kinds = " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)
                if n_big:
                    first = arr[np.flatnonzero(big[:, c])[0], c]
                    kinds += (
                        f" value(s) (larger in magnitude than float32's maximum {_FLOAT32_MAX:.4g}, such as {first:g})"
                    )
                else:
                    kinds += " value(s)"
                if n_nan == len(block) > 1:  # no fill can help (a one-row chunk's NaN is just missing)
                    raise DataError(
                        f"{name}:{who} column {col!r} has no values at all",
                        "name the columns to use with --target / target (tsrnn detect can also leave it out: --exclude)",
                    )
                raise DataError(
                    f"{name}:{who} column {col!r} has {n_nan + n_inf + n_big} {kinds}, at {at}",
                    "fix them, or choose a fill policy: --fill ffill|interpolate|zero",
                )
    block = block.mask(inf | big)  # filled below as NaN is
    if fill == "ffill":
        block = block.ffill().bfill()  # leading NaNs take the first observed value
    elif fill == "interpolate":
        block = block.interpolate(method="time", limit_direction="both")
    else:
        block = block.fillna(0.0)
    if block.isna().any().any():
        empty = [c for c in block.columns if block[c].isna().all()]
        raise DataError(
            f"{name}:{who} column(s) {empty} have no values at all",
            "name the columns to use with --target / target (tsrnn detect can also leave them out: --exclude)",
        )
    report.filled = fill
    return block


def describe(data: SeriesData) -> dict[str, Any]:
    """A JSON-able summary of what was loaded (for `tsrnn inspect`, tracking and logs)."""
    import pandas as pd

    r = data.report or DataReport(rows=data.n_rows)
    start = pd.Timestamp(data.times.min()) if data.n_rows else None
    end = pd.Timestamp(data.times.max()) if data.n_rows else None
    if data.tz and data.n_rows:  # times are stored in UTC
        start, end = (x.tz_localize("UTC").tz_convert(data.tz) for x in (start, end))
    return {
        "source": data.source,
        "rows": data.n_rows,
        "time_column": data.time_col,
        "start": str(start),
        "end": str(end),
        "timezone": data.tz,
        "frequency": data.freq,
        "series": data.n_series,
        "id_column": data.id_col,
        "series_ids": list(data.ids[:20]) if data.ids else None,
        "series_lengths": {"min": int(data.lengths.min()), "max": int(data.lengths.max())},
        "targets": list(data.targets),
        "covariates": list(data.covariates),
        "ignored_columns": r.ignored_columns,
        "constant_columns": r.constant_columns,
        "missing": r.missing,
        "filled": r.filled,
        "filled_gap_rows": r.filled_gap_rows,
        "sorted_rows": r.sorted_rows,
        "collapsed_rows": r.collapsed_rows,
        "resampled": r.resampled,
        "gaps": {
            "count": len(r.gaps),
            "missing_steps": sum(g.missing for g in r.gaps),
            "first": [vars(g) for g in r.gaps[:5]],
        },
        "warnings": r.warnings,
        "content_hash": data.content_hash(),
    }
