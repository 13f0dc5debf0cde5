"""Plots written to PNG files (matplotlib, imported only here, with the Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from tsrnn.data import SeriesData


def plot_forecast(
    series: "SeriesData",
    forecast: "pd.DataFrame",
    targets: Sequence[str],
    quantiles: Sequence[float] | None,
    path: str | Path,
    history: int = 200,
) -> Path:
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
            ax.fill_between(
                fc.index,
                fc[lo],
                fc[hi],
                color="tab:blue",
                alpha=0.2,
                label=f"{quantiles[0]:g}-{quantiles[-1]:g} interval",
            )
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_anomalies(
    frame: "pd.DataFrame",
    scored: "pd.DataFrame",
    channels: Sequence[str],
    time_col: str,
    path: str | Path,
    labels: str | None = None,
) -> Path:
    """Each channel with flagged rows marked (and true anomalies shaded, given ``labels``), then the score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = scored[time_col].to_numpy()
    flags = scored["is_anomaly"].to_numpy().astype(bool)
    fig, axes = plt.subplots(len(channels) + 1, 1, figsize=(11, 2.2 * (len(channels) + 1)), sharex=True, squeeze=False)
    truth = frame[labels].to_numpy().astype(float) > 0 if labels else None
    for ax, name in zip(axes[:-1, 0], channels):
        values = frame[name].to_numpy(dtype=float)
        ax.plot(times, values, color="0.3", lw=0.8)
        ax.scatter(times[flags], values[flags], color="tab:red", s=6, label="flagged", zorder=3)
        if truth is not None:
            ax.fill_between(
                times, values.min(), values.max(), where=truth, color="tab:orange", alpha=0.2, label="labelled anomaly"
            )
        ax.set_ylabel(name)
    ax = axes[-1, 0]
    ax.plot(times, scored["score"].to_numpy(), color="tab:purple", lw=0.8)
    ax.scatter(times[flags], scored["score"].to_numpy()[flags], color="tab:red", s=6)
    ax.set_ylabel("score")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    for a in axes[:, 0]:
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
