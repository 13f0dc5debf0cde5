"""`tsrnn fit`, `tsrnn predict`, `tsrnn backtest`: thin commands over RNNForecaster."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsrnn.cli.app import app, err, refuse_existing, refuse_options
from tsrnn.cli.options import (Covariate, DataPath, Experiment, Fill, Force, IdCol, Json, NoTrack, RunName, Sep, Sort,
                               Target, Test, TimeCol, TrackingUri, Val, load_args, split_size)
from tsrnn.errors import ConfigError

ModelDir = Annotated[Path, typer.Option("--model", "-m", help="Model directory written by `tsrnn fit`.")]


def _quantiles(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise ConfigError(f"--quantiles {text!r} is not a comma-separated list of numbers", "e.g. --quantiles 0.1,0.5,0.9") from e


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
            t.add_row(split, name, f"{m['mse']:.4f}", f"{m['mae']:.4f}", f"{m['mse_original']:.4g}",
                      f"{m['mae_original']:.4g}", style=style)
    Console().print(t)


FORECAST_ONLY = ("horizon", "head", "teacher_forcing", "instance_norm", "channel_independent", "quantiles",
                 "tbptt_steps", "stateful", "lr_schedule", "test", "covariate", "id_col", "resume")
DETECT_ONLY = ("method", "threshold")


def _check_task_options(task: str, given: dict[str, Any]) -> None:
    if task not in ("forecast", "detect"):
        raise ConfigError(f"unknown --task {task!r}", "use forecast or detect")
    other = "forecast" if task == "detect" else "detect"
    refuse_options(fit, given, FORECAST_ONLY if task == "detect" else DETECT_ONLY,
                   f"does not apply to --task {task}", f"drop it, or use --task {other}")


@app.command()
def fit(
    data: DataPath,
    task: Annotated[str, typer.Option(help="forecast | detect (an anomaly detector for `tsrnn detect --model`).")] = "forecast",
    time_col: TimeCol = None,
    target: Target = None,
    covariate: Covariate = None,
    id_col: IdCol = None,
    fill: Fill = "error",
    sort: Sort = False,
    sep: Sep = None,
    lookback: Annotated[int, typer.Option("--lookback", "-L", help="Input rows per window.")] = 96,
    horizon: Annotated[int, typer.Option("--horizon", "-H", help="Rows to forecast.")] = 24,
    cell: Annotated[str, typer.Option(help="Recurrent cell: rnn | lstm | gru.")] = "lstm",
    head: Annotated[str, typer.Option(help="direct (all steps at once) | seq2seq (a recurrent decoder).")] = "direct",
    layers: Annotated[int, typer.Option(help="Stacked recurrent layers.")] = 1,
    hidden: Annotated[int, typer.Option(help="Units per layer.")] = 32,
    bidirectional: Annotated[bool, typer.Option("--bidirectional", help="Read the lookback both ways.")] = False,
    dropout: Annotated[float, typer.Option(help="Dropout between layers.")] = 0.0,
    teacher_forcing: Annotated[float, typer.Option(help="seq2seq: share of decoder steps fed the truth in training.")] = 0.5,
    instance_norm: Annotated[bool, typer.Option("--instance-norm/--no-instance-norm",
                                                help="Normalise each window by its own mean and std.")] = True,
    channel_independent: Annotated[bool, typer.Option("--channel-independent/--multivariate",
                                                      help="Each target its own sequence with shared weights, or all targets in one sequence.")] = True,
    quantiles: Annotated[Optional[str], typer.Option(help="Prediction intervals, e.g. 0.1,0.5,0.9 (pinball loss).")] = None,
    scaler: Annotated[str, typer.Option(help="standard | minmax | robust | none, fitted on training rows.")] = "standard",
    epochs: Annotated[int, typer.Option(help="Most training epochs.")] = 30,
    patience: Annotated[int, typer.Option(help="Stop after this many epochs without a better validation loss (0: never).")] = 5,
    batch_size: Annotated[int, typer.Option(help="Windows per batch.")] = 32,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    lr_schedule: Annotated[str, typer.Option(help="cosine | plateau | onecycle | none.")] = "cosine",
    tbptt_steps: Annotated[Optional[int], typer.Option(help="Truncated BPTT: backpropagate through the last K steps only.")] = None,
    stateful: Annotated[bool, typer.Option("--stateful", help="One long series: chunks of --tbptt-steps, state carried across batches.")] = False,
    clip_grad_norm: Annotated[float, typer.Option(help="Clip the gradient norm (0: no clipping).")] = 1.0,
    val: Val = "0.1",
    test: Test = "0.2",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16 on GPU) | fp32 | bf16.")] = "auto",
    seed: Annotated[Optional[int], typer.Option(help="Random seed (same seed, same model on CPU).")] = 0,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Model directory (default tsrnn-models/<data>-<time>).")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue from a checkpoint (DIR/checkpoint/last.safetensors).")] = None,
    force: Force = False,
    method: Annotated[str, typer.Option(help="--task detect: forecast | reconstruction.")] = "forecast",
    threshold: Annotated[str, typer.Option(help="--task detect: quantile | gaussian | dynamic | pot | conformal.")] = "pot",
    no_track: NoTrack = False,
    tracking_uri: TrackingUri = None,
    experiment: Experiment = "tsrnn",
    run_name: RunName = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Json = False,
) -> None:
    """Train a recurrent forecaster (or, with --task detect, an anomaly detector), report it and save it.

    With --task detect, --lookback is the detector's window and --val the calibration part."""
    from tsrnn.data import load_series
    from tsrnn.estimators import RNNAnomalyDetector, RNNForecaster

    from tsrnn.tracking import maybe_run

    _check_task_options(task, locals())
    out = out or Path("tsrnn-models") / f"{data.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    refuse_existing(out, force, "--out")
    if no_track:
        refuse_options(fit, locals(), ("tracking_uri", "experiment", "run_name"), "has no effect with --no-track",
                       "drop it, or drop --no-track")
    with maybe_run(not no_track, tracking_uri, experiment, run_name, {"tsrnn.task": task}) as run:
        summary = _fit(**{k: v for k, v in locals().items() if k not in ("maybe_run",)})
    if run is not None:
        if run.broken:
            err(f"[yellow]MLflow tracking failed ({run.broken}); the model is saved in {summary['model_dir']}[/]")
        else:
            summary["run_id"] = run.id
            err(f"MLflow run {run.id} (experiment {experiment!r}, store {run.uri})")
    if as_json:
        print(json.dumps(summary, indent=2))
    elif "metrics" not in summary:
        print(f"detector saved to {summary['model_dir']}")
    else:
        print(f"model saved to {summary['model_dir']}")


def _fit(**a: Any) -> dict[str, Any]:
    """The work of `tsrnn fit`, with ``run`` an open MLflow run or None."""
    from tsrnn.data import load_series
    from tsrnn.estimators import RNNAnomalyDetector, RNNForecaster
    from tsrnn.tracking import TrackingCallback, flat_metrics, log_data

    (data, task, time_col, target, covariate, id_col, fill, sort, sep, lookback, horizon, cell, head, layers, hidden,
     bidirectional, dropout, teacher_forcing, instance_norm, channel_independent, quantiles, scaler, epochs, patience,
     batch_size, lr, lr_schedule, tbptt_steps, stateful, clip_grad_norm, val, test, device, precision, seed, out,
     resume, force, method, threshold, quiet, as_json, run) = (
        a[k] for k in ("data", "task", "time_col", "target", "covariate", "id_col", "fill", "sort", "sep", "lookback",
                       "horizon", "cell", "head", "layers", "hidden", "bidirectional", "dropout", "teacher_forcing",
                       "instance_norm", "channel_independent", "quantiles", "scaler", "epochs", "patience",
                       "batch_size", "lr", "lr_schedule", "tbptt_steps", "stateful", "clip_grad_norm", "val", "test",
                       "device", "precision", "seed", "out", "resume", "force", "method", "threshold", "quiet",
                       "as_json", "run"))
    callbacks = [TrackingCallback(run)] if run is not None else None
    if task == "detect":
        calibration = split_size(val)
        if not isinstance(calibration, float):
            raise ConfigError(f"with --task detect, --val is the calibration fraction; got {val!r}", "e.g. --val 0.2")
        det = RNNAnomalyDetector(
            method=method, threshold=threshold, window=lookback, cell=cell, hidden_size=hidden, num_layers=layers,
            bidirectional=bidirectional, dropout=dropout, calibration=calibration, scaler=scaler,
            epochs=epochs, batch_size=batch_size, lr=lr, patience=patience or None,
            clip_grad_norm=clip_grad_norm or None, time_col=time_col, target=target or None, fill=fill,
            random_state=seed, device=device, precision=precision, verbose=not quiet and not as_json,
            callbacks=callbacks)
        series = load_series(data, **load_args(time_col, target, covariate, id_col, fill, sort, sep))
        det.fit(series)
        det.save(out, overwrite=force)
        if run is not None:
            run.log_params({k: v for k, v in det.get_params().items() if k != "callbacks"})
            log_data(run, series)
            run.log_metrics({"threshold": det.threshold_} if det.threshold_ is not None else {})
            run.log_artifacts(out, "model")
        return {"model_dir": str(out), "epochs": len(det.history_.epochs), "status": det.history_.status,
                "threshold": det.threshold_}
    staging = out.with_name(f".{out.name}.checkpoint")
    series = load_series(data, **load_args(time_col, target, covariate, id_col, fill, sort, sep))
    for w in series.report.warnings:
        err(f"[yellow]warning:[/] {w}")
    model = RNNForecaster(
        cell=cell, head=head, lookback=lookback, horizon=horizon, hidden_size=hidden, num_layers=layers,
        bidirectional=bidirectional, dropout=dropout, teacher_forcing=teacher_forcing, instance_norm=instance_norm,
        channel_independent=channel_independent, quantiles=_quantiles(quantiles), scaler=scaler, epochs=epochs,
        batch_size=batch_size, lr=lr, lr_schedule=lr_schedule, patience=patience or None, tbptt_steps=tbptt_steps,
        stateful=stateful, clip_grad_norm=clip_grad_norm or None, val=split_size(val), test=split_size(test), time_col=time_col,
        target=target or None, covariates=covariate or None, id_col=id_col, fill=fill, random_state=seed,
        device=device, precision=precision, checkpoint_dir=str(staging), verbose=not quiet and not as_json,
        callbacks=callbacks)
    try:
        model.fit(series, resume=resume)
    except BaseException:
        if (staging / "last.safetensors").exists():
            err(f"[yellow]training failed; the last checkpoint is kept in {staging}[/]")
        raise
    model.save(out, overwrite=force)
    ckpt = staging / "last.safetensors"
    if ckpt.exists():
        (out / "checkpoint").mkdir(exist_ok=True)
        shutil.move(str(ckpt), out / "checkpoint" / "last.safetensors")
    shutil.rmtree(staging, ignore_errors=True)
    h = model.history_
    if run is not None:
        run.log_params({k: v for k, v in model.get_params().items() if k not in ("callbacks", "checkpoint_dir")})
        log_data(run, series, model.windows_.bounds)
        run.log_metrics(flat_metrics(model.metrics_))
        run.log_artifacts(out, "model")
    summary = {"model_dir": str(out), "status": h.status, "epochs": len(h.epochs), "best_epoch": h.best_epoch,
               "metrics": model.metrics_}
    if as_json:
        return summary
    last = h.epochs[-1] if h.epochs else {}
    err(f"trained {len(h.epochs)} epoch(s) ({h.status}"
        + (f", best epoch {h.best_epoch}" if h.best_epoch else "") + ")"
        + (f", {last.get('samples_per_s', 0):,.0f} samples/s on {model.device_}" if last else ""))
    if model.metrics_:
        _metrics_table(model.metrics_, f"{data.name}: L={lookback} H={horizon}, scaled errors (lower is better)")
    if h.status == "interrupted":
        err(f"[yellow]interrupted: the best weights so far are saved; continue with "
            f"--resume {out / 'checkpoint' / 'last.safetensors'}[/]")
    return summary


@app.command()
def predict(
    data: DataPath,
    model: ModelDir,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the forecast to this CSV.")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Write a PNG plot of history, forecast and intervals.")] = None,
    force: Force = False,
    as_json: Json = False,
) -> None:
    """Forecast the steps after the end of DATA with a saved model."""
    from tsrnn.estimators import RNNForecaster

    refuse_existing(output, force, "--output")
    refuse_existing(plot, force, "--plot")
    est = RNNForecaster.load(model)
    series = est._load_like(data)
    forecast = est.predict(series)
    if output is not None:
        forecast.to_csv(output)
        err(f"forecast written to {output}")
    if plot is not None:
        from tsrnn.plotting import plot_forecast

        plot_forecast(series, forecast, est.targets_, est._quantile_levels(), plot, history=4 * est.horizon)
        err(f"plot written to {plot}")
    if as_json:
        print(forecast.reset_index().to_json(orient="records", date_format="iso", indent=2))
    elif output is None:
        print(forecast.to_csv(), end="")


@app.command()
def backtest(
    data: DataPath,
    model: ModelDir,
    val: Annotated[Optional[str], typer.Option(help="Validation split (default: the model's).")] = None,
    test: Annotated[Optional[str], typer.Option(help="Test split (default: the model's).")] = None,
    as_json: Json = False,
) -> None:
    """Evaluate a saved model on every window of DATA's test split, beside naive baselines."""
    from tsrnn.estimators import RNNForecaster

    est = RNNForecaster.load(model)
    if val is not None:
        est.val = split_size(val)
    if test is not None:
        est.test = split_size(test)
    table = est.backtest(data)
    result = {"windows": table.attrs["windows"], "methods": table.to_dict(orient="index")}
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _metrics_table({"test": {k: v for k, v in result["methods"].items()}},
                   f"{data.name}: backtest over {result['windows']:,} test windows")
