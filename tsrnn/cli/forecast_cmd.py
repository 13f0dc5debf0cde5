"""`tsrnn fit`, `tsrnn predict`, `tsrnn backtest`: thin commands over RNNForecaster."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any, Optional

import typer

from tsrnn.cli.app import app, err, refuse_existing, refuse_options
from tsrnn.cli.options import (
    Covariate,
    DataPath,
    Experiment,
    Fill,
    Force,
    IdCol,
    Json,
    ModelRef,
    NoTrack,
    RunName,
    Sep,
    Sort,
    Target,
    Test,
    TimeCol,
    TrackingUri,
    Val,
    load_args,
    split_size,
)
from tsrnn.errors import ConfigError


def _quantiles(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise ConfigError(
            f"--quantiles {text!r} is not a comma-separated list of numbers", "e.g. --quantiles 0.1,0.5,0.9"
        ) from e


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


FORECAST_ONLY = (
    "horizon",
    "head",
    "teacher_forcing",
    "instance_norm",
    "channel_independent",
    "quantiles",
    "tbptt_steps",
    "stateful",
    "lr_schedule",
    "test",
    "covariate",
    "id_col",
    "resume",
    "sampling",
    "series_embedding",
)
DETECT_ONLY = ("method", "threshold")


def _check_task_options(task: str, given: dict[str, Any]) -> None:
    if task not in ("forecast", "detect"):
        raise ConfigError(f"unknown --task {task!r}", "use forecast or detect")
    other = "forecast" if task == "detect" else "detect"
    refuse_options(
        fit,
        given,
        FORECAST_ONLY if task == "detect" else DETECT_ONLY,
        f"does not apply to --task {task}",
        f"drop it, or use --task {other}",
    )


@app.command()
def fit(
    ctx: typer.Context,
    data: DataPath,
    task: Annotated[
        str, typer.Option(help="forecast | detect (an anomaly detector for `tsrnn detect --model`).")
    ] = "forecast",
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
    teacher_forcing: Annotated[
        float, typer.Option(help="seq2seq: share of decoder steps fed the truth in training.")
    ] = 0.5,
    instance_norm: Annotated[
        bool, typer.Option("--instance-norm/--no-instance-norm", help="Normalise each window by its own mean and std.")
    ] = True,
    channel_independent: Annotated[
        bool,
        typer.Option(
            "--channel-independent/--multivariate",
            help="Each target its own sequence with shared weights, or all targets in one sequence.",
        ),
    ] = True,
    quantiles: Annotated[
        Optional[str], typer.Option(help="Prediction intervals, e.g. 0.1,0.5,0.9 (pinball loss).")
    ] = None,
    scaler: Annotated[
        str, typer.Option(help="standard | minmax | robust | none, fitted on training rows.")
    ] = "standard",
    sampling: Annotated[
        str,
        typer.Option(help="Many series: uniform (every window once an epoch) | balanced (equal windows per series)."),
    ] = "uniform",
    series_embedding: Annotated[
        Optional[int], typer.Option(help="Many series: learn this many numbers per series, fed with every step.")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Most training epochs.")] = 30,
    patience: Annotated[
        int, typer.Option(help="Stop after this many epochs without a better validation loss (0: never).")
    ] = 5,
    batch_size: Annotated[int, typer.Option(help="Windows per batch.")] = 32,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    lr_schedule: Annotated[str, typer.Option(help="cosine | plateau | onecycle | none.")] = "cosine",
    tbptt_steps: Annotated[
        Optional[int], typer.Option(help="Truncated BPTT: backpropagate through the last K steps only.")
    ] = None,
    stateful: Annotated[
        bool, typer.Option("--stateful", help="One long series: chunks of --tbptt-steps, state carried across batches.")
    ] = False,
    clip_grad_norm: Annotated[float, typer.Option(help="Clip the gradient norm (0: no clipping).")] = 1.0,
    val: Val = "0.1",
    test: Test = "0.2",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16 on GPU) | fp32 | bf16.")] = "auto",
    seed: Annotated[Optional[int], typer.Option(help="Random seed (same seed, same model on CPU).")] = 0,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Model directory (default tsrnn-models/<data>-<time>).")
    ] = None,
    resume: Annotated[
        Optional[str],
        typer.Option(
            help="Continue training: a checkpoint file (DIR/checkpoint/last.safetensors), or an MLflow RUN_ID whose checkpoint and options are used (options you give override them)."
        ),
    ] = None,
    register: Annotated[
        Optional[str], typer.Option(help="Register the logged model under this name in the MLflow model registry.")
    ] = None,
    force: Force = False,
    method: Annotated[str, typer.Option(help="--task detect: forecast | reconstruction.")] = "forecast",
    threshold: Annotated[
        str, typer.Option(help="--task detect: quantile | gaussian | dynamic | pot | conformal.")
    ] = "pot",
    no_track: NoTrack = False,
    tracking_uri: TrackingUri = None,
    experiment: Experiment = "tsrnn",
    run_name: RunName = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Json = False,
) -> None:
    """Train a recurrent forecaster (or, with --task detect, an anomaly detector), report it and save it.

    With --task detect, --lookback is the detector's window and --val the calibration part."""
    from tsrnn.distributed import is_main, world_size
    from tsrnn.tracking import check_register, maybe_run

    o = SimpleNamespace(**{k: v for k, v in locals().items() if k != "ctx"})
    o.main = is_main()  # under torchrun only rank 0 tracks, saves and prints; every process trains
    _check_task_options(task, vars(o))
    o.out = out or Path("tsrnn-models") / f"{data.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    refuse_existing(o.out, force, "--out")
    if no_track:
        refuse_options(
            fit,
            vars(o),
            ("tracking_uri", "experiment", "run_name", "register"),
            "has no effect with --no-track",
            "drop it, or drop --no-track",
        )
    o.resume_run = _run_to_resume(resume)
    if o.resume_run and world_size() > 1:
        raise ConfigError(
            "--resume RUN_ID is not supported under torchrun (only rank 0 reads MLflow)",
            "pass the run's checkpoint file: --resume DIR/checkpoint/last.safetensors",
        )
    if o.resume_run and no_track:
        raise ConfigError(
            "--resume RUN_ID reads the run's checkpoint from MLflow, which --no-track turns off",
            "drop --no-track, or pass the checkpoint file: --resume DIR/checkpoint/last.safetensors",
        )
    check_register(register)
    o.explicit = {
        n
        for n in vars(o)
        if n in ctx.params and getattr(ctx.get_parameter_source(n), "name", None) in ("COMMANDLINE", "ENVIRONMENT")
    }
    if o.resume_run:
        refuse_options(
            fit,
            vars(o),
            ("experiment", "run_name"),
            "does not apply to --resume RUN_ID (the run keeps its experiment and name)",
            "drop it",
        )
    with tempfile.TemporaryDirectory(prefix="tsrnn-resume-") as scratch:
        if task == "forecast":  # everything checked before a run is opened (or reopened)
            o.params, o.checkpoint, o.series = _prepare_forecaster(o, Path(scratch))
        with maybe_run(
            not no_track and o.main, tracking_uri, experiment, run_name, {"tsrnn.task": task}, o.resume_run
        ) as run:
            summary = _fit_detector(o, run) if task == "detect" else _fit_forecaster(o, run)
    if not o.main:
        return
    if run is not None:
        if run.broken:
            err(f"[yellow]MLflow tracking failed ({run.broken}); the model is saved in {summary['model_dir']}[/]")
        else:
            summary["run_id"] = run.id
            err(
                f"MLflow run {run.id} (experiment {experiment!r}, store {run.uri})"
                + (f"; model registered as {register!r}" if register else "")
            )
    if as_json:
        print(json.dumps(summary, indent=2))
    elif "metrics" not in summary:
        print(f"detector saved to {summary['model_dir']}")
    else:
        print(f"model saved to {summary['model_dir']}")
    if summary["status"] == "interrupted":
        raise typer.Exit(130)  # saved, but not finished: `tsrnn fit ... && next` stops here


def _run_to_resume(resume: str | None) -> str | None:
    """The MLflow run id in --resume (RUN_ID or runs:/RUN_ID), or None for a checkpoint file."""
    if resume is None or Path(resume).exists():
        return None
    text = resume.removeprefix("runs:/").strip("/").split("/")[0]
    if re.fullmatch(r"[0-9a-f]{32}", text):
        return text
    raise ConfigError(
        f"--resume {resume!r} is neither a checkpoint file nor an MLflow run id",
        "pass DIR/checkpoint/last.safetensors, or a RUN_ID from `tsrnn runs`",
    )


def _fit_detector(o: SimpleNamespace, run: Any) -> dict[str, Any]:
    from tsrnn.data import load_series
    from tsrnn.estimators import RNNAnomalyDetector

    calibration = split_size(o.val)
    if not isinstance(calibration, float):
        raise ConfigError(f"with --task detect, --val is the calibration fraction; got {o.val!r}", "e.g. --val 0.2")
    det = RNNAnomalyDetector(
        method=o.method,
        threshold=o.threshold,
        window=o.lookback,
        cell=o.cell,
        hidden_size=o.hidden,
        num_layers=o.layers,
        bidirectional=o.bidirectional,
        dropout=o.dropout,
        calibration=calibration,
        scaler=o.scaler,
        epochs=o.epochs,
        batch_size=o.batch_size,
        lr=o.lr,
        patience=o.patience or None,
        clip_grad_norm=o.clip_grad_norm or None,
        time_col=o.time_col,
        target=o.target or None,
        fill=o.fill,
        random_state=o.seed,
        device=o.device,
        precision=o.precision,
        verbose=not o.quiet and not o.as_json,
        callbacks=[run.callback] if run is not None else None,
    )
    series = load_series(o.data, **load_args(o.time_col, o.target, o.covariate, o.id_col, o.fill, o.sort, o.sep))
    det.fit(series)
    if not o.main:
        return {}
    det.save(o.out, overwrite=o.force)
    if run is not None:
        run.log_estimator(det, series, o.out, o.register)
    return {
        "model_dir": str(o.out),
        "epochs": len(det.history_.epochs),
        "status": det.history_.status,
        "threshold": det.threshold_,
    }


# `tsrnn fit` option -> RNNForecaster parameter, where the names differ
PARAM_OF = {"layers": "num_layers", "hidden": "hidden_size", "seed": "random_state", "covariate": "covariates"}


def _forecaster_params(o: SimpleNamespace) -> dict[str, Any]:
    return dict(
        cell=o.cell,
        head=o.head,
        lookback=o.lookback,
        horizon=o.horizon,
        hidden_size=o.hidden,
        num_layers=o.layers,
        bidirectional=o.bidirectional,
        dropout=o.dropout,
        teacher_forcing=o.teacher_forcing,
        instance_norm=o.instance_norm,
        channel_independent=o.channel_independent,
        quantiles=_quantiles(o.quantiles),
        scaler=o.scaler,
        sampling=o.sampling,
        series_embedding=o.series_embedding,
        epochs=o.epochs,
        batch_size=o.batch_size,
        lr=o.lr,
        lr_schedule=o.lr_schedule,
        patience=o.patience or None,
        tbptt_steps=o.tbptt_steps,
        stateful=o.stateful,
        clip_grad_norm=o.clip_grad_norm or None,
        val=split_size(o.val),
        test=split_size(o.test),
        time_col=o.time_col,
        target=o.target or None,
        covariates=o.covariate or None,
        id_col=o.id_col,
        fill=o.fill,
        random_state=o.seed,
        device=o.device,
        precision=o.precision,
    )


def _prepare_forecaster(o: SimpleNamespace, scratch: Path) -> tuple[dict[str, Any], Any, Any]:
    """The estimator parameters, the checkpoint to resume from and the data, all checked before
    any MLflow run is opened: a mistaken --resume leaves the run it names as it was."""
    from tsrnn.data import load_series

    params, checkpoint, run_params = _forecaster_params(o), o.resume, None
    if o.resume_run:
        params, checkpoint, run_params = _params_from_run(o.tracking_uri, o.resume_run, params, o.explicit, scratch)
    elif checkpoint is not None:
        from tsrnn.checkpoint import load_checkpoint

        load_checkpoint(checkpoint)  # not a checkpoint: refused now, not after the run started
    series = load_series(
        o.data,
        time_col=params["time_col"],
        target=params["target"],
        covariates=params["covariates"],
        id_col=params["id_col"],
        fill=params["fill"],
        sort=o.sort,
        sep=o.sep,
    )
    if run_params is not None and run_params.get("data.hash") not in (None, series.content_hash()):
        raise ConfigError(
            f"{o.data} is not the data MLflow run {o.resume_run} trained on "
            f"({run_params.get('data.source')}, content hash {run_params['data.hash']}; "
            f"this file's is {series.content_hash()})",
            "resume with the run's data, or start a new run from its checkpoint file: "
            "--resume DIR/checkpoint/last.safetensors",
        )
    if o.main:
        for w in series.report.warnings:
            err(f"[yellow]warning:[/] {w}")
    return params, checkpoint, series


def _params_from_run(
    tracking_uri: str | None, run_id: str, params: dict[str, Any], explicit: set[str], scratch: Path
) -> tuple[dict[str, Any], Path, dict[str, str]]:
    """--resume RUN_ID: the run's parameters (overridden by the options given now), its checkpoint
    and its MLflow params, read without touching the run."""
    from tsrnn.tracking import read_store

    client, uri = read_store(tracking_uri)
    try:
        info = client.get_run(run_id)
    except Exception as e:  # MlflowException RESOURCE_DOES_NOT_EXIST
        raise ConfigError(
            f"no MLflow run {run_id} in the store {uri} ({type(e).__name__})",
            "list runs with `tsrnn runs`, or point --tracking-uri at the run's store",
        ) from e
    fetched = {}
    for name in ("params.json", "checkpoint/last.safetensors"):
        try:
            fetched[name] = Path(client.download_artifacts(run_id, name, str(scratch)))
        except Exception as e:  # the run has no such artifact
            raise ConfigError(
                f"MLflow run {run_id} has no {name} to resume from "
                f"(it is a {info.data.tags.get('tsrnn.command', 'run')!r} run)",
                "resume a run of `tsrnn fit` (forecaster) that trained at least one epoch",
            ) from e
    logged = json.loads(fetched["params.json"].read_text())
    if logged.get("kind") != "RNNForecaster":
        raise ConfigError(
            f"MLflow run {run_id} trained a {logged.get('kind')}, not a forecaster", "resume a forecaster run"
        )
    merged = {
        **{k: v for k, v in logged["params"].items() if k != "verbose"},
        "device": params["device"],
        "precision": params["precision"],
    }
    for name in explicit:
        key = PARAM_OF.get(name, name)
        if key in params:
            merged[key] = params[key]
    return merged, fetched["checkpoint/last.safetensors"], dict(info.data.params)


def _fit_forecaster(o: SimpleNamespace, run: Any) -> dict[str, Any]:
    from tsrnn.estimators import RNNForecaster
    from tsrnn.tracking import estimator_params

    staging = o.out.with_name(f".{o.out.name}.checkpoint")
    params, checkpoint, series = o.params, o.checkpoint, o.series
    if o.resume_run:
        err(f"resuming MLflow run {o.resume_run} from its checkpoint")
    model = RNNForecaster(
        **params,
        checkpoint_dir=str(staging),
        verbose=not o.quiet and not o.as_json,
        callbacks=[run.callback] if run is not None else None,
    )
    if run is not None:
        run.log_dict({"kind": "RNNForecaster", "params": estimator_params(model)}, "params.json")
    try:
        model.fit(series, resume=checkpoint)
    except BaseException:
        if o.main and (staging / "last.safetensors").exists():
            err(f"[yellow]training failed; the last checkpoint is kept in {staging}[/]")
            if run is not None:
                run.log_artifacts(staging / "last.safetensors", "checkpoint")
        raise
    if not o.main:
        return {}
    model.save(o.out, overwrite=o.force)
    ckpt = staging / "last.safetensors"
    if ckpt.exists():
        (o.out / "checkpoint").mkdir(exist_ok=True)
        shutil.move(str(ckpt), o.out / "checkpoint" / "last.safetensors")
    shutil.rmtree(staging, ignore_errors=True)
    h = model.history_
    if run is not None:
        run.log_estimator(model, series, o.out, o.register)
    summary = {
        "model_dir": str(o.out),
        "status": h.status,
        "epochs": len(h.epochs),
        "best_epoch": h.best_epoch,
        "metrics": model.metrics_,
    }
    if o.as_json:
        return summary
    last = h.epochs[-1] if h.epochs else {}
    err(
        f"trained {len(h.epochs)} epoch(s) ({h.status}"
        + (f", best epoch {h.best_epoch}" if h.best_epoch else "")
        + ")"
        + (f", {last.get('samples_per_s', 0):,.0f} samples/s on {model.device_}" if last else "")
    )
    if model.metrics_:
        _metrics_table(
            model.metrics_, f"{o.data.name}: L={model.lookback} H={model.horizon}, scaled errors (lower is better)"
        )
    if h.status == "interrupted":
        again = (
            f"--resume {run.id}"
            if run is not None and not run.broken
            else f"--resume {o.out / 'checkpoint' / 'last.safetensors'}"
        )
        err(f"[yellow]interrupted: the best weights so far are saved; continue with {again}[/]")
    return summary


@app.command()
def predict(
    data: DataPath,
    model: ModelRef,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the forecast to this CSV.")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Write a PNG plot of history, forecast and intervals.")] = None,
    force: Force = False,
    tracking_uri: TrackingUri = None,
    as_json: Json = False,
) -> None:
    """Forecast the steps after the end of DATA with a saved model."""
    from tsrnn.estimators import RNNForecaster
    from tsrnn.pyfunc import load_ref

    refuse_existing(output, force, "--output")
    refuse_existing(plot, force, "--plot")
    est = load_ref(model, tracking_uri, RNNForecaster)
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
    model: ModelRef,
    val: Annotated[Optional[str], typer.Option(help="Validation split (default: the model's).")] = None,
    test: Annotated[Optional[str], typer.Option(help="Test split (default: the model's).")] = None,
    tracking_uri: TrackingUri = None,
    as_json: Json = False,
) -> None:
    """Evaluate a saved model on every window of DATA's test split, beside naive baselines."""
    from tsrnn.estimators import RNNForecaster
    from tsrnn.pyfunc import load_ref

    est = load_ref(model, tracking_uri, RNNForecaster)
    if val is not None:
        est.val = split_size(val)
    if test is not None:
        est.test = split_size(test)
    table = est.backtest(data)
    result = {"windows": table.attrs["windows"], "methods": table.to_dict(orient="index")}
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _metrics_table(
        {"test": {k: v for k, v in result["methods"].items()}},
        f"{data.name}: backtest over {result['windows']:,} test windows",
    )
