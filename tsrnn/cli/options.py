"""Options shared by several commands (Typer reads the Annotated metadata), and the one place
where command-line values become estimator parameters.

A command's Python parameter is named like the estimator parameter it sets (``num_layers``,
``hidden_size``, ``random_state``), whatever its flag (``--layers``, ``--hidden``, ``--seed``), so
``estimator_params`` can pick a command's estimator options by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsrnn.errors import ConfigError

DataPath = Annotated[
    Path, typer.Argument(help="CSV or Parquet file with a time column and numeric columns.", show_default=False)
]
# --- data
TimeCol = Annotated[Optional[str], typer.Option("--time-col", help="Time column (default: the one date-like column).")]
Target = Annotated[
    Optional[list[str]],
    typer.Option("--target", "-t", help="Column to model; repeat for several (default: all numeric)."),
]
Covariate = Annotated[
    Optional[list[str]], typer.Option("--covariate", "-c", help="Input-only column, observed in the past; repeatable.")
]
Exclude = Annotated[
    Optional[list[str]],
    typer.Option("--exclude", "-x", help="A column not to use as input (repeatable), e.g. label columns."),
]
IdCol = Annotated[Optional[str], typer.Option("--id-col", help="Series id column for many series in long format.")]
Fill = Annotated[str, typer.Option("--fill", help="NaN/inf and gaps: error | ffill | interpolate | zero.")]
Sort = Annotated[bool, typer.Option("--sort", help="Sort rows by time instead of refusing unsorted input.")]
Duplicates = Annotated[
    str, typer.Option("--duplicates", help="Rows with the same timestamp: error | first | last | mean (collapse them).")
]
Resample = Annotated[
    Optional[str],
    typer.Option(
        "--resample", help="Put every series on this regular grid first, e.g. 5min, 1h, 1D (mends jittered times)."
    ),
]
Agg = Annotated[
    str, typer.Option("--agg", help="--resample: combine a step's rows by mean | last | first | sum | max | min.")
]
DayFirst = Annotated[
    Optional[bool],
    typer.Option(
        "--day-first/--month-first",
        help="Dates with the year last (01/02/2024): read day first or month first "
        "(default: as the data show; dates that could be either are read month first, with a warning).",
        show_default=False,
    ),
]
Sep = Annotated[Optional[str], typer.Option("--sep", help="CSV field separator (default: detected from the header).")]
Scaler = Annotated[str, typer.Option(help="standard | minmax | robust | none, fitted on training rows.")]
# --- model
Lookback = Annotated[
    int, typer.Option("--lookback", "-L", "--window", help="Input rows per window (--window: the same, older name).")
]
Cell = Annotated[str, typer.Option(help="Recurrent cell: rnn | lstm | gru.")]
Layers = Annotated[int, typer.Option("--layers", help="Stacked recurrent layers.")]
Hidden = Annotated[int, typer.Option("--hidden", help="Units per layer.")]
Bidirectional = Annotated[bool, typer.Option("--bidirectional", help="Read each window both ways.")]
Dropout = Annotated[float, typer.Option(help="Dropout between layers and before the output layer.")]
# --- training
Epochs = Annotated[int, typer.Option(help="Most training epochs.")]
Patience = Annotated[int, typer.Option(help="Stop after this many epochs without a better validation loss (0: never).")]
BatchSize = Annotated[int, typer.Option(help="Windows per batch.")]
Lr = Annotated[float, typer.Option(help="Learning rate.")]
LrSchedule = Annotated[str, typer.Option(help="cosine | plateau | onecycle | none.")]
ClipGradNorm = Annotated[float, typer.Option(help="Clip the gradient norm (0: no clipping).")]
Stride = Annotated[int, typer.Option("--stride", help="Rows between consecutive training windows.")]
Val = Annotated[str, typer.Option("--val", help="Held-out split: a fraction (0.1), rows (500) or a start time.")]
Test = Annotated[str, typer.Option("--test", help="Test split: a fraction (0.2), rows (500) or a start time.")]
Device = Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N.")]
Precision = Annotated[
    str, typer.Option(help="auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16 (GPU, or a CPU with AVX512-BF16 or AMX).")
]
Seed = Annotated[Optional[int], typer.Option("--seed", help="Random seed (same seed, same model on CPU).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
# --- models, outputs, tracking
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
NoTrack = Annotated[bool, typer.Option("--no-track", help="Do not record this run in MLflow.")]
TrackingUri = Annotated[
    Optional[str],
    typer.Option(
        "--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite under ./mlruns)."
    ),
]
Experiment = Annotated[str, typer.Option("--experiment", help="MLflow experiment name.")]
RunName = Annotated[Optional[str], typer.Option("--run-name", help="MLflow run name.")]
Register = Annotated[
    Optional[str], typer.Option(help="Register the logged model under this name in the MLflow model registry.")
]


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


def quantile_list(text: str | None) -> list[float] | None:
    """'0.1,0.5,0.9' -> [0.1, 0.5, 0.9]."""
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise ConfigError(
            f"--quantiles {text!r} is not a comma-separated list of numbers", "e.g. --quantiles 0.1,0.5,0.9"
        ) from e


def count_auto_none(flag: str, example: str) -> Any:
    """A converter of an option's text: '24' -> 24, 'auto' -> 'auto', 'none' -> None."""

    def convert(text: str) -> int | str | None:
        word = text.strip().lower()
        if word in ("auto", "none"):
            return None if word == "none" else "auto"
        try:
            return int(text)
        except ValueError as e:
            raise ConfigError(f"{flag} {text!r} is neither a whole number, 'auto' nor 'none'", example) from e

    return convert


segment_length = count_auto_none(
    "--segment-length", "e.g. --segment-length 24 for hourly data, auto (from the data's frequency) or none (per-step)"
)


# options whose 0 is the estimator's None (off): patience, no clipping, no adaptation, flagged rows never learned
ZERO_IS_NONE = ("patience", "clip_grad_norm", "adapt_every", "adapt_persist")

# command-line value -> estimator parameter, where they differ
_CONVERT = {
    **{name: (lambda v: v or None) for name in ZERO_IS_NONE},
    "val": split_size,
    "test": split_size,
    "quantiles": quantile_list,
    "segment_length": segment_length,
    "calibration_folds": count_auto_none("--calibration-folds", "e.g. --calibration-folds 5, auto or none"),
    "target": lambda v: v or None,  # an empty repeatable option: none given
    "covariates": lambda v: v or None,
    "exclude": lambda v: v or None,
}


def check_params(estimator: Any, command: Any, given: dict[str, Any]) -> Any:
    """``estimator`` with its parameters checked before any work; a refusal names the command's
    flags (``--hidden``), not the estimator's parameters (``hidden_size``), where they differ."""
    import re

    from tsrnn.checks import flag_of

    try:
        estimator._check_params()
    except ConfigError as e:
        named = (n for n in given if "_" in n or n in ZERO_IS_NONE)  # words like target stay
        for name in sorted(named, key=len, reverse=True):
            # not name=value: that is the estimator's spelling of a value, as in "adapt_every=None"
            pattern, flag = rf"(?<![\w-]){re.escape(name)}(?![\w=])", flag_of(command, name, given[name])
            if name in ZERO_IS_NONE and re.search(pattern, e.message):
                e.hint = e.hint and e.hint.replace("or None", "or 0 (off)")  # the flag's spelling of None
            e.message = re.sub(pattern, flag, e.message)
            e.hint = e.hint and re.sub(pattern, flag, e.hint)
        raise
    return estimator


def estimator_params(cls: type, given: dict[str, Any]) -> dict[str, Any]:
    """The options in ``given`` (a command's parameters) that are parameters of the estimator
    ``cls``, converted to what the estimator takes."""
    names = cls().get_params()
    return {k: _CONVERT.get(k, lambda v: v)(v) for k, v in given.items() if k in names}
