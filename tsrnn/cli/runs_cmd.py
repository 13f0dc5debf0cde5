"""`tsrnn runs`: the MLflow runs tsrnn recorded; `tsrnn runs show ID`: one of them."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

from tsrnn.cli.app import app
from tsrnn.cli.options import Json, TrackingUri
from tsrnn.errors import ConfigError

runs_app = typer.Typer(help="List the MLflow runs of tsrnn, or show one.", no_args_is_help=False)
app.add_typer(runs_app, name="runs")

KEY_METRICS = {
    "test_model_mse": "test MSE",
    "test_seasonal_naive_mse": "naive MSE",
    "val_model_mse": "val MSE",
    "threshold": "threshold",
    "point_f1": "point F1",
    "event_f1": "event F1",
}


@runs_app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    experiment: Annotated[str, typer.Option("--experiment", help="Experiment name.")] = "tsrnn",
    limit: Annotated[int, typer.Option("--limit", "-n", help="Most recent runs to list.")] = 20,
    tracking_uri: TrackingUri = None,
    as_json: Json = False,
) -> None:
    """List recent runs: id, start, status, command, data and key metrics."""
    if ctx.invoked_subcommand is not None:
        return
    if limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    from tsrnn.tracking import read_store

    client, uri = read_store(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise ConfigError(
            f"no experiment named {experiment!r} in {uri}",
            "run `tsrnn fit` first, or pass --experiment / --tracking-uri",
        )
    found = client.search_runs([exp.experiment_id], max_results=limit, order_by=["attributes.start_time DESC"])
    rows = [
        {
            "run_id": r.info.run_id,
            "start": _time(r.info.start_time),
            "status": r.info.status,
            "command": r.data.tags.get("tsrnn.command", ""),
            "data": r.data.params.get("data.source") or r.data.params.get("scored.source", ""),
            "metrics": {k: r.data.metrics[k] for k in KEY_METRICS if k in r.data.metrics},
        }
        for r in found
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    wide = console.width >= 110  # narrower: id, start, status and metrics only (`runs show` has the rest)
    t = Table(title=f"MLflow runs of experiment {experiment!r} ({uri})", title_justify="left")
    t.add_column("run id", no_wrap=True, min_width=32)  # whole, to copy into --resume / runs:/ID/model
    t.add_column("start", no_wrap=True)
    t.add_column("status", no_wrap=True)
    if wide:
        t.add_column("command", ratio=2, overflow="fold")
        t.add_column("data", overflow="fold")
    t.add_column("key metrics", no_wrap=not wide, ratio=1)
    for r in rows:
        cells = [r["run_id"], r["start"][5:16], r["status"]]
        if wide:
            cells += [r["command"].removeprefix("tsrnn "), r["data"]]
        t.add_row(*cells, "\n".join(f"{KEY_METRICS[k]} {v:.4g}" for k, v in r["metrics"].items()))
    console.print(t)


@runs_app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="Run id, from `tsrnn runs`.")],
    tracking_uri: TrackingUri = None,
    as_json: Json = False,
) -> None:
    """Params, metrics and artifacts of one run."""
    from tsrnn.tracking import read_store

    client, uri = read_store(tracking_uri)
    info = _run_info(client, uri, run_id)
    if as_json:
        print(json.dumps(info, indent=2))
    else:
        _print_run(info)


def _run_info(client: Any, uri: str, run_id: str) -> dict[str, Any]:
    """One run as a dict: status, start, params, metrics, tags, artifacts and logged models."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException as e:
        raise ConfigError(f"no run {run_id!r} in {uri}", "copy a run id from `tsrnn runs`") from e
    artifacts = [a.path for a in client.list_artifacts(run_id)]
    for a in list(artifacts):
        if a == "checkpoint":
            artifacts.extend(x.path for x in client.list_artifacts(run_id, a))
    logged = client.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'"
    )
    models = [
        {"name": m.name, "uri": m.model_uri, "created": _time(m.creation_timestamp)}
        for m in sorted(logged, key=lambda m: -m.creation_timestamp)
    ]
    return {
        "run_id": run_id,
        "status": run.info.status,
        "start": _time(run.info.start_time),
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
        "artifacts": artifacts,
        "models": models,
    }


def _print_run(info: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    c = Console()
    c.print(f"[bold]run {info['run_id']}[/] {info['status']} started {info['start']}")
    for title in ("params", "metrics", "tags"):
        t = Table(title=title, title_justify="left", show_header=False)
        t.add_column(style="cyan")
        t.add_column()
        for k, v in sorted(info[title].items()):
            t.add_row(k, f"{v:.6g}" if isinstance(v, float) else str(v))
        c.print(t)
    c.print("artifacts: " + ", ".join(info["artifacts"]))
    if info["models"]:
        c.print(
            f"model: runs:/{info['run_id']}/{info['models'][0]['name']} (the latest of {len(info['models'])} logged; "
            "`tsrnn predict DATA --model runs:/...`, `tsrnn serve --model runs:/...`)"
        )


def _time(ms: Optional[int]) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S") if ms else ""
