"""tsrnn: time-series forecasting and anomaly detection with recurrent neural networks.

Nothing heavy is imported here: the public names load their modules on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "RNNAnomalyDetector": "tsrnn.estimators.detector",
    "RNNForecaster": "tsrnn.estimators.forecaster",
    "LSTMForecaster": "tsrnn.estimators.forecaster",
    "GRUForecaster": "tsrnn.estimators.forecaster",
    "load_series": "tsrnn.data",
    "SeriesData": "tsrnn.data",
    "make_windows": "tsrnn.windows",
    "SeriesScaler": "tsrnn.scaling",
    "TsrnnError": "tsrnn.errors",
    "DataError": "tsrnn.errors",
    "ConfigError": "tsrnn.errors",
    "NotFittedError": "tsrnn.errors",
    "ModelFileError": "tsrnn.errors",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tsrnn' has no attribute {name!r}")
