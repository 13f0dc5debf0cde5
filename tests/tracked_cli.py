"""What the MLflow test modules share: small fit options and a small two-channel hourly file (the
command line itself runs through tests/cli.py, with no MLFLOW_TRACKING_URI from the outside)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SMALL = ["-L", "48", "-H", "12", "--epochs", "2", "--hidden", "8", "--quiet"]


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
