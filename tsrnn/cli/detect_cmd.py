"""`tsrnn detect`: fit a detector (or load one), then score every row of a file, flag anomalies,
list the events; optionally keep following the file."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsrnn.checks import refuse_unused
from tsrnn.cli.app import app, check_tracking, err, refuse_existing, warn
from tsrnn.cli.options import (
    Agg,
    BatchSize,
    Bidirectional,
    Cell,
    ClipGradNorm,
    DataPath,
    DayFirst,
    Device,
    Dropout,
    Duplicates,
    Epochs,
    Exclude,
    Experiment,
    Fill,
    Force,
    Hidden,
    Json,
    Layers,
    Lookback,
    Lr,
    LrSchedule,
    NoTrack,
    Patience,
    Precision,
    Quiet,
    Resample,
    RunName,
    Scaler,
    Seed,
    Sort,
    Target,
    TimeCol,
    TrackingUri,
    Val,
    check_params,
    estimator_params,
)
from tsrnn.errors import ConfigError, DataError

# options that apply to a loaded detector too (set on it as given): how its flags become events,
# and whether its model keeps learning while it scores
EVENT_OPTIONS = ("min_event_length", "merge_gap")
ADAPT_OPTIONS = ("adapt_every", "adapt_rows", "adapt_steps", "adapt_persist")
SCORING_OPTIONS = EVENT_OPTIONS + ADAPT_OPTIONS


def split_training(
    data: Any,
    time_col: str | None,
    train_until: str | None,
    train_fraction: float,
    sort: bool = False,
    dayfirst: bool | None = None,
) -> tuple[Any, Any]:
    """(full frame, training frame): rows before ``train_until``, else the first ``train_fraction``.
    ``sort``: the file's rows are sorted by time first; ``dayfirst``: how its year-last dates read
    (None: as the whole file shows). The whole file is checked later, by the detector's ``read``."""
    import numpy as np
    import pandas as pd

    from tsrnn.data import row_times, time_column

    frame, name = _read(data, time_col, sort, dayfirst)
    if train_until is not None:
        try:
            cut = pd.Timestamp(train_until)
        except ValueError as e:
            raise ConfigError(
                f"--train-until {train_until!r} is not a timestamp", "e.g. --train-until 2024-03-01"
            ) from e
        # the file's rows before the cut, by their own times: collapsed, resampled or filled rows
        # of the loaded series are not the file's rows
        times = row_times(frame, time_column(frame, time_col, name), name, dayfirst)
        if cut.tz is None:  # a wall time: compared with the file's local times
            before = np.asarray(_local(times) < cut)
        elif times.tz is not None:  # an instant (2024-10-25T00:00-05:00): compared as instants
            before = np.asarray(times < cut)
        else:
            raise ConfigError(
                f"--train-until {train_until} has a UTC offset, but the times of {name} have none",
                f"drop the offset (--train-until {cut.tz_localize(None)}) to cut at that wall time",
            )
        if not before.any():
            raise DataError(
                f"{name}: no rows before --train-until {train_until} (data starts {times.min()})",
                "choose a later --train-until",
            )
        train = frame[before]
        train.attrs["source"] = name
        return frame, train
    if not 0 < train_fraction <= 1:
        raise ConfigError(f"--train-fraction must be in (0, 1], got {train_fraction}", "e.g. --train-fraction 0.5")
    train = frame.iloc[: int(len(frame) * train_fraction)]
    if len(train) == 0:
        raise DataError(
            f"{name}: --train-fraction {train_fraction} of its {len(frame)} row(s) leaves no row to fit on",
            "pass a file with more rows, a larger --train-fraction, or a saved detector with --model DIR",
        )
    train.attrs["source"] = name  # messages and the run's data.source name the file, not "<DataFrame>"
    return frame, train


def _read(data: Any, time_col: str | None, sort: bool, dayfirst: bool | None) -> tuple[Any, str]:
    """(the file's rows, sorted by time with ``sort``; its name), named in later messages."""
    from tsrnn.data import read_frame, sort_rows

    frame, name, _ = read_frame(data)
    frame.attrs["source"] = name  # messages name the file, not "<DataFrame>"
    return (sort_rows(frame, time_col, name, dayfirst) if sort else frame), name


def _local(times: Any) -> Any:
    """Zoned times as their local wall times (as --train-until is written), naive ones as they are."""
    return times.tz_localize(None) if times.tz is not None else times


def _on_scored_rows(det: Any, frame: Any, scored: Any, labels: str | None) -> Any:
    """``frame`` row for row with ``scored`` (for plots and labels): as it is, or, where the
    detector collapsed repeated timestamps, resampled, or inserted rows to fill gaps, the channels
    as the detector read them and per scored row its labels (1 if any file row in it is labelled)."""
    import pandas as pd

    from tsrnn.data import row_times

    times, scored_times = (
        row_times(frame, det.time_col_, dayfirst=det.dayfirst_),
        pd.DatetimeIndex(scored[det.time_col_]),
    )
    if len(times) == len(scored_times) and (times == scored_times).all():
        return frame
    series = det.load_data(frame.drop(columns=[labels]) if labels else frame)
    out = pd.DataFrame(series.values[:, : len(det.targets_)].astype(float), columns=det.targets_)
    out.insert(0, det.time_col_, scored[det.time_col_].reset_index(drop=True))
    if labels:
        within = scored_times.searchsorted(times, side="right") - 1  # the scored row each file row falls in
        truth = pd.Series(frame[labels].to_numpy(dtype=float) > 0).groupby(within).max()
        out[labels] = truth.reindex(range(len(out)), fill_value=False).astype(int).to_numpy()
    return out


def _events_table(events: Any, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in ("start", "end", "rows", "peak time", "peak score", "channels"):
        t.add_column(col)
    for e in events.itertuples():
        t.add_row(str(e.start), str(e.end), str(e.length), str(e.peak_time), f"{e.peak_score:.2f}", e.channels)
    Console().print(t)


@app.command()
def detect(
    data: DataPath,
    model: Annotated[
        Optional[str],
        typer.Option(
            "--model",
            "-m",
            help="A detector saved by `tsrnn detect --out`, or an MLflow model: runs:/RUN_ID/model, "
            "models:/NAME/VERSION (default: fit one now).",
        ),
    ] = None,
    train_until: Annotated[Optional[str], typer.Option(help="Fit on the rows before this time.")] = None,
    train_fraction: Annotated[
        float, typer.Option(help="Fit on this first fraction of the rows (1: all), when --train-until is not given.")
    ] = 0.5,
    out: Annotated[Optional[Path], typer.Option("--out", help="Save the fitted detector to this directory.")] = None,
    labels: Annotated[
        Optional[str],
        typer.Option(help="A 0/1 column of true anomalies: excluded from the inputs, used to score the detection."),
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            help="hybrid (both errors below, the larger counts) | forecast (smoothed one-step residuals) | "
            "reconstruction (autoencoder)."
        ),
    ] = "hybrid",
    threshold: Annotated[
        str, typer.Option(help="pot | quantile | gaussian | conformal | dynamic | spot | dspot (streaming POT).")
    ] = "pot",
    risk: Annotated[float, typer.Option(help="--threshold pot / spot / dspot: the tail probability.")] = 1e-4,
    spot_depth: Annotated[int, typer.Option(help="--threshold dspot: recent normal scores its level averages.")] = 50,
    q: Annotated[float, typer.Option("--q", help="--threshold quantile: the calibration quantile.")] = 0.99,
    k: Annotated[float, typer.Option("--k", help="--threshold gaussian: standard deviations above the mean.")] = 3.0,
    fpr: Annotated[float, typer.Option(help="--threshold conformal: the false-positive rate.")] = 0.01,
    normalize: Annotated[
        str,
        typer.Option(
            help="none: flags from --threshold on the score | likelihood: flags where the anomaly likelihood "
            "(the last rows' scores against the recent past; adapts to drift) is >= 1 - --likelihood-eps."
        ),
    ] = "none",
    likelihood_window: Annotated[
        int, typer.Option(help="--normalize likelihood: rows whose score mean and std are the reference.")
    ] = 1000,
    likelihood_short: Annotated[
        int, typer.Option(help="--normalize likelihood: rows whose mean score is judged against them.")
    ] = 10,
    likelihood_eps: Annotated[
        float, typer.Option(help="--normalize likelihood: flag rows whose likelihood is >= 1 - this.")
    ] = 1e-4,
    adapt_every: Annotated[
        Optional[int],
        typer.Option(
            help="Keep learning while scoring: every N rows, fine-tune a copy of the model on the recent "
            "unflagged rows (also with --model; the saved model is not changed). 0: off."
        ),
    ] = 512,
    adapt_rows: Annotated[int, typer.Option(help="--adapt-every: the recent rows a fine-tune learns from.")] = 512,
    adapt_steps: Annotated[int, typer.Option(help="--adapt-every: optimizer steps per fine-tune.")] = 5,
    adapt_persist: Annotated[
        int,
        typer.Option(
            help="--adapt-every: after this many fine-tunes in a row find every recent window flagged, "
            "learn the change as the new normal. 0: never learn flagged rows."
        ),
    ] = 2,
    combine: Annotated[
        str,
        typer.Option(
            help="--method reconstruction / hybrid: a row's error from the window ending at it (last: "
            "causal) or the mean | max over every window covering it."
        ),
    ] = "last",
    smoothing: Annotated[int, typer.Option(help="--method forecast / hybrid: EWMA span of the residuals.")] = 10,
    lookback: Lookback = 64,
    cell: Cell = "lstm",
    num_layers: Layers = 1,
    hidden_size: Hidden = 32,
    bidirectional: Bidirectional = False,
    dropout: Dropout = 0.0,
    scaler: Scaler = "standard",
    epochs: Epochs = 20,
    patience: Patience = 4,
    batch_size: BatchSize = 64,
    lr: Lr = 1e-3,
    lr_schedule: LrSchedule = "cosine",
    clip_grad_norm: ClipGradNorm = 1.0,
    val: Val = "0.2",
    calibration_folds: Annotated[
        str,
        typer.Option(
            help="Calibrate on out-of-sample errors of all fit rows: K chronological folds (K extra fits); "
            "auto: 5 when the val part has fewer than 2,000 rows; none: the val part only."
        ),
    ] = "auto",
    device: Device = "auto",
    precision: Precision = "auto",
    random_state: Seed = 0,
    time_col: TimeCol = None,
    target: Target = None,
    exclude: Exclude = None,
    fill: Fill = "error",
    duplicates: Duplicates = "error",
    resample: Resample = None,
    agg: Agg = "mean",
    dayfirst: DayFirst = None,
    sort: Sort = False,
    min_event_length: Annotated[int, typer.Option(help="Shortest event, in rows.")] = 1,
    merge_gap: Annotated[
        int, typer.Option(help="Merge events separated by at most this many normal rows (0: never merge).")
    ] = 10,
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="CSV of time, score, is_anomaly, likelihood and per-channel scores."),
    ] = None,
    plot: Annotated[Optional[Path], typer.Option(help="PNG plot of the series, scores and flagged rows.")] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Then keep reading rows appended to DATA (or standard input if DATA is -) and print flags as they arrive.",
        ),
    ] = False,
    force: Force = False,
    no_track: NoTrack = False,
    tracking_uri: TrackingUri = None,
    experiment: Experiment = "tsrnn",
    run_name: RunName = None,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Score every row of DATA, flag anomalies and list the anomalous events.

    Without --model a detector is fitted first, on the rows before --train-until (else the first
    --train-fraction), and saved with --out; --val is its held-out calibration part."""
    from tsrnn.tracking import maybe_run

    given = dict(locals())
    _check_options(given)
    if str(data) == "-":
        _follow_stream(_load(model, tracking_uri, given), sys.stdin, None)
        return
    source, consumed = _snapshot(data) if follow else (data, 0)
    with maybe_run(not no_track, tracking_uri, experiment, run_name, {"tsrnn.task": "detect"}) as run:
        det, frame = _fit_or_load(given, source, run)
        inputs = frame.drop(columns=[labels]) if labels else frame
        scored = det.score_frame(inputs)  # scored once: flags, events and metrics all come from it
        shown = _on_scored_rows(det, frame, scored, labels)
        events = det.events(scored)
        result = _summary(det, scored, events, shown[labels] if labels else None)
        _write(det, shown, scored, output, plot, labels)
        _report(result, events, data, as_json)
        if run is not None:
            _log_run(run, det, given, scored, events, result, shown)
    if run is not None:
        err(f"MLflow run {run.id}" if not run.broken else f"[yellow]MLflow tracking failed ({run.broken})[/]")
    if follow:
        det.update(inputs)  # the history the stream continues
        with open(data) as fh:
            header = fh.readline()
            fh.seek(consumed)  # rows appended since the snapshot are streamed, none is skipped
            _follow_stream(det, fh, header, poll=True)


def _check_options(given: dict[str, Any]) -> None:
    """Everything refusable is refused before any work: existing outputs, fit options with a
    saved detector, tracking options that would be ignored."""
    from tsrnn.estimators import RNNAnomalyDetector
    from tsrnn.pyfunc import is_mlflow_uri

    for option in ("output", "plot", "out"):
        refuse_existing(given[option], given["force"], f"--{option}", makes_folders=option == "out")
    model, stdin = given["model"], str(given["data"]) == "-"
    if given["train_until"] is not None:
        refuse_unused(
            detect, ["train_fraction"], "with --train-until (the rows before it are the training part)", given
        )
    if stdin:
        refuse_unused(detect, ["sort"], "reading standard input (rows are scored in the order they arrive)", given)
    if not given["adapt_every"]:
        refuse_unused(detect, ADAPT_OPTIONS[1:], "with --adapt-every 0", given, "pass --adapt-every N, or drop it")
    if model is not None:
        fit_only = [n for n in estimator_params(RNNAnomalyDetector, given) if n not in SCORING_OPTIONS]
        refuse_unused(
            detect,
            [*fit_only, "train_until", "train_fraction", "out", "quiet"],
            "with --model (the saved detector is used as it was fitted)",
            given,
            "drop it, or leave out --model to fit a new detector",
        )
    elif stdin:
        raise ConfigError(
            "reading standard input needs a saved detector", "pass --model DIR (from `tsrnn detect --out`)"
        )
    check_tracking(
        detect, given, tracked=not given["no_track"] and not stdin, model_uri=bool(model and is_mlflow_uri(model))
    )


def _load(model: str, tracking_uri: str | None, given: dict[str, Any]) -> Any:
    from tsrnn.estimators import RNNAnomalyDetector
    from tsrnn.pyfunc import load_ref

    scoring = estimator_params(RNNAnomalyDetector, {n: given[n] for n in SCORING_OPTIONS})
    det = load_ref(model, tracking_uri, RNNAnomalyDetector).set_params(**scoring)
    det._check_adapt()  # refused before any row is read
    return det


def _fit_or_load(given: dict[str, Any], source: Any, run: Any) -> tuple[Any, Any]:
    """(the detector, the whole frame): the saved detector, or one fitted now on the training rows."""
    import warnings

    from tsrnn.data import date_order
    from tsrnn.detection.thresholds import CalibrationWarning
    from tsrnn.estimators import RNNAnomalyDetector

    labels = given["labels"]
    if given["model"] is not None:
        det = _load(given["model"], given["tracking_uri"], given)
        frame = _read(source, det.time_col_, given["sort"], det.dayfirst_)[0]
    else:
        frame, train = split_training(
            source, given["time_col"], given["train_until"], given["train_fraction"], given["sort"], given["dayfirst"]
        )
        params = estimator_params(RNNAnomalyDetector, given)
        if params["dayfirst"] is None:  # the whole file's order: the training part's dates may all be ambiguous
            params["dayfirst"] = date_order(frame, given["time_col"], str(given["data"]))
        params["exclude"] = ([labels] if labels else []) + list(params["exclude"] or []) or None
        det = RNNAnomalyDetector(
            **params,
            verbose=not given["quiet"] and not given["as_json"],
            callbacks=[run.callback] if run is not None else None,
        )
        check_params(det, detect, given)
        if labels and labels not in frame.columns:
            raise DataError(
                f"{given['data']}: no column named {labels!r} (--labels)", f"columns are {list(frame.columns)}"
            )
        det.read(frame)  # what the whole file needs (order, duplicates, gaps) is refused now, not after the fit
        err(f"fitting a {det.method} detector on {len(train):,} of {len(frame):,} rows ...")
        with warnings.catch_warnings():  # printed once, below, without a source line
            warnings.simplefilter("ignore", CalibrationWarning)
            det.fit(train)
        warn(det.warnings_)
        if given["out"] is not None:
            det.save(given["out"])
            err(f"detector saved to {given['out']}")
    if labels and labels not in frame.columns:
        raise DataError(f"{given['data']}: no column named {labels!r} (--labels)", f"columns are {list(frame.columns)}")
    return det, frame


def _summary(det: Any, scored: Any, events: Any, truth: Any) -> dict[str, Any]:
    """Rows, flags, events, threshold, and with labels the point-wise, event-wise and PR-AUC scores."""
    result: dict[str, Any] = {
        "rows": len(scored),
        "flagged": int(scored["is_anomaly"].sum()),
        "events": len(events),
        "threshold": det.threshold_ if det.threshold_ is not None else det.threshold,
    }
    if det.normalize == "likelihood":  # flags come from the likelihood column
        result["threshold"] = "likelihood"
        result["likelihood_threshold"] = 1 - det.likelihood_eps
    if truth is not None:
        from tsrnn.detection.events import event_flags, event_metrics, point_metrics, pr_auc

        truth = truth.to_numpy().astype(float) > 0
        flags = scored["is_anomaly"].to_numpy().astype(bool)
        result["point"] = point_metrics(flags, truth)
        # the events shown (merged and filtered by --merge-gap and --min-event-length) against the true ones
        shown = event_flags(flags, min_length=det.min_event_length, merge_gap=det.merge_gap)
        result["event"] = event_metrics(shown, truth)
        result["pr_auc"] = pr_auc(scored["score"].to_numpy(), truth)
    return result


def _write(det: Any, frame: Any, scored: Any, output: Path | None, plot: Path | None, labels: str | None) -> None:
    if output is not None:
        scored.to_csv(output, index=False)
        err(f"scores written to {output}")
    if plot is not None:
        from tsrnn.plotting import plot_anomalies

        plot_anomalies(frame, scored, det.targets_, det.time_col_, plot, labels=labels)
        err(f"plot written to {plot}")


def _report(result: dict[str, Any], events: Any, data: Path, as_json: bool) -> None:
    if as_json:
        events_list = json.loads(events.to_json(orient="records", date_format="iso"))
        print(json.dumps({**result, "events_list": events_list}, indent=2, default=str))
        return
    _events_table(
        events, f"{data.name}: {result['flagged']:,} of {result['rows']:,} rows flagged, {result['events']} event(s)"
    )
    if "point" in result:
        p, e = result["point"], result["event"]
        print(
            f"point-wise  precision {p['precision']:.3f}  recall {p['recall']:.3f}  F1 {p['f1']:.3f}   "
            f"PR-AUC {result['pr_auc']:.3f}"
        )
        print(f"event-wise  precision {e['precision']:.3f}  recall {e['recall']:.3f}  F1 {e['f1']:.3f}")


def _log_run(
    run: Any, det: Any, given: dict[str, Any], scored: Any, events: Any, result: dict[str, Any], frame: Any
) -> None:
    """The detect run: the detector fitted now (as a servable model) or the one used, what was
    scored, the metrics, and the per-row scores, events and plot as artifacts."""
    import tempfile

    from tsrnn.plotting import plot_anomalies
    from tsrnn.tracking import flat_metrics

    if given["model"] is None:
        run.log_estimator(det, given["out"])
    else:
        run.log_params({"model": str(given["model"])})
    run.log_params({"scored.source": str(given["data"]), "scored.rows": len(scored)})
    run.log_metrics(flat_metrics(result))
    with tempfile.TemporaryDirectory() as tmp:
        scores_file = given["output"] or Path(tmp) / "scores.csv"  # the per-row scores are always an artifact
        if given["output"] is None:
            scored.to_csv(scores_file, index=False)
        events.to_csv(Path(tmp) / "events.csv", index=False)
        plot = given["plot"] or Path(tmp) / "anomalies.png"
        if given["plot"] is None:
            plot_anomalies(frame, scored, det.targets_, det.time_col_, plot, labels=given["labels"])
        for artifact in (scores_file, Path(tmp) / "events.csv", plot):
            run.log_artifacts(artifact)


def _snapshot(data: Path) -> tuple[Any, int]:
    """--follow: the complete lines of DATA now, as a frame, and the byte offset they end at."""
    import io

    import pandas as pd

    try:
        raw = data.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {data} ({e.strerror})", "pass an existing CSV file") from e
    end = raw.rfind(b"\n") + 1
    try:
        return pd.read_csv(io.BytesIO(raw[:end])), end
    except (ValueError, pd.errors.ParserError) as e:
        raise DataError(f"{data} is not a CSV file that --follow can read ({e})", "pass a comma-separated file") from e


def _follow_stream(det: Any, fh: Any, header: str | None, poll: bool = False) -> None:
    """Read CSV lines as they arrive (a header first, unless given), score them, print one line per row."""
    import io

    import pandas as pd

    if header is None:
        header = fh.readline()
        if not header:
            raise DataError("standard input is empty", "send a CSV header line, then rows")
    pending = ""
    try:
        while True:
            line = fh.readline()
            if not line:
                if not poll:
                    break
                time.sleep(0.2)
                continue
            pending += line
            if not line.endswith("\n"):
                continue
            rows = pd.read_csv(io.StringIO(header + pending))
            pending = ""
            _print_rows(det, det.update(rows))
    except KeyboardInterrupt:
        pass
    _print_rows(det, det.flush())


def _print_rows(det: Any, scored: Any) -> None:
    for r in scored.itertuples(index=False):
        flag = "ANOMALY" if r.is_anomaly else "ok"
        print(f"{getattr(r, det.time_col_)}  {r.score:8.3f}  {r.likelihood:.6f}  {flag}", flush=True)
