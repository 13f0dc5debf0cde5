"""tsrnn.data: load_series on DataFrames and small files, the report, describe() and from_arrays."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from tsrnn.data import (
    AGGREGATIONS,
    DUPLICATE_POLICIES,
    FILL_POLICIES,
    _date_order,
    date_order,
    describe,
    from_arrays,
    load_series,
    read_frame,
    row_times,
)
from tsrnn.errors import ConfigError, DataError


def frame(n: int = 48, freq: str = "h", start: str = "2024-01-01", **cols) -> pd.DataFrame:
    """A frame with a ``time`` column and the given columns (default: load = 0..n-1)."""
    cols = cols or {"load": np.arange(n, dtype=float)}
    return pd.DataFrame({"time": pd.date_range(start, periods=n, freq=freq), **cols})


# ----------------------------------------------------------------------------- columns


def test_time_column_is_found_by_its_content() -> None:
    df = pd.DataFrame({"load": [1.0, 2, 3, 4], "when": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]})
    d = load_series(df)
    assert d.time_col == "when"
    assert d.targets == ("load",)
    assert d.freq == "D"
    assert d.times[0] == np.datetime64("2024-01-01T00:00:00", "ns")


def test_explicit_time_col_chooses_among_several_time_like_columns() -> None:
    t = pd.date_range("2024-01-01", periods=10, freq="h")
    df = pd.DataFrame({"start": t, "stop": t + pd.Timedelta("30min"), "load": np.arange(10.0)})
    with pytest.raises(ConfigError, match=r"several columns look like times: \['start', 'stop'\]"):
        load_series(df)
    d = load_series(df, time_col="stop")
    assert d.time_col == "stop"
    assert d.times[0] == np.datetime64("2024-01-01T00:30:00", "ns")
    assert d.report.ignored_columns == ["start"]  # the other time column is not a target


def test_a_column_named_like_time_wins_over_other_dates() -> None:
    t = pd.date_range("2024-01-01", periods=10, freq="h")
    d = load_series(pd.DataFrame({"created": t - pd.Timedelta("1D"), "timestamp": t, "load": np.arange(10.0)}))
    assert d.time_col == "timestamp"


def test_unknown_time_col_suggests_the_right_one() -> None:
    with pytest.raises(DataError, match=r"no column named 'Time'.*\n.*did you mean 'time'"):
        load_series(frame(), time_col="Time")


def test_targets_default_to_numeric_columns_and_text_is_reported() -> None:
    df = frame(load=np.arange(48.0), city=["Oslo"] * 48, temp=np.arange(48) % 5, ok=[True, False] * 24)
    d = load_series(df)
    assert d.targets == ("load", "temp")
    assert d.report.ignored_columns == ["city", "ok"]  # booleans are not forecast unless asked for
    assert d.values[:, 1].tolist() == (np.arange(48) % 5).astype(np.float32).tolist()
    d = load_series(df, target=["load", "ok"])
    assert d.values[:2, 1].tolist() == [1.0, 0.0]


def test_nullable_and_text_columns_read_as_numbers() -> None:
    """pandas' extension dtypes (nullable ints and booleans, Float64) and text holding numbers are
    read as float, NA as a missing value the fill policy sees."""
    df = frame(
        8,
        i=pd.array([1, 2, None, 4, 5, 6, 7, 8], dtype="Int64"),
        f=pd.array([0.5] * 8, dtype="Float64"),
        b=pd.array([True, False, None, True, True, False, True, False], dtype="boolean"),
        s=[str(v) for v in range(8)],
    )
    with pytest.raises(DataError, match=r"column 'i' has 1 missing \(NaN\) value"):
        load_series(df, target=["i", "f", "b", "s"])
    d = load_series(df, target=["i", "f", "b", "s"], fill="ffill")
    np.testing.assert_array_equal(d.values[:4], [[1, 0.5, 1, 0], [2, 0.5, 0, 1], [2, 0.5, 0, 2], [4, 0.5, 1, 3]])


def test_decimal_commas_in_a_semicolon_file_are_numbers(tmp_path) -> None:
    """A spreadsheet's European CSV (";" between fields, "," before the decimals) reads as numbers,
    whole numbers and exponents mixed in; a comma-separated file is read as it is."""
    rows = [f"2024-01-01 {h:02d}:00;{h},5;{'-0,25' if h % 2 else f'{h}e0'};1e{h % 3}" for h in range(24)]
    path = tmp_path / "euro.csv"
    path.write_text("time;load;temp;flow\n" + "\n".join(rows) + "\n")
    d = load_series(path)
    assert d.targets == ("load", "temp", "flow")
    np.testing.assert_allclose(d.values[:3], [[0.5, 0, 1], [1.5, -0.25, 10], [2.5, 2, 100]])
    quoted = tmp_path / "quoted.csv"  # a comma inside a quoted field of a comma-separated file is text
    quoted.write_text("time,load,note\n" + "".join(f'2024-01-01 {h:02d}:00,{h},"1,5"\n' for h in range(24)))
    d = load_series(quoted)
    assert d.targets == ("load",)


@pytest.mark.parametrize("fmt", ["%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y %H:%M", "%d-%m-%y"])
def test_dates_with_the_year_last_are_read_one_way_for_every_row(fmt: str) -> None:
    """Read one by one, 01/02/2024 would be month first and 13/02/2024 day first in one column;
    a field above 12 decides the order for every row."""
    t = pd.date_range("2024-01-01", periods=40, freq="D")
    d = load_series(pd.DataFrame({"time": t.strftime(fmt), "load": np.arange(40.0)}))
    assert d.freq == "D" and d.series_times(0).equals(pd.DatetimeIndex(t))
    assert not d.report.warnings


def test_dates_that_could_be_either_way_are_read_month_first_with_a_warning() -> None:
    t = pd.date_range("2024-01-01", periods=10, freq="D")  # 01/01/2024 .. 10/01/2024: day or month first?
    d = load_series(pd.DataFrame({"time": t.strftime("%d/%m/%Y"), "load": np.arange(10.0)}))
    assert d.series_times(0)[1] == pd.Timestamp("2024-02-01")
    assert any(
        "could have the day or the month first" in w and "--day-first" in w and "2024-01-31" in w
        for w in d.report.warnings
    )
    # where only the day-first reading is in time order (5 Jan, 3 Feb, 1 Mar), it is the one
    assert _date_order(pd.Series(["05/01/2024", "03/02/2024", "01/03/2024"])) == (True, False)


def test_dayfirst_reads_dates_that_could_be_either_way_as_asked() -> None:
    t = pd.date_range("2024-01-01", periods=10, freq="D")
    df = pd.DataFrame({"time": t.strftime("%d/%m/%Y"), "load": np.arange(10.0)})
    d = load_series(df, dayfirst=True)
    assert d.series_times(0).equals(pd.DatetimeIndex(t)) and d.report.dayfirst is True and not d.report.warnings
    assert load_series(df).report.dayfirst is False  # found: month first (with the warning above)
    iso = pd.DataFrame({"time": t.strftime("%Y-%m-%d"), "load": np.arange(10.0)})
    assert load_series(iso, dayfirst=True).report.dayfirst is None  # ISO dates: nothing to choose


def test_an_order_the_dates_contradict_is_refused_with_the_other_named() -> None:
    df = pd.DataFrame({"time": ["11/02/2024", "12/02/2024", "13/02/2024"], "load": [1.0, 2, 3]})
    with pytest.raises(DataError, match="such as 13/02/2024 have the day first.*month first") as e:
        load_series(df, dayfirst=False)
    assert "--day-first" in e.value.hint
    assert load_series(df, dayfirst=True).series_times(0)[0] == pd.Timestamp("2024-02-11")
    with pytest.raises(ConfigError, match="dayfirst must be True, False or None"):
        load_series(df, dayfirst="yes")  # type: ignore[arg-type]


def test_date_order_of_a_whole_file_for_a_part_of_it() -> None:
    t = pd.date_range("2024-01-01", periods=40, freq="D")
    whole = pd.DataFrame({"time": t.strftime("%d/%m/%Y"), "load": np.arange(40.0)})
    assert date_order(whole) is True and date_order(whole.iloc[:10]) is None  # the part could be either
    assert load_series(whole.iloc[:10], dayfirst=date_order(whole)).series_times(0).equals(t[:10])
    assert date_order(whole.assign(time=t)) is None  # times, not text: nothing to choose
    assert date_order(whole.assign(time=t.strftime("%Y-%m-%d"))) is None


@pytest.mark.parametrize("dayfirst", [None, True])
def test_a_column_mixing_iso_and_day_first_dates_reads_each_as_written(dayfirst) -> None:
    """pandas' dayfirst would also swap the ISO rows (2024-01-05 as 1 May); only the year-last
    rows are read day first, whether the order is found (13/06/2024) or asked for."""
    d = pd.date_range("2024-01-01", periods=300, freq="D")
    mixed = list(d[:150].strftime("%Y-%m-%d")) + list(d[150:].strftime("%d/%m/%Y"))
    got = load_series(pd.DataFrame({"date": mixed, "y": np.arange(300.0)}), dayfirst=dayfirst)
    assert got.series_times(0).equals(pd.DatetimeIndex(d)) and got.freq == "D"


def test_unsorted_dates_that_could_be_either_way_get_the_warning() -> None:
    """Neither reading keeps shuffled rows in order: that decides nothing, so the month-first
    reading is named in a warning, as it is for sorted rows."""
    t = pd.date_range("2024-01-01", periods=288, freq="h")
    df = pd.DataFrame({"date": t.strftime("%d/%m/%Y %H:%M"), "y": np.arange(288.0)}).sample(frac=1, random_state=0)
    got = load_series(df, sort=True)
    assert any("could have the day or the month first" in w for w in got.report.warnings)
    assert load_series(df, sort=True, dayfirst=True).series_times(0).equals(pd.DatetimeIndex(t))


def test_day_first_and_month_first_dates_mixed_are_refused() -> None:
    df = pd.DataFrame({"time": ["13/01/2024", "01/14/2024", "15/01/2024"], "load": [1.0, 2, 3]})
    with pytest.raises(DataError, match="some dates have the day first and some the month first"):
        load_series(df, time_col="time")


@pytest.mark.parametrize("unit,scale", [("s", 1), ("ms", 10**3), ("ns", 10**9)])
def test_unix_times_in_a_time_named_column_are_times(unit: str, scale: int) -> None:
    t = pd.date_range("2024-01-01", periods=48, freq="h")
    seconds = (t - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s")
    d = load_series(pd.DataFrame({"timestamp": np.asarray(seconds) * scale, "load": np.arange(48.0)}))
    assert d.time_col == "timestamp" and d.targets == ("load",) and d.freq == "h" and d.tz == "UTC"
    assert d.series_times(0)[0] == pd.Timestamp("2024-01-01", tz="UTC")
    plain = pd.DataFrame({"time": np.arange(48), "load": np.arange(48.0)})  # small numbers are no Unix times
    with pytest.raises(DataError, match="no column of dates or times"):
        load_series(plain)


def test_a_spreadsheet_is_refused_with_how_to_export_it(tmp_path) -> None:
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(b"PK\x03\x04\x14\x00\x00\x00")
    with pytest.raises(DataError, match="sheet.xlsx is a spreadsheet") as e:
        load_series(path)
    assert "read_excel" in e.value.hint


def test_decimal_commas_leave_the_other_columns_as_they_were(tmp_path) -> None:
    """Only the decimal-comma columns are converted: a dot-decimal column beside them, and times
    with milliseconds, keep their dots (a file-wide thousands="." would read 0.500 as 500)."""
    path = tmp_path / "mixed.csv"
    path.write_text("time;a;b\n" + "".join(f"2024-01-01 00:{m:02d}:00.500;{m},5;0.{m:03d}\n" for m in range(30)))
    d = load_series(path)
    np.testing.assert_allclose(d.values[:3], [[0.5, 0.0], [1.5, 0.001], [2.5, 0.002]])
    assert d.freq == "min"


def test_thousands_dots_with_decimal_commas_are_numbers(tmp_path) -> None:
    path = tmp_path / "sums.csv"
    path.write_text("time;total\n" + "".join(f'2024-01-01 {h:02d}:00;"1.234,{h % 10}"\n' for h in range(24)))
    np.testing.assert_allclose(load_series(path).values[:3, 0], [1234.0, 1234.1, 1234.2])


def test_a_windows_export_that_is_not_utf8_is_read(tmp_path) -> None:
    """Spreadsheets on Windows save CSV as Windows-1252: the file is read as that, not refused."""
    path = tmp_path / "export.csv"
    text = "time,température\n" + "".join(f"2024-01-01 {h:02d}:00,{h}.5\n" for h in range(24))
    path.write_bytes(text.encode("cp1252"))
    d = load_series(path)
    assert d.targets == ("température",) and d.values[1, 0] == 1.5


@pytest.mark.parametrize("cell", [b"caf\xe9", b"x\x81y"])  # Windows-1252; a byte it leaves undefined: Latin-1
def test_a_byte_that_is_not_utf8_after_the_first_bytes_read_is_read(tmp_path, cell: bytes) -> None:
    t = pd.date_range("2024-01-01", periods=800, freq="h").strftime("%Y-%m-%d %H:%M")
    rows = [f"{x},".encode() + (cell if h == 700 else b"ok") + f",{h}\n".encode() for h, x in enumerate(t)]
    path = tmp_path / "late.csv"
    path.write_bytes(b"time,note,load\n" + b"".join(rows))  # row 700 is far past the first 8,192 bytes
    d = load_series(path)
    assert d.targets == ("load",) and d.n_rows == 800 and d.report.ignored_columns == ["note"]


def test_a_utf8_character_cut_by_the_first_bytes_read_is_utf8(tmp_path) -> None:
    """The separator is sniffed from the first 8,192 bytes; an "é" split by that boundary is no
    reason to read the file as another encoding."""
    header = "time," + "x" * (8191 - len("time,")) + "é\n"  # "é" takes bytes 8191 and 8192
    path = tmp_path / "wide.csv"
    path.write_bytes((header + "".join(f"2024-01-01 {h:02d}:00,{h}\n" for h in range(24))).encode("utf-8"))
    d = load_series(path)
    assert d.targets == ("x" * 8186 + "é",)


def test_covariates_come_after_targets() -> None:
    df = frame(cov=np.full(48, 7.0) + np.arange(48), a=np.arange(48.0), b=-np.arange(48.0))
    d = load_series(df, covariates=["cov"])
    assert d.targets == ("a", "b") and d.covariates == ("cov",)
    assert d.channels == ("a", "b", "cov")
    np.testing.assert_array_equal(d.values[:, 2], 7.0 + np.arange(48))
    d = load_series(df, target="b", covariates=["a"])
    assert d.channels == ("b", "a") and d.report.ignored_columns == []
    np.testing.assert_array_equal(d.values[:, 0], -np.arange(48.0))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(target=[]), ConfigError),
        (dict(target=["load", "load"]), ConfigError),
        (dict(target="load", covariates=["load"]), ConfigError),
        (dict(target="time"), ConfigError),
        (dict(covariates=["nope"]), DataError),
        (dict(id_col="time"), ConfigError),
        (dict(fill="mean"), ConfigError),
    ],
)
def test_contradictory_arguments_are_refused(kwargs, error) -> None:
    with pytest.raises(error):
        load_series(frame(), **kwargs)


def test_string_numbers_in_a_dataframe_are_numbers() -> None:
    # a text column whose values all parse as numbers is a target like any numeric column
    d = load_series(frame(load=[str(i) for i in range(48)]))
    np.testing.assert_array_equal(d.values[:, 0], np.arange(48, dtype=np.float32))


def test_a_dataframe_error_names_index_labels() -> None:
    df = frame(load=np.arange(48.0))
    df.loc[3, "load"] = np.nan
    df.loc[11, "load"] = np.inf
    with pytest.raises(DataError, match=r"column 'load' has 2 missing \(NaN\) and infinite value\(s\), at rows 3, 11"):
        load_series(df)


# ----------------------------------------------------------------------------- layout


@pytest.mark.parametrize(
    "df, id_col",
    [
        pytest.param(frame(load=np.arange(48.0)), None, id="one-series-one-column"),
        pytest.param(frame(load=np.arange(48.0), temp=np.ones(48)), None, id="one-series-two-columns"),
        pytest.param(
            pd.concat(
                [frame(site="a", x=np.arange(48.0), y=np.ones(48)), frame(site="b", x=np.arange(48.0), y=np.ones(48))]
            ),
            "site",
            id="long-format",
        ),
    ],
)
def test_values_are_float32_c_contiguous(df, id_col) -> None:
    d = load_series(df, id_col=id_col)
    assert d.values.dtype == np.float32
    assert d.values.flags.c_contiguous, "SeriesData.values must be C-contiguous (see its docstring)"


def test_long_format_splits_series_in_order_of_first_appearance() -> None:
    t = pd.date_range("2024-01-01", periods=30, freq="h")
    zulu = pd.DataFrame({"time": t, "site": "zulu", "v": 1000 + np.arange(30.0), "w": np.arange(30.0)})
    alpha = pd.DataFrame({"time": t[:20], "site": "alpha", "v": 2000 + np.arange(20.0), "w": -np.arange(20.0)})
    df = pd.concat([zulu, alpha]).sort_values("time", kind="stable").reset_index(drop=True)  # interleaved
    d = load_series(df, id_col="site")
    assert d.ids == ("zulu", "alpha") and d.id_col == "site"
    assert d.n_series == 2 and d.n_rows == 50
    assert d.offsets.tolist() == [0, 30, 50]
    assert d.lengths.tolist() == [30, 20]
    assert d.targets == ("v", "w")
    for i, (first, n) in enumerate([(1000, 30), (2000, 20)]):
        s = d.series(i)
        assert s.flags.c_contiguous and np.shares_memory(s, d.values)
        np.testing.assert_array_equal(s[:, 0], first + np.arange(n))
        assert d.series_times(i)[0] == pd.Timestamp("2024-01-01") and len(d.series_times(i)) == n
    assert d.freq == "h"


def test_each_series_is_checked_on_its_own() -> None:
    t = pd.date_range("2024-01-01", periods=10, freq="h")
    df = pd.concat([pd.DataFrame({"time": t, "id": "a", "v": 1.0}), pd.DataFrame({"time": t, "id": "b", "v": 2.0})])
    df = df.sort_values("time", kind="stable")
    assert load_series(df, id_col="id").n_series == 2  # the same times in two series are no duplicates
    with pytest.raises(DataError, match="duplicate timestamp"):
        load_series(df)


# ----------------------------------------------------------------------------- frequency


@pytest.mark.parametrize("freq", ["h", "D", "15min", "W-SUN", "MS"])
def test_frequency_is_inferred(freq: str) -> None:
    assert load_series(frame(48, freq)).freq == freq


def test_a_daily_series_with_a_gap_is_daily() -> None:
    df = frame(30, "D").drop(index=[10, 11])
    assert load_series(df).freq == "D"
    assert load_series(df, fill="zero").freq == "D"


def test_daily_series_with_and_without_gaps_have_one_frequency() -> None:
    a = frame(30, "D", site="a", load=np.arange(30.0))
    b = frame(30, "D", site="b", load=np.arange(30.0)).drop(index=[10, 11])
    d = load_series(pd.concat([a, b], ignore_index=True), id_col="site")
    assert d.n_series == 2 and d.report.gaps[0].missing == 2


def test_mixed_frequencies_are_refused() -> None:
    t = pd.date_range("2024-01-01", periods=40, freq="h").append(pd.date_range("2024-01-03", periods=20, freq="D"))
    # 39 hourly steps, one of 9 hours, 19 daily ones
    with pytest.raises(
        DataError, match=r"mixed frequencies: 39 steps of 0 days 01:00:00 and 19 steps of 1 days.*\n.*--resample 1h\b"
    ):
        load_series(pd.DataFrame({"time": t, "v": np.arange(60.0)}))


def test_off_grid_times_are_refused() -> None:
    t = pd.date_range("2024-01-01", periods=40, freq="h").insert(10, pd.Timestamp("2024-01-01 09:30"))
    with pytest.raises(DataError, match=r"not on one regular grid.*\n  hint: .*--resample 1h\b"):
        load_series(pd.DataFrame({"time": t, "v": np.arange(41.0)}))


def test_series_with_different_frequencies_are_refused_naming_resample() -> None:
    df = pd.concat([frame(30, "h").assign(site="a"), frame(30, "D").assign(site="b")], ignore_index=True)
    with pytest.raises(DataError, match=r"different frequencies \(\['D', 'h'\]\).*\n.*--resample D \(the coarsest\)"):
        load_series(df, id_col="site")
    d = load_series(df, id_col="site", resample="D")
    assert d.freq == "D" and d.lengths.tolist() == [2, 30]


def hourly_with_gaps(drop=(5, 6, 7, 20)) -> pd.DataFrame:
    df = frame(30, load=np.arange(30.0) * 2, temp=np.arange(30.0))
    return df.drop(index=list(drop)).reset_index(drop=True)


def test_gaps_are_reported_without_fill() -> None:
    d = load_series(hourly_with_gaps())
    r = d.report
    assert d.n_rows == 26 and d.freq == "h"
    assert [(g.after, g.before, g.missing) for g in r.gaps] == [
        ("2024-01-01 04:00:00", "2024-01-01 08:00:00", 3),
        ("2024-01-01 19:00:00", "2024-01-01 21:00:00", 1),
    ]
    assert r.filled_gap_rows == 0 and r.filled is None
    assert any("2 gap(s) in the time grid (4 missing steps)" in w for w in r.warnings)


@pytest.mark.parametrize(
    "policy, inserted",
    [
        ("ffill", [[8.0, 4.0], [8.0, 4.0], [8.0, 4.0]]),  # the row before the gap, repeated
        ("interpolate", [[10.0, 5.0], [12.0, 6.0], [14.0, 7.0]]),  # linear between 04:00 and 08:00
        ("zero", [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]),
    ],
)
def test_fill_inserts_gap_rows_and_fills_them(policy: str, inserted) -> None:
    d = load_series(hourly_with_gaps(), fill=policy)
    assert d.n_rows == 30 and d.report.filled_gap_rows == 4 and d.report.gaps == []
    assert d.report.filled == policy
    np.testing.assert_array_equal(d.times, pd.date_range("2024-01-01", periods=30, freq="h").as_unit("ns").values)
    np.testing.assert_array_equal(d.values[5:8], np.array(inserted, dtype=np.float32))
    np.testing.assert_array_equal(d.values[:5, 1], np.arange(5.0))  # observed rows are untouched


@pytest.mark.parametrize(
    "policy, expected",
    [
        ("ffill", [1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 6.0, 7.0]),  # a leading NaN takes the first value
        ("interpolate", [1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
        ("zero", [0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 6.0, 7.0]),
    ],
)
def test_fill_policies_replace_nan_and_inf(policy: str, expected) -> None:
    v = [np.nan, 1.0, 2.0, 3.0, np.inf, -np.inf, 6.0, 7.0]
    d = load_series(frame(8, v=v, ok=np.arange(8.0)), fill=policy)
    np.testing.assert_array_equal(d.values[:, 0], np.array(expected, dtype=np.float32))
    assert d.report.missing == {"v": {"nan": 1, "inf": 2}}
    assert d.report.filled == policy


def test_fill_policies_are_the_documented_ones() -> None:
    assert FILL_POLICIES == ("error", "ffill", "interpolate", "zero")


def test_an_all_nan_column_cannot_be_filled() -> None:
    with pytest.raises(DataError, match=r"\['v'\] have no values at all"):
        load_series(frame(8, v=[np.nan] * 8), fill="ffill")


def overflow_csv(tmp_path) -> str:
    """temp holds 1e300 on data row 6 (line 8) and -5e38 on row 9 (line 11): finite as float64, inf as float32."""
    lines = ["time,load,temp"] + [f"2024-01-01 {h:02d}:00:00,{h}.5,{h}" for h in range(24)]
    lines[7], lines[10] = "2024-01-01 06:00:00,6.5,1e300", "2024-01-01 09:00:00,9.5,-5e38"
    path = tmp_path / "overflow.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_a_value_beyond_float32_is_refused_naming_column_and_lines(tmp_path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning (overflow in cast) either
        with pytest.raises(DataError, match=r"column 'temp' has 2 out-of-range value\(s\).*1e\+300.*lines 8, 11\b"):
            load_series(overflow_csv(tmp_path))
        with pytest.raises(DataError, match=r"column 'v' has 1 out-of-range value\(s\).*at row 2\b"):
            load_series(frame(4, v=[0.0, 1.0, 1e39, 3.0]))  # a DataFrame: the row label
        d = load_series(frame(4, v=[0.0, 1.0, 3e38, -3e38]))  # within float32's range: kept as they are
        np.testing.assert_array_equal(d.values[2:, 0], np.array([3e38, -3e38], dtype=np.float32))


@pytest.mark.parametrize("policy, expected", [("ffill", [5.0, 8.0]), ("interpolate", [6.0, 9.0]), ("zero", [0.0, 0.0])])
def test_fill_policies_fill_values_beyond_float32_like_inf(tmp_path, policy: str, expected) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = load_series(overflow_csv(tmp_path), fill=policy)
    assert np.isfinite(d.values).all()
    np.testing.assert_array_equal(d.values[[6, 9], 1], np.array(expected, dtype=np.float32))
    np.testing.assert_array_equal(d.values[:, 0], np.arange(24, dtype=np.float32) + 0.5)  # load untouched
    assert d.report.missing == {"temp": {"nan": 0, "inf": 2}} and d.report.filled == policy
    assert describe(d)["missing"] == {"temp": {"nan": 0, "inf": 2}}


def test_unsorted_rows_are_refused_or_sorted() -> None:
    df = frame(20, load=np.arange(20.0)).iloc[[*range(10), 11, 10, *range(12, 20)]]
    with pytest.raises(DataError, match=r"not in time order.*\n  hint: .*--sort"):
        load_series(df)
    d = load_series(df, sort=True)
    assert d.report.sorted_rows
    np.testing.assert_array_equal(d.values[:, 0], np.arange(20.0))


def test_sorted_rows_keep_their_line_numbers_in_messages(tmp_path) -> None:
    # rows 0 and 1 are swapped, and the NaN is on data row 5 = line 7 of the file
    lines = ["time,load"] + [f"2024-01-01 {h:02d}:00:00,{'' if h == 5 else h}" for h in [1, 0, *range(2, 24)]]
    path = tmp_path / "swapped.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"column 'load' has 1 missing \(NaN\) value\(s\), at line 7\b"):
        load_series(path, sort=True)


def test_sorting_moves_the_line_numbers_with_the_rows(tmp_path) -> None:
    # the NaN is on data row 3 (line 5); two rows at the start move to the end when sorted
    hours = [*range(2, 24), 1, 0]
    lines = ["time,load"] + [f"2024-01-01 {h:02d}:00:00,{'' if i == 3 else h}" for i, h in enumerate(hours)]
    path = tmp_path / "rotated.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"at line 5\b"):
        load_series(path, sort=True)


def test_constant_columns_are_reported() -> None:
    d = load_series(frame(24, load=np.arange(24.0), flat=np.full(24, 3.5)))
    assert d.report.constant_columns == ["flat"]
    assert any("flat" in w for w in d.report.warnings)
    assert load_series(frame(24)).report.constant_columns == []


# ----------------------------------------------------------------------------- duplicates


def with_repeat(n: int = 24, at: int = 10) -> pd.DataFrame:
    """Hourly rows, v = 0..n, with the time of row ``at`` repeated on the next row."""
    t = pd.date_range("2024-01-01", periods=n, freq="h")
    return pd.DataFrame({"time": t.insert(at + 1, t[at]), "v": np.arange(n + 1.0)})


def test_duplicate_timestamps_are_refused_naming_the_remedies() -> None:
    with pytest.raises(DataError, match=r"1 duplicate timestamp\(s\), first 2024-01-01 10:00:00 \(rows 10, 11\)") as e:
        load_series(with_repeat())
    hint = e.value.hint
    assert "--duplicates first|last|mean" in hint and "--resample FREQ" in hint and "--id-col" in hint
    assert "duplicate timestamps (clock changes for daylight saving repeat an hour)" in hint


@pytest.mark.parametrize("policy, kept", [("first", 10.0), ("last", 11.0), ("mean", 10.5)])
def test_duplicates_are_collapsed_and_reported(policy: str, kept: float) -> None:
    d = load_series(with_repeat(), duplicates=policy)
    assert d.n_rows == 24 and d.freq == "h" and d.report.gaps == []
    np.testing.assert_array_equal(d.values[9:12, 0], [9.0, kept, 12.0])
    assert d.report.collapsed_rows == 1 and describe(d)["collapsed_rows"] == 1
    assert any("1 row(s) repeated a timestamp" in w and f"--duplicates {policy}" in w for w in d.report.warnings)


def test_duplicate_policies_are_the_documented_ones() -> None:
    assert DUPLICATE_POLICIES == ("error", "first", "last", "mean")
    assert load_series(frame()).report.collapsed_rows == 0  # nothing to collapse: nothing said
    assert not any("repeated" in w for w in load_series(frame(), duplicates="last").report.warnings)


def test_duplicates_are_found_and_collapsed_within_each_series() -> None:
    t = pd.date_range("2024-01-01", periods=12, freq="h")
    a = pd.DataFrame({"time": t.insert(4, t[3]), "id": "a", "v": np.arange(13.0)})  # 03:00 twice
    b = pd.DataFrame({"time": t, "id": "b", "v": 100 + np.arange(12.0)})
    df = pd.concat([a, b], ignore_index=True)
    with pytest.raises(DataError, match=r"series 'a': 1 duplicate timestamp\(s\), first 2024-01-01 03:00:00") as e:
        load_series(df, id_col="id")
    assert "--duplicates" in e.value.hint and "--id-col" not in e.value.hint  # it was given
    d = load_series(df, id_col="id", duplicates="last")
    assert d.lengths.tolist() == [12, 12] and d.report.collapsed_rows == 1
    np.testing.assert_array_equal(d.series(0)[2:5, 0], [2.0, 4.0, 5.0])
    np.testing.assert_array_equal(d.series(1)[:, 0], 100 + np.arange(12.0))


def test_a_repeated_row_keeps_its_line_number_in_later_messages(tmp_path) -> None:
    # 02:00 on lines 4 and 5 (the second kept), a NaN on line 8
    lines = ["time,v"] + [
        f"2024-01-01 {h:02d}:00:00,{'' if i == 6 else i}" for i, h in enumerate([0, 1, 2, 2, *range(3, 24)])
    ]
    path = tmp_path / "repeat.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"1 missing \(NaN\) value\(s\), at line 8\b"):
        load_series(path, duplicates="last")


# ----------------------------------------------------------------------------- resampling


def jittered(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """A 5-minute feed whose rows arrive 0 to 59 s late: no two steps alike."""
    late = np.random.default_rng(seed).integers(0, 60, n)
    t = pd.date_range("2024-01-01", periods=n, freq="5min") + pd.to_timedelta(late, unit="s")
    return pd.DataFrame({"time": t, "load": np.arange(n, dtype=float)})


def test_a_jittered_feed_is_refused_with_a_suggested_resample() -> None:
    with pytest.raises(DataError, match="not on one regular grid") as e:
        load_series(jittered())
    assert "--resample 5min" in e.value.hint


def test_a_jittered_feed_is_resampled_onto_its_grid() -> None:
    d = load_series(jittered(), resample="5min")
    assert d.freq == "5min" and d.n_rows == 60 and d.report.gaps == []
    pd.testing.assert_index_equal(
        d.series_times(0), pd.date_range("2024-01-01", periods=60, freq="5min").as_unit("ns"), check_freq=False
    )
    np.testing.assert_array_equal(d.values[:, 0], np.arange(60.0))
    assert d.report.resampled == {"frequency": "5min", "agg": "mean", "bins": 60, "combined_rows": 0}
    assert describe(d)["resampled"] == d.report.resampled


def test_resampling_counts_the_rows_it_combines() -> None:
    """Local times without a zone repeat 02:00 when clocks go back: --resample 1h averages the two
    rows of that hour, and says so (combined_rows), as --duplicates counts collapsed rows."""
    t = list(pd.date_range("2024-10-26 12:00", periods=48, freq="h"))
    t.insert(15, t[14])  # 2024-10-27 02:00 twice
    d = load_series(pd.DataFrame({"time": t, "y": np.arange(49.0)}), resample="1h")
    assert d.n_rows == 48 and d.report.resampled["combined_rows"] == 1 and d.values[14, 0] == 14.5


def test_a_missed_sample_is_a_gap_on_the_resampled_grid() -> None:
    df = jittered().drop(index=[20, 21]).reset_index(drop=True)  # a step of 14-16 minutes
    with pytest.raises(DataError, match="--resample 5min"):
        load_series(df)
    d = load_series(df, resample="5min")
    assert d.n_rows == 58 and d.freq == "5min"
    assert [(g.after, g.before, g.missing) for g in d.report.gaps] == [
        ("2024-01-01 01:35:00", "2024-01-01 01:50:00", 2)
    ]
    assert any("1 gap(s) in the time grid (2 missing steps)" in w for w in d.report.warnings)
    d = load_series(df, resample="5min", fill="interpolate")
    assert d.n_rows == 60 and d.report.filled_gap_rows == 2 and d.report.gaps == []
    np.testing.assert_array_equal(d.values[:, 0], np.arange(60.0))


@pytest.mark.parametrize(
    "agg, expected", [("mean", [1.0, 4.0]), ("last", [2.0, 5.0]), ("first", [0.0, 3.0]), ("sum", [3.0, 12.0]),
                      ("max", [2.0, 5.0]), ("min", [0.0, 3.0])]
)  # fmt: skip
def test_agg_combines_the_rows_of_a_bin(agg: str, expected) -> None:
    t = pd.to_datetime(["2024-01-01 00:07", "2024-01-01 00:10", "2024-01-01 00:14", *["2024-01-01 00:15"] * 3])
    d = load_series(pd.DataFrame({"time": t, "v": np.arange(6.0)}), resample="15min", agg=agg)
    # bins start at the first time floored to 15 minutes and are labelled by their left edge
    np.testing.assert_array_equal(d.times, pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:15"]).as_unit("ns"))
    np.testing.assert_array_equal(d.values[:, 0], expected)


def test_aggregations_are_the_documented_ones() -> None:
    assert AGGREGATIONS == ("mean", "last", "first", "sum", "max", "min")


def test_resample_combines_duplicates_without_duplicates_option() -> None:
    d = load_series(with_repeat(), resample="h", agg="max")
    assert d.n_rows == 24 and d.values[10, 0] == 11.0 and d.report.collapsed_rows == 0


def test_resample_to_calendar_months() -> None:
    d = load_series(frame(90, "D"), resample="MS", agg="sum")
    assert d.freq == "MS" and d.n_rows == 3
    np.testing.assert_array_equal(d.values[:, 0], [sum(range(31)), sum(range(31, 60)), sum(range(60, 90))])


def test_a_resampled_bin_of_nan_is_refused_by_its_time_or_filled() -> None:
    df = jittered(12)
    df.loc[4, "load"] = np.nan
    with pytest.raises(
        DataError, match=r"column 'load' has 1 missing \(NaN\) value\(s\), at at times 2024-01-01 00:20:00"
    ):
        load_series(df, resample="5min")
    assert load_series(df, resample="5min", fill="ffill").values[4, 0] == 3.0


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(resample="5x"), r"--resample '5x' is not a pandas frequency.*\n.*e.g. 5min"),
        (dict(resample="-5min"), "--resample must be a positive step, got '-5min'"),
        (dict(resample=5), "--resample must be a frequency such as '5min', got 5"),
        (dict(agg="median", resample="h"), r"unknown agg 'median'.*\n.*--agg mean\|last\|first\|sum\|max\|min"),
        (dict(agg="max"), "--agg max has no effect without --resample"),
        (dict(duplicates="drop"), r"unknown duplicates policy 'drop'.*\n.*--duplicates error\|first\|last\|mean"),
    ],
)
def test_bad_remedy_options_are_refused(kwargs, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_series(frame(), **kwargs)


# ----------------------------------------------------------------------------- time zones


def test_timezone_aware_times_keep_their_zone() -> None:
    t = pd.date_range("2024-01-01", periods=24, freq="h", tz="Asia/Tokyo")
    d = load_series(pd.DataFrame({"time": t, "v": np.arange(24.0)}))
    assert d.tz == "Asia/Tokyo" and d.freq == "h"
    pd.testing.assert_index_equal(d.series_times(0), pd.DatetimeIndex(t).as_unit("ns"), check_freq=False)
    assert describe(d)["timezone"] == "Asia/Tokyo"


def test_timezone_in_the_text_of_a_file(tmp_path) -> None:
    path = tmp_path / "utc.csv"
    path.write_text("time,v\n" + "".join(f"2024-05-01T{h:02d}:00:00+02:00,{h}\n" for h in range(24)))
    d = load_series(path)
    assert d.tz is not None and d.freq == "h" and d.n_rows == 24
    assert d.series_times(0)[0] == pd.Timestamp("2024-05-01 00:00", tz="+02:00")


@pytest.mark.parametrize("start", ["2024-03-30", "2024-10-26"], ids=["spring-forward", "fall-back"])
def test_a_regular_series_across_a_dst_change_is_regular(start: str) -> None:
    # hourly instants in Europe/Oslo: wall time skips 02:00 in March and repeats 02:00 in October
    t = pd.date_range(start, periods=72, freq="h", tz="Europe/Oslo")
    d = load_series(pd.DataFrame({"time": t, "v": np.arange(72.0)}))
    assert d.report.gaps == [] and d.n_rows == 72 and d.freq == "h"
    pd.testing.assert_index_equal(d.series_times(0), pd.DatetimeIndex(t).as_unit("ns"), check_freq=False)


def test_a_gap_across_a_dst_change_is_one_missing_hour() -> None:
    t = pd.date_range("2024-03-30 12:00", periods=48, freq="h", tz="Europe/Oslo")
    df = pd.DataFrame({"time": t, "v": np.arange(48.0)}).drop(index=[20])  # 03:00 local, just after the change
    d = load_series(df)
    assert [g.missing for g in d.report.gaps] == [1] and d.freq == "h"
    d = load_series(df, fill="interpolate")
    assert d.n_rows == 48 and d.report.filled_gap_rows == 1
    pd.testing.assert_index_equal(d.series_times(0), pd.DatetimeIndex(t).as_unit("ns"), check_freq=False)
    assert d.values[20, 0] == 20.0


def test_describe_and_gaps_show_local_times() -> None:
    t = pd.date_range("2024-01-01", periods=48, freq="h", tz="Asia/Tokyo").delete([5, 6])
    d = load_series(pd.DataFrame({"time": t, "v": np.arange(46.0)}))
    info = describe(d)
    assert (info["start"], info["end"]) == ("2024-01-01 00:00:00+09:00", "2024-01-02 23:00:00+09:00")
    g = d.report.gaps[0]
    assert pd.Timestamp(g.after) == pd.Timestamp("2024-01-01 04:00", tz="Asia/Tokyo")
    assert "04:00:00" in g.after  # local wall time, as the user wrote it


@pytest.mark.parametrize("start", ["2024-03-20", "2024-10-20"], ids=["spring-forward", "fall-back"])
def test_a_daily_series_in_a_zone_across_a_dst_change_is_daily(start: str) -> None:
    t = pd.date_range(start, periods=30, freq="D", tz="Europe/Oslo")  # local midnights: 23 or 25 h apart once
    d = load_series(pd.DataFrame({"time": t, "v": np.arange(30.0)}))
    assert d.freq == "D" and d.report.gaps == []
    pd.testing.assert_index_equal(d.series_times(0), pd.DatetimeIndex(t).as_unit("ns"), check_freq=False)


def test_a_repeated_local_hour_is_a_duplicate_with_two_remedies() -> None:
    # local wall times without a zone, hourly: 02:00 comes twice when clocks go back in October
    local = pd.date_range("2024-10-26 12:00", periods=36, freq="h", tz="Europe/Oslo").tz_localize(None)
    df = pd.DataFrame({"time": local, "v": np.arange(36.0)})
    with pytest.raises(DataError, match="duplicate timestamp.*2024-10-27 02:00:00") as e:
        load_series(df)
    assert "daylight saving" in e.value.hint and "--duplicates" in e.value.hint and "--resample" in e.value.hint
    d = load_series(df, duplicates="mean")
    assert d.n_rows == 35 and d.freq == "h" and d.report.gaps == [] and d.report.collapsed_rows == 1
    assert d.values[14, 0] == 14.5  # the two 02:00 hours, averaged
    d = load_series(df, resample="h", agg="sum")
    assert d.n_rows == 35 and d.values[14, 0] == 29.0


def test_a_skipped_local_hour_is_a_gap() -> None:
    local = pd.date_range("2024-03-30 12:00", periods=36, freq="h", tz="Europe/Oslo").tz_localize(None)
    d = load_series(pd.DataFrame({"time": local, "v": np.arange(36.0)}))  # 02:00 on 31 March never happens
    assert [(g.after, g.missing) for g in d.report.gaps] == [("2024-03-31 01:00:00", 1)] and d.freq == "h"


def test_zoned_times_across_a_dst_change_in_a_file(tmp_path) -> None:
    # as many exports write them: local time with its UTC offset, which changes from +02:00 to +01:00
    t = pd.date_range("2024-10-26 12:00", periods=72, freq="h", tz="Europe/Oslo")
    path = tmp_path / "zoned.csv"
    path.write_text("time,v\n" + "".join(f"{x.isoformat()},{i}\n" for i, x in enumerate(t)))
    assert "2024-10-27T02:00:00+02:00" in path.read_text() and "2024-10-27T02:00:00+01:00" in path.read_text()
    d = load_series(path)  # two offsets: read as the instants they are, in UTC
    assert d.tz == "UTC" and d.freq == "h" and d.n_rows == 72 and d.report.gaps == []
    np.testing.assert_array_equal(d.times, t.tz_convert("UTC").tz_localize(None).as_unit("ns").values)


def test_times_with_and_without_offsets_are_still_refused(tmp_path) -> None:
    path = tmp_path / "half.csv"
    path.write_text(
        "time,v\n" + "".join(f"2024-05-01T{h:02d}:00:00{'+02:00' if h < 12 else ''},{h}\n" for h in range(24))
    )
    with pytest.raises(DataError, match="cannot be read together"):
        load_series(path, time_col="time")


def test_jittered_zoned_times_resample_across_a_dst_change() -> None:
    t = pd.date_range("2024-10-26 20:00", periods=12, freq="h", tz="Europe/Oslo") + pd.Timedelta("7min")
    d = load_series(pd.DataFrame({"time": t, "v": np.arange(12.0)}), resample="h")
    assert d.tz == "Europe/Oslo" and d.freq == "h" and d.report.gaps == []
    pd.testing.assert_index_equal(d.series_times(0), (t - pd.Timedelta("7min")).as_unit("ns"), check_freq=False)
    np.testing.assert_array_equal(d.values[:, 0], np.arange(12.0))  # both 02:00 hours, each its own bin


# ----------------------------------------------------------------------------- describe, from_arrays


def test_describe_is_json_serialisable() -> None:
    df = hourly_with_gaps()
    df["site"] = "x"
    df["note"] = "text"
    info = describe(load_series(df, id_col="site"))
    back = json.loads(json.dumps(info))  # no default=str: plain JSON types only
    assert back["rows"] == 26 and back["series"] == 1 and back["series_ids"] == ["x"]
    assert back["gaps"]["count"] == 2 and back["gaps"]["missing_steps"] == 4
    assert back["gaps"]["first"][0] == {
        "series": "x",
        "after": "2024-01-01 04:00:00",
        "before": "2024-01-01 08:00:00",
        "missing": 3,
    }
    assert back["ignored_columns"] == ["note"] and back["frequency"] == "h"
    assert back["start"] == "2024-01-01 00:00:00" and back["end"] == "2024-01-02 05:00:00"
    assert back["series_lengths"] == {"min": 26, "max": 26}


def test_content_hash_follows_the_values() -> None:
    a, b = load_series(frame()), load_series(frame())
    assert a.content_hash() == b.content_hash()
    assert load_series(frame(load=np.arange(48.0) + 1)).content_hash() != a.content_hash()


def test_from_arrays_one_array() -> None:
    v = np.arange(20, dtype=np.float64).reshape(10, 2)
    d = from_arrays(v, targets=["a", "b"], start="2020-01-01", freq="15min")
    assert d.values.dtype == np.float32 and d.values.flags.c_contiguous
    np.testing.assert_array_equal(d.values, v.astype(np.float32))
    assert d.targets == ("a", "b") and d.n_series == 1 and d.ids is None and d.freq == "15min"
    assert d.times[1] - d.times[0] == np.timedelta64(15, "m")
    assert d.report.rows == 10


def test_from_arrays_many_series() -> None:
    d = from_arrays([np.arange(5.0), np.arange(3.0) + 10])
    assert d.offsets.tolist() == [0, 5, 8] and d.ids == ("0", "1") and d.targets == ("y0",)
    np.testing.assert_array_equal(d.series(1)[:, 0], [10, 11, 12])
    assert d.times[5] == d.times[0]  # every series starts at `start`
    with pytest.raises(ConfigError):
        from_arrays([np.zeros((4, 2)), np.zeros((4, 3))])


def test_a_row_index_written_with_the_data_is_left_out(tmp_path) -> None:
    """pandas' to_csv writes its index as an unnamed first column (read back as "Unnamed: 0"):
    row numbers, not a measurement. A named column counting up by one, or one asked for, stays."""
    t = pd.date_range("2024-01-01", periods=48, freq="h")
    pd.DataFrame({"time": t, "y": np.sin(np.arange(48.0))}).to_csv(tmp_path / "i.csv")  # index=True
    d = load_series(tmp_path / "i.csv")
    assert d.targets == ("y",) and d.report.ignored_columns == ["Unnamed: 0"]
    assert any("numbers the rows" in w and "--target" in w for w in d.report.warnings)
    assert load_series(tmp_path / "i.csv", target=["Unnamed: 0", "y"]).targets == ("Unnamed: 0", "y")
    counter = pd.DataFrame({"time": t, "visits": np.arange(48), "y": 1.0})
    assert load_series(counter).targets == ("visits", "y")
    reset = pd.DataFrame({"time": t, "y": 1.0}).reset_index()  # a column named index
    assert load_series(reset).targets == ("y",)


def test_dates_written_as_numbers_are_read_and_other_numbers_refused_as_times() -> None:
    """20240131 and years are dates; any other number named as the time column was read as
    nanoseconds after 1970 (1970-01-01 00:00:00.020240101, frequency "ns"): now refused."""
    d = pd.date_range("2024-01-01", periods=40, freq="D")
    got = load_series(pd.DataFrame({"date": d.strftime("%Y%m%d").astype(int), "y": np.arange(40.0)}))
    assert got.series_times(0).equals(pd.DatetimeIndex(d)) and got.freq == "D"
    years = load_series(pd.DataFrame({"year": np.arange(1900, 1940), "y": np.arange(40.0)}), time_col="year")
    assert years.series_times(0)[0] == pd.Timestamp("1900-01-01") and years.series_times(0)[-1].year == 1939
    with pytest.raises(DataError, match="holds numbers that are not times") as e:
        load_series(pd.DataFrame({"t": np.arange(40.0) * 0.5, "y": 1.0}), time_col="t")
    assert "--time-col" in e.value.hint


def test_dot_grouped_whole_numbers_beside_decimal_commas_are_thousands(tmp_path) -> None:
    """In a ;-file whose numbers have decimal commas, 6.811 is 6811 (pandas read it as 6.811),
    as 1.234,5 already was 1234.5; without decimal commas, or where a value cannot be a grouped
    whole number (0.500, 2.5), the dot stays a decimal point."""
    rows = [f"2024-01-01 {h:02d}:00;{6811 + 997 * h:,};{h},5;{h}.500".replace(",", ".", 1) for h in range(24)]
    path = tmp_path / "kwh.csv"
    path.write_text("time;kwh;temp;ratio\n" + "\n".join(rows) + "\n")
    d = load_series(path)
    np.testing.assert_allclose(d.values[:2], [[6811, 0.5, 0.5], [7808, 1.5, 1.5]])
    plain = tmp_path / "plain.csv"
    plain.write_text(
        "time;kwh\n" + "".join(f"2024-01-01 {h:02d}:00;{6811 + 997 * h:,}\n".replace(",", ".") for h in range(24))
    )
    assert load_series(plain).values[0, 0] == pytest.approx(6.811)


def test_messy_exports_excel_sep_line_empty_column_and_missing_ids(tmp_path) -> None:
    """Excel's "sep=;" first line names the separator; an all-empty column is named as such (no
    --fill can fill it); a row without a series id is refused, not grouped as series "nan"."""
    rows = "".join(f"2024-01-01 {h:02d}:00;{h},5\n" for h in range(24))
    (tmp_path / "excel.csv").write_text("sep=;\ntime;y\n" + rows)
    d = load_series(tmp_path / "excel.csv")
    assert d.targets == ("y",) and d.n_rows == 24 and d.values[1, 0] == 1.5
    t = pd.date_range("2024-01-01", periods=24, freq="h")
    with pytest.raises(DataError, match="'empty' has no values at all") as e:
        load_series(pd.DataFrame({"time": t, "y": 1.0, "empty": np.nan}))
    assert "--target" in e.value.hint
    long = pd.DataFrame({"time": np.tile(t, 2), "store": ["a"] * 24 + ["b"] * 23 + [None], "y": 1.0})
    with pytest.raises(DataError, match="1 row\\(s\\) have no series id in column 'store'"):
        load_series(long, id_col="store")


def test_quoted_comma_grouped_numbers_in_a_comma_file_are_numbers(tmp_path) -> None:
    """'"5,034.6"' is how spreadsheets in English write 5034.6 to a ,-separated file; "1,5"
    (not groups of three) stays text."""
    path = tmp_path / "sales.csv"
    path.write_text(
        "time,sales,note\n" + "".join(f'2024-01-01 {h:02d}:00,"{5034.6 + 1000 * h:,.1f}","1,5"\n' for h in range(24))
    )
    d = load_series(path)
    assert d.targets == ("sales",) and d.report.ignored_columns == ["note"]
    np.testing.assert_allclose(d.values[:2, 0], [5034.6, 6034.6])


def test_review_edge_cases_of_reading(tmp_path) -> None:
    """Cases a review of the readers found: each was a misread, a crash or a wrong message."""
    t = pd.date_range("2023-01-01", periods=3000, freq="D")
    sparse = pd.Series(t.strftime("%Y-%m-%d"))
    sparse.iloc[436:438] = t[436:438].strftime("%d/%m/%Y")  # two year-last rows no sample would land on
    got = load_series(pd.DataFrame({"time": sparse, "v": np.arange(3000.0)}))
    assert got.series_times(0).equals(pd.DatetimeIndex(t))
    assert date_order(pd.DataFrame({"time": pd.Series([], dtype=str), "v": []})) is None  # no row: no order
    with pytest.raises(DataError, match="'ts' has 1 empty cell"):  # Unix times with a hole: not "not times"
        load_series(pd.DataFrame({"ts": [1.7e9, np.nan, 1.7e9 + 7200], "v": 1.0}), time_col="ts")
    with pytest.raises(DataError, match="numbers that are not times"):  # years beyond nanosecond times
        load_series(pd.DataFrame({"year": [1500, 1501, 1502], "v": 1.0}), time_col="year")
    with pytest.raises(DataError, match="has 1 missing"):  # one row, its value missing: not "no values at all"
        load_series(pd.DataFrame({"time": t[:1], "v": [np.nan]}))
    with pytest.raises(DataError, match="no numeric column") as e:
        load_series(pd.DataFrame({"time": t[:5], "index": np.arange(100, 105)}))
    assert "'index' numbers the rows" in e.value.hint
    (tmp_path / "zero.csv").write_text('time,a\n2024-01-01,"0,500"\n2024-01-02,"1,250"\n')
    assert read_frame(tmp_path / "zero.csv")[0]["a"].tolist() == ["0,500", "1,250"]  # 0,500 is no thousands group
    rows = "".join(f"2024-01-{1 + i % 28:02d} {i // 28 % 24:02d}:00;{i},5;6.811;x\n" for i in range(800))
    last = "2024-02-01 00:00;1,5;7.250;caf\xe9\n".encode("cp1252")  # UTF-8 up front, Windows-1252 at the end
    (tmp_path / "enc.csv").write_bytes(("time;a;b;note\n" + rows).encode() + last)
    frame = read_frame(tmp_path / "enc.csv")[0]  # the re-read of b uses the encoding that worked
    assert frame["b"].iloc[0] == 6811 and frame["note"].iloc[-1] == "caf\xe9"
    (tmp_path / "whole.csv").write_text(
        "time;t;b\n" + "".join(f"2024-01-0{i + 1};{i},5;{v}\n" for i, v in enumerate(["0", "12.000", "13.000"]))
    )
    d = load_series(tmp_path / "whole.csv", target=["b"])
    assert d.values[:, 0].tolist() == [0, 12000, 13000] and any(
        "dots between thousands" in w for w in d.report.warnings
    )


def test_year_last_dates_in_two_layouts_are_all_read() -> None:
    """Year-last dates are read with the first row's format where they share it (fast); rows
    written otherwise (no time, two-digit year) are read one by one, in the same order."""
    frame = pd.DataFrame({"time": ["13/02/2024 10:00", "14/02/2024", "15.02.24 10:00"], "v": [1.0, 2, 3]})
    got = row_times(frame, "time")
    assert list(got) == [pd.Timestamp("2024-02-13 10:00"), pd.Timestamp("2024-02-14"), pd.Timestamp("2024-02-15 10:00")]
