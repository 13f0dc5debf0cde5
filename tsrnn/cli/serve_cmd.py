"""`tsrnn serve`: a REST model server (MLflow's scoring server) for a forecaster or detector."""

from __future__ import annotations

import errno
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from tsrnn.cli.app import app, err
from tsrnn.cli.options import ModelRef, TrackingUri
from tsrnn.errors import ConfigError


def _check_address(host: str, port: int) -> None:
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port} is not a TCP port", "pass a port from 1 to 65535, e.g. --port 5001")
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except (OSError, socket.gaierror) as e:
            busy = getattr(e, "errno", None) == errno.EADDRINUSE
            raise ConfigError(
                f"cannot listen on {host}:{port} ({e.strerror or e})",
                "pass a free --port, or stop what is using it"
                if busy
                else "pass an address of this machine as --host, e.g. 127.0.0.1",
            ) from e


def _stop_on_sigterm() -> None:
    """A process manager's SIGTERM stops the server like Ctrl-C does, temporary files included."""

    def raise_interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, raise_interrupt)


@app.command()
def serve(
    model: ModelRef,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5000,
    workers: Annotated[int, typer.Option(help="Server worker processes.")] = 1,
    tracking_uri: TrackingUri = None,
) -> None:
    """Serve a model over REST until Ctrl-C: POST a frame (MLflow's dataframe_split or
    dataframe_records JSON) to /invocations and get the forecast (or, for a detector, the
    per-row scores and flags) as JSON. /ping answers when the server is up."""
    from tsrnn.pyfunc import fetch_model, is_mlflow_uri, load_fetched, local_model_dir, save_model

    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    _check_address(host, port)
    _stop_on_sigterm()
    if is_mlflow_uri(model):
        root, model_dir = fetch_model(model, tracking_uri)
    else:
        root, model_dir = None, local_model_dir(model, tracking_uri)
    est = load_fetched(model_dir, model)  # a clear error now rather than in the server's log
    with tempfile.TemporaryDirectory(prefix="tsrnn-serve-") as tmp:
        root = root or save_model(model_dir, Path(tmp) / "model")
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            str(root),
            "--env-manager",
            "local",
            "-h",
            host,
            "-p",
            str(port),
            "-w",
            str(workers),
        ]
        err(f"serving {type(est).__name__} {model} on http://{host}:{port}/invocations (Ctrl-C stops)")
        server = subprocess.Popen(command)
        try:
            code = server.wait()
        except KeyboardInterrupt:
            server.terminate()
            server.wait(timeout=30)
            return
    if code != 0:
        raise ConfigError(f"the model server exited with status {code}", "see its messages above")
