"""``RNNAnomalyDetector``: anomaly scores, flags and events from recurrent models.

    det = RNNAnomalyDetector(lookback=64).fit(normal_df)   # calibrated on cross-fitted errors of the fit rows
    det.score_samples(df)     # one score per row of df (standardised: 0 is typical)
    det.predict(df)           # one 0/1 flag per row
    det.detect_events(df)     # start, end, peak, channels most responsible
    det.update(new_rows)      # streaming: scores rows as they arrive, same as batch scoring

The scoring method (``method``) is one of ``tsrnn.estimators.scorers.SCORERS``. Per-channel
errors are standardised by their mean and std on the calibration rows (out-of-sample errors of
the fit rows, see ``calibration_folds``); the row score is
the largest channel score (so an anomaly in one channel of many is not diluted), standardised
again, so a threshold means the same across series and channels.

Beside ``score`` every frame has ``likelihood``, a probability-like score in [0, 1] (0.5 is
typical). With ``normalize="none"`` (the default) it is ``Phi(score)``, the standard normal
distribution function of the score: how unusual the row is against the calibration rows. With
``normalize="likelihood"`` it is the anomaly likelihood of Ahmad et al. (Neurocomputing 2017,
``tsrnn.detection.likelihood``): the mean score of the last ``likelihood_short`` rows against
the mean and std of the last ``likelihood_window`` rows, so scores that drift slowly over a long
stream stop raising alarms; rows are flagged when ``likelihood >= 1 - likelihood_eps``.

With ``adapt_every`` the model keeps learning while it scores: every ``adapt_every`` rows a copy
of it, kept in the stream, takes ``adapt_steps`` optimizer steps on windows of the last
``adapt_rows`` rows that hold no flagged row, so a lasting change of normal behaviour (a level
shift, a drift) stops scoring high. Batch scoring replays the same stream; the fitted ``model_``
and the calibration never change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tsrnn.checks import check_choice, check_fraction, check_int, check_optional_int, refuse_unused
from tsrnn.errors import ConfigError, DataError
from tsrnn.estimators import adaptation
from tsrnn.estimators.core import RecurrentEstimator
from tsrnn.estimators.scorers import SCORERS

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from tsrnn.data import SeriesData
    from tsrnn.detection.likelihood import AnomalyLikelihood
    from tsrnn.estimators.adaptation import AdaptState
    from tsrnn.training import Batches, Callback
    from tsrnn.windows import Windows

# the detector parameter each threshold method takes (the others must keep their defaults)
THRESHOLD_PARAMS = {
    "quantile": ("q",),
    "gaussian": ("k",),
    "conformal": ("fpr",),
    "pot": ("risk",),
    "dynamic": (),
    "spot": ("risk",),  # streaming thresholds: they keep learning from the rows scored (detection.spot)
    "dspot": ("risk", "spot_depth"),
}
# normalize="likelihood" flags from the likelihood: these are its parameters, and the threshold's are unused
NORMALIZE = ("none", "likelihood")
LIKELIHOOD_PARAMS = ("likelihood_window", "likelihood_short", "likelihood_eps")
AUTO_FOLDS, AUTO_FOLDS_BELOW = 5, 2000  # calibration_folds="auto": 5 folds when the val part has < 2000 rows
LIKELIHOOD_MIN_STD = 1e-3  # the floor of the likelihood's reference std, in calibration stds


@dataclass
class DetectorStream:
    """What ``update`` carries between chunks: the scorer's state, the likelihood stage's, a
    streaming threshold's and, with ``adapt_every``, the network that keeps learning."""

    scorer: Any
    likelihood: "AnomalyLikelihood | None"  # None with normalize="none" (the likelihood is then Phi(score))
    spot: Any = None  # threshold spot / dspot: (Spot, SpotState), moving with the scores
    adapt: "AdaptState | None" = None
    last_time: Any = None  # the time of the last row given to update(): later rows must come after it
    held: Any = None  # with resample or duplicates: the rows of the last step, scored once a later step begins


class RNNAnomalyDetector(RecurrentEstimator):
    """Recurrent anomaly detector for one series; see the module docstring.

    ``fit`` learns normal behaviour from mostly normal data; its last ``val`` part is held out
    to stop training early, and scores and threshold are calibrated on it or, with
    ``calibration_folds`` (by default on short fit sets), on cross-fitted errors of every fit row.
    The training parameters mean what they mean for ``RNNForecaster``; three defaults differ
    (epochs 20, batch_size 64, patience 4): on SKAB they ranked anomalies slightly better than the
    forecaster's in two thirds of the fit time (bench/README.md, detect_quality, 2026-12-01, with
    the forecast method of the time).

    Parameters
    ----------
    method : {"hybrid", "forecast", "reconstruction"}
        "forecast": smoothed absolute residuals of a one-step recurrent forecaster (Hundman et
        al., KDD 2018); "reconstruction": squared errors of a recurrent autoencoder over the
        windows covering a row; "hybrid": both, from a last-value normalised forecaster and an
        autoencoder trained side by side on the same windows, each error standardised on its own
        and the larger one counting. The forecast residual catches spikes, bursts of noise and
        missing cycles; a level shift is forecast well after its first row, while the autoencoder,
        having seen no window like it, rebuilds it worse (with ``combine="last"`` on the shipped
        demo, only for the shift's first rows: see README.md).
    lookback : int
        Rows per window: the forecaster's input rows, or the autoencoder's window length. Shorter
        than the forecaster's default so that short fit sets (a few hundred rows) hold windows.
    cell : {"lstm", "gru", "rnn"}
        The recurrent cell.
    hidden_size : int
        Units per recurrent layer.
    num_layers : int
        Stacked recurrent layers.
    bidirectional : bool
        Read each window both ways.
    dropout : float
        Dropout between stacked layers.
    combine : {"mean", "max", "last"}
        method reconstruction or hybrid: how a row's reconstruction errors from the windows
        covering it combine. "mean" and "max" use every window, so a row is final (in ``update``)
        ``lookback`` rows after it arrives and its score uses those later rows; "last" takes the
        error of the row in the one window that ends at it: causal, every row final at once.
    smoothing : int
        method forecast or hybrid: the EWMA span of the forecast residuals.
    threshold : {"pot", "quantile", "gaussian", "conformal", "dynamic", "spot", "dspot"}
        "pot": peaks over threshold (Siffer et al., KDD 2017) with tail probability ``risk``;
        "quantile": the ``q`` quantile of calibration scores; "gaussian": mean + ``k`` std;
        "conformal": split-conformal for a false-positive rate ``fpr``; "dynamic": Hundman et
        al.'s threshold fitted on the scores being tested (not for streaming); "spot": POT that
        keeps refitting its tail on the normal rows it scores, in order; "dspot": the same on the
        score minus the mean of the last ``spot_depth`` normal scores, so a drifting score level
        is not an alarm (both Siffer et al. 2017; batch scoring replays the stream).
    q, k, fpr, risk : float
        The parameter of the chosen threshold (the others must keep their defaults).
    spot_depth : int
        threshold="dspot" only: how many recent normal scores its drift level averages.
    normalize : {"none", "likelihood"}
        "none": flags come from ``threshold`` on ``score``, and the ``likelihood`` column is
        ``Phi(score)``. "likelihood": the ``likelihood`` column is the anomaly likelihood (Ahmad
        et al., Neurocomputing 2017) of the scores against the last ``likelihood_window`` rows,
        and flags are ``likelihood >= 1 - likelihood_eps`` (``threshold`` and its parameter must
        keep their defaults). Its windows start filled with the calibration rows' scores.
    likelihood_window, likelihood_short : int
        normalize="likelihood" only: the rows whose score mean and std are the reference (the
        paper's W), and the rows whose mean score is judged against them (W', <= the first).
    likelihood_eps : float
        normalize="likelihood" only: a row is flagged when its likelihood is at least
        ``1 - likelihood_eps`` (the paper's epsilon, 1e-5 on NAB; 1e-4 flags fewer rows than
        1e-3 and as many SKAB anomalies, and 1e-5 misses more: see README.md).
    adapt_every : int, optional
        Keep learning while scoring: after every ``adapt_every`` rows scored (the first
        adaptation after the first ``adapt_every`` rows of a stream), fine-tune the model that
        scores the rest of the stream on recent normal rows. None (default): the fitted model
        scores everything. The fine-tuned weights live in the stream (``update``; batch
        scoring replays one), never in ``model_``: ``flush()`` and every batch scoring start
        again from the fitted weights. Calibration and threshold stay as fitted. Not with
        threshold="dynamic".
    adapt_rows : int
        adapt_every only: the recent rows a fine-tune learns from (at least one window); windows
        holding a flagged row, or a row not scored yet, are left out, so anomalies are not learned.
    adapt_steps : int
        adapt_every only: optimizer steps per fine-tune, each on ``batch_size`` windows (fewer
        when fewer are clean) drawn from those rows with a seed from ``random_state`` and the
        adaptation's number. A fresh optimizer (``optimizer`` at ``lr``, no schedule, no
        warm-up) from the current weights, with ``weight_decay`` and ``clip_grad_norm`` as in
        training: the fitted model's own learning rate, so a few steps move it a little.
    adapt_persist : int, optional
        adapt_every only: when this many fine-tunes in a row find no window free of flagged rows
        (a change flagged densely for ``adapt_persist x adapt_every`` rows), the last of them
        learns from every scored window of ``adapt_rows``: a change that lasts becomes the new
        normal instead of being flagged for ever (default 2). First the stream's scaled rows are
        re-centred: from then on the median of those rows, less the fit's level (``level_``, the
        median of the scaled training rows), is taken off every row, so a level shift of any
        size is learned at once. None: flagged rows are never learned.
    min_event_length : int
        Shortest event, in rows.
    merge_gap : int
        Events separated by at most this many normal rows are merged (default 10, the default
        ``smoothing`` span): a smoothed score that dips under the threshold for a few rows, or
        rises again as a change reverts, does not split one incident into several events. Row
        flags (``is_anomaly``) are not changed. Orion's ``find_anomalies`` pads every anomalous
        sequence for the same reason (``anomaly_padding``, 50 errors each side).
    val : float, int or str
        The held-out calibration part at the end of the fit data: a fraction, a number of rows
        or a start time. Larger than the forecaster's default because it also fits the threshold.
    calibration_folds : int, "auto" or None
        Calibrate scores and threshold on out-of-sample errors of the whole fit data instead of
        the ``val`` part alone: the fit rows are cut into this many chronological folds, and each
        fold is scored by a model trained (as many epochs as the kept model) on the windows that
        touch no row of it. Costs that many extra fits; None: calibrate on ``val``. "auto"
        (default): 5 folds when the val part holds fewer than 2,000 rows, else None: a tail
        threshold fitted on a few hundred scores is far off (on generated streams fitted on
        750 rows, 5 folds took the event F1 from 0.06 to 0.63: bench/README.md), and on a
        large val part the extra fits cost more than they bring.
    scaler : {"standard", "minmax", "robust", "none"}
        Per-channel scaling fitted on the training rows.
    epochs, batch_size, lr, weight_decay, optimizer, lr_schedule, patience, clip_grad_norm, stride
        Training, as for ``RNNForecaster``.
    time_col : str, optional
        The time column (default: the one date-like column).
    target : str or sequence of str, optional
        Columns to score (default: every numeric column not excluded).
    exclude : sequence of str, optional
        Columns not to use, e.g. label columns.
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
        Seed of weights and batch order.
    device : str
        "auto", "cpu", "cuda" or "cuda:N".
    precision : {"auto", "fp32", "bf16"}
        The arithmetic of training, scoring and fine-tunes, as for ``RNNForecaster``. In bf16 a
        stream scored in small chunks runs other kernels than batch scoring: they agree to bf16's
        rounding, not exactly.
    checkpoint_dir : str, optional
        Write ``last.safetensors`` there every epoch.
    verbose : bool
        A progress bar on an interactive terminal.
    callbacks : sequence of tsrnn.training.Callback, optional
        Extra training callbacks.
    """

    task = "detect"

    def __init__(
        self,
        method: str = "hybrid",
        lookback: int = 64,
        cell: str = "lstm",
        hidden_size: int = 32,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        combine: str = "last",
        smoothing: int = 10,
        threshold: str = "pot",
        q: float = 0.99,
        k: float = 3.0,
        fpr: float = 0.01,
        risk: float = 1e-4,
        spot_depth: int = 50,
        normalize: str = "none",
        likelihood_window: int = 1000,
        likelihood_short: int = 10,
        likelihood_eps: float = 1e-4,
        adapt_every: int | None = 512,
        adapt_rows: int = 512,
        adapt_steps: int = 5,
        adapt_persist: int | None = 2,
        min_event_length: int = 1,
        merge_gap: int = 10,
        val: float | int | str = 0.2,
        calibration_folds: int | str | None = "auto",
        scaler: str = "standard",
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer: str = "adam",
        lr_schedule: str = "cosine",
        patience: int | None = 4,
        clip_grad_norm: float | None = 1.0,
        stride: int = 1,
        time_col: str | None = None,
        target: str | Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
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
        self.method = method
        self.lookback = lookback
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
        self.spot_depth = spot_depth
        self.normalize = normalize
        self.likelihood_window = likelihood_window
        self.likelihood_short = likelihood_short
        self.likelihood_eps = likelihood_eps
        self.adapt_every = adapt_every
        self.adapt_rows = adapt_rows
        self.adapt_steps = adapt_steps
        self.adapt_persist = adapt_persist
        self.min_event_length = min_event_length
        self.merge_gap = merge_gap
        self.val = val
        self.calibration_folds = calibration_folds
        self.scaler = scaler
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.patience = patience
        self.clip_grad_norm = clip_grad_norm
        self.stride = stride
        self.time_col = time_col
        self.target = target
        self.exclude = exclude
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
    def fit(self, data: Any, y: None = None, resume: str | Path | None = None) -> "RNNAnomalyDetector":
        """Learn normal behaviour from ``data``, then calibrate scores and threshold on its held-out
        last part; returns ``self``. ``resume``: a checkpoint file to continue training from."""
        from tsrnn.windows import make_windows

        self._check_params()
        series = self.read(data)
        if series.n_series != 1:
            raise ConfigError("the detector scores one series at a time", "fit one detector per series")
        lookback, horizon = self._scorer().window_shape()
        windows = make_windows(series, lookback, horizon, self.stride, self.val, 0, require=("train", "val"))
        values = self._fit_module(series, windows, resume)
        train = values[: int(windows.bounds[0, 1])].cpu().numpy()
        self.level_ = np.median(train, axis=0).astype(np.float32)  # (C,) the scaled level adaptation re-centres on
        folds = self._folds(len(windows.val))
        errors = self._cross_fitted_errors(series, values, folds) if folds else None
        if errors is not None and np.isnan(errors).all():
            self._note("no calibration fold could be scored (too few rows): the val part calibrates instead")
        if errors is None or np.isnan(errors).all():  # the held-out part, scored by the model
            scaled = values.cpu().numpy()
            errors = self._scorer().row_errors(self._errors_of(self.model_), scaled, None)[int(windows.bounds[0, 1]) :]
        self._calibrate(errors)
        return self

    def _check_params(self) -> None:
        check_choice("method", self.method, tuple(SCORERS))
        self._check_network()
        check_choice("threshold", self.threshold, tuple(THRESHOLD_PARAMS))
        own = SCORERS[self.method].params
        for other in SCORERS.values():
            refuse_unused(self, [p for p in other.params if p not in own], f"with method={self.method!r}")
        used = THRESHOLD_PARAMS[self.threshold]
        for params in THRESHOLD_PARAMS.values():
            refuse_unused(self, [p for p in params if p not in used], f"with threshold={self.threshold!r}")
        check_choice("normalize", self.normalize, NORMALIZE)
        if self.normalize == "none":
            refuse_unused(self, LIKELIHOOD_PARAMS, 'with normalize="none"')
        else:
            refuse_unused(self, ("threshold", *THRESHOLD_PARAMS[self.threshold]), f"with normalize={self.normalize!r}")
            check_fraction("likelihood_eps", self.likelihood_eps, include_zero=False, include_one=False)
            check_int("likelihood_window", self.likelihood_window, 2)
            check_int("likelihood_short", self.likelihood_short, 1)
            check_int(
                "likelihood_window",
                self.likelihood_window,
                self.likelihood_short,
                hint="likelihood_short must not exceed likelihood_window",
            )
        for name in ("lookback", "smoothing", "min_event_length", "batch_size"):
            check_int(name, getattr(self, name), 1)
        check_int("merge_gap", self.merge_gap, 0)
        check_optional_int("patience", self.patience, 1)
        self._folds(0)
        check_int("spot_depth", self.spot_depth, 1)
        self._scorer()  # the method's own checks
        self._check_adapt()

    def _check_adapt(self) -> "adaptation.Adaptation | None":
        """adapt_every and its parameters, checked (at fit and when a stream starts: they may be
        set on a fitted or loaded detector); None without adaptation."""
        if self.adapt_every is None:
            refuse_unused(self, adaptation.PARAMS, "with adapt_every=None (no adaptation)")
            return None
        return adaptation.Adaptation(self, self._scorer().window_shape(), self._loss())

    def _scorer(self) -> Any:
        """The scoring method's object (stateless: built from the parameters)."""
        return SCORERS[self.method].from_detector(self)

    def _data_options(self) -> dict[str, Any]:
        return {**super()._data_options(), "exclude": self.exclude}

    def _module_class(self) -> type:
        return self._scorer().module_class()

    def _build_module(self, series: "SeriesData") -> "torch.nn.Module":
        net = dict(
            cell=self.cell,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            dropout=self.dropout,
        )
        return self._scorer().build(len(series.channels), net)

    def _loss(self) -> Any:
        return self._scorer().loss

    def _batches(
        self, series: "SeriesData", windows: "Windows", values: "torch.Tensor", seed: int
    ) -> tuple["Batches", "Batches | None"]:
        from tsrnn.windows import WindowBatches

        n = len(series.channels)
        train = WindowBatches(values, windows.train, n, self.batch_size, shuffle=True, seed=seed)
        return train, WindowBatches(values, windows.val, n, max(self.batch_size, 256))

    def _history_length(self) -> int:
        return 2 * self.lookback

    def _folds(self, val_rows: int) -> int | None:
        """How many calibration folds a fit whose val part holds ``val_rows`` rows uses (None: none)."""
        if self.calibration_folds == "auto":
            return AUTO_FOLDS if val_rows < AUTO_FOLDS_BELOW else None
        hint = 'pass a whole number >= 2, "auto" or None'
        return check_optional_int("calibration_folds", self.calibration_folds, 2, hint=hint)

    def _cross_fitted_errors(self, series: "SeriesData", values: "torch.Tensor", folds: int) -> np.ndarray:
        """(n, C) out-of-sample row errors of every fit row: fold j of ``folds`` chronological
        folds scored by a model trained on the windows that touch no row of fold j."""
        import dataclasses

        import torch

        from tsrnn.training import Trainer
        from tsrnn.windows import WindowBatches, WindowIndex

        scorer = self._scorer()
        L, H = scorer.window_shape()
        scaled = values.cpu().numpy()
        n, width = len(scaled), L + H
        starts = np.arange(n - width + 1)
        edges = np.linspace(0, n, folds + 1).astype(int)
        config = dataclasses.replace(self._train_config(), epochs=self.history_.best_epoch or len(self.history_.epochs))
        out = []
        for j, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
            train = starts[(starts + width <= a) | (starts >= b)]
            if len(train) < self.batch_size:  # every window touches this fold: it stays unscored
                self._note(
                    f"calibration fold {j + 1} of {folds} (rows {a}-{b - 1}) is not scored: "
                    f"only {len(train)} windows of {width} rows avoid it"
                )
                out.append(np.full((b - a, scorer.errors_per_channel * scaled.shape[1]), np.nan))
                continue
            if self.random_state is not None:
                torch.manual_seed(self.random_state + 1 + j)
            module = self._build_module(series)
            batches = WindowBatches(values, WindowIndex(train, L, H), scaled.shape[1], self.batch_size, True, seed=j)
            Trainer(module, self._loss(), config).fit(batches)
            lo, hi = max(0, a - width), min(n, b + width)  # the fold and the rows its windows reach
            out.append(scorer.row_errors(self._errors_of(module.eval()), scaled[lo:hi], None)[a - lo : b - lo])
        return np.concatenate(out)

    def _note(self, message: str) -> None:
        """A fit that went on with a stand-in: kept in ``warnings_`` and warned (CalibrationWarning)."""
        import warnings

        from tsrnn.detection.thresholds import CalibrationWarning

        self.warnings_.append(message)
        warnings.warn(message, CalibrationWarning, stacklevel=4)

    def _calibrate(self, errors: np.ndarray) -> None:
        """Standardise on out-of-sample row errors (n, C), then fit the threshold to their scores;
        a threshold fitted on too few scores warns (``warnings_``) instead of failing."""
        import warnings

        from tsrnn.detection.thresholds import CalibrationWarning, fit_threshold

        cal = errors[~np.isnan(errors).any(axis=1)]
        if len(cal) == 0:
            raise DataError("no calibration row could be scored", "pass more data, or a larger val")
        self.err_mean_ = cal.mean(axis=0)
        self.err_std_ = np.where(cal.std(axis=0) > 0, cal.std(axis=0), 1.0)
        overall = ((cal - self.err_mean_) / self.err_std_).max(axis=1)
        self.score_mean_, self.score_std_ = float(overall.mean()), float(overall.std() or 1.0)
        self.calibration_scores_ = (overall - self.score_mean_) / self.score_std_
        self.threshold_ = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CalibrationWarning)
            if self.threshold in ("spot", "dspot") and self.normalize == "none":
                self.threshold_ = float(self._spot_start()[1].z)  # where the streaming threshold starts
            elif self.threshold != "dynamic" and self.normalize == "none":
                params = {p: getattr(self, p) for p in THRESHOLD_PARAMS[self.threshold]}
                self.threshold_ = float(fit_threshold(self.threshold, self.calibration_scores_, **params))
        if len(cal) < 30:
            self._note(f"only {len(cal)} calibration rows: scores and threshold are rough (pass more data)")
        for w in caught:
            self._note(str(w.message))
        self.metrics_ = {"calibration_rows": len(cal)}
        if self.threshold_ is not None:
            self.metrics_["threshold"] = self.threshold_
        self._likelihood_metrics()
        self._stream = None

    def _likelihood_start(self) -> tuple["AnomalyLikelihood", np.ndarray]:
        """The likelihood stage after the calibration scores went through it (what scoring starts
        from), and their likelihoods."""
        from tsrnn.detection.likelihood import AnomalyLikelihood

        stage = AnomalyLikelihood(self.likelihood_window, self.likelihood_short, LIKELIHOOD_MIN_STD)
        return stage, stage.update(self.calibration_scores_)

    def _likelihood_stage(self) -> "AnomalyLikelihood | None":
        """normalize="likelihood": the stage that scoring starts from; else None."""
        return None if self.normalize == "none" else self._likelihood_start()[0]

    def _spot_start(self) -> tuple[Any, Any]:
        """threshold spot / dspot: the streaming threshold after the calibration scores."""
        from tsrnn.detection.spot import Spot

        spot = Spot(self.risk, self.spot_depth if self.threshold == "dspot" else None)
        return spot, spot.start(self.calibration_scores_)

    def _new_stream(self) -> DetectorStream:
        """The state scoring starts from (batch scoring replays a fresh one over its rows)."""
        import warnings

        from tsrnn.detection.thresholds import CalibrationWarning

        spot = None
        if self.threshold in ("spot", "dspot") and self.normalize == "none":
            with warnings.catch_warnings():  # said once, at fit (warnings_)
                warnings.simplefilter("ignore", CalibrationWarning)
                spot = self._spot_start()
        scorer = self._scorer().start_stream(len(self.targets_), self.err_mean_)
        stream = DetectorStream(scorer, self._likelihood_stage(), spot)
        adapt = self._check_adapt()
        if adapt is not None:
            stream.adapt = adapt.start(self.model_, len(self.targets_))
        return stream

    def _likelihood_metrics(self) -> None:
        """normalize="likelihood": its threshold and the share of calibration rows it flags."""
        if self.normalize != "none":
            flagged = self._likelihood_start()[1] >= 1 - self.likelihood_eps
            self.metrics_["likelihood_threshold"] = 1 - self.likelihood_eps
            self.metrics_["calibration_flagged"] = float(flagged.mean())

    # ------------------------------------------------------------------ scoring
    def _errors_of(self, module: "torch.nn.Module") -> Any:
        """A function from scaled windows to their per-step errors under ``module`` (in no-grad
        batches on the model's device): what the scorer calls ``errors_of``."""
        scorer = self._scorer()
        return lambda windows: self._infer(lambda w: scorer.window_errors(module, w), windows.astype(np.float32))

    def _rows(self, errors: np.ndarray, stream: DetectorStream) -> dict[str, np.ndarray]:
        """Row errors -> the columns of a scored frame but the time: ``score``, ``is_anomaly``,
        ``likelihood`` and ``score_<channel>``. Rows no window covers score 0 (the calibration
        mean), have likelihood 0.5, are left out of the likelihood's windows and of a streaming
        threshold's learning, and are never flagged. ``stream``: the states that move with the
        rows (continued in place)."""
        from tsrnn.detection.likelihood import normal_cdf
        from tsrnn.detection.thresholds import apply_threshold, dynamic_threshold

        errors = (errors - self.err_mean_) / self.err_std_  # (n, k C): k errors per channel, NaN where none is known
        raw = (np.fmax.reduce(errors, axis=1) - self.score_mean_) / self.score_std_  # NaN only if all are
        score = np.nan_to_num(raw, nan=0.0)
        per_channel = (len(errors), self._scorer().errors_per_channel, len(self.targets_))
        channel = np.fmax.reduce(errors.reshape(per_channel), axis=1)  # (n, C): a channel's largest error
        channel = np.nan_to_num(channel, nan=0.0)
        if stream.likelihood is not None:
            likelihood = np.nan_to_num(stream.likelihood.update(raw), nan=0.5)
            flags = likelihood >= 1 - self.likelihood_eps
        else:
            likelihood = normal_cdf(score)
            if stream.spot is not None:
                flags = stream.spot[0].update(stream.spot[1], raw)[0]
            elif self.threshold == "dynamic":
                flags = dynamic_threshold(score) if len(score) else np.zeros(0, bool)
            else:
                flags = apply_threshold(score, self.threshold_)
        out = {"score": score, "is_anomaly": flags.astype(int), "likelihood": likelihood}
        out.update({f"score_{name}": channel[:, c] for c, name in enumerate(self.targets_)})
        return out

    def _table(self, times: Any, rows: list[dict[str, np.ndarray]]) -> "pd.DataFrame":
        """Scored pieces (``_rows``, in order) and all their times -> one frame: time, ``score``,
        ``is_anomaly``, ``likelihood`` and ``score_<channel>`` columns."""
        import pandas as pd

        columns = {k: np.concatenate([r[k] for r in rows]) if len(rows) > 1 else rows[0][k] for k in rows[0]}
        times = times if times is not None else pd.DatetimeIndex([])
        return pd.DataFrame({self.time_col_: times, **columns}, copy=False)  # the arrays are this frame's own

    def _frame(self, times: Any, errors: np.ndarray, stream: DetectorStream) -> "pd.DataFrame":
        """Row errors -> a scored frame (``_rows``, ``_table``)."""
        return self._table(times, [self._rows(errors, stream)])

    def score_frame(self, data: Any) -> "pd.DataFrame":
        """Per row of ``data``: time, ``score``, ``is_anomaly``, ``likelihood`` and ``score_<channel>`` columns."""
        series = self.load_data(data)
        if self.adapt_every is not None:  # the stream replayed: scored adapt_every rows at a time, adapting between
            self._check_adapt()
            width = sum(self._scorer().window_shape())
            if series.n_rows < width:
                raise DataError(
                    f"{series.n_rows} rows are fewer than one window of the detector ({width} rows)",
                    f"pass at least {width} rows",
                )
            stream = self._new_stream()
            times, rows = self._advance(stream, self._scaled(series), series.series_times(0))
            end_times, errors = self._scorer().flush(stream.scorer)
            return self._table(_append(times, end_times), [*rows, self._rows(errors, stream)])
        errors = self._scorer().row_errors(self._errors_of(self.model_), self._scaled(series), self.err_mean_)
        return self._frame(series.series_times(0), errors, self._new_stream())

    def predict_frame(self, frame: "pd.DataFrame") -> "pd.DataFrame":
        """One row per row of ``frame``: its score, flag, likelihood and channel scores (the pyfunc model's answer)."""
        return self.score_frame(frame)

    def score_samples(self, data: Any) -> np.ndarray:
        """One standardised anomaly score per row of ``data`` (higher is more anomalous)."""
        return self.score_frame(data)["score"].to_numpy()

    def predict(self, data: Any) -> np.ndarray:
        """One 0/1 flag per row of ``data``."""
        return self.score_frame(data)["is_anomaly"].to_numpy()

    def events(self, scored: "pd.DataFrame") -> "pd.DataFrame":
        """The anomalous events of a ``score_frame`` result: start, end, length, peak_time,
        peak_score and the channels most responsible."""
        from tsrnn.detection.events import flags_to_events

        return flags_to_events(
            scored["is_anomaly"].to_numpy().astype(bool),
            scored["score"].to_numpy(),
            scored[self.time_col_].to_numpy(),
            min_length=self.min_event_length,
            merge_gap=self.merge_gap,
            channel_scores=scored[[f"score_{c}" for c in self.targets_]].to_numpy(),
            channel_names=self.targets_,
        )

    def detect_events(self, data: Any) -> "pd.DataFrame":
        """The anomalous events of ``data`` (``events(score_frame(data))``)."""
        return self.events(self.score_frame(data))

    # ------------------------------------------------------------------ streaming
    def update(self, rows: Any) -> "pd.DataFrame":
        """Score newly arrived rows (a DataFrame or CSV of consecutive rows after the previous ones;
        a row at or before the last row already given is refused, and the stream left as it was).

        Work per row does not depend on how long the stream is: the scorer keeps only the last
        ``lookback`` rows (with ``combine`` mean or max, also the pending errors of the last
        ``lookback - 1`` rows), adaptation the last ``adapt_rows``. Returns the rows whose score
        is final: every row at once with the default ``combine="last"`` and with
        method="forecast"; with ``combine`` mean or max a row is final once every window
        covering it has arrived (``flush()`` finalises the rest at the end of a stream). The scores equal batch scoring of all rows seen. Threshold
        "dynamic" needs a whole series and is refused here. With ``resample`` (a fixed step such
        as 5min or 1h) or ``duplicates``, the rows of the last step (or timestamp) seen are held
        back until a row of a later one arrives, so a step split across batches is combined once;
        with a calendar step (MS, W) each batch must hold whole steps. With normalize="likelihood" the
        likelihood stage keeps its windows' running sums (``likelihood_window`` rows' worth).
        """
        self._check_fitted()
        if self.threshold == "dynamic":
            raise ConfigError(
                "the dynamic threshold needs the whole series, not a stream",
                "use threshold quantile, gaussian, pot or conformal for streaming",
            )
        if self._stream is None:
            self._stream = self._new_stream()
        if self.resample is not None or self.duplicates != "error":
            rows = self._complete_steps(rows, self._stream)
            if rows is None:  # every row so far belongs to the step still arriving
                return self._frame(None, np.zeros((0, len(self.err_mean_))), self._stream)
        return self._score_rows(rows)

    def _score_rows(self, rows: Any) -> "pd.DataFrame":
        """``update``'s scoring of rows whose steps are complete, in the stream."""
        series = self.load_data(rows)
        times, last = series.series_times(0), self._stream.last_time
        if len(times) and last is not None and (times.tz is None) != (last.tz is None):
            raise DataError(
                f"these rows' times {'have no' if times.tz is None else 'have a'} time zone, unlike the stream's "
                f"earlier rows ({last})",
                "write every row's time the same way, all with their UTC offset or all without",
            )
        if len(times) and last is not None and times[0] <= last:
            calendar = self.resample is not None and _fixed_step(self.resample) is None
            raise DataError(
                f"rows out of time order: {times[0]} {'repeats' if times[0] == last else 'comes before'} "
                f"the stream's last row, {last}"
                + (" (with a calendar resample step, a step's rows must arrive in one batch)" if calendar else ""),
                "send each timestamp once, in time order; to score an earlier stretch, start a new stream "
                "(flush() first, or a new `tsrnn detect` run)",
            )
        if len(times):
            self._stream.last_time = times[-1]
        return self._table(*self._advance(self._stream, self._scaled(series), times))

    def _complete_steps(self, rows: Any, stream: DetectorStream) -> Any:
        """With ``resample`` or ``duplicates``, a step's (or a timestamp's) rows may arrive over
        several batches: the rows of the last step seen are held back in ``stream`` until a row of
        a later step arrives (or ``flush()``), so each step is combined once, as in batch scoring.
        Returns the rows of complete steps (None if there are none yet)."""
        import pandas as pd

        from tsrnn.data import read_frame, row_times

        frame = read_frame(rows)[0]
        if stream.held is not None:
            frame = pd.concat([stream.held, frame], ignore_index=True)
        if not len(frame):
            return None
        times = row_times(frame, self.time_col_, dayfirst=self.dayfirst_)
        if self.resample is not None:
            if (step := _fixed_step(self.resample)) is None:  # calendar steps (MS, W): batches stay whole steps
                return frame
            times = times.floor(step, ambiguous="NaT", nonexistent="shift_backward")
        last = np.asarray(times == times.max())
        stream.held = frame[last].reset_index(drop=True)
        ready = frame[~last]
        return ready if len(ready) else None

    def _advance(self, stream: DetectorStream, scaled: np.ndarray, times: Any) -> tuple[Any, list[dict]]:
        """Score newly arrived scaled rows in ``stream`` (continued in place): (the times of the
        rows made final, their scored pieces for ``_table``). With adaptation, in pieces that end
        where ``adapt_every`` rows are complete, fine-tuning after each, so the result does not
        depend on how the rows were cut into chunks."""
        scorer = self._scorer()
        adapt = self._check_adapt() if stream.adapt is not None else None
        if adapt is None:
            out_times, errors = scorer.update(stream.scorer, self._errors_of(self.model_), scaled, times)
            return out_times, [self._rows(errors, stream)]
        all_times, pieces, lo = [], [], 0
        while True:
            hi = min(len(scaled), lo + adapt.due(stream.adapt))
            errors_of = self._errors_of(stream.adapt.module)
            rows = scaled[lo:hi] - stream.adapt.offset  # re-centred since a lasting change was learned
            out_times, errors = scorer.update(stream.scorer, errors_of, rows, times[lo:hi])
            all_times.append(out_times)
            pieces.append(self._rows(errors, stream))
            shift = adapt.scored(stream.adapt, rows, pieces[-1]["is_anomaly"].astype(bool))
            if shift is not None:
                scorer.recentre(stream.scorer, shift)  # the rows it keeps for its next windows too
            lo = hi
            if lo >= len(scaled):
                return _append(*all_times), pieces

    def flush(self) -> "pd.DataFrame":
        """End a stream: score the rows still waiting for windows that will never come (and, with
        ``resample`` or ``duplicates``, the last step's rows held back for more of its rows)."""
        self._check_fitted()
        import pandas as pd

        held = None
        if self._stream is not None and self._stream.held is not None:
            held, self._stream.held = self._score_rows(self._stream.held), None  # the last step is complete now
        state, self._stream = self._stream, None
        if state is None:
            return self._frame(None, np.zeros((0, len(self.err_mean_))), self._new_stream())
        rest = self._frame(*self._scorer().flush(state.scorer), state)
        return rest if held is None else pd.concat([held, rest], ignore_index=True)

    # ------------------------------------------------------------------ persistence
    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, "torch.Tensor"]]:
        import torch

        calibration = {
            "err_mean": self.err_mean_.tolist(),
            "err_std": self.err_std_.tolist(),
            "score_mean": self.score_mean_,
            "score_std": self.score_std_,
            "threshold": self.threshold_,
            "level": self.level_.tolist(),
        }
        scores = torch.from_numpy(np.asarray(self.calibration_scores_, dtype=np.float64))
        return {"calibration": calibration}, {"calibration_scores": scores}

    def _restore(self, config: dict[str, Any], tensors: dict[str, Any]) -> None:
        cal = config["calibration"]
        self.err_mean_, self.err_std_ = np.asarray(cal["err_mean"]), np.asarray(cal["err_std"])
        self.score_mean_, self.score_std_, self.threshold_ = cal["score_mean"], cal["score_std"], cal["threshold"]
        self.calibration_scores_ = tensors["calibration_scores"].numpy()
        # files saved before 2026-12-07 lack the level: 0, the standard scaler's training mean
        self.level_ = np.asarray(cal.get("level", np.zeros(len(self.targets_))), np.float32)
        self._stream = None


def _append(*times: Any) -> Any:
    """Times of scored pieces one after another (None: a piece that made no row final)."""
    kept = [t for t in times if t is not None]
    return kept[0].append(kept[1:]) if len(kept) > 1 else (kept[0] if kept else None)


def _fixed_step(freq: str) -> Any:
    """The pandas offset of a fixed-length frequency ("5min", "1h"), None for a calendar one ("MS", "W")."""
    import pandas as pd

    offset = pd.tseries.frequencies.to_offset(freq)
    return offset if isinstance(offset, pd.offsets.Tick) else None
