"""`tsrnn inspect`: what tsrnn understood of a data file."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tsrnn.cli.app import app
from tsrnn.cli.options import (
    Agg,
    Covariate,
    DataPath,
    DayFirst,
    Duplicates,
    Fill,
    IdCol,
    Json,
    Lookback,
    Resample,
    Sep,
    Sort,
    Target,
    Test,
    TimeCol,
    Val,
    split_size,
)


@app.command()
def inspect(
    data: DataPath,
    time_col: TimeCol = None,
    target: Target = None,
    covariates: Covariate = None,
    id_col: IdCol = None,
    fill: Fill = "error",
    sort: Sort = False,
    duplicates: Duplicates = "error",
    resample: Resample = None,
    agg: Agg = "mean",
    dayfirst: DayFirst = None,
    sep: Sep = None,
    lookback: Lookback = 96,
    horizon: Annotated[int, typer.Option("--horizon", "-H", help="Rows to forecast per window.")] = 24,
    stride: Annotated[int, typer.Option("--stride", help="Rows between consecutive windows.")] = 1,
    val: Val = "0.1",
    test: Test = "0.2",
    as_json: Json = False,
) -> None:
    """Show rows, time range, frequency, series, columns, data problems and window counts."""
    from tsrnn.data import describe, load_series
    from tsrnn.windows import make_windows

    series = load_series(
        data, time_col=time_col, target=target or None, covariates=covariates or None, id_col=id_col, fill=fill,
        sort=sort, duplicates=duplicates, resample=resample, agg=agg, dayfirst=dayfirst, sep=sep,
    )  # fmt: skip
    w = make_windows(series, lookback, horizon, stride, split_size(val), split_size(test))
    info = describe(series)
    info["windows"] = {"lookback": lookback, "horizon": horizon, "stride": stride, **w.counts()}
    info["split_rows"] = {
        s: int((w.bounds[:, k + 1] - w.bounds[:, k]).sum()) for k, s in enumerate(("train", "val", "test"))
    }
    for s in ("val", "test"):
        if info["split_rows"][s] and not info["windows"][s]:
            info["warnings"].append(f"the {s} split has no complete window: it needs {horizon} rows per series")
    if as_json:
        print(json.dumps(info, indent=2, default=str))
        return
    _print(info)


def _print(info: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"tsrnn inspect: {info['source']}", show_header=False, title_justify="left")
    t.add_column(style="bold cyan")
    t.add_column()
    w, sr = info["windows"], info["split_rows"]
    rows = [
        ("rows", f"{info['rows']:,}"),
        (
            "time",
            f"{info['time_column']}: {info['start']} -> {info['end']}"
            + (f" ({info['timezone']})" if info["timezone"] else ""),
        ),
        (
            "frequency",
            (info["frequency"] or "unknown")
            + (f" (resampled: {info['resampled']['agg']} of the rows in each step)" if info["resampled"] else "")
            + (
                f", {info['resampled']['combined_rows']} row(s) combined with another in their step"
                if info["resampled"] and info["resampled"]["combined_rows"]
                else ""
            ),
        ),
        ("collapsed rows", f"{info['collapsed_rows']:,} (repeated timestamps)" if info["collapsed_rows"] else "-"),
        ("series", str(info["series"]) + (f" (by {info['id_column']})" if info["id_column"] else "")),
        ("targets", ", ".join(info["targets"])),
        ("covariates", ", ".join(info["covariates"]) or "-"),
        ("ignored columns", ", ".join(info["ignored_columns"]) or "-"),
        ("constant columns", ", ".join(info["constant_columns"]) or "-"),
        (
            "missing values",
            ", ".join(f"{c}: {m['nan']} NaN, {m['inf']} inf" for c, m in info["missing"].items())
            + (f" (filled: {info['filled']})" if info["filled"] else "")
            if info["missing"]
            else "none",
        ),
        (
            "gaps",
            f"{info['gaps']['count']} ({info['gaps']['missing_steps']} missing steps)"
            + (f", {info['filled_gap_rows']} rows inserted and filled" if info["filled_gap_rows"] else ""),
        ),
        ("split rows", f"train {sr['train']:,} / val {sr['val']:,} / test {sr['test']:,}"),
        (
            f"windows L={w['lookback']} H={w['horizon']}",
            f"train {w['train']:,} / val {w['val']:,} / test {w['test']:,}",
        ),
    ]
    for k, v in rows:
        t.add_row(k, v)
    c = Console()
    c.print(t)
    for g in info["gaps"]["first"]:
        c.print(f"  gap: {g['missing']} step(s) missing between {g['after']} and {g['before']}", highlight=False)
    for msg in info["warnings"]:
        c.print(f"[yellow]warning:[/] {msg}", highlight=False)
