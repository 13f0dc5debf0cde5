"""Options shared by several commands (Typer reads the Annotated metadata)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DataPath = Annotated[
    Path, typer.Argument(help="CSV or Parquet file with a time column and numeric columns.", show_default=False)
]
TimeCol = Annotated[Optional[str], typer.Option("--time-col", help="Time column (default: the one date-like column).")]
Target = Annotated[
    Optional[list[str]],
    typer.Option("--target", "-t", help="Column to forecast; repeat for several (default: all numeric)."),
]
Covariate = Annotated[
    Optional[list[str]], typer.Option("--covariate", "-c", help="Input-only column, observed in the past; repeatable.")
]
IdCol = Annotated[Optional[str], typer.Option("--id-col", help="Series id column for many series in long format.")]
Fill = Annotated[str, typer.Option("--fill", help="NaN/inf and gaps: error | ffill | interpolate | zero.")]
Sort = Annotated[bool, typer.Option("--sort", help="Sort rows by time instead of refusing unsorted input.")]
Sep = Annotated[Optional[str], typer.Option("--sep", help="CSV field separator (default: detected from the header).")]
Lookback = Annotated[int, typer.Option("--lookback", "-L", help="Input rows per window.")]
Horizon = Annotated[int, typer.Option("--horizon", "-H", help="Rows to forecast per window.")]
Stride = Annotated[int, typer.Option("--stride", help="Rows between consecutive windows.")]
Val = Annotated[str, typer.Option("--val", help="Validation split: a fraction (0.1), rows (500) or a start time.")]
Test = Annotated[str, typer.Option("--test", help="Test split: a fraction (0.2), rows (500) or a start time.")]
ModelRef = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="A model directory written by `tsrnn fit`, or an MLflow model: runs:/RUN_ID/model, models:/NAME/VERSION.",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
Force = Annotated[bool, typer.Option("--force", help="Replace output paths that already exist.")]


def split_size(text: str) -> float | int | str:
    """'0.2' -> 0.2, '500' -> 500, anything else is a timestamp string."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def load_args(time_col, target, covariate, id_col, fill, sort, sep) -> dict:
    """The data options as keyword arguments of tsrnn.data.load_series."""
    return dict(
        time_col=time_col,
        target=target or None,
        covariates=covariate or None,
        id_col=id_col,
        fill=fill,
        sort=sort,
        sep=sep,
    )


NoTrack = Annotated[bool, typer.Option("--no-track", help="Do not record this run in MLflow.")]
TrackingUri = Annotated[
    Optional[str],
    typer.Option(
        "--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite under ./mlruns)."
    ),
]
Experiment = Annotated[str, typer.Option("--experiment", help="MLflow experiment name.")]
RunName = Annotated[Optional[str], typer.Option("--run-name", help="MLflow run name.")]
