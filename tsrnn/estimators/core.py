"""What every tsrnn estimator shares: one fit pipeline, fitted-schema data loading, batched
inference, fitted checks, save and load, and the interface tracking and pyfunc use.

An estimator is this core plus three things of its own: the torch module it trains
(``_build_module``), the loss (``_loss``) and the batches (``_batches``); and what it does with the
fitted network (forecasts, anomaly scores). Its ``fit`` reads top to bottom::

    self._check_params()
    series = self.read(data)                        # the constructor's data options
    windows = make_windows(series, ...)             # lazy windows and splits
    values = self._fit_module(series, windows, resume)   # scaler, seed, module, Trainer, batches, fit
    ...                                             # metrics / calibration

``__init__`` only stores parameters (scikit-learn's contract); fitted attributes end in ``_``.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from tsrnn.checks import check_int
from tsrnn.errors import DataError, ModelFileError, NotFittedError

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from tsrnn.data import SeriesData
    from tsrnn.training import Batches, Callback, TrainConfig
    from tsrnn.windows import Windows

# Parameters that say how a fit is watched, not what is learned: never saved, never recorded in
# MLflow, never taken over by a resumed run.
NOT_RECORDED = ("callbacks", "checkpoint_dir", "verbose")
INFER_BATCH = 1024  # windows per no-grad forward pass


class RecurrentEstimator(BaseEstimator, metaclass=ABCMeta):
    """The shared core; see the module docstring. Subclasses set ``task`` ("forecast" or
    "detect"), define the abstract hooks below (a class missing one cannot be instantiated) and
    are registered by class name, so ``load`` can return the class that was saved."""

    task: ClassVar[str] = ""
    _kinds: ClassVar[dict[str, type]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        RecurrentEstimator._kinds[cls.__name__] = cls

    # ------------------------------------------------------------------ what each estimator defines
    @abstractmethod
    def _check_params(self) -> None:
        """Refuse parameter values (and combinations) the estimator cannot use, before any work."""

    def _check_network(self) -> None:
        """The network's sizes, refused before any data is read (each module checks its own again)."""
        for name in ("hidden_size", "num_layers"):
            check_int(name, getattr(self, name), 1)

    def _data_options(self) -> dict[str, Any]:
        """Keyword arguments of ``tsrnn.data.load_series`` for the data given to ``fit``: the
        options every estimator has (an estimator adds its own, e.g. ``exclude``: columns dropped
        first)."""
        return dict(time_col=self.time_col, target=self.target, dayfirst=self.dayfirst, **self._cleaning_options())

    def _cleaning_options(self) -> dict[str, Any]:
        """How rows are cleaned on the way in, for fitting and for new data alike."""
        return dict(fill=self.fill, duplicates=self.duplicates, resample=self.resample, agg=self.agg)

    @abstractmethod
    def _build_module(self, series: "SeriesData") -> "torch.nn.Module":
        """The untrained torch module for ``series``' channels (and series, for embeddings)."""

    @abstractmethod
    def _module_class(self) -> type:
        """The torch module class a saved model's ``config()`` rebuilds."""

    @abstractmethod
    def _loss(self) -> Callable[..., "torch.Tensor"]:
        """``loss(model, batch) -> scalar tensor``, the Trainer's ``compute_loss``."""

    @abstractmethod
    def _batches(
        self, series: "SeriesData", windows: "Windows", values: "torch.Tensor", seed: int
    ) -> tuple["Batches", "Batches | None"]:
        """(training batches, validation batches or None) over ``values`` on the Trainer's device."""

    @abstractmethod
    def _history_length(self) -> int:
        """How many last rows of each fitted series a saved model keeps (and an input example shows)."""

    # ------------------------------------------------------------------ data
    def read(
        self, data: "str | Path | pd.DataFrame | SeriesData", sort: bool = False, sep: str | None = None
    ) -> "SeriesData":
        """``data`` as ``fit`` reads it, with the constructor's data options: to check or inspect
        the data before fitting (``fit`` accepts the result). ``sort``: sort rows by time instead
        of refusing unsorted input; ``sep``: the CSV separator (default: detected)."""
        from tsrnn.data import SeriesData, load_series, read_frame

        if isinstance(data, SeriesData):
            return data
        options = self._data_options()
        exclude = options.pop("exclude", None)
        frame, name, _ = read_frame(data, sep=sep)
        if exclude:
            missing = [c for c in exclude if c not in frame.columns]
            if missing:
                raise DataError(f"{name}: no column(s) {missing} to exclude", f"columns are {list(frame.columns)}")
            frame = frame.drop(columns=list(exclude))
        return load_series(frame, source_name=name, sort=sort, **options)

    def load_data(
        self, data: "str | Path | pd.DataFrame | SeriesData", last: int | None = None, sort: bool = False
    ) -> "SeriesData":
        """``data`` (a CSV/Parquet path or a DataFrame) read with the columns and frequency the
        model was fitted on: a clear error names what is missing or different.

        ``last``: the forecast needs only the last ``last`` rows of each series, so only those are
        read and checked (``tsrnn.data.last_rows``). When the cleaning options repair data
        (fill, duplicates, resample), every row is read instead, since a repair can change
        which rows are last; the rows the forecast uses are the same either way. ``sort``: sort
        rows by time instead of refusing unsorted data (every row is then read too)."""
        from tsrnn.data import SeriesData, last_rows, load_series, read_frame

        self._check_fitted()
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
        cleaning = self._cleaning_options()
        if (
            last is not None
            and not sort
            and cleaning == dict(fill="error", duplicates="error", resample=None, agg="mean")
        ):
            frame = last_rows(frame, self.time_col_, self.id_col_, last)
        series = load_series(
            frame,
            source_name=name,
            time_col=self.time_col_,
            target=self.targets_,
            covariates=self.covariates_ or None,
            id_col=self.id_col_,
            dayfirst=self.dayfirst_,
            sort=sort,
            **cleaning,
        )
        if self.freq_ and series.freq and series.freq != self.freq_:
            raise DataError(
                f"{series.source} has frequency {series.freq}, the model was trained on {self.freq_}",
                "pass data at the frequency the model was trained on",
            )
        return series

    def _scaled(self, series: "SeriesData") -> np.ndarray:
        """(n_rows, C) float32: ``series`` scaled with the fitted scaler, each series by its own
        training series' parameters (found by id)."""
        return self.scaler_.transform(series, rows=self._scaler_rows(series))

    def _scaler_rows(self, series: "SeriesData") -> np.ndarray:
        """Which training series (scaler row, embedding row) each series of ``series`` is, by id;
        an id the model was not fitted on is an error."""
        if self.scaler_.center_.shape[0] == 1:
            return np.zeros(series.n_series, dtype=int)
        known = {sid: i for i, sid in enumerate(self.series_ids_)}
        ids = series.ids or (None,)
        missing = [s for s in ids if s not in known]
        if missing:
            raise DataError(
                f"series {missing[:5]} were not in the training data, so the model has no scaling "
                "(or learned series embedding) for them",
                f"pass series the model was fitted on: {list(known)[:10]}",
            )
        return np.array([known[s] for s in ids])

    # ------------------------------------------------------------------ fit
    def _train_config(self) -> "TrainConfig":
        from tsrnn.training import TrainConfig

        return TrainConfig(
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

    def _callbacks(self) -> list["Callback"]:
        """Early stopping, checkpoints and progress as the parameters ask, then the user's."""
        from tsrnn.callbacks import Checkpoint, EarlyStopping, Progress, progress_wanted

        callbacks: list[Any] = [EarlyStopping(self.patience)] if self.patience else []
        if self.checkpoint_dir is not None:
            callbacks.append(Checkpoint(self.checkpoint_dir))
        if self.verbose and progress_wanted():
            callbacks.append(Progress())
        return callbacks + list(self.callbacks or [])

    def _fit_module(self, series: "SeriesData", windows: "Windows", resume: str | Path | None) -> "torch.Tensor":
        """Fit the scaler on the training rows, build the module (seeded), build the Trainer with
        every callback, put the scaled series on its device, train. Sets ``scaler_``,
        ``model_``, ``device_``, ``history_`` and the data schema; returns the scaled values
        (n_rows, C) on the device."""
        import torch

        from tsrnn import distributed
        from tsrnn.checkpoint import load_checkpoint
        from tsrnn.scaling import SeriesScaler
        from tsrnn.training import Trainer

        checkpoint = load_checkpoint(resume) if resume is not None else None  # a bad path fails before training
        scaler = SeriesScaler(self.scaler).fit(series, windows.bounds[:, 1])
        if self.random_state is not None:
            torch.manual_seed(self.random_state)  # the same seed, the same initial weights
        module = self._build_module(series)
        trainer = Trainer(module, self._loss(), self._train_config(), self._callbacks())  # joins torchrun's group
        values = torch.from_numpy(scaler.transform(series)).to(trainer.device)
        seed = self.random_state if self.random_state is not None else int(torch.randint(0, 2**31 - 1, ()).item())
        seed = distributed.same_everywhere(seed, trainer.device)  # torchrun: one shuffle, split between processes
        train, val = self._batches(series, windows, values, seed)
        self.history_ = trainer.fit(train, val, resume=checkpoint)
        self.model_ = module.eval()
        self.device_ = trainer.device
        self.scaler_ = scaler
        self._set_schema(series, windows)
        return values

    def _set_schema(self, series: "SeriesData", windows: "Windows | None") -> None:
        """What the fitted model knows of its data: columns, ids, frequency, and a summary."""
        import pandas as pd

        self.series_ = series
        self.targets_ = list(series.targets)
        self.covariates_ = list(series.covariates)
        self.time_col_ = series.time_col
        self.id_col_ = series.id_col
        self.freq_ = series.freq
        self.tz_ = series.tz
        self.dayfirst_ = series.report.dayfirst if series.report else None  # new data is read the same way
        self.n_features_in_ = len(series.channels)
        self.warnings_ = list(series.report.warnings) if series.report else []  # and the fit's own
        info: dict[str, Any] = {
            "source": series.source,
            "hash": series.content_hash(),
            "rows": series.n_rows,
            "series": series.n_series,
            "frequency": series.freq,
            "targets": list(series.targets),
            "start": str(pd.Timestamp(series.times.min())),
            "end": str(pd.Timestamp(series.times.max())),
        }
        if windows is not None:
            for k, name in enumerate(("train", "val", "test")):
                info[f"{name}_rows"] = int((windows.bounds[:, k + 1] - windows.bounds[:, k]).sum())
        self.data_info_ = info

    @property
    def series_ids_(self) -> list[str | None]:
        """The ids of the series the model was fitted on ([None] for one series)."""
        return list(self.series_.ids) if self.series_.ids else [None]

    # ------------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet",
                "call fit(data) first, or load a saved model with .load(path)",
            )

    def _infer(self, step: Callable[..., "torch.Tensor"], *arrays: np.ndarray) -> np.ndarray:
        """``step(*tensors)`` over slices of ``arrays`` (same first axis) on the model's device,
        without gradients; the outputs concatenated as a float32 numpy array."""
        import torch

        from tsrnn.training import autocast, resolve_precision

        dtype = resolve_precision(self.precision, self.device_, strict=False)  # as trained, where the machine can
        outs = []
        with torch.no_grad(), autocast(self.device_, dtype):
            for i in range(0, len(arrays[0]), INFER_BATCH):
                batch = [
                    torch.from_numpy(np.ascontiguousarray(a[i : i + INFER_BATCH])).to(self.device_) for a in arrays
                ]
                outs.append(step(*batch).float().cpu().numpy())
        return np.concatenate(outs)

    # ------------------------------------------------------------------ the interface tracking and pyfunc use
    def record_params(self) -> dict[str, Any]:
        """The parameters that define the model (not how its fit was watched)."""
        return {k: v for k, v in self.get_params().items() if k not in NOT_RECORDED}

    @abstractmethod
    def predict_frame(self, frame: "pd.DataFrame") -> "pd.DataFrame":
        """The model's answer to ``frame`` as a flat table (what the MLflow pyfunc model returns)."""

    def example_frame(self, max_series: int = 2) -> "pd.DataFrame":
        """A small input for ``predict_frame`` in the user's own columns: the last rows the model
        needs of up to ``max_series`` fitted series."""
        import pandas as pd

        rows = self._history_length()
        frames = []
        for i in range(min(self.series_.n_series, max_series)):
            times = self.series_.series_times(i)[-rows:]
            f = pd.DataFrame(self.series_.series(i)[-rows:].astype(np.float64), columns=list(self.series_.channels))
            f.insert(0, self.time_col_, times.tz_localize(None) if times.tz is not None else times)
            if self.id_col_:
                f.insert(1, self.id_col_, self.series_.ids[i])
            frames.append(f)
        return pd.concat(frames, ignore_index=True)

    def plot(self, path: str | Path) -> Path | None:
        """Draw what the fitted model says about its training data to ``path`` (PNG), or return
        None when the estimator has no such picture."""
        return None

    # ------------------------------------------------------------------ persistence
    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, "torch.Tensor"]]:
        """The estimator's own fitted attributes beyond the core's, as (JSON config, tensors)."""
        return {}, {}

    def _restore(self, config: dict[str, Any], tensors: dict[str, "torch.Tensor"]) -> None:
        """Set the estimator's own fitted attributes from what ``_fitted_state`` saved."""

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Save to a directory: weights and the last rows of history as safetensors, parameters,
        schema, scaler and metrics as JSON (no pickle). The last training checkpoint, when
        ``checkpoint_dir`` holds one, is copied to ``checkpoint/last.safetensors`` inside it, so
        ``fit(..., resume=...)`` can continue from the saved model."""
        import torch

        from tsrnn import __version__
        from tsrnn.persist import save_model_dir

        self._check_fitted()
        rows = self._history_length()
        s = self.series_
        history = {
            f"history.{i}": torch.from_numpy(np.array(s.series(i)[-rows:], copy=True)) for i in range(s.n_series)
        }
        h = self.history_
        own_config, own_tensors = self._fitted_state()
        config = {
            "kind": type(self).__name__,
            "tsrnn_version": __version__,
            "params": self.record_params(),
            "model": self.model_.config(),
            "scaler": self.scaler_.state(),
            "history": {"epochs": h.epochs, "status": h.status, "best_epoch": h.best_epoch},
            "schema": {
                "targets": self.targets_,
                "covariates": self.covariates_,
                "time_col": self.time_col_,
                "id_col": self.id_col_,
                "freq": self.freq_,
                "tz": self.tz_,
                "dayfirst": self.dayfirst_,
                "series_ids": list(s.ids) if s.ids else None,
                "last_times": [str(s.series_times(i)[-1]) for i in range(s.n_series)],
            },
            "data": self.data_info_,
            "metrics": self.metrics_,
            **own_config,
        }
        weights = {f"model.{k}": v for k, v in self.model_.state_dict().items()}
        checkpoint = Path(self.checkpoint_dir) / "last.safetensors" if self.checkpoint_dir else None
        extra = {"checkpoint/last.safetensors": checkpoint} if checkpoint and checkpoint.is_file() else {}
        return save_model_dir(path, config, {**weights, **history, **own_tensors}, overwrite, extra)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "RecurrentEstimator":
        """Load a directory written by ``save`` as the class that saved it (which must be this
        class or a subclass of it); nothing but JSON and safetensors is read."""
        from tsrnn.persist import load_model_dir
        from tsrnn.scaling import SeriesScaler
        from tsrnn.training import History, resolve_device

        config, tensors = load_model_dir(path)
        kind = RecurrentEstimator._kinds.get(str(config.get("kind")))
        if kind is None or not issubclass(kind, cls):
            raise ModelFileError(
                f"{path} holds a {config.get('kind')}, not a {cls.__name__}",
                "use `tsrnn predict` for forecasters and `tsrnn detect --model` for detectors",
            )
        try:
            est = kind(**config["params"])
            model = est._module_class()(**config["model"])
            model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
            est.scaler_ = SeriesScaler.from_state(config["scaler"])
            est._set_schema(_history_series(config["schema"], tensors, str(path)), None)
            est.dayfirst_ = config["schema"].get("dayfirst")  # absent in files saved before 2026-12-07
            est.data_info_ = config.get("data", {})
            est.metrics_ = config.get("metrics", {})
            est._restore(config, tensors)
        except (KeyError, TypeError, RuntimeError, ValueError) as e:
            raise ModelFileError(f"{path} is damaged or from another version ({e})", "save the model again") from e
        est.device_ = resolve_device(device)
        est.model_ = model.to(est.device_).eval()
        h = config.get("history", {})
        est.history_ = History(h.get("epochs", []), h.get("status", "finished"), h.get("best_epoch"))
        return est


def _history_series(schema: dict[str, Any], tensors: dict[str, Any], source: str) -> "SeriesData":
    """The last rows of every fitted series, as saved, rebuilt as SeriesData (with their times)."""
    import pandas as pd

    from tsrnn.data import DataReport, SeriesData

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
    return SeriesData(
        np.ascontiguousarray(np.concatenate(hist)),
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        times,
        tuple(schema["targets"]),
        tuple(schema["covariates"]),
        tuple(schema["series_ids"]) if schema["series_ids"] else None,
        schema["time_col"],
        schema["id_col"],
        schema["freq"],
        schema["tz"],
        source,
        DataReport(sum(lengths)),
    )
