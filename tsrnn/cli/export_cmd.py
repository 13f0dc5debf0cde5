"""`tsrnn export`: a saved forecaster as an ONNX graph plus a JSON sidecar, to run without torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tsrnn.cli.app import app, err
from tsrnn.cli.options import Force, ModelRef, TrackingUri
from tsrnn.errors import ConfigError

FORMATS = ("onnx",)


@app.command()
def export(
    model: ModelRef,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write (model.onnx, tsrnn-onnx.json).")],
    format: Annotated[str, typer.Option("--format", help="onnx (the only format so far).")] = "onnx",
    force: Force = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Export a saved forecaster to run with onnxruntime and numpy alone (tsrnn.onnx_runner)."""
    from tsrnn.estimators import RNNForecaster
    from tsrnn.pyfunc import load_ref

    if format not in FORMATS:
        raise ConfigError(f"--format {format!r} is not an export format", f"pass --format {'|'.join(FORMATS)}")
    est = load_ref(model, tracking_uri, RNNForecaster)
    est.export_onnx(out, overwrite=force)
    err(f"exported {model} to {out} (model.onnx, tsrnn-onnx.json)")
