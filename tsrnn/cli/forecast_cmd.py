"""`tsrnn fit`, `tsrnn predict`, `tsrnn backtest`: thin commands over RNNForecaster."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsrnn.checks import check_choice, refuse_unused
from tsrnn.cli.app import app, check_tracking, err, refuse_existing, warn
from tsrnn.cli.options import (
    Agg,
    BatchSize,
    Bidirectional,
    Cell,
    ClipGradNorm,
    Covariate,
    DataPath,
    DayFirst,
    Device,
    Dropout,
    Duplicates,
    Epochs,
    Experiment,
    Fill,
    Force,
    Hidden,
    IdCol,
    Json,
    Layers,
    Lookback,
    Lr,
    LrSchedule,
    ModelRef,
    NoTrack,
    Patience,
    Precision,
    Quiet,
    Register,
    Resample,
    RunName,
    Scaler,
    Seed,
    Sep,
    Sort,
    Target,
    Test,
    TimeCol,
    TrackingUri,
    Val,
    check_params,
    estimator_params,
    split_size,
)


def _metrics_table(metrics: dict[str, Any], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in ("split", "method", "MSE", "MAE", "MSE (orig.)", "MAE (orig.)"):
        t.add_column(col, justify="left" if col in ("split", "method") else "right")
    for split, methods in metrics.items():
        best = min(m["mse"] for m in methods.values())
        for name, m in methods.items():
            style = "bold green" if m["mse"] == best else ""
            t.add_row(
                split,
                name,
                f"{m['mse']:.4f}",
                f"{m['mae']:.4f}",
                f"{m['mse_original']:.4g}",
                f"{m['mae_original']:.4g}",
                style=style,
            )
    Console().print(t)


@app.command()
def fit(
    ctx: typer.Context,
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
    horizon: Annotated[int, typer.Option("--horizon", "-H", help="Rows to forecast.")] = 24,
    cell: Cell = "gru",
    head: Annotated[
        str,
        typer.Option(
            help="direct (all steps by one linear layer) | seq2seq (a recurrent decoder fed its own output) | "
            "parallel (one recurrent step per output segment, all at once)."
        ),
    ] = "direct",
    segment_length: Annotated[
        str,
        typer.Option(
            help="Rows per recurrent step (segment recurrence): a number, auto (the season, e.g. 24 for hourly "
            "data) or none (one row per step)."
        ),
    ] = "auto",
    num_layers: Layers = 1,
    hidden_size: Hidden = 64,
    bidirectional: Bidirectional = False,
    dropout: Dropout = 0.5,
    teacher_forcing: Annotated[
        float, typer.Option(help="seq2seq: share of decoder steps fed the truth in training.")
    ] = 0.5,
    norm: Annotated[
        str,
        typer.Option(help="Per-window normalisation: instance (own mean and std) | last (minus last value) | none."),
    ] = "last",
    channel_independent: Annotated[
        bool,
        typer.Option(
            "--channel-independent/--multivariate",
            help="Each target its own sequence with shared weights, or all targets in one sequence.",
        ),
    ] = True,
    loss: Annotated[
        str, typer.Option(help="Training loss of a point forecast: mse (the mean) | mae (the median) | huber.")
    ] = "mse",
    quantiles: Annotated[
        Optional[str], typer.Option(help="Prediction intervals, e.g. 0.1,0.5,0.9 (pinball loss).")
    ] = None,
    scaler: Scaler = "standard",
    sampling: Annotated[
        str, typer.Option(help="Many series: uniform (every window once an epoch) | balanced (equal per series).")
    ] = "uniform",
    series_embedding: Annotated[
        Optional[int], typer.Option(help="Many series: learn this many numbers per series, fed with every step.")
    ] = None,
    epochs: Epochs = 30,
    patience: Patience = 5,
    batch_size: BatchSize = 64,
    lr: Lr = 3e-4,
    lr_schedule: LrSchedule = "cosine",
    tbptt_steps: Annotated[
        Optional[int], typer.Option(help="Truncated BPTT: backpropagate through the last K steps only.")
    ] = None,
    stateful: Annotated[
        bool, typer.Option("--stateful", help="One long series: chunks of --tbptt-steps, state carried across batches.")
    ] = False,
    clip_grad_norm: ClipGradNorm = 1.0,
    val: Val = "0.1",
    test: Test = "0.2",
    device: Device = "auto",
    precision: Precision = "auto",
    random_state: Seed = 0,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Model directory (default tsrnn-models/<data>-<time>).")
    ] = None,
    resume: Annotated[
        Optional[str],
        typer.Option(
            help="Continue training: a checkpoint file (DIR/checkpoint/last.safetensors), or an MLflow RUN_ID whose "
            "checkpoint and options are used (options you give override them)."
        ),
    ] = None,
    register: Register = None,
    force: Force = False,
    no_track: NoTrack = False,
    tracking_uri: TrackingUri = None,
    experiment: Experiment = "tsrnn",
    run_name: RunName = None,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Train a recurrent forecaster, report it and save it (anomaly detectors: `tsrnn detect`)."""
    from tsrnn.distributed import is_main
    from tsrnn.estimators import RNNForecaster
    from tsrnn.tracking import maybe_run, resume_from

    given = dict(locals())
    out = out or Path("tsrnn-models") / f"{data.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    refuse_existing(out, force, "--out", makes_folders=True)
    check_tracking(fit, given, tracked=not no_track)
    if resume is not None and not Path(resume).exists():  # an MLflow run keeps its experiment and name
        refuse_unused(fit, ("experiment", "run_name"), "with --resume RUN_ID (the run keeps its own)", given)
    typed = {
        n for n in ctx.params if getattr(ctx.get_parameter_source(n), "name", None) in ("COMMANDLINE", "ENVIRONMENT")
    }
    with tempfile.TemporaryDirectory(prefix="tsrnn-resume-") as scratch:
        plan = resume_from(
            resume,
            estimator_params(RNNForecaster, given),
            typed,
            Path(scratch),
            tracking_uri=tracking_uri,
            tracking=not no_track,
        )
        if plan.run_id:
            err(f"resuming MLflow run {plan.run_id} from its checkpoint")
        model = check_params(RNNForecaster(**plan.params, verbose=not quiet and not as_json), fit, given)
        series = model.read(data, sort=sort, sep=sep)
        plan.check_data(series, str(data))
        warn(series.report.warnings if is_main() else ())
        with maybe_run(
            not no_track and is_main(), tracking_uri, experiment, run_name, {"tsrnn.task": "forecast"}, plan.run_id
        ) as run:
            _fit_and_save(model, series, plan.checkpoint, out, force, run, register)
    if is_main():
        warn(w for w in model.warnings_ if w not in series.report.warnings)  # the fit's own, e.g. idle series
        _report_fit(model, data, out, run, as_json, register)


def _fit_and_save(
    model: Any, series: Any, checkpoint: Path | None, out: Path, force: bool, run: Any, register: str | None
) -> None:
    """Train with a checkpoint every epoch (kept beside ``out`` until the model is saved), save,
    log to the run. A failed or interrupted fit keeps its last checkpoint and says where."""
    from tsrnn.distributed import is_main

    staging = out.with_name(f".{out.name}.checkpoint")
    model.set_params(checkpoint_dir=str(staging), callbacks=[run.callback] if run is not None else None)
    if run is not None:
        run.log_dict({"kind": type(model).__name__, "params": model.record_params()}, "params.json")
    try:
        model.fit(series, resume=checkpoint)
    except BaseException:
        if is_main() and (staging / "last.safetensors").exists():
            err(f"[yellow]training failed; the last checkpoint is kept in {staging}[/]")
            if run is not None:
                run.log_artifacts(staging / "last.safetensors", "checkpoint")
        raise
    if is_main():
        model.save(out, overwrite=force)  # with checkpoint/last.safetensors
        shutil.rmtree(staging, ignore_errors=True)
        if run is not None:
            run.log_estimator(model, out, register)


def _report_fit(model: Any, data: Path, out: Path, run: Any, as_json: bool, register: str | None) -> None:
    """What `tsrnn fit` prints: the run, the training summary and the metrics table (or JSON)."""
    h = model.history_
    summary = {
        "model_dir": str(out),
        "status": h.status,
        "epochs": len(h.epochs),
        "best_epoch": h.best_epoch,
        "metrics": model.metrics_,
    }
    if run is not None and run.broken:
        err(f"[yellow]MLflow tracking failed ({run.broken}); the model is saved in {out}[/]")
    elif run is not None:
        summary["run_id"] = run.id
        err(f"MLflow run {run.id} (store {run.uri})" + (f"; model registered as {register!r}" if register else ""))
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        last = h.epochs[-1] if h.epochs else {}
        err(
            f"trained {len(h.epochs)} epoch(s) ({h.status}"
            + (f", best epoch {h.best_epoch}" if h.best_epoch else "")
            + ")"
            + (f", {last.get('samples_per_s', 0):,.0f} samples/s on {model.device_}" if last else "")
        )
        if model.metrics_:
            _metrics_table(
                model.metrics_, f"{data.name}: L={model.lookback} H={model.horizon}, scaled errors (lower is better)"
            )
        print(f"model saved to {out}")
    if h.status == "interrupted":
        again = run.id if run is not None and not run.broken else out / "checkpoint" / "last.safetensors"
        err(f"[yellow]interrupted: the best weights so far are saved; continue with --resume {again}[/]")
        raise typer.Exit(130)  # saved, but not finished: `tsrnn fit ... && next` stops here


@app.command()
def predict(
    data: DataPath,
    model: ModelRef,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the forecast to this CSV.")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Write a PNG plot of history, forecast and intervals.")] = None,
    sort: Sort = False,
    short: Annotated[
        str,
        typer.Option(
            "--short", help="A series shorter than the model's lookback: error | skip (forecast the others, warn)."
        ),
    ] = "error",
    force: Force = False,
    tracking_uri: TrackingUri = None,
    as_json: Json = False,
) -> None:
    """Forecast the steps after the end of DATA with a saved model."""
    from tsrnn.estimators import RNNForecaster
    from tsrnn.pyfunc import load_ref
    from tsrnn.windows import SHORT, skip_short

    check_choice("--short", short, SHORT)
    refuse_existing(output, force, "--output")
    refuse_existing(plot, force, "--plot")
    est = load_ref(model, tracking_uri, RNNForecaster)
    series = est.load_data(data, sort=sort)
    warn(series.report.warnings)  # e.g. dates that could be day or month first, a gap in the lookback
    if short == "skip":  # here, not in predict, so that the plot shows the series forecast; main prints the warning
        series = skip_short(series, est.lookback)
    forecast = est.predict(series)
    if output is not None:
        forecast.to_csv(output)
        err(f"forecast written to {output}")
    if plot is not None:
        from tsrnn.plotting import plot_forecast

        plot_forecast(series, forecast, est.targets_, est.quantile_levels_, plot, history=4 * est.horizon)
        err(f"plot written to {plot}")
    if as_json:
        print(forecast.reset_index().to_json(orient="records", date_format="iso", indent=2))
    elif output is None:
        print(forecast.to_csv(), end="")


@app.command()
def backtest(
    data: DataPath,
    model: ModelRef,
    val: Annotated[Optional[str], typer.Option(help="Validation split (default: the model's).")] = None,
    test: Annotated[Optional[str], typer.Option(help="Test split (default: the model's).")] = None,
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output",
            "-o",
            help="Also write every test window's forecast to this CSV (id, origin, time, step, targets, quantiles).",
        ),
    ] = None,
    sort: Sort = False,
    force: Force = False,
    tracking_uri: TrackingUri = None,
    as_json: Json = False,
) -> None:
    """Evaluate a saved model on every window of DATA's test split, beside naive baselines."""
    from tsrnn.estimators import RNNForecaster
    from tsrnn.pyfunc import load_ref

    refuse_existing(output, force, "--output")
    est = load_ref(model, tracking_uri, RNNForecaster)
    est.set_params(**{k: split_size(v) for k, v in (("val", val), ("test", test)) if v is not None})
    series = est.load_data(data, sort=sort)
    warn(series.report.warnings)
    table = est.backtest(series, output=output)
    if output is not None:
        err(f"forecasts of {table.attrs['windows']:,} windows written to {output}")
    result = {"windows": table.attrs["windows"], "methods": table.to_dict(orient="index")}
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _metrics_table({"test": result["methods"]}, f"{data.name}: backtest over {result['windows']:,} test windows")
