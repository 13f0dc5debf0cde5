"""`tsrnn detect`: anomaly scores, flags and events for every row of a file."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsrnn.cli.app import app, err, refuse_existing, refuse_options
from tsrnn.cli.options import DataPath, Experiment, Fill, Force, Json, NoTrack, RunName, Target, TimeCol, TrackingUri
from tsrnn.errors import ConfigError, DataError


def split_training(data: Any, time_col: str | None, train_until: str | None, train_fraction: float) -> tuple[Any, Any]:
    """(full frame, training frame): rows before ``train_until``, else the first ``train_fraction``."""
    import pandas as pd

    from tsrnn.data import load_series, read_frame

    frame, name, _ = read_frame(data)
    if train_until is not None:
        series = load_series(frame, source_name=name, time_col=time_col, fill="ffill")
        try:
            cut = pd.Timestamp(train_until)
        except ValueError as e:
            raise ConfigError(
                f"--train-until {train_until!r} is not a timestamp", "e.g. --train-until 2024-03-01"
            ) from e
        times = series.series_times(0)
        n = int((times.tz_localize(None) if times.tz is not None else times).searchsorted(cut.tz_localize(None)))
        if n == 0:
            raise DataError(
                f"{name}: no rows before --train-until {train_until} (data starts {times[0]})",
                "choose a later --train-until",
            )
        return frame, frame.iloc[:n]
    if not 0 < train_fraction < 1:
        raise ConfigError(f"--train-fraction must be in (0, 1), got {train_fraction}", "e.g. --train-fraction 0.5")
    return frame, frame.iloc[: int(len(frame) * train_fraction)]


FIT_ONLY = (
    "train_until",
    "train_fraction",
    "method",
    "threshold",
    "window",
    "epochs",
    "target",
    "exclude",
    "fill",
    "min_event_length",
    "merge_gap",
    "seed",
)


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
            help="A detector saved by `tsrnn fit --task detect`, or an MLflow model: runs:/RUN_ID/model, models:/NAME/VERSION (default: fit one now).",
        ),
    ] = None,
    train_until: Annotated[Optional[str], typer.Option(help="Fit on the rows before this time.")] = None,
    train_fraction: Annotated[
        float,
        typer.Option(help="Fit on this first fraction of the rows (default 0.5), when --train-until is not given."),
    ] = 0.5,
    method: Annotated[
        str, typer.Option(help="forecast (smoothed one-step residuals) | reconstruction (autoencoder).")
    ] = "forecast",
    threshold: Annotated[str, typer.Option(help="quantile | gaussian | dynamic | pot | conformal.")] = "pot",
    window: Annotated[int, typer.Option(help="Rows per window.")] = 64,
    epochs: Annotated[int, typer.Option(help="Most training epochs.")] = 20,
    labels: Annotated[
        Optional[str],
        typer.Option(help="A 0/1 column of true anomalies: excluded from the inputs, used to score the detection."),
    ] = None,
    time_col: TimeCol = None,
    target: Target = None,
    exclude: Annotated[
        Optional[list[str]],
        typer.Option("--exclude", "-x", help="A column not to use as input (repeatable), e.g. other label columns."),
    ] = None,
    fill: Fill = "error",
    min_event_length: Annotated[int, typer.Option(help="Shortest event, in rows.")] = 1,
    merge_gap: Annotated[int, typer.Option(help="Merge events separated by at most this many normal rows.")] = 0,
    seed: Annotated[Optional[int], typer.Option(help="Random seed.")] = 0,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="CSV of time, score, is_anomaly and per-channel scores.")
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
    as_json: Json = False,
) -> None:
    """Score every row of DATA, flag anomalies and list the anomalous events."""
    from tsrnn.estimators import RNNAnomalyDetector
    from tsrnn.pyfunc import is_mlflow_uri, load_ref

    refuse_existing(output, force, "--output")
    refuse_existing(plot, force, "--plot")
    if model is not None:
        refuse_options(
            detect,
            locals(),
            FIT_ONLY,
            "sets how a new detector is fitted; with --model the saved one is used",
            "drop it, or leave out --model to fit a new detector",
        )
    tracking = (
        ("experiment", "run_name") if model and is_mlflow_uri(model) else ("tracking_uri", "experiment", "run_name")
    )
    if no_track or str(data) == "-":
        refuse_options(
            detect, locals(), tracking, "has no effect without tracking (--no-track, or a stream on stdin)", "drop it"
        )
    if str(data) == "-":
        if model is None:
            raise ConfigError(
                "reading standard input needs a saved detector", "pass --model DIR (from `tsrnn fit --task detect`)"
            )
        det = load_ref(model, tracking_uri, RNNAnomalyDetector)
        _follow_stream(det, sys.stdin, None)
        return
    from tsrnn.tracking import TrackingCallback, maybe_run

    source, consumed = _snapshot(data) if follow else (data, 0)

    with maybe_run(not no_track, tracking_uri, experiment, run_name, {"tsrnn.task": "detect"}) as run:
        if model is not None:
            det = load_ref(model, tracking_uri, RNNAnomalyDetector)
            from tsrnn.data import read_frame

            frame = read_frame(source)[0]
        else:
            frame, train = split_training(source, time_col, train_until, train_fraction)
            det = RNNAnomalyDetector(
                method=method,
                threshold=threshold,
                window=window,
                epochs=epochs,
                time_col=time_col,
                target=target or None,
                exclude=([labels] if labels else []) + list(exclude or []) or None,
                fill=fill,
                min_event_length=min_event_length,
                merge_gap=merge_gap,
                random_state=seed,
                callbacks=[TrackingCallback(run)] if run is not None else None,
            )
            if labels and labels not in frame.columns:
                raise DataError(f"{data}: no column named {labels!r} (--labels)", f"columns are {list(frame.columns)}")
            err(f"fitting a {method} detector on {len(train):,} of {len(frame):,} rows ...")
            det.fit(train)
            for w in det.load_warnings_:
                err(f"[yellow]warning:[/] {w}")
        if labels and labels not in frame.columns:
            raise DataError(f"{data}: no column named {labels!r} (--labels)", f"columns are {list(frame.columns)}")
        scored = det.score_frame(frame.drop(columns=[labels]) if labels else frame)
        events = det.detect_events(frame.drop(columns=[labels]) if labels else frame)
        result: dict[str, Any] = {
            "rows": len(scored),
            "flagged": int(scored["is_anomaly"].sum()),
            "events": len(events),
            "threshold": det.threshold_ if det.threshold != "dynamic" else "dynamic",
        }
        if labels:
            from tsrnn.detection.events import event_metrics, point_metrics, pr_auc

            truth = frame[labels].to_numpy().astype(float) > 0
            flags = scored["is_anomaly"].to_numpy().astype(bool)
            result["point"] = point_metrics(flags, truth)
            result["event"] = event_metrics(flags, truth)
            result["pr_auc"] = pr_auc(scored["score"].to_numpy(), truth)
        if output is not None:
            scored.to_csv(output, index=False)
            err(f"scores written to {output}")
        if plot is not None:
            from tsrnn.plotting import plot_anomalies

            plot_anomalies(frame, scored, det.channels_, det.time_col_, plot, labels=labels)
            err(f"plot written to {plot}")
        if as_json:
            result["events_list"] = json.loads(events.to_json(orient="records", date_format="iso"))
            print(json.dumps(result, indent=2, default=str))
        else:
            _events_table(
                events,
                f"{data.name}: {result['flagged']:,} of {result['rows']:,} rows flagged, {result['events']} event(s)",
            )
            if labels:
                p, e = result["point"], result["event"]
                print(
                    f"point-wise  precision {p['precision']:.3f}  recall {p['recall']:.3f}  F1 {p['f1']:.3f}   "
                    f"PR-AUC {result['pr_auc']:.3f}"
                )
                print(f"event-wise  precision {e['precision']:.3f}  recall {e['recall']:.3f}  F1 {e['f1']:.3f}")
        if run is not None:
            import tempfile

            from tsrnn.tracking import flat_metrics

            with tempfile.TemporaryDirectory() as tmp:
                if model is None:  # the detector fitted now: parameters, training data, the servable model
                    det.save(Path(tmp) / "detector")
                    import dataclasses

                    fitted_on = dataclasses.replace(det._load(train, fitting=True), source=str(data))
                    run.log_estimator(det, fitted_on, Path(tmp) / "detector")
                else:
                    run.log_params({"model": str(model)})
                run.log_params({"scored.source": str(data), "scored.rows": len(scored)})
                run.log_metrics(flat_metrics({k: v for k, v in result.items() if k != "events_list"}))
                scores_file = output or Path(tmp) / "scores.csv"  # the per-row scores are always an artifact
                if output is None:
                    scored.to_csv(scores_file, index=False)
                run.log_artifacts(scores_file)
                events.to_csv(Path(tmp) / "events.csv", index=False)
                run.log_artifacts(Path(tmp) / "events.csv")
                if plot is None:
                    from tsrnn.plotting import plot_anomalies

                    plot_anomalies(
                        frame, scored, det.channels_, det.time_col_, Path(tmp) / "anomalies.png", labels=labels
                    )
                run.log_artifacts(plot if plot is not None else Path(tmp) / "anomalies.png")
    if run is not None:
        err(f"MLflow run {run.id}" if not run.broken else f"[yellow]MLflow tracking failed ({run.broken})[/]")
    if follow:
        det.update(frame.drop(columns=[labels]) if labels else frame)  # the history the stream continues
        with open(data) as fh:
            header = fh.readline()
            fh.seek(consumed)  # rows appended since the snapshot are streamed, none is skipped
            _follow_stream(det, fh, header, poll=True)


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
        print(f"{getattr(r, det.time_col_)}  {r.score:8.3f}  {flag}", flush=True)
