"""``RNNAnomalyDetector``: anomaly scores, flags and events from recurrent models.

    det = RNNAnomalyDetector(window=64).fit(normal_df)   # the last part is held out for calibration
    det.score_samples(df)     # one score per row of df (standardised: 0 is typical)
    det.predict(df)           # one 0/1 flag per row
    det.detect_events(df)     # start, end, peak, channels most responsible
    det.update(new_rows)      # streaming: scores rows as they arrive, same as batch scoring

Two scorers:
- ``method="reconstruction"``: a recurrent autoencoder rebuilds every window (stride 1); a row's
  error per channel is the squared reconstruction error combined (``combine`` mean | max) over
  every window that covers it, so the first and last rows are scored too.
- ``method="forecast"``: a one-step recurrent forecaster predicts each row from the ``window``
  rows before it; the absolute residuals are smoothed with an EWMA (span ``smoothing``, started from the typical
  calibration residual), as in Hundman et al. (2018). The first ``window`` rows of a frame have no forecast: they get score 0
  (the calibration mean) and are never flagged.

Per-channel errors are standardised by their mean and std on the calibration rows; the row
score is the largest channel score (so an anomaly in one channel of many is not diluted),
standardised again, so a threshold means the same
across series and channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator

from tsrnn.errors import ConfigError, DataError, NotFittedError, refuse_unused

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from tsrnn.data import SeriesData

METHODS = ("reconstruction", "forecast")


class RNNAnomalyDetector(BaseEstimator):
    """Recurrent anomaly detector; see the module docstring.

    Thresholds (``threshold``): "quantile" (``q`` of calibration scores), "gaussian" (mean + ``k``
    std), "dynamic" (Hundman et al. 2018, fitted on the scores being tested), "pot" (peaks over
    threshold, Siffer et al. 2017, tail probability ``risk``), "conformal" (split-conformal for a
    false-positive rate ``fpr``). Events: at least ``min_event_length`` rows, gaps of up to
    ``merge_gap`` normal rows merged. ``callbacks``: extra training callbacks (tsrnn.training.Callback).
    """

    def __init__(
        self,
        method: str = "forecast",
        window: int = 64,
        cell: str = "lstm",
        hidden_size: int = 32,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        combine: str = "mean",
        smoothing: int = 10,
        threshold: str = "pot",
        q: float = 0.99,
        k: float = 3.0,
        fpr: float = 0.01,
        risk: float = 1e-3,
        min_event_length: int = 1,
        merge_gap: int = 0,
        calibration: float = 0.2,
        scaler: str = "standard",
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        patience: int | None = 4,
        clip_grad_norm: float | None = 1.0,
        stride: int = 1,
        time_col: str | None = None,
        target: str | Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        fill: str = "error",
        random_state: int | None = None,
        device: str = "auto",
        precision: str = "auto",
        verbose: bool = False,
        callbacks: Sequence[Any] | None = None,
    ) -> None:
        self.method = method
        self.window = window
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.combine = combine
        self.smoothing = smoothing
        self.threshold = threshold
        self.q = q
        self.k = k
        self.fpr = fpr
        self.risk = risk
        self.min_event_length = min_event_length
        self.merge_gap = merge_gap
        self.calibration = calibration
        self.scaler = scaler
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.clip_grad_norm = clip_grad_norm
        self.stride = stride
        self.time_col = time_col
        self.target = target
        self.exclude = exclude
        self.fill = fill
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.verbose = verbose
        self.callbacks = callbacks

    # ------------------------------------------------------------------ checks and data
    def _check_params(self) -> None:
        from tsrnn.detection.scoring import COMBINE
        from tsrnn.detection.thresholds import THRESHOLDS

        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}", f"use one of {', '.join(METHODS)}")
        if self.threshold not in THRESHOLDS:
            raise ConfigError(f"unknown threshold {self.threshold!r}", f"use one of {', '.join(THRESHOLDS)}")
        if self.combine not in COMBINE:
            raise ConfigError(f"unknown combine {self.combine!r}", f"use one of {', '.join(COMBINE)}")
        if self.method == "forecast":
            refuse_unused(self, ("combine",), "with method='forecast' (it combines overlapping reconstructions)")
        else:
            refuse_unused(self, ("smoothing",), "with method='reconstruction' (it smooths forecast residuals)")
        if self.threshold != "quantile":
            refuse_unused(self, ("q",), f"with threshold={self.threshold!r}")
        if self.threshold != "gaussian":
            refuse_unused(self, ("k",), f"with threshold={self.threshold!r}")
        if self.threshold != "conformal":
            refuse_unused(self, ("fpr",), f"with threshold={self.threshold!r}")
        if self.threshold != "pot":
            refuse_unused(self, ("risk",), f"with threshold={self.threshold!r}")
        if not 0 < self.calibration < 1:
            raise ConfigError(
                f"calibration must be a fraction in (0, 1), got {self.calibration}",
                "e.g. calibration=0.2 holds out the last 20% of the fit data",
            )
        for name in ("window", "smoothing", "min_event_length", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.merge_gap < 0:
            raise ConfigError(f"merge_gap must not be negative, got {self.merge_gap}")

    def _load(self, data: Any, fitting: bool = False) -> "SeriesData":
        from tsrnn.data import SeriesData, load_series, read_frame

        if isinstance(data, SeriesData):
            return data
        if not fitting and hasattr(self, "channels_"):  # fitted: the columns the model knows
            frame, name, _ = read_frame(data)
            needed = [self.time_col_, *self.channels_]
            missing = [c for c in needed if c not in frame.columns]
            if missing:
                raise DataError(
                    f"{name} lacks column(s) {missing} that the detector was trained on",
                    f"pass data with the columns {needed}",
                )
            return load_series(frame, source_name=name, time_col=self.time_col_, target=self.channels_, fill=self.fill)
        frame, name, _ = read_frame(data)
        if self.exclude:
            missing = [c for c in self.exclude if c not in frame.columns]
            if missing:
                raise DataError(f"{name}: no column(s) {missing} to exclude", "name existing columns")
            frame = frame.drop(columns=list(self.exclude))
        return load_series(frame, source_name=name, time_col=self.time_col, target=self.target, fill=self.fill)

    # ------------------------------------------------------------------ fit
    def fit(self, data: Any, y: None = None) -> "RNNAnomalyDetector":
        """Learn normal behaviour from ``data`` (mostly normal); the last ``calibration`` part
        is held out: it stops training early and calibrates scores and threshold."""
        import torch

        from tsrnn.callbacks import EarlyStopping, Progress, progress_wanted
        from tsrnn.detection.thresholds import fit_threshold
        from tsrnn.models import RecurrentAutoencoder, RecurrentForecaster
        from tsrnn.scaling import SeriesScaler
        from tsrnn.training import TrainConfig, Trainer
        from tsrnn.windows import WindowBatches, make_windows

        self._check_params()
        self._stream = None
        series = self._load(data, fitting=True)
        self.load_warnings_ = list(series.report.warnings) if series.report else []
        if series.n_series != 1:
            raise ConfigError("the detector scores one series at a time", "fit one detector per series")
        horizon = 1 if self.method == "forecast" else 0
        lookback = self.window
        # reconstruction windows are `window` rows with no target part: lookback W - 1, horizon 1
        L, H = (lookback, 1) if horizon else (lookback - 1, 1)
        if L < 1:
            raise ConfigError(f"window must be at least 2 for reconstruction, got {self.window}")
        windows = make_windows(series, L, H, self.stride, self.calibration, 0, require=("train", "val"))
        scaler = SeriesScaler(self.scaler).fit(series, windows.bounds[:, 1])
        if self.random_state is not None:
            torch.manual_seed(self.random_state)
        n_ch = len(series.channels)
        try:
            if self.method == "reconstruction":
                model = RecurrentAutoencoder(
                    n_ch, self.hidden_size, self.num_layers, self.cell, self.bidirectional, self.dropout
                )
            else:
                model = RecurrentForecaster(
                    n_ch,
                    list(range(n_ch)),
                    1,
                    self.cell,
                    self.hidden_size,
                    self.num_layers,
                    self.bidirectional,
                    self.dropout,
                    instance_norm=False,
                )
        except ValueError as e:
            raise ConfigError(str(e)) from e
        config = TrainConfig(
            epochs=self.epochs,
            lr=self.lr,
            clip_grad_norm=self.clip_grad_norm,
            device=self.device,
            precision=self.precision,
            seed=self.random_state,
            lr_schedule="cosine",
        )
        trainer = Trainer(model, self._loss(), config)
        values = torch.from_numpy(scaler.transform(series)).to(trainer.device)
        seed = self.random_state if self.random_state is not None else 0
        train = WindowBatches(values, windows.train, n_ch, self.batch_size, shuffle=True, seed=seed)
        val = WindowBatches(values, windows.val, n_ch, 256)
        callbacks: list[Any] = [EarlyStopping(self.patience)] if self.patience else []
        if self.verbose and progress_wanted():
            callbacks.append(Progress())
        callbacks.extend(self.callbacks or [])
        trainer.callbacks = callbacks
        self.history_ = trainer.fit(train, val)
        self.model_ = model.eval()
        self.device_ = trainer.device
        self.scaler_ = scaler
        self.channels_ = list(series.channels)
        self.time_col_ = series.time_col
        self.freq_ = series.freq
        self.n_features_in_ = n_ch
        # calibration: standardise on the held-out rows' errors, then fit the threshold there
        cal_start = int(windows.bounds[0, 1])
        errors = self._row_errors(scaler.transform(series))
        cal = errors[cal_start:]
        cal = cal[~np.isnan(cal).any(axis=1)]
        if len(cal) < 10:
            raise DataError(
                f"only {len(cal)} calibration rows could be scored", "pass more data or a larger calibration"
            )
        self.err_mean_ = cal.mean(axis=0)
        self.err_std_ = np.where(cal.std(axis=0) > 0, cal.std(axis=0), 1.0)
        overall = ((cal - self.err_mean_) / self.err_std_).max(axis=1)
        self.score_mean_, self.score_std_ = float(overall.mean()), float(overall.std() or 1.0)
        self.calibration_scores_ = (overall - self.score_mean_) / self.score_std_
        self.threshold_ = (
            None
            if self.threshold == "dynamic"
            else float(
                fit_threshold(
                    self.threshold, self.calibration_scores_, q=self.q, k=self.k, fpr=self.fpr, risk=self.risk
                )
            )
        )
        return self

    def _loss(self) -> Any:
        import torch

        method = self.method

        def loss(model: torch.nn.Module, batch: Any) -> torch.Tensor:
            x, y = batch
            if method == "reconstruction":
                window = torch.cat([x, y], dim=1)  # (B, W, C): the whole window is the input
                return torch.nn.functional.mse_loss(model(window).float(), window)
            return torch.nn.functional.mse_loss(model(x)[..., 0].float(), y)

        return loss

    # ------------------------------------------------------------------ scoring
    def _model_errors(self, x: np.ndarray) -> np.ndarray:
        """Per-window, per-step errors: reconstruction (n, W, C) squared, or forecast (n, 1, C) absolute."""
        import torch

        outs = []
        with torch.no_grad():
            for i in range(0, len(x), 2048):
                xb = torch.from_numpy(np.ascontiguousarray(x[i : i + 2048], dtype=np.float32)).to(self.device_)
                if self.method == "reconstruction":
                    outs.append(((self.model_(xb) - xb) ** 2).float().cpu().numpy())
                else:
                    outs.append(self.model_(xb[:, :-1])[..., 0].float().cpu().numpy() - xb[:, -1:].cpu().numpy())
        out = np.concatenate(outs)
        return out if self.method == "reconstruction" else np.abs(out)

    def _row_errors(self, scaled: np.ndarray) -> np.ndarray:
        """(n_rows, C) raw per-row channel errors of one series (NaN where nothing covers a row)."""
        from tsrnn.detection.scoring import accumulate, empty, ewma, finish

        n, W = len(scaled), self.window
        if self.method == "reconstruction":
            if n < W:
                raise DataError(f"{n} rows are fewer than the detector's window of {W}", f"pass at least {W} rows")
            total, count = empty(n, scaled.shape[1], self.combine)
            for lo in range(0, n - W + 1, 4096):  # only 4096 windows are materialised at a time
                starts = np.arange(lo, min(lo + 4096, n - W + 1))
                accumulate(
                    total, count, starts, self._model_errors(scaled[starts[:, None] + np.arange(W)]), self.combine
                )
            return finish(total, count, self.combine)
        if n <= W:
            raise DataError(
                f"{n} rows: the forecast detector needs more than its window of {W}", f"pass at least {W + 1} rows"
            )
        starts = np.arange(n - W)
        x = scaled[starts[:, None] + np.arange(W + 1)]  # (n_w, W + 1, C): inputs and the row to predict
        resid = np.full((n, scaled.shape[1]), np.nan)
        resid[W:] = self._model_errors(x)[:, 0]
        return ewma(resid, self.smoothing, self._ewma_start())[0]

    def _ewma_start(self) -> np.ndarray | None:
        """The smoothing starts from the typical calibration residual (none before calibration),
        so the first smoothed rows are not noisier than the rest."""
        return getattr(self, "err_mean_", None)

    def _standardise(self, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row errors -> (row scores (n,), channel scores (n, C)); uncovered rows score 0."""
        channel = (errors - self.err_mean_) / self.err_std_
        score = (channel.max(axis=1) - self.score_mean_) / self.score_std_
        return np.nan_to_num(score, nan=0.0), np.nan_to_num(channel, nan=0.0)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet", "call fit(normal_data) first, or load a saved detector"
            )

    def _scaled(self, series: "SeriesData") -> np.ndarray:
        return ((series.values - self.scaler_.center_[0]) / self.scaler_.scale_[0]).astype(np.float32)

    def score_frame(self, data: Any) -> "pd.DataFrame":
        """Per row of ``data``: time, ``score``, ``is_anomaly`` and ``score_<channel>`` columns."""
        import pandas as pd

        self._check_fitted()
        series = self._load(data)
        score, channel = self._standardise(self._row_errors(self._scaled(series)))
        flags = self._flags(score)
        out = pd.DataFrame({self.time_col_: series.series_times(0), "score": score, "is_anomaly": flags.astype(int)})
        for c, name in enumerate(self.channels_):
            out[f"score_{name}"] = channel[:, c]
        return out

    def _flags(self, score: np.ndarray) -> np.ndarray:
        from tsrnn.detection.thresholds import apply_threshold, dynamic_threshold

        if self.threshold == "dynamic":
            return dynamic_threshold(score)
        return apply_threshold(score, self.threshold_)

    def score_samples(self, data: Any) -> np.ndarray:
        """One standardised anomaly score per row of ``data`` (higher is more anomalous)."""
        return self.score_frame(data)["score"].to_numpy()

    def predict(self, data: Any) -> np.ndarray:
        """One 0/1 flag per row of ``data``."""
        return self.score_frame(data)["is_anomaly"].to_numpy()

    def detect_events(self, data: Any) -> "pd.DataFrame":
        """Anomalous events: start, end, length, peak_time, peak_score, channels most responsible."""
        from tsrnn.detection.events import flags_to_events

        frame = self.score_frame(data)
        channel = frame[[f"score_{c}" for c in self.channels_]].to_numpy()
        return flags_to_events(
            frame["is_anomaly"].to_numpy().astype(bool),
            frame["score"].to_numpy(),
            frame[self.time_col_].to_numpy(),
            min_length=self.min_event_length,
            merge_gap=self.merge_gap,
            channel_scores=channel,
            channel_names=self.channels_,
        )

    # ------------------------------------------------------------------ streaming
    def update(self, rows: Any) -> "pd.DataFrame":
        """Score newly arrived rows (a DataFrame or CSV of consecutive rows after the previous ones).

        Work per row does not depend on how long the stream is: only the last ``window`` rows
        (and, for the mean of overlapping reconstructions, the pending sums of the last
        ``window - 1`` rows) are kept. Returns the rows whose score is final: with the
        reconstruction method a row is final once every window covering it has arrived, i.e.
        ``window - 1`` rows later (``flush()`` finalises the rest at the end of a stream). The
        scores equal batch scoring of all rows seen. Threshold "dynamic" needs a whole series
        and is not available here.
        """
        self._check_fitted()
        if self.threshold == "dynamic":
            raise ConfigError(
                "the dynamic threshold needs the whole series, not a stream",
                "use threshold quantile, gaussian, pot or conformal for streaming",
            )
        series = self._load(rows)
        new = self._scaled(series)
        times = series.series_times(0)
        st = getattr(self, "_stream", None)
        if st is None:
            st = self._stream = {
                "buf": new[:0],
                "times": times[:0],
                "sum": np.zeros((0, len(self.channels_))),
                "count": np.zeros(0),
                "ewma": None,
                "seen": 0,
            }
        buf = np.concatenate([st["buf"], new])
        t_all = st["times"].append(times)
        W = self.window
        if self.method == "forecast":
            from tsrnn.detection.scoring import ewma

            resid = np.full((len(new), new.shape[1]), np.nan)
            first = max(W, len(st["buf"]))  # buffer rows before `first` were scored earlier
            idx = np.arange(first, len(buf))
            if len(idx):
                x = buf[idx[:, None] - W + np.arange(W + 1)]
                resid[idx - len(st["buf"])] = self._model_errors(x)[:, 0]
            smooth, st["ewma"] = ewma(
                resid, self.smoothing, st["ewma"] if st["ewma"] is not None else self._ewma_start()
            )
            st["buf"], st["times"] = buf[-W:], t_all[-W:]
            return self._stream_frame(times, smooth)
        # reconstruction: every new row ends one new window (once W rows have arrived)
        from tsrnn.detection.scoring import accumulate, empty, finish

        n_old = len(st["buf"])
        ends = np.arange(max(W - 1, n_old), len(buf))  # each new row ends one new window (once W rows are in)
        fresh_sum, fresh_cnt = empty(len(new), new.shape[1], self.combine)
        acc_sum = np.concatenate([st["sum"], fresh_sum])
        acc_cnt = np.concatenate([st["count"], fresh_cnt])
        if len(ends):
            starts = ends - W + 1
            accumulate(acc_sum, acc_cnt, starts, self._model_errors(buf[starts[:, None] + np.arange(W)]), self.combine)
        # rows before len(buf) - W + 1 can get no more windows: they are final
        final = len(buf) - W + 1 if len(buf) >= W else 0
        out = self._stream_frame(t_all[:final], finish(acc_sum[:final], acc_cnt[:final], self.combine))
        st["buf"], st["times"] = buf[final:], t_all[final:]
        st["sum"], st["count"] = acc_sum[final:], acc_cnt[final:]
        return out

    def flush(self) -> "pd.DataFrame":
        """End a stream: score the rows still waiting for windows that will never come."""
        st = getattr(self, "_stream", None)
        if st is None or self.method == "forecast":
            self._stream = None
            return self._stream_frame(st["times"][:0] if st else None, np.zeros((0, len(self.channels_))))
        if len(st["count"]) and st["count"].max() == 0:
            raise DataError(
                f"the stream ended after fewer rows than the window ({self.window})",
                "send at least one full window of rows",
            )
        from tsrnn.detection.scoring import finish

        out = self._stream_frame(st["times"], finish(st["sum"], st["count"], self.combine))
        self._stream = None
        return out

    def _stream_frame(self, times: Any, errors: np.ndarray) -> "pd.DataFrame":
        import pandas as pd

        if times is None:
            times = pd.DatetimeIndex([])
        score, channel = self._standardise(errors)
        out = pd.DataFrame(
            {
                self.time_col_: times,
                "score": score,
                "is_anomaly": (score > self.threshold_).astype(int) if len(score) else [],
            }
        )
        for c, name in enumerate(self.channels_):
            out[f"score_{name}"] = channel[:, c] if len(channel) else []
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Save to a directory (safetensors + JSON, no pickle)."""
        import torch

        from tsrnn.persist import save_estimator

        self._check_fitted()
        config = {
            "schema": {"channels": self.channels_, "time_col": self.time_col_, "freq": self.freq_},
            "calibration": {
                "err_mean": self.err_mean_.tolist(),
                "err_std": self.err_std_.tolist(),
                "score_mean": self.score_mean_,
                "score_std": self.score_std_,
                "threshold": self.threshold_,
            },
        }
        scores = torch.from_numpy(np.asarray(self.calibration_scores_, dtype=np.float64))
        return save_estimator(self, path, overwrite, config, {"calibration_scores": scores})

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "RNNAnomalyDetector":
        """Load a directory written by ``save``."""
        from tsrnn.models import RecurrentAutoencoder, RecurrentForecaster
        from tsrnn.persist import load_estimator

        return load_estimator(
            cls,
            path,
            device,
            lambda det: RecurrentAutoencoder if det.method == "reconstruction" else RecurrentForecaster,
            cls._restore,
        )

    def _restore(self, config: dict[str, Any], tensors: dict[str, Any]) -> None:
        """The fitted attributes of a loaded detector: calibration, threshold, schema."""
        cal, schema = config["calibration"], config["schema"]
        self.err_mean_, self.err_std_ = np.asarray(cal["err_mean"]), np.asarray(cal["err_std"])
        self.score_mean_, self.score_std_, self.threshold_ = cal["score_mean"], cal["score_std"], cal["threshold"]
        self.calibration_scores_ = tensors["calibration_scores"].numpy()
        self.channels_, self.time_col_, self.freq_ = schema["channels"], schema["time_col"], schema["freq"]
        self.n_features_in_ = len(self.channels_)
