"""Generated data the test modules share: an hourly (by default) daily sine and cosine with noise."""

from __future__ import annotations

import numpy as np
import pandas as pd


def sine_frame(
    n: int = 480,
    *,
    noise: float = 0.1,
    seed: int = 0,
    offset: float = 0.0,
    start: str = "2024-01-01",
    freq: str = "h",
    period: int = 24,
    temp: bool = False,
) -> pd.DataFrame:
    """Columns time, ``a`` (a sine plus ``offset``) and ``b`` (a cosine), each plus ``noise`` times
    standard normal noise drawn from ``default_rng(seed)`` (a's first, then b's); with ``temp``, a
    covariate ``temp`` (the sine three steps ahead, plus noise drawn after b's)."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    columns = {
        "time": pd.date_range(start, periods=n, freq=freq),
        "a": offset + np.sin(2 * np.pi * k / period) + noise * rng.standard_normal(n),
        "b": np.cos(2 * np.pi * k / period) + noise * rng.standard_normal(n),
    }
    if temp:
        columns["temp"] = np.sin(2 * np.pi * (k + 3) / period) + noise * rng.standard_normal(n)
    return pd.DataFrame(columns)
