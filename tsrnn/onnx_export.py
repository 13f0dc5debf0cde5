"""Export a fitted forecaster as an ONNX graph plus a JSON sidecar, to forecast without torch.

``export_onnx(model, directory)`` writes

* ``model.onnx``: the torch module's ``forward`` (window normalisation, channel independence,
  segments, encoder, head: everything the module does) traced by torch's ONNX exporter, with a dynamic batch axis.
  Input ``x`` (batch, lookback, channels) float32 in *scaled* units, and ``ids`` (batch,) int64
  (the fitted series' numbers) when the model learned a series embedding; output ``forecast``
  (batch, horizon, targets, quantiles) in scaled units;
* ``tsrnn-onnx.json``: what a caller needs around the graph: the channels in input order, the
  targets, lookback, horizon, frequency, quantile levels, the fitted series' ids and the
  scaler's affine maps (``scaled = (x - center) / scale`` per fitted series and channel).

``tsrnn.onnx_runner.OnnxForecaster`` reads both with onnxruntime and numpy alone. Stateful
models are refused: they forecast by a loop that feeds predictions back through a carried state.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tsrnn.errors import ConfigError
from tsrnn.onnx_runner import GRAPH, SIDECAR

OPSET = 17


class _WindowForecast(nn.Module):
    """``module(x)``, or ``module(x, ids=ids)`` with a series embedding: the exported signature."""

    def __init__(self, module: nn.Module, with_ids: bool) -> None:
        super().__init__()
        self.module = module
        self.with_ids = with_ids

    def forward(self, x: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.module(x, ids=ids) if self.with_ids else self.module(x)  # (B, H, C_t, Q)


def export_onnx(model: Any, directory: str | Path, overwrite: bool = False) -> Path:
    """Write ``model`` (a fitted ``RNNForecaster``) to ``directory`` as ``model.onnx`` and
    ``tsrnn-onnx.json``; returns the directory. See the module docstring."""
    from tsrnn import __version__
    from tsrnn.persist import write_dir

    model._check_fitted()
    if model.stateful:
        raise ConfigError(
            "a stateful model cannot be exported to ONNX: it forecasts by feeding each prediction back "
            "through a recurrent state carried from step to step",
            "export a window forecaster (trained without --stateful)",
        )
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError as e:
        raise ConfigError("exporting to ONNX needs the onnx package", "pip install 'tsrnn[onnx]'") from e

    def fill(tmp: Path) -> None:
        with_ids = model.series_embedding is not None
        module = _WindowForecast(copy.deepcopy(model.model_).cpu().eval(), with_ids)
        x = torch.zeros(2, model.lookback, len(model.targets_) + len(model.covariates_))  # (B, L, C)
        args: tuple[torch.Tensor, ...] = (x, torch.zeros(2, dtype=torch.int64)) if with_ids else (x,)
        names = ["x", "ids"] if with_ids else ["x"]
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and RNN batch notes
            torch.onnx.export(
                module,
                args,
                str(tmp / GRAPH),
                input_names=names,
                output_names=["forecast"],
                dynamic_axes={**{n: {0: "batch"} for n in names}, "forecast": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        q = model.quantile_levels_
        sidecar = {
            "format": "tsrnn-onnx",
            "format_version": 1,
            "tsrnn_version": __version__,
            "graph": GRAPH,
            "inputs": {"x": ["batch", model.lookback, len(x[0, 0])], **({"ids": ["batch"]} if with_ids else {})},
            "output": "forecast (batch, horizon, targets, quantiles), scaled units",
            "channels": [*model.targets_, *model.covariates_],
            "targets": list(model.targets_),
            "covariates": list(model.covariates_),
            "time_col": model.time_col_,
            "id_col": model.id_col_,
            "lookback": model.lookback,
            "horizon": model.horizon,
            "frequency": model.freq_,
            "quantiles": q,
            "point_index": int(np.argmin([abs(v - 0.5) for v in q])) if q else 0,
            "series_ids": model.series_ids_,
            "series_embedding": with_ids,
            "scaler": {
                "method": model.scaler_.method,
                "center": model.scaler_.center_.tolist(),  # (fitted series, channels)
                "scale": model.scaler_.scale_.tolist(),
            },
        }
        (tmp / SIDECAR).write_text(json.dumps(sidecar, indent=2))

    return write_dir(directory, fill, overwrite)
