"""MLflow tracking: one run per `tsrnn fit` / `tsrnn detect`, unless --no-track.

mlflow is imported only here, and only when tracking is on: `import tsrnn`, `tsrnn --help` and
training with --no-track never import it.

Default store: ``sqlite:///mlruns/mlflow.db`` with artifacts in ``mlruns/artifacts`` (MLflow
recommends a database backend for local use); ``MLFLOW_TRACKING_URI`` or ``--tracking-uri``
point elsewhere.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsrnn.errors import ConfigError
from tsrnn.training import Callback, Trainer

DEFAULT_DIR = Path("mlruns")
EPOCH_METRICS = ("loss", "val_loss", "lr", "grad_norm", "epoch_time", "samples_per_s")


def resolve_uri(uri: str | None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else the local sqlite store under mlruns/."""
    if uri:
        return uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(DEFAULT_DIR / 'mlflow.db').resolve()}"


def open_store(uri: str | None, writing: bool) -> str:
    """The tracking URI, checked before anything runs: a server must answer; a local sqlite
    store is created only when ``writing`` (reading commands never leave a store behind)."""
    uri = resolve_uri(uri)
    if uri.startswith(("http://", "https://")):
        check_reachable(uri, writing)
    elif uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if writing:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.is_file():
            raise ConfigError(
                f"no MLflow store at {path}",
                "run `tsrnn fit` here first (it creates mlruns/), "
                "or point --tracking-uri / MLFLOW_TRACKING_URI at your store",
            )
    return uri


def check_reachable(uri: str, writing: bool = True) -> None:
    """An http(s) tracking server that does not answer is reported before any training."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as r:
            if r.status >= 400:
                raise OSError(f"HTTP {r.status}")
    except (OSError, urllib.error.URLError) as e:
        raise ConfigError(
            f"the MLflow tracking server at {uri} does not answer ({e})",
            "start it, or fix --tracking-uri / MLFLOW_TRACKING_URI" + (", or pass --no-track" if writing else ""),
        ) from e


def store_error(uri: str, e: Exception) -> ConfigError:
    """MLflow's own refusal of a store (an unknown scheme, a bad database) as a tsrnn error."""
    return ConfigError(
        f"MLflow cannot use the tracking store {uri} ({type(e).__name__}: {str(e)[:300]})",
        "fix --tracking-uri / MLFLOW_TRACKING_URI (e.g. sqlite:///mlruns/mlflow.db or http://HOST:PORT)",
    )


def read_store(uri: str | None) -> tuple[Any, str]:
    """(an MlflowClient, the URI) for commands that only read: the store must exist and answer."""
    uri = open_store(uri, writing=False)
    quiet_mlflow()
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(uri)
        client.search_experiments(max_results=1)  # an unknown scheme or a broken database fails here
    except Exception as e:
        raise store_error(uri, e) from e
    return client, uri


def check_register(name: str | None) -> None:
    """A registry name MLflow would refuse, refused before any training."""
    if name is not None and (not name.strip() or "/" in name or ":" in name):
        raise ConfigError(
            f"--register {name!r} is not a model name MLflow accepts (no '/' or ':', not empty)",
            "e.g. --register demo-lstm",
        )


class Run:
    """An MLflow run as a context manager: FINISHED on success, KILLED on Ctrl-C, FAILED on error."""

    def __init__(
        self, uri: str | None, experiment: str, run_name: str | None, tags: dict[str, str], run_id: str | None = None
    ) -> None:
        if not experiment.strip():
            raise ConfigError("--experiment must not be empty", "e.g. --experiment tsrnn")
        self.uri = open_store(uri, writing=True)
        import mlflow

        self.mlflow = mlflow
        mlflow.set_tracking_uri(self.uri)
        self.earlier_params: dict[str, str] = {}
        command = " ".join(["tsrnn", *sys.argv[1:]]) if "tsrnn" in sys.argv[0] else " ".join(sys.argv)
        try:
            if run_id is not None:  # continue an earlier run (tsrnn fit --resume RUN_ID), checked by the caller
                self.earlier_params = dict(mlflow.get_run(run_id).data.params)
                self.run = mlflow.start_run(run_id=run_id)
                tags = {"tsrnn.resume_command": command}  # the run keeps its own command and task
            else:
                if mlflow.get_experiment_by_name(experiment) is None:
                    artifacts = None
                    if self.uri.startswith("sqlite:///") and self.uri.endswith("mlruns/mlflow.db"):
                        artifacts = (DEFAULT_DIR / "artifacts").resolve().as_uri()
                    mlflow.create_experiment(experiment, artifact_location=artifacts)
                mlflow.set_experiment(experiment)
                self.run = mlflow.start_run(run_name=run_name)
                tags = {"tsrnn.command": command, **tags}
        except Exception as e:  # an unknown scheme, a broken database, a refused name, ...
            raise store_error(self.uri, e) from e
        self.id = self.run.info.run_id
        self.killed = False
        self.broken: str | None = None
        mlflow.set_tags({**environment_tags(), **tags})

    @property
    def callback(self) -> "TrackingCallback":
        """The training callback that logs per-epoch metrics to this run."""
        return TrackingCallback(self)

    def log_estimator(self, estimator: Any, model_dir: str | Path | None = None, register: str | None = None) -> None:
        """Log a fitted forecaster or detector: parameters, data summary, final metrics,
        configuration JSON, its plot, last checkpoint, and the servable pyfunc model ``model``
        (registered as ``register`` when given). ``model_dir``: where it is saved (default: it is
        saved to a temporary directory)."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="tsrnn-log-") as tmp:
            if model_dir is None:
                model_dir = estimator.save(Path(tmp) / "model")
            log_estimator(self, estimator, Path(model_dir), Path(tmp), register)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, kind: Any, value: Any, tb: Any) -> None:
        if kind is None:
            status = "KILLED" if self.killed else "FINISHED"
        elif issubclass(kind, KeyboardInterrupt):
            status = "KILLED"
        else:
            status = "FAILED"
            self._safe(self.mlflow.set_tag, "tsrnn.error", str(value)[:5000])
        self._safe(self.mlflow.end_run, status=status)

    def _safe(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        """Log without ever losing the user's training: a tracking failure is remembered, not raised."""
        if self.broken:
            return
        try:
            fn(*args, **kwargs)
        except Exception as e:  # the server went away, the store is read-only, ...
            self.broken = f"{type(e).__name__}: {e}"

    def log_params(self, params: dict[str, Any]) -> None:
        """MLflow params are write-once: in a resumed run, a value that changed (e.g. more
        --epochs) is recorded as a ``resumed.<name>`` tag instead."""
        flat = {k: json.dumps(v) if isinstance(v, (list, dict, tuple)) else v for k, v in params.items()}
        flat = {k: v for k, v in flat.items() if v is not None}
        changed = {k: str(v) for k, v in flat.items() if self.earlier_params.get(k, str(v)) != str(v)}
        self._safe(self.mlflow.log_params, {k: v for k, v in flat.items() if k not in changed})
        if changed:
            self.set_tags({f"resumed.{k}": v for k, v in changed.items()})

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._safe(self.mlflow.log_metrics, {k: float(v) for k, v in metrics.items()}, step=step)

    def log_artifacts(self, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self._safe(self.mlflow.log_artifacts, str(path), artifact_path)
        else:
            self._safe(self.mlflow.log_artifact, str(path), artifact_path)

    def log_dict(self, obj: dict[str, Any], name: str) -> None:
        self._safe(self.mlflow.log_dict, obj, name)

    def set_tags(self, tags: dict[str, str]) -> None:
        self._safe(self.mlflow.set_tags, tags)


def environment_tags() -> dict[str, str]:
    import torch

    from tsrnn import __version__

    return {
        "tsrnn.version": __version__,
        "torch.version": torch.__version__,
        "python.version": platform.python_version(),
    }


class TrackingCallback(Callback):
    """Logs per-epoch metrics (step = epoch) to an open ``Run``."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self.run.log_metrics({k: logs[k] for k in EPOCH_METRICS if k in logs}, step=epoch)

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        self.run.set_tags({"tsrnn.device": str(trainer.device), "tsrnn.fit_status": status})
        self.run.killed = status == "interrupted"  # Ctrl-C: the run ends KILLED


def flat_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """{"test": {"model": {"mse": 1}}} -> {"test_model_mse": 1.0}."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat_metrics(v, key + "_"))
        elif isinstance(v, (int, float)) and v == v:  # not NaN
            out[key] = float(v)
    return out


@contextmanager
def maybe_run(
    enabled: bool,
    uri: str | None,
    experiment: str,
    run_name: str | None,
    tags: dict[str, str],
    run_id: str | None = None,
) -> Iterator[Run | None]:
    """A ``Run`` when tracking is on, else None (and mlflow is never imported)."""
    if not enabled:
        yield None
        return
    quiet_mlflow()
    with Run(uri, experiment, run_name, tags, run_id) as run:
        yield run


def quiet_mlflow() -> None:
    """For the command line: stdout is the command's own (--json), MLflow's INFO lines are noise,
    and a server that went away must not stall training for long. Each is an environment
    variable the user may set otherwise."""
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # MLflow retries an unanswered server for about 4 minutes per call by default, which would stall
    # training that long when the server goes away; 3 retries wait about 15 s, then logging stops.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")


def start_run(
    experiment: str = "tsrnn",
    run_name: str | None = None,
    tracking_uri: str | None = None,
    tags: dict[str, str] | None = None,
) -> Run:
    """Track fits from code (off unless you ask)::

        with start_run(experiment="demo") as run:
            model = RNNForecaster(callbacks=[run.callback]).fit("datasets/demo.csv")
            run.log_estimator(model, register="demo-lstm")

    The run ends FINISHED, KILLED (Ctrl-C) or FAILED (with the error) like the CLI's.
    """
    return Run(tracking_uri, experiment, run_name, tags or {})


def log_estimator(run: Run, est: Any, model_dir: Path, scratch: Path, register: str | None) -> None:
    """What `tsrnn fit` / `tsrnn detect` and ``Run.log_estimator`` record once a model is fitted and
    saved, through the estimators' declared interface (``tsrnn.estimators.core``): parameters,
    data summary, final metrics, configuration, last checkpoint, the estimator's plot, and the
    servable pyfunc model."""
    from tsrnn.pyfunc import log_model

    run.log_params(est.record_params())
    run.log_params({f"data.{k}": v for k, v in est.data_info_.items()})
    run.log_metrics(flat_metrics(est.metrics_))
    run.log_artifacts(model_dir / "config.json")
    if (model_dir / "checkpoint").is_dir():
        run.log_artifacts(model_dir / "checkpoint", "checkpoint")
    plot = est.plot(scratch / "forecast.png")
    if plot is not None:
        run.log_artifacts(plot)
    run._safe(log_model, run.mlflow, est, model_dir, register)
    if register and not run.broken:
        run.set_tags({"tsrnn.registered_model": register})


@dataclass
class Resume:
    """What `tsrnn fit --resume` continues: the estimator parameters to fit with, the checkpoint
    file, and for an MLflow run its id and the data it trained on."""

    params: dict[str, Any]
    checkpoint: Path | None = None
    run_id: str | None = None
    run_data: dict[str, str] = field(default_factory=dict)  # the run's data.* params

    def check_data(self, series: Any, shown_as: str) -> None:
        """A resumed run continues on the data it trained on (by content hash)."""
        logged = self.run_data.get("data.hash")
        if logged is not None and logged != series.content_hash():
            raise ConfigError(
                f"{shown_as} is not the data MLflow run {self.run_id} trained on "
                f"({self.run_data.get('data.source')}, content hash {logged}; "
                f"this file's is {series.content_hash()})",
                "resume with the run's data, or start a new run from its checkpoint file: "
                "--resume DIR/checkpoint/last.safetensors",
            )


def resume_from(
    ref: str | None,
    params: dict[str, Any],
    given: set[str],
    scratch: Path,
    *,
    tracking_uri: str | None = None,
    tracking: bool = True,
    kind: str = "RNNForecaster",
) -> Resume:
    """``--resume REF``: nothing, a checkpoint file, or an MLflow run id (``RUN_ID`` or
    ``runs:/RUN_ID``). For a run, its logged parameters are used, overridden by the ``given``
    names of ``params``; its checkpoint is downloaded to ``scratch``. Everything is checked and
    nothing in the run is touched: a mistaken resume leaves the run as it was."""
    from tsrnn.checkpoint import load_checkpoint
    from tsrnn.distributed import world_size

    if ref is None:
        return Resume(params)
    if Path(ref).exists():
        load_checkpoint(ref)  # not a checkpoint: refused now, not after training started
        return Resume(params, Path(ref))
    run_id = ref.removeprefix("runs:/").strip("/").split("/")[0]
    if not re.fullmatch(r"[0-9a-f]{32}", run_id):
        raise ConfigError(
            f"--resume {ref!r} is neither a checkpoint file nor an MLflow run id",
            "pass DIR/checkpoint/last.safetensors, or a RUN_ID from `tsrnn runs`",
        )
    if world_size() > 1:
        raise ConfigError(
            "--resume RUN_ID is not supported under torchrun (only rank 0 reads MLflow)",
            "pass the run's checkpoint file: --resume DIR/checkpoint/last.safetensors",
        )
    if not tracking:
        raise ConfigError(
            "--resume RUN_ID reads the run's checkpoint from MLflow, which --no-track turns off",
            "drop --no-track, or pass the checkpoint file: --resume DIR/checkpoint/last.safetensors",
        )
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
                "resume a run of `tsrnn fit` that trained at least one epoch",
            ) from e
    logged = json.loads(fetched["params.json"].read_text())
    if logged.get("kind") != kind:
        raise ConfigError(f"MLflow run {run_id} trained a {logged.get('kind')}, not a {kind}", f"resume a {kind} run")
    merged = {**logged["params"], **{k: v for k, v in params.items() if k in given or k in ("device", "precision")}}
    return Resume(merged, fetched["checkpoint/last.safetensors"], run_id, dict(info.data.params))
