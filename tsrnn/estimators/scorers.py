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
    """What a reconstruction scorer carries: the last rows (the start of the next windows) and
    the rows whose windows have not all arrived yet (the last ``len(count)`` rows seen)."""

    rows: np.ndarray  # (< W, C) the last scaled rows
    times: Any  # the pending rows' times (a DatetimeIndex)
    total: np.ndarray  # (<= W - 1, C) their error sums (or maxima)
    count: np.ndarray  # (<= W - 1,) how many windows covered each


class ForecastScorer:
    """A one-step recurrent forecaster predicts each row from the ``lookback`` rows before it;
    a row's error is the absolute residual, smoothed with an EWMA of span ``smoothing`` started
    from the typical calibration residual (Hundman et al., KDD 2018). The first ``lookback``
    rows of a frame have no forecast: their error is NaN."""

    name: ClassVar[str] = "forecast"
    params: ClassVar[tuple[str, ...]] = ("smoothing",)  # detector parameters only this method uses
    errors_per_channel: ClassVar[int] = 1  # row errors are (n, errors_per_channel * C)

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

    def recentre(self, state: ForecastStream, shift: np.ndarray) -> None:
        """Move the kept rows by ``shift`` (C,), as adaptation moved the stream's rows."""
        state.rows = state.rows - shift

    def flush(self, state: ForecastStream) -> tuple[None, np.ndarray]:
        """End of stream: no row is waiting."""
        return None, np.zeros((0, state.rows.shape[1]))


class ReconstructionScorer:
    """A recurrent autoencoder rebuilds every window of ``lookback`` rows (stride 1); a row's
    error per channel is its squared reconstruction error, combined over the windows that cover
    it (``combine`` "mean" or "max": every row is scored, and final ``lookback - 1`` rows after
    it arrives) or taken from the one window that ends at it ("last": causal, final at once;
    the first ``lookback - 1`` rows of a frame have no error)."""

    name: ClassVar[str] = "reconstruction"
    params: ClassVar[tuple[str, ...]] = ("combine",)
    errors_per_channel: ClassVar[int] = 1

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
        self, errors_of: WindowErrors, rows: np.ndarray, starts: np.ndarray, total, count, first: int
    ) -> None:
        """Add the errors of the windows at ``starts`` of ``rows`` to the accumulators, whose row 0
        is row ``first`` of ``rows``; with "last", only the row each window ends at."""
        W = self.lookback
        for lo in range(0, len(starts), 4096):  # only 4096 windows are materialised at a time
            s = starts[lo : lo + 4096]
            err = errors_of(rows[s[:, None] + np.arange(W)])  # (k, W, C)
            if self.combine == "last":
                accumulate(total, count, s + W - 1 - first, err[:, -1:], "mean")
            else:
                accumulate(total, count, s - first, err, self.combine)

    def row_errors(self, errors_of: WindowErrors, scaled: np.ndarray, typical: np.ndarray | None) -> np.ndarray:
        """(n, C) scaled rows -> (n, C) combined reconstruction errors."""
        n, W = len(scaled), self.lookback
        if n < W:
            raise DataError(f"{n} rows are fewer than the detector's lookback of {W}", f"pass at least {W} rows")
        total, count = empty(n, scaled.shape[1], self.combine)
        self._accumulate(errors_of, scaled, np.arange(n - W + 1), total, count, 0)
        return finish(total, count, self.combine)

    def start_stream(self, n_channels: int, typical: np.ndarray) -> ReconstructionStream:
        import pandas as pd

        total, count = empty(0, n_channels, self.combine)
        return ReconstructionStream(np.empty((0, n_channels), np.float32), pd.DatetimeIndex([]), total, count)

    def update(
        self, state: ReconstructionStream, errors_of: WindowErrors, new: np.ndarray, times: "pd.DatetimeIndex"
    ) -> tuple["pd.DatetimeIndex", np.ndarray]:
        """Add the windows that the new rows complete; return the rows no later window can change."""
        W = self.lookback
        rows = np.concatenate([state.rows, new])
        first = len(rows) - len(state.count) - len(new)  # rows[first:]: the pending rows, then the new ones
        fresh_total, fresh_count = empty(len(new), new.shape[1], self.combine)
        total, count = np.concatenate([state.total, fresh_total]), np.concatenate([state.count, fresh_count])
        ends = np.arange(max(W - 1, len(state.rows)), len(rows))  # each new row ends one window (once W are in)
        self._accumulate(errors_of, rows, ends - W + 1, total, count, first)
        all_times = state.times.append(times)
        final = len(count) if self.combine == "last" else max(0, len(rows) - W + 1 - first)
        state.rows, state.times = rows[len(rows) - min(len(rows), W - 1) :], all_times[final:]
        state.total, state.count = total[final:], count[final:]
        return all_times[:final], finish(total[:final], count[:final], self.combine)

    def recentre(self, state: ReconstructionStream, shift: np.ndarray) -> None:
        """Move the kept rows by ``shift`` (C,), as adaptation moved the stream's rows."""
        state.rows = state.rows - shift

    def flush(self, state: ReconstructionStream) -> tuple["pd.DatetimeIndex", np.ndarray]:
        """End of stream: the rows still waiting get the windows they have."""
        if len(state.count) and state.count.max() == 0:
            raise DataError(
                f"the stream ended after fewer rows than the lookback ({self.lookback})",
                "send at least one full window of rows",
            )
        return state.times, finish(state.total, state.count, self.combine)


@dataclass
class HybridStream:
    """What a hybrid scorer carries: its reconstruction stream, and the smoothed forecast
    residuals of that stream's pending rows."""

    recon: ReconstructionStream
    forecast: np.ndarray  # (pending rows, C) smoothed residuals (NaN for the first W rows of a stream)
    smooth: np.ndarray | None  # (C,) the last smoothed residual
    smooth_recon: np.ndarray | None  # (C,) the last smoothed reconstruction error


class HybridScorer:
    """Both errors from one pass over the windows of ``lookback + 1`` rows (a
    ``ForecastAndReconstruct`` network): per channel, the absolute reconstruction error of the
    rows, combined over windows as by ``ReconstructionScorer`` (``combine``), and the absolute
    forecast residual of each window's last row (from a last-value normalised forecaster), each
    smoothed in row order by an EWMA of span ``smoothing``. Row errors are (n, 2C):
    reconstruction channels, then forecast channels, each standardised on its own by the
    detector, whose row score is the largest. With ``combine="last"`` both are causal."""

    name: ClassVar[str] = "hybrid"
    params: ClassVar[tuple[str, ...]] = ("smoothing", "combine")
    errors_per_channel: ClassVar[int] = 2

    def __init__(self, lookback: int, smoothing: int, combine: str) -> None:
        self.lookback = lookback
        self.smoothing = smoothing
        self.recon = ReconstructionScorer(lookback + 1, combine)

    @classmethod
    def from_detector(cls, det: Any) -> "HybridScorer":
        return cls(det.lookback, det.smoothing, det.combine)

    def window_shape(self) -> tuple[int, int]:
        return self.lookback, 1

    def module_class(self) -> type:
        from tsrnn.models import ForecastAndReconstruct

        return ForecastAndReconstruct

    def build(self, n_channels: int, net: dict[str, Any]) -> "torch.nn.Module":
        return self.module_class()(n_channels, **net)

    def loss(self, model: "torch.nn.Module", batch: Any) -> "torch.Tensor":
        import torch

        x, y = batch  # (B, W, C), (B, 1, C)
        window = torch.cat([x, y], dim=1)  # (B, W + 1, C)
        forecast, rebuilt = model(window)
        mse = torch.nn.functional.mse_loss
        return mse(forecast.float(), y) + mse(rebuilt.float(), window)

    def window_errors(self, model: "torch.nn.Module", w: "torch.Tensor") -> "torch.Tensor":
        """(n, W + 1, C) windows -> (n, W + 1, 2C): squared reconstruction errors, then the absolute
        forecast error of the last row in the last step (zeros before it)."""
        import torch

        forecast, rebuilt = model(w)
        resid = torch.zeros_like(w)
        resid[:, -1:] = (forecast.float() - w[:, -1:]).abs()
        return torch.cat([(rebuilt.float() - w).abs(), resid], dim=-1)

    def _split(self, errors_of: WindowErrors, n_channels: int) -> tuple[WindowErrors, list[np.ndarray]]:
        """A reconstruction ``errors_of`` that keeps, in order, each window's forecast residual."""
        kept: list[np.ndarray] = []

        def recon_of(windows: np.ndarray) -> np.ndarray:
            err = errors_of(windows)  # (k, W + 1, 2C)
            kept.append(err[:, -1, n_channels:])
            return err[..., :n_channels]

        return recon_of, kept

    def row_errors(self, errors_of: WindowErrors, scaled: np.ndarray, typical: np.ndarray | None) -> np.ndarray:
        """(n, C) scaled rows -> (n, 2C) reconstruction errors and smoothed forecast residuals."""
        n, C, W = len(scaled), scaled.shape[1], self.lookback
        if n <= W:
            raise DataError(
                f"{n} rows: the hybrid detector needs more than its lookback of {W}", f"pass at least {W + 1} rows"
            )
        recon_of, kept = self._split(errors_of, C)
        recon = self.recon.row_errors(recon_of, scaled, None)
        resid = np.full(scaled.shape, np.nan)
        resid[W:] = np.concatenate(kept)
        typical = (None, None) if typical is None else (typical[:C], typical[C:])
        recon = ewma(recon, self.smoothing, typical[0])[0]
        return np.concatenate([recon, ewma(resid, self.smoothing, typical[1])[0]], axis=1)

    def start_stream(self, n_channels: int, typical: np.ndarray) -> HybridStream:
        recon = self.recon.start_stream(n_channels, typical[:n_channels])
        return HybridStream(recon, np.empty((0, n_channels)), typical[n_channels:], typical[:n_channels])

    def update(
        self, state: HybridStream, errors_of: WindowErrors, new: np.ndarray, times: "pd.DatetimeIndex"
    ) -> tuple["pd.DatetimeIndex", np.ndarray]:
        """Add the windows the new rows complete; return the rows no later window can change."""
        C, seen = new.shape[1], len(state.recon.rows)
        recon_of, kept = self._split(errors_of, C)
        out_times, recon = self.recon.update(state.recon, recon_of, new, times)
        resid = np.full(new.shape, np.nan)  # a residual for every new row that ends a window
        ends = np.arange(max(self.lookback, seen), seen + len(new)) - seen
        if len(ends):
            resid[ends] = np.concatenate(kept)
        smooth, state.smooth = ewma(resid, self.smoothing, state.smooth)
        forecast = np.concatenate([state.forecast, smooth])
        state.forecast = forecast[len(recon) :]
        recon, state.smooth_recon = ewma(recon, self.smoothing, state.smooth_recon)  # final rows, in order
        return out_times, np.concatenate([recon, forecast[: len(recon)]], axis=1)

    def recentre(self, state: HybridStream, shift: np.ndarray) -> None:
        """Move the kept rows by ``shift`` (C,), as adaptation moved the stream's rows."""
        self.recon.recentre(state.recon, shift)

    def flush(self, state: HybridStream) -> tuple["pd.DatetimeIndex", np.ndarray]:
        """End of stream: the rows still waiting get the windows they have."""
        times, recon = self.recon.flush(state.recon)
        recon, state.smooth_recon = ewma(recon, self.smoothing, state.smooth_recon)
        return times, np.concatenate([recon, state.forecast], axis=1)


SCORERS: dict[str, Any] = {s.name: s for s in (ForecastScorer, ReconstructionScorer, HybridScorer)}
