"""Forecast with an exported tsrnn model using onnxruntime and numpy alone (no torch, no pandas).

    from tsrnn.onnx_runner import OnnxForecaster

    model = OnnxForecaster("exported-dir")        # written by `tsrnn export` / model.export_onnx
    out = model.forecast(window)                   # window (B, lookback, channels), original units
    point = out[..., model.point_index]            # (B, horizon, targets)

This module imports nothing heavier than numpy, and onnxruntime when a model is opened, so a
service can ship it (one file; it needs only ``tsrnn.errors`` besides) without the training stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tsrnn.errors import DataError, ModelFileError

GRAPH = "model.onnx"
SIDECAR = "tsrnn-onnx.json"


class OnnxForecaster:
    """An exported forecaster: the ONNX graph plus the scaling and columns from its sidecar.

    Parameters
    ----------
    directory : str or Path
        A directory written by ``RNNForecaster.export_onnx`` (``tsrnn export --format onnx``).
    threads : int, optional
        onnxruntime's intra-op threads (default: onnxruntime's choice).
    """

    def __init__(self, directory: str | Path, threads: int | None = None) -> None:
        directory = Path(directory)
        try:
            self.meta: dict[str, Any] = json.loads((directory / SIDECAR).read_text())
        except (OSError, ValueError) as e:
            raise ModelFileError(
                f"{directory} holds no readable {SIDECAR} ({e})", "pass a directory written by `tsrnn export`"
            ) from e
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise ModelFileError("running an exported model needs onnxruntime", "pip install onnxruntime") from e
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(directory / self.meta["graph"]), options, providers=["CPUExecutionProvider"]
        )
        self.center = np.asarray(self.meta["scaler"]["center"], dtype=np.float32)  # (fitted series, C)
        self.scale = np.asarray(self.meta["scaler"]["scale"], dtype=np.float32)
        self.lookback: int = self.meta["lookback"]
        self.horizon: int = self.meta["horizon"]
        self.channels: list[str] = self.meta["channels"]
        self.targets: list[str] = self.meta["targets"]
        self.point_index: int = self.meta["point_index"]
        self._row = {sid: i for i, sid in enumerate(self.meta["series_ids"])}

    def series_rows(self, series: Any = None, batch: int = 1) -> np.ndarray:
        """(B,) the fitted-series number of each window from ids ``series`` (one id, or B ids;
        None for a model fitted on one series)."""
        if series is None:
            if len(self._row) > 1:
                raise DataError(
                    f"this model was fitted on {len(self._row)} series: say which series each window is",
                    "pass series=<id> or one id per window",
                )
            return np.zeros(batch, dtype=np.int64)
        ids = [series] * batch if np.ndim(series) == 0 else list(series)
        missing = [s for s in ids if s not in self._row]
        if missing:
            raise DataError(
                f"series {missing[:5]} were not in the training data",
                f"pass ids the model knows: {list(self._row)[:10]}",
            )
        return np.array([self._row[s] for s in ids], dtype=np.int64)

    def forecast(self, x: np.ndarray, series: Any = None) -> np.ndarray:
        """Forecast from windows ``x`` (B, lookback, channels) or (lookback, channels), in
        original units with the channels in ``self.channels`` order; returns (B, horizon,
        targets, quantiles) in original units (quantiles: 1 for a point forecast)."""
        x = np.asarray(x, dtype=np.float32)
        x = x[None] if x.ndim == 2 else x
        want = (self.lookback, len(self.channels))
        if x.ndim != 3 or x.shape[1:] != want:
            raise DataError(
                f"windows must have shape (batch, {want[0]}, {want[1]}), got {x.shape}",
                f"pass the last {want[0]} rows of the channels {self.channels}",
            )
        rows = self.series_rows(series, len(x))
        if len(rows) != len(x):
            raise DataError(f"{len(rows)} series ids for {len(x)} windows", "pass one id per window, or one for all")
        c, s = self.center[rows][:, None], self.scale[rows][:, None]  # (B, 1, C)
        feed = {"x": (x - c) / s}  # (B, L, C) scaled
        if self.meta["series_embedding"]:
            feed["ids"] = rows
        (out,) = self.session.run(["forecast"], feed)  # (B, H, C_t, Q) scaled
        n_t = len(self.targets)
        return out * s[..., :n_t, None] + c[..., :n_t, None]  # (B, H, C_t, Q) original units
