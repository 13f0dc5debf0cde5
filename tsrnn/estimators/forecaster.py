"""``RNNForecaster``: the scikit-learn-style front door to recurrent forecasting.

    model = RNNForecaster(lookback=96, horizon=24).fit("datasets/demo.csv")
    model.predict()            # DataFrame: the 24 steps after the data, original units
    model.backtest()           # every test window, beside repeat-last and seasonal-naive
    model.save("my-model"); RNNForecaster.load("my-model")

``__init__`` only stores parameters; ``fit`` learns, sets attributes ending in ``_`` and returns
``self``; ``get_params`` / ``set_params`` / ``sklearn.base.clone`` work.
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
    from tsrnn.training import Callback


class RNNForecaster(BaseEstimator):
    """Multi-horizon forecaster over a recurrent encoder (``cell`` rnn | lstm | gru).

    The defaults (a 32-unit single-layer LSTM, channel-independent, instance norm, direct head)
    come from bench/accuracy.py on ETTh2 (test MSE 0.295 at L=96, H=96, below DLinear's 0.333;
    the multivariate 2x64 LSTM scored 0.347).

    Model: ``num_layers`` stacked cells of ``hidden_size`` units, optionally ``bidirectional``,
    ``dropout`` between layers, a ``head`` ("direct": all ``horizon`` steps at once from the
    final state; "seq2seq": a recurrent decoder, trained with ``teacher_forcing``), per-window
    ``instance_norm`` (on by default), optional ``channel_independent`` mode and ``quantiles``
    (pinball loss, prediction intervals). ``series_embedding`` (many series only): learn a vector
    of that many numbers per series, fed to the encoder beside every step of the window, so one
    global model can tell series apart; it can forecast only the series it was fitted on.

    Data: ``time_col``, ``target``, ``covariates``, ``id_col``, ``fill`` as in
    ``tsrnn.data.load_series``; ``scaler`` (standard | minmax | robust | none) fitted per series
    on the training rows; ``val`` / ``test`` splits (fraction, rows or start time); ``stride``
    between training windows; ``sampling`` of the training windows of each epoch over many
    series ("uniform": every window once, so long series weigh more; "balanced": equal draws per
    series whatever its length, see ``tsrnn.sampling``).

    Training: ``epochs``, ``batch_size``, ``lr``, ``weight_decay``, ``optimizer`` (adam | adamw),
    ``lr_schedule`` (cosine | plateau | onecycle | none), early stopping after ``patience``
    epochs without a better validation loss (None: off), ``tbptt_steps`` (truncated BPTT),
    ``stateful`` (one long series trained as consecutive chunks of ``tbptt_steps`` steps with the
    recurrent state carried across batches; it then forecasts by warming up on ``lookback`` rows
    and feeding its predictions back),
    ``clip_grad_norm``, ``device`` (auto | cpu | cuda), ``precision`` (auto | fp32 | bf16),
    ``random_state``, ``checkpoint_dir`` (a checkpoint every epoch), ``verbose`` (a progress
    bar on a terminal), extra ``callbacks``.

    Under torchrun, ``fit`` trains data-parallel (see ``tsrnn.distributed``): every process ends
    with the same ``model_``; only the main process shows progress and writes checkpoints.
    """

    def __init__(
        self,
        cell: str = "lstm",
        head: str = "direct",
        lookback: int = 96,
        horizon: int = 24,
        hidden_size: int = 32,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        teacher_forcing: float = 0.5,
        instance_norm: bool = True,
        channel_independent: bool = True,
        quantiles: Sequence[float] | None = None,
        series_embedding: int | None = None,
        scaler: str = "standard",
        epochs: int = 30,
        batch_size: int = 32,
        lr: float = 1e-3,
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
        random_state: int | None = None,
        device: str = "auto",
        precision: str = "auto",
        checkpoint_dir: str | None = None,
        verbose: bool = False,
        callbacks: Sequence["Callback"] | None = None,
    ) -> None:
        self.cell = cell
        self.head = head
        self.lookback = lookback
        self.horizon = horizon
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.teacher_forcing = teacher_forcing
        self.instance_norm = instance_norm
        self.channel_independent = channel_independent
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
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.checkpoint_dir = checkpoint_dir
        self.verbose = verbose
        self.callbacks = callbacks

    # ------------------------------------------------------------------ checks
    def _quantile_levels(self) -> list[float] | None:
        if self.quantiles is None:
            return None
        q = sorted(float(v) for v in self.quantiles)
        if not q or any(not 0 < v < 1 for v in q) or len(set(q)) != len(q):
            raise ConfigError(
                f"quantiles must be distinct numbers strictly between 0 and 1, got {self.quantiles}",
                "e.g. quantiles=[0.1, 0.5, 0.9]",
            )
        return q

    def _check_params(self) -> None:
        from tsrnn.sampling import check_sampling

        check_sampling(self.sampling)
        e = self.series_embedding
        if e is not None and (isinstance(e, bool) or not isinstance(e, (int, np.integer)) or e < 1):
            raise ConfigError(
                f"series_embedding must be a whole number of at least 1 (its dimension), got {e!r}",
                "e.g. series_embedding=8, or None for no series embedding",
            )
        if self.head == "direct":
            refuse_unused(self, ("teacher_forcing",), "with head='direct' (it is for the seq2seq decoder)")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.tbptt_steps is not None and self.tbptt_steps < 1:
            raise ConfigError(
                f"--tbptt-steps must be at least 1, got {self.tbptt_steps}",
                "leave it out for full backpropagation through the lookback",
            )
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"patience must be at least 1 (or None to turn early stopping off), got {self.patience}")
        if self.stateful:
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
            for name, bad in (
                ("head", self.head != "direct"),
                ("bidirectional", self.bidirectional),
                ("quantiles", self.quantiles),
                ("covariates", self.covariates),
                ("series_embedding", self.series_embedding is not None),
                ("sampling='balanced'", self.sampling == "balanced"),
            ):
                if bad:
                    raise ConfigError(
                        f"stateful mode does not support {name}", f"drop {name}, or train without stateful"
                    )

    def _load(self, data: "str | Path | pd.DataFrame | SeriesData") -> "SeriesData":
        from tsrnn.data import SeriesData, load_series

        if isinstance(data, SeriesData):
            return data
        return load_series(
            data,
            time_col=self.time_col,
            target=self.target,
            covariates=self.covariates,
            id_col=self.id_col,
            fill=self.fill,
        )

    def _check_many_series(self, series: "SeriesData") -> None:
        """series_embedding and balanced sampling tell series apart: they need more than one."""
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

    def _build_model(self, n_inputs: int, n_targets: int, n_series: int = 1) -> "torch.nn.Module":
        from tsrnn.models import NextStepRNN, RecurrentForecaster

        q = self._quantile_levels()
        try:
            if self.stateful:
                return NextStepRNN(
                    n_inputs, list(range(n_targets)), self.cell, self.hidden_size, self.num_layers, self.dropout
                )
            return RecurrentForecaster(
                n_inputs=n_inputs,
                target_index=list(range(n_targets)),
                horizon=self.horizon,
                cell=self.cell,
                hidden_size=self.hidden_size,
                num_layers=self.num_layers,
                bidirectional=self.bidirectional,
                dropout=self.dropout,
                head=self.head,
                teacher_forcing=self.teacher_forcing,
                instance_norm=self.instance_norm,
                channel_independent=self.channel_independent,
                n_quantiles=len(q) if q else 1,
                n_ids=n_series if self.series_embedding else 0,
                embedding_dim=self.series_embedding or 0,
            )
        except ValueError as e:
            raise ConfigError(str(e)) from e

    def _loss(self) -> Any:
        import torch

        q = self._quantile_levels()
        tbptt = self.tbptt_steps
        embed = self.series_embedding is not None

        def forward(model: torch.nn.Module, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
            x, y, *series = batch  # series: the windows' series numbers, when the batches carry them
            return model(x, y, tbptt, series[0] if embed else None), y

        if q is None:

            def loss(model: torch.nn.Module, batch: Any) -> torch.Tensor:
                pred, y = forward(model, batch)
                return torch.nn.functional.mse_loss(pred[..., 0], y)
        else:
            from tsrnn.models import pinball_loss

            levels = torch.tensor(q)

            def loss(model: torch.nn.Module, batch: Any) -> torch.Tensor:
                pred, y = forward(model, batch)
                return pinball_loss(pred, y, levels.to(y.device))

        return loss

    # ------------------------------------------------------------------ fit
    def fit(
        self, data: "str | Path | pd.DataFrame | SeriesData", y: None = None, resume: str | Path | None = None
    ) -> "RNNForecaster":
        """Train on ``data`` (a CSV/Parquet path, a DataFrame or SeriesData); returns ``self``.

        ``resume``: a checkpoint (``checkpoint_dir/last.safetensors``) to continue from.
        """
        import torch

        from tsrnn import distributed
        from tsrnn.callbacks import Checkpoint, EarlyStopping, Progress, progress_wanted
        from tsrnn.scaling import SeriesScaler
        from tsrnn.training import TrainConfig, Trainer
        from tsrnn.windows import WindowBatches, make_windows

        self._check_params()
        series = self._load(data)
        self._check_many_series(series)
        windows = make_windows(series, self.lookback, self.horizon, self.stride, self.val, self.test)
        scaler = SeriesScaler(self.scaler).fit(series, windows.bounds[:, 1])
        config = TrainConfig(
            epochs=self.epochs,
            lr=self.lr,
            weight_decay=self.weight_decay,
            optimizer=self.optimizer,
            lr_schedule=self.lr_schedule,
            clip_grad_norm=self.clip_grad_norm,
            device=self.device,
            precision=self.precision,
            seed=self.random_state,
        )
        if self.random_state is not None:
            torch.manual_seed(self.random_state)
        model = self._build_model(len(series.channels), len(series.targets), series.n_series)
        trainer = Trainer(model, self._loss(), config)  # under torchrun this joins the process group
        values = torch.from_numpy(scaler.transform(series)).to(trainer.device)
        n_t = len(series.targets)
        seed = self.random_state if self.random_state is not None else int(torch.randint(0, 2**31 - 1, ()).item())
        seed = distributed.same_everywhere(seed, trainer.device)  # torchrun: one shuffle, split between processes
        if self.stateful:
            train, val, loss = self._streams(series, windows, values)
            trainer.compute_loss = loss
        else:
            carry = self.series_embedding is not None or self.sampling == "balanced"  # batches say their series
            train = WindowBatches(
                values,
                windows.train,
                n_t,
                self.batch_size,
                shuffle=True,
                seed=seed,
                series_numbers=windows.series_of(windows.train) if carry else None,
                sampling=self.sampling,
            )
            val = (
                WindowBatches(
                    values,
                    windows.val,
                    n_t,
                    max(self.batch_size, 256),
                    series_numbers=windows.series_of(windows.val) if carry else None,
                )
                if len(windows.val)
                else None
            )
        early = EarlyStopping(self.patience) if (self.patience and val is not None) else None
        callbacks: list[Any] = [early] if early else []
        if self.checkpoint_dir is not None:
            callbacks.append(Checkpoint(self.checkpoint_dir, early))
        if self.verbose and progress_wanted(False):
            callbacks.append(Progress(train.n_batches))
        callbacks.extend(self.callbacks or [])
        trainer.callbacks = callbacks
        ckpt = None
        if resume is not None:
            from tsrnn.checkpoint import load_checkpoint

            ckpt = load_checkpoint(resume)
        history = trainer.fit(train, val, resume=ckpt)

        self.model_ = model.eval()
        self.scaler_ = scaler
        self.series_ = series
        self.windows_ = windows
        self.history_ = history
        self.device_ = trainer.device
        self.n_features_in_ = len(series.channels)
        self._set_schema(series)
        self.metrics_ = self._evaluate(windows, values)
        return self

    def _streams(self, series: "SeriesData", windows: Any, values: "torch.Tensor") -> tuple[Any, Any, Any]:
        """Stateful mode: consecutive-chunk batches over the training rows, one stream over validation."""
        from tsrnn.estimators.stateful import StatefulLoss, StreamBatches

        if series.n_series != 1:
            raise ConfigError("stateful mode trains on one long series", "drop id_col, or train without stateful")
        _, train_end, val_end, _ = (int(b) for b in windows.bounds[0])
        n_t, k = len(series.targets), self.tbptt_steps
        train = StreamBatches(values, 0, train_end, n_t, self.batch_size, k)
        val_lo = max(train_end - self.lookback, 0)
        val = StreamBatches(values, val_lo, val_end, n_t, 1, k) if val_end - val_lo > k + 1 else None
        return train, val, StatefulLoss()

    def _set_schema(self, series: "SeriesData") -> None:
        """What predict needs to know of the data: columns, frequency, the last rows of history."""
        from tsrnn.metrics import season_length

        self.targets_ = list(series.targets)
        self.covariates_ = list(series.covariates)
        self.time_col_ = series.time_col
        self.id_col_ = series.id_col
        self.freq_ = series.freq
        self.tz_ = series.tz
        self.season_ = self.season_length or season_length(series.freq)
        self.data_info_ = {
            "source": series.source,
            "rows": series.n_rows,
            "series": series.n_series,
            "hash": series.content_hash(),
        }

    # ------------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet",
                "call fit(data) first, or load a saved model with .load(path)",
            )

    def _forward(self, x: np.ndarray, series: np.ndarray) -> np.ndarray:
        """Scaled windows (n, L, C) of training series numbers ``series`` (n,) -> scaled forecasts
        (n, H, C_t, Q), in batches, no grad."""
        import torch

        outs = []
        embed = self.series_embedding is not None
        with torch.no_grad():
            for i in range(0, len(x), 1024):
                xb = torch.from_numpy(np.ascontiguousarray(x[i : i + 1024])).to(self.device_)
                ids = (
                    torch.from_numpy(np.asarray(series[i : i + 1024], dtype=np.int64)).to(self.device_)
                    if embed
                    else None
                )
                if self.stateful:  # warm up on the lookback, then feed predictions back
                    outs.append(self.model_.forecast(xb, self.horizon)[..., None].float().cpu().numpy())
                else:
                    outs.append(self.model_(xb, ids=ids).float().cpu().numpy())
        return np.concatenate(outs) if outs else np.empty((0, self.horizon, len(self.targets_), 1), np.float32)

    def _point(self, pred: np.ndarray) -> np.ndarray:
        """(n, H, C_t, Q) -> (n, H, C_t): the median quantile (or the only output)."""
        q = self._quantile_levels()
        return pred[..., int(np.argmin([abs(v - 0.5) for v in q]))] if q else pred[..., 0]

    def predict(self, data: "str | Path | pd.DataFrame | None" = None) -> "pd.DataFrame":
        """Forecast the ``horizon`` steps after the end of ``data`` (default: the training data).

        Returns a DataFrame indexed by time (continuing the data's frequency), one column per
        target in original units, plus ``<target>_q<level>`` columns when quantiles were asked
        for; with many series, the id column says which series a row belongs to.
        """
        import pandas as pd

        from tsrnn.windows import latest_window

        self._check_fitted()
        series = self.series_ if data is None else self._load_like(data)
        x = np.stack([latest_window(series, i, self.lookback) for i in range(series.n_series)])  # (S, L, C)
        sid = self._series_rows(series)
        xs = (x - self.scaler_.center_[sid][:, None]) / self.scaler_.scale_[sid][:, None]
        pred = self._forward(xs.astype(np.float32), sid)  # (S, H, C_t, Q)
        n_t = len(self.targets_)
        frames = []
        for i in range(series.n_series):
            t = series.series_times(i)
            if self.freq_ is None:
                raise DataError(
                    "the training data had no regular frequency, so future timestamps are unknown",
                    "resample the data to one frequency before fitting",
                )
            index = pd.date_range(t[-1], periods=self.horizon + 1, freq=self.freq_)[1:]
            index.name = self.time_col_
            q_first = np.moveaxis(pred[i], -1, 0)  # (Q, H, C_t): channels last for the scaler
            out = np.moveaxis(self.scaler_.inverse(q_first, int(sid[i]), slice(0, n_t)), 0, -1)  # (H, C_t, Q)
            cols: dict[str, Any] = {}
            point = self._point(out[None])[0]
            for c, name in enumerate(self.targets_):
                cols[name] = point[:, c]
            for k, level in enumerate(self._quantile_levels() or []):
                for c, name in enumerate(self.targets_):
                    cols[f"{name}_q{level:g}"] = out[:, c, k]
            f = pd.DataFrame(cols, index=index)
            if series.ids is not None:
                f.insert(0, self.id_col_ or "id", series.ids[i])
            frames.append(f)
        return pd.concat(frames) if len(frames) > 1 else frames[0]

    def _series_rows(self, series: "SeriesData") -> np.ndarray:
        """Which training series (its scaler row and embedding) each series of ``series`` is, by id
        (unknown ids are an error)."""
        if not self.scaler_.per_series or self.scaler_.center_.shape[0] == 1:
            return np.zeros(series.n_series, dtype=int)
        known = {sid: i for i, sid in enumerate(self.series_ids_)}
        ids = series.ids or (None,)
        missing = [s for s in ids if s not in known]
        if missing:
            what = "scaling or learned series embedding" if self.series_embedding is not None else "scaling"
            raise DataError(
                f"series {missing[:5]} were not in the training data, so the model has no {what} for them",
                f"forecast series the model was fitted on: {list(known)[:10]}",
            )
        return np.array([known[s] for s in ids])

    def _load_like(self, data: "str | Path | pd.DataFrame") -> "SeriesData":
        """Load new data with the columns the model was trained on (a clear error otherwise)."""
        from tsrnn.data import SeriesData, load_series, read_frame

        if isinstance(data, SeriesData):
            return data
        frame, name, _ = read_frame(data)
        needed = [self.time_col_, *self.targets_, *self.covariates_] + ([self.id_col_] if self.id_col_ else [])
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise DataError(
                f"{name} lacks column(s) {missing} that the model was trained on (it has {list(frame.columns)})",
                f"pass data with the model's columns: {needed}",
            )
        series = load_series(
            frame,
            source_name=name,
            time_col=self.time_col_,
            target=self.targets_,
            covariates=self.covariates_ or None,
            id_col=self.id_col_,
            fill=self.fill,
        )
        if self.freq_ and series.freq and series.freq != self.freq_:
            raise DataError(
                f"{series.source} has frequency {series.freq}, the model was trained on {self.freq_}",
                "pass data at the frequency the model was trained on",
            )
        return series

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, windows: Any, values: "torch.Tensor") -> dict[str, Any]:
        """Validation and test metrics of the model and the naive baselines (scaled and original units)."""
        out: dict[str, Any] = {}
        for split in ("val", "test"):
            index = getattr(windows, split)
            if len(index):
                out[split] = self._score_windows(windows, index, values.cpu().numpy())
        return out

    def _score_windows(
        self, windows: Any, index: Any, values: np.ndarray, scaler_rows: np.ndarray | None = None
    ) -> dict[str, dict[str, float]]:
        from tsrnn.metrics import repeat_last, scores, seasonal_naive

        n_t, L, H = len(self.targets_), self.lookback, self.horizon
        rows = index.starts[:, None] + np.arange(L + H)
        sid = windows.series_of(index)
        if scaler_rows is not None:  # series of new data -> their scaler rows
            sid = scaler_rows[sid]
        result: dict[str, dict[str, float]] = {}
        preds: dict[str, np.ndarray] = {}
        truths = []
        model_out = []
        for i in range(0, len(rows), 4096):
            w = values[rows[i : i + 4096]]  # (n, L+H, C), only this chunk is materialised
            x, y = w[:, :L], w[:, L:, :n_t]
            truths.append(y)
            model_out.append(self._forward(x, sid[i : i + 4096]))
            preds.setdefault("repeat_last", []).append(repeat_last(x, n_t, H))
            if self.season_ and self.season_ <= L:
                preds.setdefault("seasonal_naive", []).append(seasonal_naive(x, n_t, H, self.season_))
        y = np.concatenate(truths)
        raw = np.concatenate(model_out)
        all_preds = {"model": self._point(raw), **{k: np.concatenate(v) for k, v in preds.items()}}
        scale = self.scaler_.scale_of(sid if self.scaler_.per_series else np.zeros(len(sid), int), slice(0, n_t))
        for name, p in all_preds.items():
            s = scores(p, y)
            orig = scores(p * scale[:, None], y * scale[:, None])  # the centre cancels in the error
            result[name] = {"mse": s["mse"], "mae": s["mae"], "mse_original": orig["mse"], "mae_original": orig["mae"]}
        q = self._quantile_levels()
        if q and len(q) >= 2:
            from tsrnn.metrics import coverage

            result["model"][f"coverage_{q[0]:g}_{q[-1]:g}"] = coverage(raw[..., 0], raw[..., -1], y)
        return result

    def backtest(self, data: "str | Path | pd.DataFrame | None" = None) -> "pd.DataFrame":
        """Rolling-origin evaluation over every window of the test split of ``data``.

        Returns one row per method (model, repeat_last, seasonal_naive) with MSE and MAE in
        scaled and original units; the scaler is the one fitted at training time.
        """
        import pandas as pd

        from tsrnn.windows import make_windows

        self._check_fitted()
        series = self.series_ if data is None else self._load_like(data)
        windows = make_windows(series, self.lookback, self.horizon, 1, self.val, self.test, require=("test",))
        sid = self._series_rows(series)
        values = series.values.copy()
        for i in range(series.n_series):
            lo, hi = series.offsets[i], series.offsets[i + 1]
            values[lo:hi] = (values[lo:hi] - self.scaler_.center_[sid[i]]) / self.scaler_.scale_[sid[i]]
        result = self._score_windows(windows, windows.test, values, sid)
        table = pd.DataFrame(result).T
        table.index.name = "method"
        table.attrs["windows"] = len(windows.test)
        return table

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Save to a directory: weights as safetensors, configuration and scaler as JSON."""
        import torch

        from tsrnn.persist import save_estimator

        self._check_fitted()
        hist = [
            torch.from_numpy(np.array(self.series_.series(i)[-self.lookback :], copy=True))
            for i in range(self.series_.n_series)
        ]
        last = [str(self.series_.series_times(i)[-1]) for i in range(self.series_.n_series)]
        config = {
            "schema": {
                "targets": self.targets_,
                "covariates": self.covariates_,
                "time_col": self.time_col_,
                "id_col": self.id_col_,
                "freq": self.freq_,
                "tz": self.tz_,
                "season": self.season_,
                "series_ids": list(self.series_.ids) if self.series_.ids else None,
                "last_times": last,
            },
            "data": self.data_info_,
            "metrics": self.metrics_,
        }
        return save_estimator(self, path, overwrite, config, {f"history.{i}": h for i, h in enumerate(hist)})

    @property
    def series_ids_(self) -> list[str | None]:
        return list(self.series_.ids) if self.series_.ids else [None]

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "RNNForecaster":
        """Load a directory written by ``save`` (no pickle is read; see tsrnn.persist)."""
        from tsrnn.models import NextStepRNN, RecurrentForecaster
        from tsrnn.persist import load_estimator

        return load_estimator(
            cls,
            path,
            device,
            lambda est: NextStepRNN if est.stateful else RecurrentForecaster,
            lambda est, config, tensors: est._restore(config, tensors, str(path)),
        )

    def _restore(self, config: dict[str, Any], tensors: dict[str, Any], source: str) -> None:
        """The fitted attributes of a loaded model: schema, the last rows of history, metrics."""
        import pandas as pd

        from tsrnn.data import DataReport, SeriesData

        schema = config["schema"]
        hist = [tensors[f"history.{i}"].numpy() for i in range(len(schema["last_times"]))]
        lengths = [len(h) for h in hist]

        def utc(idx: "pd.DatetimeIndex") -> np.ndarray:  # SeriesData keeps zoned times as naive UTC
            idx = idx.tz_convert("UTC").tz_localize(None) if idx.tz is not None else idx
            return idx.as_unit("ns").values

        times = np.concatenate(
            [
                utc(pd.date_range(end=t, periods=n, freq=schema["freq"]))
                if schema["freq"]
                else np.repeat(utc(pd.DatetimeIndex([t])), n)
                for t, n in zip(schema["last_times"], lengths)
            ]
        )
        ids = tuple(schema["series_ids"]) if schema["series_ids"] else None
        self.series_ = SeriesData(
            np.ascontiguousarray(np.concatenate(hist)),
            np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            times,
            tuple(schema["targets"]),
            tuple(schema["covariates"]),
            ids,
            schema["time_col"],
            schema["id_col"],
            schema["freq"],
            schema["tz"],
            source,
            DataReport(sum(lengths)),
        )
        self.targets_, self.covariates_ = list(schema["targets"]), list(schema["covariates"])
        self.time_col_, self.id_col_, self.freq_, self.tz_ = (
            schema["time_col"],
            schema["id_col"],
            schema["freq"],
            schema["tz"],
        )
        self.season_ = schema["season"]
        self.n_features_in_ = len(self.targets_) + len(self.covariates_)
        self.metrics_ = config.get("metrics", {})
        self.data_info_ = config.get("data", {})


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
