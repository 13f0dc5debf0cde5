"""``RNNForecaster``: the scikit-learn-style front door to recurrent forecasting.

model = RNNForecaster(lookback=96, horizon=24).fit("datasets/demo.csv")
model.predict()            # DataFrame: the 24 steps after the data, original units
model.backtest()           # every test window, beside repeat-last and seasonal-naive
model.save("my-model"); RNNForecaster.load("my-model")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tsrnn.checks import check_choice, check_int, check_optional_int, refuse_unused
from tsrnn.errors import ConfigError, DataError
from tsrnn.estimators.core import RecurrentEstimator

# windows per chunk of a backtest or of historical forecasts: on one CPU thread, 256 took 13-22 % less
# time than 1,024 for both ETTh2 LSTMs (`python bench/inference.py --parts chunks`)
FORECAST_CHUNK = 256

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import pandas as pd
    import torch

    from tsrnn.data import SeriesData
    from tsrnn.training import Batches, Callback
    from tsrnn.windows import WindowIndex, Windows


def _repeat_ids(ids: Sequence[str], series: np.ndarray, horizon: int) -> np.ndarray:
    """The id of series ``series`` (n,) for each of ``horizon`` rows: (n * H,) strings."""
    return np.repeat(np.asarray(ids, dtype=object)[series], horizon)


def quantile_levels(quantiles: Sequence[float] | None) -> list[float] | None:
    """Sorted, checked quantile levels (None: a point forecast)."""
    if quantiles is None:
        return None
    q = sorted(float(v) for v in quantiles)
    if not q or any(not 0 < v < 1 for v in q) or len(set(q)) != len(q):
        raise ConfigError(
            f"quantiles must be distinct numbers strictly between 0 and 1, got {quantiles}",
            "e.g. quantiles=[0.1, 0.5, 0.9]",
        )
    return q


class RNNForecaster(RecurrentEstimator):
    """Multi-horizon forecaster over a recurrent encoder.

    ``fit`` learns from a CSV/Parquet path, a DataFrame or ``SeriesData``; ``predict`` forecasts
    the ``horizon`` steps after the end of the data; ``backtest`` scores every test window
    beside naive baselines. Under torchrun, ``fit`` trains data-parallel (``tsrnn.distributed``).

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}
        The recurrent cell.
    head : {"direct", "seq2seq", "parallel"}
        "direct": all ``horizon`` steps at once by one Linear layer on the encoder's final state;
        "seq2seq": a recurrent decoder fed its own previous step (or segment); "parallel":
        SegRNN's parallel decoding, one recurrent step per output segment from the encoder's
        final state and a learned position (and channel) embedding, all segments at once.
    lookback : int
        Input rows per window (L).
    horizon : int
        Rows forecast per window (H).
    segment_length : int, "auto" or None
        Segment recurrence (SegRNN): cut the lookback into segments of this many rows, embed each
        (Linear + ReLU) and run the recurrent cell over segments instead of rows; the seq2seq and
        parallel heads then emit one segment per step. ``"auto"``: the data's season (24 for
        hourly data, 7 for daily, ``season_length`` if given) when the lookback holds at least two
        seasons, else ``lookback // 4`` (at least 1). None: one row per recurrent step. A lookback
        that is not a multiple of it loses its oldest ``lookback % segment_length`` rows.
    hidden_size : int
        Units per recurrent layer.
    num_layers : int
        Stacked recurrent layers.
    bidirectional : bool
        Read the lookback both ways.
    dropout : float
        Dropout between stacked layers and before the output layer.
    teacher_forcing : float
        seq2seq head only: the share of decoder steps fed the true previous value in training.
    norm : {"instance", "last", "none"}
        Per-window normalisation, undone on the forecast: "instance" by the window's own mean and
        std per channel, "last" minus the window's last value per channel.
    channel_independent : bool
        Each target its own sequence through shared weights (True), or all channels as one
        multivariate sequence (False).
    loss : {"mse", "mae", "huber"}
        The training loss of a point forecast: "mse" fits the mean, "mae" the median (robust to
        outliers), "huber" is MSE for errors under 1 (scaled units) and MAE beyond. Quantile
        forecasts use the pinball loss instead.
    quantiles : sequence of float, optional
        Forecast these quantile levels (pinball loss) instead of a point; the point forecast is
        the level nearest 0.5.
    series_embedding : int, optional
        Many series only: learn a vector of this many numbers per series, fed beside every step,
        so one global model tells series apart. It then forecasts only the fitted series.
    scaler : {"standard", "minmax", "robust", "none"}
        Per-series, per-channel scaling fitted on the training rows only.
    epochs : int
        Most training epochs.
    batch_size : int
        Windows per batch.
    lr : float
        Learning rate.
    weight_decay : float
        L2 penalty (decoupled with ``optimizer="adamw"``).
    optimizer : {"adam", "adamw"}
        The optimizer.
    lr_schedule : {"cosine", "plateau", "onecycle", "none"}
        How the learning rate moves during training.
    patience : int, optional
        Stop after this many epochs without a better validation loss and keep the best weights;
        None turns early stopping off.
    tbptt_steps : int, optional
        Truncated backpropagation through time: gradients flow through the last K steps only.
    stateful : bool
        One long series trained as consecutive chunks of ``tbptt_steps`` steps, the recurrent
        state carried across batches; it forecasts by warming up on ``lookback`` rows and
        feeding its predictions back.
    clip_grad_norm : float, optional
        Clip the gradient norm to this value; None: no clipping.
    stride : int
        Rows between consecutive training windows.
    sampling : {"uniform", "balanced"}
        Many series: every window once an epoch (long series weigh more), or equal draws per
        series (``tsrnn.sampling``).
    val, test : float, int or str
        The validation and test splits at the end of every series: a fraction, a number of rows,
        or the start time of the split.
    season_length : int, optional
        The season of the seasonal-naive baseline (default: from the data's frequency).
    time_col : str, optional
        The time column (default: the one date-like column).
    target : str or sequence of str, optional
        Columns to forecast (default: every numeric column that is not a covariate).
    covariates : sequence of str, optional
        Input-only columns, observed in the past.
    id_col : str, optional
        The series id column of long-format data with many series.
    fill : {"error", "ffill", "interpolate", "zero"}
        What to do with missing or non-finite values and gaps.
    duplicates : {"error", "first", "last", "mean"}
        Rows with the same timestamp (within a series): refused, or collapsed into the first
        row, the last row or their mean.
    resample : str, optional
        A pandas frequency ("5min", "1h", "1D"): put every series on that regular grid first,
        combining the rows within a step by ``agg`` (empty steps are gaps, for ``fill``). It
        mends jittered or irregular timestamps; new data given to the fitted model is resampled
        the same way.
    agg : {"mean", "last", "first", "sum", "max", "min"}
        How ``resample`` combines the rows within a step.
    dayfirst : bool, optional
        How to read dates written with the year last (01/02/2024): day first (True) or month
        first (False). None (default): as the data show; a field above 12 decides, and dates that
        could be either are read month first with a warning. New data given to the fitted model
        is read the same way.
    random_state : int, optional
        Seed of weights and batch order (same seed, same model on the CPU).
    device : str
        "auto" (a GPU when there is one), "cpu", "cuda" or "cuda:N".
    precision : {"auto", "fp32", "bf16"}
        The arithmetic of training and of every forecast: "auto" is bf16 autocast on GPUs that
        support it and fp32 on the CPU; "bf16" is bf16 autocast on such GPUs and on CPUs with
        native bf16 (AVX512-BF16 or AMX), refused elsewhere. A saved bf16 model predicts in fp32
        on a machine without bf16.
    checkpoint_dir : str, optional
        Write ``last.safetensors`` there every epoch (``fit(..., resume=...)`` continues it).
    verbose : bool
        A progress bar on an interactive terminal.
    callbacks : sequence of tsrnn.training.Callback, optional
        Extra training callbacks.
    """

    task = "forecast"

    def __init__(
        self,
        cell: str = "gru",
        head: str = "direct",
        lookback: int = 96,
        horizon: int = 24,
        segment_length: int | str | None = "auto",
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.5,
        teacher_forcing: float = 0.5,
        norm: str = "last",
        channel_independent: bool = True,
        loss: str = "mse",
        quantiles: Sequence[float] | None = None,
        series_embedding: int | None = None,
        scaler: str = "standard",
        epochs: int = 30,
        batch_size: int = 64,
        lr: float = 3e-4,
        weight_decay: float = 0.0,
        optimizer: str = "adam",
        lr_schedule: str = "cosine",
        patience: int | None = 5,
        tbptt_steps: int | None = None,
        stateful: bool = False,
        clip_grad_norm: float | None = 1.0,
        stride: int = 1,
        sampling: str = "uniform",
        val: float | int | str = 0.1,
        test: float | int | str = 0.2,
        season_length: int | None = None,
        time_col: str | None = None,
        target: str | Sequence[str] | None = None,
        covariates: Sequence[str] | None = None,
        id_col: str | None = None,
        fill: str = "error",
        duplicates: str = "error",
        resample: str | None = None,
        agg: str = "mean",
        dayfirst: bool | None = None,
        random_state: int | None = None,
        device: str = "auto",
        precision: str = "auto",
        checkpoint_dir: str | None = None,
        verbose: bool = False,
        callbacks: Sequence[Callback] | None = None,
    ) -> None:
        self.cell = cell
        self.head = head
        self.lookback = lookback
        self.horizon = horizon
        self.segment_length = segment_length
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.teacher_forcing = teacher_forcing
        self.norm = norm
        self.channel_independent = channel_independent
        self.loss = loss
        self.quantiles = quantiles
        self.series_embedding = series_embedding
        self.scaler = scaler
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.patience = patience
        self.tbptt_steps = tbptt_steps
        self.stateful = stateful
        self.clip_grad_norm = clip_grad_norm
        self.stride = stride
        self.sampling = sampling
        self.val = val
        self.test = test
        self.season_length = season_length
        self.time_col = time_col
        self.target = target
        self.covariates = covariates
        self.id_col = id_col
        self.fill = fill
        self.duplicates = duplicates
        self.resample = resample
        self.agg = agg
        self.dayfirst = dayfirst
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.checkpoint_dir = checkpoint_dir
        self.verbose = verbose
        self.callbacks = callbacks

    # ------------------------------------------------------------------ fit
    def fit(
        self, data: "str | Path | pd.DataFrame | SeriesData", y: None = None, resume: str | Path | None = None
    ) -> "RNNForecaster":
        """Train on ``data``; returns ``self``.

        ``resume``: a checkpoint file (``checkpoint_dir/last.safetensors``, or
        ``checkpoint/last.safetensors`` in a saved model) to continue training from.
        """
        from tsrnn.windows import make_windows

        self._check_params()
        series = self.read(data)
        self._check_many_series(series)
        windows = make_windows(series, self.lookback, self.horizon, self.stride, self.val, self.test)
        values = self._fit_module(series, windows, resume)
        per_series = np.bincount(windows.series_of(windows.train), minlength=series.n_series)
        if series.n_series > 1 and (per_series == 0).any():  # one series alone with none is refused above
            idle = [series.ids[i] for i in np.flatnonzero(per_series == 0)]
            self.warnings_.append(
                f"{len(idle)} series have no training window (too few rows before their validation part for "
                f"lookback + horizon = {self.lookback + self.horizon}): {idle[:5]}; the model did not learn from them"
            )
        self.quantile_levels_ = quantile_levels(self.quantiles)
        self.season_ = self._season(series.freq)
        self.windows_ = windows
        self.metrics_ = {
            split: self._score_windows(getattr(windows, split), windows, values.cpu().numpy())
            for split in ("val", "test")
            if len(getattr(windows, split))
        }
        return self

    def _check_params(self) -> None:
        from tsrnn.sampling import check_sampling

        check_sampling(self.sampling)
        quantile_levels(self.quantiles)
        check_int("batch_size", self.batch_size, 1)
        self._check_network()
        from tsrnn.models import HEADS, NORMS, POINT_LOSSES

        check_choice("head", self.head, HEADS)
        check_choice("norm", self.norm, NORMS)
        check_choice("loss", self.loss, tuple(POINT_LOSSES))
        if self.quantiles is not None:
            refuse_unused(self, ("loss",), "with quantiles (they are trained with the pinball loss)")
        for name in ("series_embedding", "tbptt_steps", "patience", "season_length"):
            check_optional_int(name, getattr(self, name), 1)
        if self.head != "seq2seq":
            refuse_unused(self, ("teacher_forcing",), f"with head={self.head!r} (it is for the seq2seq decoder)")
        self._check_segment_length()
        if self.stateful:
            self._check_stateful()

    def _check_stateful(self) -> None:
        from tsrnn.distributed import world_size

        if world_size() > 1:
            raise ConfigError(
                f"stateful mode carries one recurrent state through one series; it cannot be split "
                f"across torchrun's {world_size()} processes",
                "run it as a single process (without torchrun), or train without stateful",
            )
        if self.tbptt_steps is None:
            raise ConfigError(
                "stateful training needs tbptt_steps, the chunk length carried between batches",
                "pass e.g. --tbptt-steps 100",
            )
        if self.channel_independent:
            raise ConfigError(
                "stateful mode trains all channels as one sequence, not channel-independent",
                "pass channel_independent=False (--multivariate) with stateful",
            )
        refuse_unused(
            self,
            ("head", "segment_length", "norm", "teacher_forcing"),
            "in stateful mode (a next-step model over one long series: no window head, segments or normalisation)",
        )
        for name, bad in (
            ("bidirectional", self.bidirectional),
            ("quantiles", self.quantiles),
            ("covariates", self.covariates),
            ("series_embedding", self.series_embedding is not None),
            ("sampling='balanced'", self.sampling == "balanced"),
        ):
            if bad:
                raise ConfigError(f"stateful mode does not support {name}", f"drop {name}, or train without stateful")

    def _data_options(self) -> dict[str, Any]:
        return {**super()._data_options(), "covariates": self.covariates, "id_col": self.id_col}

    def _check_many_series(self, series: "SeriesData") -> None:
        """series_embedding and balanced sampling tell series apart; stateful mode follows one."""
        if series.n_series > 1 and self.stateful:
            raise ConfigError("stateful mode trains on one long series", "drop id_col, or train without stateful")
        if series.n_series > 1:
            return
        for name, given in (
            ("series_embedding", self.series_embedding is not None),
            ("sampling='balanced'", self.sampling == "balanced"),
        ):
            if given:
                raise ConfigError(
                    f"{name} is for many series, but {series.source} holds one series",
                    f"pass id_col (--id-col) for long-format data with many series, or drop {name}",
                )

    def _module_class(self) -> type:
        from tsrnn.models import NextStepRNN, RecurrentForecaster

        return NextStepRNN if self.stateful else RecurrentForecaster

    def _build_module(self, series: "SeriesData") -> "torch.nn.Module":
        n_inputs, targets = len(series.channels), list(range(len(series.targets)))
        q = quantile_levels(self.quantiles)
        if self.stateful:
            return self._module_class()(n_inputs, targets, self.cell, self.hidden_size, self.num_layers, self.dropout)
        return self._module_class()(
            n_inputs=n_inputs,
            target_index=targets,
            horizon=self.horizon,
            cell=self.cell,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            dropout=self.dropout,
            head=self.head,
            teacher_forcing=self.teacher_forcing,
            norm=self.norm,
            channel_independent=self.channel_independent,
            n_quantiles=len(q) if q else 1,
            n_ids=series.n_series if self.series_embedding else 0,
            embedding_dim=self.series_embedding or 0,
            segment_length=self._segment_length(series.freq),
        )

    def _check_segment_length(self) -> None:
        w = self.segment_length
        if w is None or w == "auto":
            return
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)):
            raise ConfigError(
                f"segment_length must be a whole number of rows, 'auto' or None, got {w!r}",
                "e.g. segment_length=24 for hourly data (--segment-length 24), or 'auto'",
            )
        if not 1 <= w <= self.lookback:
            raise ConfigError(
                f"segment_length={w} must be between 1 and the lookback ({self.lookback} rows)",
                f"pick a segment length that divides the lookback, e.g. {max(self.lookback // 4, 1)}",
            )

    def _segment_length(self, freq: str | None) -> int | None:
        """The rows per segment: ``segment_length``, or for "auto" the season or lookback // 4."""
        if self.segment_length != "auto":
            return self.segment_length
        season = self._season(freq)
        if season and 2 * season <= self.lookback:
            return season
        return max(self.lookback // 4, 1)

    def _loss(self) -> Any:
        import torch

        from tsrnn.models import POINT_LOSSES

        point_loss = POINT_LOSSES[self.loss]
        if self.stateful:
            from tsrnn.stateful import StatefulLoss

            return StatefulLoss(point_loss)
        q, tbptt, embed = quantile_levels(self.quantiles), self.tbptt_steps, self.series_embedding is not None
        levels = torch.tensor(q) if q else None

        def loss(model: torch.nn.Module, batch: Any) -> torch.Tensor:
            x, y, *numbers = batch  # numbers: the windows' series numbers, when the batches carry them
            pred = model(x, y, tbptt, numbers[0] if embed else None)  # (B, H, C_t, Q)
            if levels is None:
                return point_loss(pred[..., 0], y)
            from tsrnn.models import pinball_loss

            return pinball_loss(pred, y, levels.to(y.device))

        return loss

    def _batches(
        self, series: "SeriesData", windows: "Windows", values: "torch.Tensor", seed: int
    ) -> tuple["Batches", "Batches | None"]:
        """Shuffled window batches for training, ordered ones for validation; in stateful mode
        consecutive chunks of the training rows and one stream over the validation rows."""
        from tsrnn.windows import WindowBatches

        n_t = len(series.targets)
        if self.stateful:
            from tsrnn.stateful import StreamBatches

            _, train_end, val_end, _ = (int(b) for b in windows.bounds[0])
            k = self.tbptt_steps
            val_lo = max(train_end - self.lookback, 0)
            val = StreamBatches(values, val_lo, val_end, n_t, 1, k) if val_end - val_lo > k + 1 else None
            return StreamBatches(values, 0, train_end, n_t, self.batch_size, k), val
        carry = self.series_embedding is not None or self.sampling == "balanced"  # batches say their series

        def numbers(index: "WindowIndex") -> np.ndarray | None:
            return windows.series_of(index) if carry else None

        train = WindowBatches(
            values,
            windows.train,
            n_t,
            self.batch_size,
            shuffle=True,
            seed=seed,
            series_numbers=numbers(windows.train),
            sampling=self.sampling,
        )
        val = WindowBatches(values, windows.val, n_t, max(self.batch_size, 256), series_numbers=numbers(windows.val))
        return train, val if len(windows.val) else None

    def _season(self, freq: str | None) -> int | None:
        from tsrnn.metrics import season_length

        return self.season_length or season_length(freq)

    def _history_length(self) -> int:
        return self.lookback

    # ------------------------------------------------------------------ inference
    def _forecast(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Scaled windows (n, L, C) of fitted series ``rows`` (n,) -> scaled forecasts (n, H, C_t, Q)."""
        if len(x) == 0:
            return np.empty((0, self.horizon, len(self.targets_), 1), np.float32)
        if self.stateful:  # warm up on the lookback, then feed predictions back
            return self._infer(lambda xb: self.model_.forecast(xb, self.horizon)[..., None], x)
        if self.series_embedding is None:
            return self._infer(lambda xb: self.model_(xb), x)
        return self._infer(lambda xb, ids: self.model_(xb, ids=ids), x, np.asarray(rows, dtype=np.int64))

    def _point(self, pred: np.ndarray) -> np.ndarray:
        """(..., Q) -> (...): the quantile nearest the median (or the only output)."""
        q = self.quantile_levels_
        return pred[..., int(np.argmin([abs(v - 0.5) for v in q]))] if q else pred[..., 0]

    def predict(
        self, data: "str | Path | pd.DataFrame | SeriesData | None" = None, short: str = "error"
    ) -> "pd.DataFrame":
        """Forecast the ``horizon`` steps after the end of ``data`` (default: the training data).

        Returns a DataFrame indexed by time (continuing the data's frequency), one column per
        target in original units, plus ``<target>_q<level>`` columns when quantiles were asked
        for; with many series, the id column says which series a row belongs to. Every series is
        forecast in the same batched passes; of a DataFrame or file, only the last ``lookback``
        rows of each series are read and checked (``load_data``'s ``last``).

        Parameters
        ----------
        data : path, DataFrame or SeriesData, optional
            The history to forecast from; default the training data.
        short : {"error", "skip"}
            A series with fewer than ``lookback`` rows: refuse the call ("error", default), or
            forecast the others and leave it out, with a ``tsrnn.errors.DataWarning`` naming it
            ("skip"). If every series is that short, the call is refused either way.
        """
        import pandas as pd

        from tsrnn.windows import SHORT, future_times, latest_windows, skip_short

        check_choice("short", short, SHORT)
        self._check_fitted()
        if self.freq_ is None:
            raise DataError(
                "the training data had no regular frequency, so future timestamps are unknown",
                "fit with resample set to a frequency (--resample 1h, e.g.)",
            )
        series = self.series_ if data is None else self.load_data(data, last=self.lookback)
        if short == "skip":
            series = skip_short(series, self.lookback)
        rows = self._scaler_rows(series)
        x = latest_windows(series, self.lookback)  # (S, L, C)
        c, s = self.scaler_.center_[rows][:, None], self.scaler_.scale_[rows][:, None]  # (S, 1, C)
        pred = self._forecast(((x - c) / s).astype(np.float32), rows)  # (S, H, C_t, Q)
        n_t = len(self.targets_)
        out = pred * s[..., :n_t, None] + c[..., :n_t, None]  # original units, (S, H, C_t, Q)
        index = future_times(series.datetimes(series.offsets[1:] - 1), self.freq_, self.horizon)  # after each last time
        frame = pd.DataFrame(self._forecast_columns(out), index=index.rename(self.time_col_))  # (S * H) rows
        if series.ids is not None:
            frame.insert(0, self.id_col_ or "id", _repeat_ids(series.ids, np.arange(series.n_series), self.horizon))
        return frame

    def _forecast_columns(self, out: np.ndarray) -> dict[str, np.ndarray]:
        """Forecasts ``out`` (n, H, C_t, Q) in original units as flat (n * H,) columns: one per
        target (the point forecast), then ``<target>_q<level>`` per quantile."""
        n_t = len(self.targets_)
        point = self._point(out).reshape(-1, n_t)  # (n * H, C_t)
        cols = {name: point[:, k] for k, name in enumerate(self.targets_)}
        for q, level in enumerate(self.quantile_levels_ or []):
            cols.update({f"{name}_q{level:g}": out[:, :, k, q].ravel() for k, name in enumerate(self.targets_)})
        return cols

    def predict_frame(self, frame: "pd.DataFrame") -> "pd.DataFrame":
        """The forecast after ``frame`` with the time as a column (the pyfunc model's answer)."""
        return self.predict(frame).reset_index()

    def plot(self, path: str | Path) -> Path | None:
        """The last rows of the training data and the forecast after them, as a PNG."""
        if self.freq_ is None:
            return None
        from tsrnn.plotting import plot_forecast

        plot_forecast(
            self.series_, self.predict(), self.targets_, self.quantile_levels_, path, history=4 * self.horizon
        )
        return Path(path)

    # ------------------------------------------------------------------ evaluation
    def _window_forecasts(
        self, starts: np.ndarray, values: np.ndarray, sid: np.ndarray, chunk_size: int
    ) -> "Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]":
        """The one pass over many windows that backtests and historical forecasts share: for each
        chunk of ``chunk_size`` windows starting at rows ``starts`` (n,) of scaled ``values``,
        ``sid`` (n,) their fitted series, yield (first window number, x (m, L, C), y (m, H, C_t),
        scaled forecasts (m, H, C_t, Q)). Only one chunk of windows is ever materialised."""
        L, H, n_t = self.lookback, self.horizon, len(self.targets_)
        for lo in range(0, len(starts), chunk_size):
            w = values[starts[lo : lo + chunk_size, None] + np.arange(L + H)]  # (m, L+H, C)
            x = w[:, :L]
            yield lo, x, w[:, L:, :n_t], self._forecast(x, sid[lo : lo + chunk_size])

    def _score_windows(
        self,
        index: "WindowIndex",
        windows: "Windows",
        values: np.ndarray,
        scaler_rows: np.ndarray | None = None,
        on_chunk: "Callable[[int, np.ndarray], None] | None" = None,
        chunk_size: int = FORECAST_CHUNK,
    ) -> dict[str, dict[str, float]]:
        """MSE and MAE (scaled and original units) of the model and the naive baselines over the
        windows ``index`` of scaled ``values``; ``scaler_rows`` maps the series of new data to
        their fitted series. Errors are summed chunk by chunk (memory: one chunk);
        ``on_chunk(first window number, scaled forecasts)`` sees every chunk's forecasts."""
        from tsrnn.metrics import coverage, error_sums, repeat_last, seasonal_naive

        n_t, H = len(self.targets_), self.horizon
        sid = windows.series_of(index)
        if scaler_rows is not None:
            sid = scaler_rows[sid]
        seasonal = self.season_ is not None and self.season_ <= self.lookback
        q = self.quantile_levels_
        sums: dict[str, np.ndarray] = {}  # method -> [squared, absolute] errors, scaled then original units
        inside = 0.0
        for lo, x, y, raw in self._window_forecasts(index.starts, values, sid, chunk_size):
            if on_chunk is not None:
                on_chunk(lo, raw)
            scale = self.scaler_.scale_of(sid[lo : lo + len(x)], slice(0, n_t))[:, None]  # (m, 1, C_t)
            preds = {"model": self._point(raw), "repeat_last": repeat_last(x, n_t, H)}
            if seasonal:
                preds["seasonal_naive"] = seasonal_naive(x, n_t, H, self.season_)
            for name, p in preds.items():  # original units: the scale alone, the centre cancels in errors
                part = np.concatenate([error_sums(p, y), error_sums(p * scale, y * scale)])
                sums[name] = sums.get(name, 0.0) + part
            if q and len(q) >= 2:
                inside += coverage(raw[..., 0], raw[..., -1], y) * y.size
        count = len(index) * H * n_t
        keys = ("mse", "mae", "mse_original", "mae_original")
        result = {name: dict(zip(keys, (float(v) for v in total / count))) for name, total in sums.items()}
        if q and len(q) >= 2:
            result["model"][f"coverage_{q[0]:g}_{q[-1]:g}"] = inside / count
        return result

    def backtest(
        self,
        data: "str | Path | pd.DataFrame | SeriesData | None" = None,
        output: str | Path | None = None,
        chunk_size: int = FORECAST_CHUNK,
    ) -> "pd.DataFrame":
        """Rolling-origin evaluation over every window of the test split of ``data``.

        Returns one row per method (model, repeat_last, seasonal_naive) with MSE and MAE in
        scaled and original units; the scaler is the one fitted at training time.

        Parameters
        ----------
        data : path, DataFrame or SeriesData, optional
            The data to evaluate on (default: the training data).
        output : path, optional
            Also write every test window's forecast, the table ``historical_forecasts`` returns,
            to this CSV, from the same pass and chunk by chunk (memory stays one chunk).
        chunk_size : int
            Windows per chunk.
        """
        import pandas as pd

        from tsrnn.windows import make_windows

        self._check_fitted()
        check_int("chunk_size", chunk_size, 1)
        series = self.series_ if data is None else self.load_data(data)
        windows = make_windows(series, self.lookback, self.horizon, 1, self.val, self.test, require=("test",))
        rows = self._scaler_rows(series)
        write = None
        if output is not None:
            Path(output).unlink(missing_ok=True)

            def write(lo: int, raw: np.ndarray) -> None:
                frame = self._history_frame(series, windows.test.starts[lo : lo + len(raw)], rows, raw)
                frame.to_csv(output, mode="a", header=lo == 0, index=False)

        scores = self._score_windows(windows.test, windows, self._scaled(series), rows, write, chunk_size)
        table = pd.DataFrame(scores).T
        table.index.name = "method"
        table.attrs["windows"] = len(windows.test)
        return table

    def historical_forecasts(
        self,
        data: "str | Path | pd.DataFrame | SeriesData | None" = None,
        start: float | int | str | None = None,
        stride: int = 1,
        chunk_size: int = FORECAST_CHUNK,
    ) -> "pd.DataFrame":
        """Every forecast the fitted model would have made over past data, as a long table.

        Named as in Darts (``historical_forecasts(retrain=False)``) and skforecast, so that users
        of either find it; it is the table behind ``backtest``'s errors. A forecast is made at
        every origin (a window's last input row) whose ``horizon`` targets all lie in the
        evaluated part of each series; the windows are gathered from the scaled data by index
        and forecast in no-grad batches, ``chunk_size`` windows at a time, so working memory is
        one chunk whatever the number of origins (the returned table holds origins x horizon rows).

        Parameters
        ----------
        data : path, DataFrame or SeriesData, optional
            Past data with the model's columns (default: the training data).
        start : float, int or str, optional
            The evaluated part at the end of each series, as ``test`` takes it: a fraction, a
            row count or the timestamp where it starts. Default: the model's own test split,
            the windows ``backtest`` scores.
        stride : int
            Rows between consecutive origins.
        chunk_size : int
            Windows forecast per chunk.

        Returns
        -------
        DataFrame
            One row per origin and step ahead: the id column (many series), ``origin`` (the
            time of the origin's last observed row), the time column (the forecast's target
            time), ``step`` (1 .. horizon), one column per target in original units and
            ``<target>_q<level>`` per quantile.
        """
        import pandas as pd

        from tsrnn.windows import make_windows

        self._check_fitted()
        check_int("chunk_size", chunk_size, 1)
        series = self.series_ if data is None else self.load_data(data)
        val, test = (self.val, self.test) if start is None else (None, start)
        windows = make_windows(series, self.lookback, self.horizon, stride, val, test, require=("test",))
        rows = self._scaler_rows(series)
        starts = windows.test.starts
        sid = rows[windows.series_of(windows.test)]
        chunks = [
            self._history_frame(series, starts[lo : lo + len(raw)], rows, raw)
            for lo, _, _, raw in self._window_forecasts(starts, self._scaled(series), sid, chunk_size)
        ]
        return pd.concat(chunks, ignore_index=True)

    def _history_frame(
        self, series: "SeriesData", starts: np.ndarray, rows: np.ndarray, raw: np.ndarray
    ) -> "pd.DataFrame":
        """The historical-forecast table of the windows starting at rows ``starts`` (n,) of
        ``series`` (``rows``: the fitted series of each of its series) from their scaled
        forecasts ``raw`` (n, H, C_t, Q)."""
        import pandas as pd

        L, H, n_t = self.lookback, self.horizon, len(self.targets_)
        local = np.searchsorted(series.offsets, starts, side="right") - 1  # (n,) series of each window
        fitted = rows[local]
        c = self.scaler_.center_[fitted][:, None, :n_t, None]  # (n, 1, C_t, 1)
        s = self.scaler_.scale_[fitted][:, None, :n_t, None]
        out = (raw * s + c).astype(np.float32)  # original units, (n, H, C_t, Q)

        columns: dict[str, Any] = {}
        if series.ids is not None:
            columns[self.id_col_ or "id"] = _repeat_ids(series.ids, local, H)
        columns["origin"] = series.datetimes(np.repeat(starts + L - 1, H))  # (n * H,)
        columns[self.time_col_] = series.datetimes((starts[:, None] + L + np.arange(H)).ravel())  # (n * H,)
        columns["step"] = np.tile(np.arange(1, H + 1), len(starts))
        return pd.DataFrame({**columns, **self._forecast_columns(out)})

    def export_onnx(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the fitted network as an ONNX graph with a JSON sidecar to the directory ``path``,
        so that ``tsrnn.onnx_runner.OnnxForecaster`` forecasts with onnxruntime and numpy alone
        (see ``tsrnn.onnx_export``; needs the ``onnx`` extra). ``overwrite`` replaces an
        existing directory. Stateful models are refused."""
        from tsrnn.onnx_export import export_onnx

        return export_onnx(self, path, overwrite)

    # ------------------------------------------------------------------ persistence
    def _restore(self, config: dict[str, Any], tensors: dict[str, Any]) -> None:
        self.quantile_levels_ = quantile_levels(self.quantiles)
        self.season_ = self._season(self.freq_)


class LSTMForecaster(RNNForecaster):
    """``RNNForecaster`` with ``cell="lstm"`` (the default), for discoverability."""

    def __init__(self, **params: Any) -> None:
        params.setdefault("cell", "lstm")
        super().__init__(**params)


class GRUForecaster(RNNForecaster):
    """``RNNForecaster`` with ``cell="gru"``."""

    def __init__(self, **params: Any) -> None:
        params.setdefault("cell", "gru")
        super().__init__(**params)


def _with_cell_default(cls: type, cell: str) -> None:
    """Give a preset the full signature of RNNForecaster (cell defaulting to ``cell``), so that
    scikit-learn's get_params / set_params / clone see every parameter."""
    import inspect

    sig = inspect.signature(RNNForecaster.__init__)
    params = [p.replace(default=cell) if p.name == "cell" else p for p in sig.parameters.values()]
    cls.__init__.__signature__ = sig.replace(parameters=params)


_with_cell_default(LSTMForecaster, "lstm")
_with_cell_default(GRUForecaster, "gru")
