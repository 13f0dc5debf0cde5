"""What the MLflow test modules share: the real `tsrnn` command line with no MLFLOW_TRACKING_URI
from the outside, small fit options, and a small two-channel hourly file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
ENV.pop("MLFLOW_TRACKING_URI", None)
SMALL = ["-L", "48", "-H", "12", "--epochs", "2", "--hidden", "8", "--quiet"]


def tsrnn(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tsrnn", *args], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=300
    )


def hourly_workdir(factory: Any, name: str, trend: float = 0.0) -> Path:
    """A fresh directory holding data.csv: 500 hourly rows of a daily sine (plus ``trend`` per
    row) and cosine, columns time, a, b."""
    d = factory.mktemp(name)
    t = np.arange(500)
    pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=500, freq="h"),
            "a": np.sin(2 * np.pi * t / 24) + trend * t,
            "b": np.cos(2 * np.pi * t / 24),
        }
    ).to_csv(d / "data.csv", index=False)
    return d
