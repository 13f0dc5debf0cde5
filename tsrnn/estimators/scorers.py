"""The detector's scoring methods: each owns its torch module, its loss, how a series' rows get
one raw error per channel, and its streaming state.

A scorer is told the detector's fitted network through ``window_errors``: a function from
scaled windows (n, W, C) to their per-step errors, computed in no-grad batches by the detector.
Adding a method means adding one class here and naming it in ``SCORERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from tsrnn.checks import check_choice, check_int
from tsrnn.detection.scoring import COMBINE, accumulate, empty, ewma, finish
from tsrnn.errors import DataError

if TYPE_CHECKING:
    import pandas as pd
    import torch

WindowErrors = Callable[[np.ndarray], np.ndarray]


@dataclass
class ForecastStream:
    """What a forecast scorer carries between chunks of a stream."""

    rows: np.ndarray  # (<= W, C) the last scaled rows, inputs of the next forecasts
    smooth: np.ndarray | None  # (C,) the last smoothed residual


@dataclass
class ReconstructionStream:
    """What a reconstruction scorer carries: rows whose windows have not all arrived yet."""

    rows: np.ndarray  # (< W, C) scaled rows still waiting for windows
    times: Any  # their times (a DatetimeIndex)
    total: np.ndarray  # (< W, C) their error sums (or maxima)
    count: np.ndarray  # (< W,) how many windows covered each


class ForecastScorer:
    """A one-step recurrent forecaster predicts each row from the ``lookback`` rows before it;
    a row's error is the absolute residual, smoothed with an EWMA of span ``smoothing`` started
    from the typical calibration residual (Hundman et al., KDD 2018). The first ``lookback``
    rows of a frame have no forecast: their error is NaN."""

    name: ClassVar[str] = "forecast"
    params: ClassVar[tuple[str, ...]] = ("smoothing",)  # detector parameters only this method uses

    def __init__(self, lookback: int, smoothing: int) -> None:
        self.lookback = lookback
        self.smoothing = smoothing

    @classmethod
    def from_detector(cls, det: Any) -> "ForecastScorer":
        return cls(det.lookback, det.smoothing)

    def window_shape(self) -> tuple[int, int]:
        """(lookback, horizon) of the training windows."""
        return self.lookback, 1

    def module_class(self) -> type:
        from tsrnn.models import RecurrentForecaster

        return RecurrentForecaster

    def build(self, n_channels: int, net: dict[str, Any]) -> "torch.nn.Module":
        return self.module_class()(n_channels, list(range(n_channels)), 1, norm="none", **net)

    def loss(self, model: "torch.nn.Module", batch: Any) -> "torch.Tensor":
        import torch

        x, y = batch  # (B, W, C), (B, 1, C)
        return torch.nn.functional.mse_loss(model(x)[..., 0].float(), y)

    def window_errors(self, model: "torch.nn.Module", w: "torch.Tensor") -> "torch.Tensor":
        """(n, W + 1, C) windows -> (n, 1, C) absolute error of the forecast of their last row."""
        return (model(w[:, :-1])[..., 0].float() - w[:, -1:]).abs()

    def row_errors(self, errors_of: WindowErrors, scaled: np.ndarray, typical: np.ndarray | None) -> np.ndarray:
        """(n, C) scaled rows -> (n, C) smoothed residuals (NaN for the first ``lookback``)."""
        n, W = len(scaled), self.lookback
        if n <= W:
            raise DataError(
                f"{n} rows: the forecast detector needs more than its lookback of {W}", f"pass at least {W + 1} rows"
            )
        resid = np.full(scaled.shape, np.nan)
        resid[W:] = self._residuals(errors_of, scaled, np.arange(W, n))
        return ewma(resid, self.smoothing, typical)[0]

    def _residuals(self, errors_of: WindowErrors, rows: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The residuals of rows ``targets`` of ``rows`` (each needs the W rows before it)."""
        out = []
        for lo in range(0, len(targets), 4096):  # only 4096 windows are materialised at a time
            t = targets[lo : lo + 4096]
            out.append(errors_of(rows[t[:, None] - self.lookback + np.arange(self.lookback + 1)])[:, 0])
        return np.concatenate(out) if out else np.empty((0, rows.shape[1]))

    def start_stream(self, n_channels: int, typical: np.ndarray) -> ForecastStream:
        return ForecastStream(np.empty((0, n_channels), np.float32), typical)

    def update(
        self, state: ForecastStream, errors_of: WindowErrors, new: np.ndarray, times: "pd.DatetimeIndex"
    ) -> tuple["pd.DatetimeIndex", np.ndarray]:
        """Score newly arrived scaled rows: (their times, their errors); every row is final at once."""
        rows = np.concatenate([state.rows, new])
        first = max(self.lookback, len(state.rows))  # rows before `first` were scored in earlier chunks
        resid = np.full(new.shape, np.nan)
        targets = np.arange(first, len(rows))
        resid[targets - len(state.rows)] = self._residuals(errors_of, rows, targets)
        smooth, state.smooth = ewma(resid, self.smoothing, state.smooth)
        state.rows = rows[-self.lookback :]
        return times, smooth

    def flush(self, state: ForecastStream) -> tuple[None, np.ndarray]:
        """End of stream: no row is waiting."""
        return None, np.zeros((0, state.rows.shape[1]))


class ReconstructionScorer:
    """A recurrent autoencoder rebuilds every window of ``lookback`` rows (stride 1); a row's
    error per channel is the squared reconstruction error combined (``combine`` mean | max) over
    every window that covers it, so the first and last rows are scored too."""

    name: ClassVar[str] = "reconstruction"
    params: ClassVar[tuple[str, ...]] = ("combine",)

    def __init__(self, lookback: int, combine: str) -> None:
        self.lookback = check_int("lookback", lookback, 2, hint="the autoencoder needs windows of at least 2 rows")
        self.combine = check_choice("combine", combine, COMBINE)

    @classmethod
    def from_detector(cls, det: Any) -> "ReconstructionScorer":
        return cls(det.lookback, det.combine)

    def window_shape(self) -> tuple[int, int]:
        """A window of W rows is W - 1 input rows and 1 target row; the autoencoder takes all W."""
        return self.lookback - 1, 1

    def module_class(self) -> type:
        from tsrnn.models import RecurrentAutoencoder

        return RecurrentAutoencoder

    def build(self, n_channels: int, net: dict[str, Any]) -> "torch.nn.Module":
        return self.module_class()(n_channels, **net)

    def loss(self, model: "torch.nn.Module", batch: Any) -> "torch.Tensor":
        import torch

        x, y = batch
        window = torch.cat([x, y], dim=1)  # (B, W, C): the whole window is the input
        return torch.nn.functional.mse_loss(model(window).float(), window)

    def window_errors(self, model: "torch.nn.Module", w: "torch.Tensor") -> "torch.Tensor":
        """(n, W, C) windows -> (n, W, C) squared reconstruction errors."""
        return (model(w).float() - w) ** 2

    def _accumulate(
        self, errors_of: WindowErrors, rows: np.ndarray, starts: np.ndarray, total: np.ndarray, count: np.ndarray
    ) -> None:
        W = self.lookback
        for lo in range(0, len(starts), 4096):  # only 4096 windows are materialised at a time
            s = starts[lo : lo + 4096]
            accumulate(total, count, s, errors_of(rows[s[:, None] + np.arange(W)]), self.combine)

    def row_errors(self, errors_of: WindowErrors, scaled: np.ndarray, typical: np.ndarray | None) -> np.ndarray:
        """(n, C) scaled rows -> (n, C) combined reconstruction errors."""
        n, W = len(scaled), self.lookback
        if n < W:
            raise DataError(f"{n} rows are fewer than the detector's lookback of {W}", f"pass at least {W} rows")
        total, count = empty(n, scaled.shape[1], self.combine)
        self._accumulate(errors_of, scaled, np.arange(n - W + 1), total, count)
        return finish(total, count, self.combine)

    def start_stream(self, n_channels: int, typical: np.ndarray) -> ReconstructionStream:
        import pandas as pd

        total, count = empty(0, n_channels, self.combine)
        return ReconstructionStream(np.empty((0, n_channels), np.float32), pd.DatetimeIndex([]), total, count)

    def update(
        self, state: ReconstructionStream, errors_of: WindowErrors, new: np.ndarray, times: "pd.DatetimeIndex"
    ) -> tuple["pd.DatetimeIndex", np.ndarray]:
        """Add the windows that the new rows complete; return the rows no later window can cover
        (a row is final ``lookback - 1`` rows after it arrives)."""
        W = self.lookback
        rows = np.concatenate([state.rows, new])
        all_times = state.times.append(times)
        fresh_total, fresh_count = empty(len(new), new.shape[1], self.combine)
        total, count = np.concatenate([state.total, fresh_total]), np.concatenate([state.count, fresh_count])
        ends = np.arange(max(W - 1, len(state.rows)), len(rows))  # each new row ends one window (once W are in)
        if len(ends):
            self._accumulate(errors_of, rows, ends - W + 1, total, count)
        final = len(rows) - W + 1 if len(rows) >= W else 0
        state.rows, state.times = rows[final:], all_times[final:]
        state.total, state.count = total[final:], count[final:]
        return all_times[:final], finish(total[:final], count[:final], self.combine)

    def flush(self, state: ReconstructionStream) -> tuple["pd.DatetimeIndex", np.ndarray]:
        """End of stream: the rows still waiting get the windows they have."""
        if len(state.count) and state.count.max() == 0:
            raise DataError(
                f"the stream ended after fewer rows than the lookback ({self.lookback})",
                "send at least one full window of rows",
            )
        return state.times, finish(state.total, state.count, self.combine)


SCORERS: dict[str, Any] = {s.name: s for s in (ForecastScorer, ReconstructionScorer)}
