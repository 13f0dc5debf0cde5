"""Plots written to PNG files (matplotlib, imported only here, with the Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import pandas as pd

    from tsrnn.data import SeriesData


def plot_forecast(series: "SeriesData", forecast: "pd.DataFrame", targets: Sequence[str],
                  quantiles: Sequence[float] | None, path: str | Path, history: int = 200) -> Path:
    """History (the last ``history`` rows), the forecast, and the outer quantile band, one panel per target.

    With many series, the first series is drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(targets)
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.6 * n), sharex=True, squeeze=False)
    times = series.series_times(0)[-history:]
    values = series.series(0)[-history:]
    fc = forecast
    if series.ids is not None and series.id_col in forecast.columns:
        fc = forecast[forecast[series.id_col] == series.ids[0]]
    for c, (name, ax) in enumerate(zip(targets, axes[:, 0])):
        ax.plot(times, values[:, c], color="0.3", lw=1, label="history")
        ax.plot(fc.index, fc[name], color="tab:blue", lw=1.5, label="forecast")
        if quantiles and len(quantiles) >= 2:
            lo, hi = f"{name}_q{quantiles[0]:g}", f"{name}_q{quantiles[-1]:g}"
            ax.fill_between(fc.index, fc[lo], fc[hi], color="tab:blue", alpha=0.2,
                            label=f"{quantiles[0]:g}-{quantiles[-1]:g} interval")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
