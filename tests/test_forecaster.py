"""Tests for the RNNForecaster estimator: the scikit-learn contract, predict() in original units and
time, errors for bad data, every model option, metrics and backtest, reproducibility, checkpoints.
All data is small and generated here; models are tiny and train for a few epochs on the CPU."""

from __future__ import annotations

import inspect

import frames
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from tsrnn import GRUForecaster, LSTMForecaster, RNNForecaster
from tsrnn.errors import ConfigError, DataError, NotFittedError
from tsrnn.training import Callback, cpu_has_bf16

H, L = 12, 48
FAST = dict(
    lookback=L,
    horizon=H,
    hidden_size=16,
    num_layers=1,
    epochs=2,
    batch_size=32,
    lr=1e-2,
    random_state=0,
    device="cpu",
    patience=None,
)


def sine_frame(n: int = 480, **options) -> pd.DataFrame:
    """Two targets, ``a`` and ``b``, and a covariate ``temp`` (``frames.sine_frame``)."""
    return frames.sine_frame(n, temp=True, **options)


def long_frame(n=300):
    """Long format: series A and B (B starts 5 hours later and lives on another scale)."""
    rng = np.random.default_rng(1)
    k = np.arange(n)
    a = pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=n, freq="h"),
            "id": "A",
            "y": np.sin(2 * np.pi * k / 24) + 0.1 * rng.standard_normal(n),
        }
    )
    b = pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01 05:00", periods=n, freq="h"),
            "id": "B",
            "y": 500 + 100 * np.cos(2 * np.pi * k / 24) + 10 * rng.standard_normal(n),
        }
    )
    return pd.concat([a, b], ignore_index=True)


@pytest.fixture(scope="module")
def df():
    return sine_frame(offset=1000.0)[["time", "a", "b"]]


@pytest.fixture(scope="module")
def fitted(df):
    return RNNForecaster(**{**FAST, "epochs": 8}).fit(df)


@pytest.fixture(scope="module")
def long_df():
    return long_frame()


@pytest.fixture(scope="module")
def long_fitted(long_df):
    return RNNForecaster(**FAST, id_col="id").fit(long_df)


# ----------------------------------------------------------------------------- scikit-learn contract


def test_init_only_stores_parameters():
    est = RNNForecaster(hidden_size=8, lookback=24)
    assert [k for k in vars(est) if k.endswith("_")] == []
    names = [p for p in inspect.signature(RNNForecaster.__init__).parameters if p != "self"]
    assert sorted(est.get_params()) == sorted(names)
    assert est.get_params()["hidden_size"] == 8 and est.get_params()["lookback"] == 24


def test_init_does_not_validate_or_touch_data():
    est = RNNForecaster(cell="nonsense", batch_size=0)  # sklearn: validation happens in fit
    assert est.cell == "nonsense"
    with pytest.raises(ConfigError):
        est.fit(sine_frame())


def test_clone_gives_equal_params():
    est = RNNForecaster(hidden_size=8, quantiles=[0.1, 0.9], target=["a"], lookback=24, epochs=3)
    c = clone(est)
    assert c is not est
    assert c.get_params() == est.get_params()


def test_set_params_returns_self():
    est = RNNForecaster()
    assert est.set_params(hidden_size=4, cell="gru") is est
    assert est.hidden_size == 4 and est.cell == "gru"
    with pytest.raises(ValueError):
        est.set_params(no_such_param=1)


def test_clone_of_fitted_is_unfitted(fitted):
    c = clone(fitted)
    assert not hasattr(c, "model_")
    assert c.get_params() == fitted.get_params()


def test_cell_subclasses():
    assert LSTMForecaster().cell == "lstm"
    assert GRUForecaster().cell == "gru"
    assert GRUForecaster(cell="rnn").cell == "rnn"
    assert clone(LSTMForecaster()).cell == "lstm"
    assert clone(GRUForecaster()).cell == "gru"


@pytest.mark.parametrize("cls", [LSTMForecaster, GRUForecaster])
def test_cell_subclasses_keep_params_through_clone(cls):
    est = cls(hidden_size=8, lookback=24)
    assert est.get_params()["hidden_size"] == 8
    c = clone(est)
    assert (c.hidden_size, c.lookback, c.cell) == (8, 24, est.cell)
    assert est.set_params(horizon=6) is est and est.horizon == 6


def test_fit_returns_self_and_sets_fitted_attributes(df):
    est = RNNForecaster(**{**FAST, "epochs": 1})
    assert est.fit(df) is est
    for attr in ("model_", "scaler_", "history_", "metrics_", "targets_", "freq_", "n_features_in_"):
        assert hasattr(est, attr)
    assert est.targets_ == ["a", "b"] and est.n_features_in_ == 2 and est.freq_ == "h"
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)


@pytest.mark.parametrize("call", [lambda e: e.predict(), lambda e: e.backtest(), lambda e: e.save("never-written")])
def test_methods_before_fit_raise_not_fitted(call, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFittedError, match="not fitted") as info:
        call(RNNForecaster())
    assert isinstance(info.value, ValueError) and isinstance(info.value, AttributeError)
    assert not (tmp_path / "never-written").exists()


def test_sklearn_check_is_fitted_on_unfitted():
    from sklearn.exceptions import NotFittedError as SkNotFitted
    from sklearn.utils.validation import check_is_fitted

    with pytest.raises(SkNotFitted):
        check_is_fitted(RNNForecaster())


# ----------------------------------------------------------------------------- predict


def test_predict_continues_the_time_index_in_original_units(fitted, df):
    out = fitted.predict()
    assert isinstance(out.index, pd.DatetimeIndex)
    assert list(out.columns) == ["a", "b"]
    assert len(out) == H
    expected = pd.date_range(df["time"].iloc[-1], periods=H + 1, freq="h")[1:]
    assert list(out.index) == list(expected)
    assert out.index.freq is None or out.index.freq == "h"
    assert np.isfinite(out.to_numpy()).all()
    assert (out["a"].sub(1000).abs() < 3).all()  # original units: around 1000, not around 0
    assert (out["b"].abs() < 3).all()


def test_predict_tracks_the_sine(fitted, df):
    """After 8 epochs on a noisy sine the forecast follows the true continuation closely."""
    k = np.arange(len(df), len(df) + H)
    truth_b = np.cos(2 * np.pi * k / 24)
    out = fitted.predict()
    assert float(np.mean((out["b"].to_numpy() - truth_b) ** 2)) < 0.1


def test_predict_on_other_data_forecasts_after_its_end(fitted, df):
    other = df.iloc[: len(df) - 100]
    out = fitted.predict(other)
    assert out.index[0] == other["time"].iloc[-1] + pd.Timedelta(hours=1)
    assert len(out) == H
    assert not out.equals(fitted.predict())


def test_predict_with_just_lookback_rows(fitted, df):
    out = fitted.predict(df.tail(L))
    assert len(out) == H and out.index[0] == df["time"].iloc[-1] + pd.Timedelta(hours=1)
    pd.testing.assert_frame_equal(out, fitted.predict())  # only the last L rows matter


def test_predict_missing_target_column_names_it(fitted, df):
    with pytest.raises(DataError, match="'b'"):
        fitted.predict(df.drop(columns="b"))


def test_predict_too_little_history_says_how_many_rows(fitted, df):
    with pytest.raises(DataError, match=str(L)) as info:
        fitted.predict(df.tail(L - 10))
    assert str(L - 10) in str(info.value)


def test_predict_other_frequency_refused(fitted):
    daily = sine_frame(n=120, freq="D")[["time", "a", "b"]]
    with pytest.raises(DataError, match="frequency"):
        fitted.predict(daily)


def jittered_frame(n: int, seed: int, start: str = "2024-01-01") -> pd.DataFrame:
    """A 5-minute feed whose rows arrive 0 to 59 s late, with one sample missed (a 9-11 minute step)."""
    df = sine_frame(n=n, seed=seed, start=start, freq="5min")[["time", "a"]]
    late = np.random.default_rng(seed).integers(0, 60, n)
    df["time"] += pd.to_timedelta(late, unit="s")
    return df.drop(index=n // 2).reset_index(drop=True)


def test_resample_fits_a_jittered_feed_and_predicts_new_jittered_data():
    model = RNNForecaster(**{**FAST, "epochs": 1, "hidden_size": 4}, resample="5min", fill="interpolate")
    with pytest.raises(DataError, match="not on one regular grid") as info:
        RNNForecaster(**FAST).fit(jittered_frame(240, seed=0))
    assert "--resample 5min" in info.value.hint
    model.fit(jittered_frame(240, seed=0))
    assert model.freq_ == "5min" and model.series_.n_rows == 240
    new = jittered_frame(100, seed=1, start="2024-01-02")  # other jitter, another missed sample
    out = model.predict(new)
    assert len(out) == H and out.index[0] == pd.Timestamp("2024-01-02") + 100 * pd.Timedelta("5min")
    assert np.isfinite(out["a"]).all()


def test_predict_long_format(long_fitted, long_df):
    out = long_fitted.predict()
    assert list(out.columns) == ["id", "y"]
    assert len(out) == 2 * H
    for sid in ("A", "B"):
        rows = out[out["id"] == sid]
        last = long_df.loc[long_df["id"] == sid, "time"].iloc[-1]
        assert len(rows) == H
        assert list(rows.index) == list(pd.date_range(last, periods=H + 1, freq="h")[1:])
    assert out.loc[out["id"] == "A", "y"].abs().max() < 5
    assert (out.loc[out["id"] == "B", "y"].sub(500).abs() < 250).all()  # B keeps its own scale


def test_predict_long_format_in_another_order(long_fitted, long_df):
    reordered = pd.concat([long_df[long_df["id"] == "B"], long_df[long_df["id"] == "A"]], ignore_index=True)
    out = long_fitted.predict(reordered)
    base = long_fitted.predict()
    for sid in ("A", "B"):
        pd.testing.assert_frame_equal(out[out["id"] == sid], base[base["id"] == sid])


def test_predict_unknown_series_refused(long_fitted, long_df):
    other = long_df.assign(id=long_df["id"].map({"A": "A", "B": "C"}))
    with pytest.raises(DataError, match="C"):
        long_fitted.predict(other)


def test_quantiles(df):
    est = RNNForecaster(**{**FAST, "epochs": 6}, quantiles=[0.1, 0.5, 0.9]).fit(df)
    out = est.predict()
    assert list(out.columns) == ["a", "b", "a_q0.1", "b_q0.1", "a_q0.5", "b_q0.5", "a_q0.9", "b_q0.9"]
    np.testing.assert_array_equal(out["a"], out["a_q0.5"])
    for t in ("a", "b"):
        assert (out[f"{t}_q0.1"] <= out[f"{t}_q0.9"]).mean() >= 0.8
    assert "coverage_0.1_0.9" in est.metrics_["test"]["model"]
    assert 0 <= est.metrics_["test"]["model"]["coverage_0.1_0.9"] <= 1


@pytest.mark.parametrize("quantiles", [[0.0, 0.5], [0.5, 1.0], [0.5, 0.5], []])
def test_bad_quantiles_raise_config_error(df, quantiles):
    with pytest.raises(ConfigError, match="quantiles"):
        RNNForecaster(**FAST, quantiles=quantiles).fit(df)


# ----------------------------------------------------------------------------- options


def test_covariates(df):
    data = sine_frame(offset=1000.0)
    est = RNNForecaster(**FAST, target="a", covariates=["temp"]).fit(data)
    assert est.covariates_ == ["temp"] and est.n_features_in_ == 2
    out = est.predict()
    assert list(out.columns) == ["a"] and len(out) == H
    assert np.isfinite(out.to_numpy()).all()
    out2 = est.predict(data.iloc[:-50])
    assert len(out2) == H
    with pytest.raises(DataError, match="temp"):
        est.predict(data.drop(columns="temp"))


class TrainingSpy(Callback):
    """What the trainer really used: the optimizer and its settings, the scheduler, the learning rate
    of every batch and the gradient norm each step applied (after clipping: the gradients are still
    there when on_batch_end runs)."""

    def __init__(self) -> None:
        self.lrs: list[float] = []  # one per batch
        self.applied_norms: list[float] = []

    def on_fit_start(self, trainer) -> None:
        self.optimizer = type(trainer.optimizer)
        self.weight_decays = {g["weight_decay"] for g in trainer.optimizer.param_groups}
        self.scheduler = type(trainer.scheduler) if trainer.scheduler is not None else None

    def on_epoch_start(self, trainer, epoch) -> None:
        self.lr = trainer.optimizer.param_groups[0]["lr"]

    def on_batch_end(self, trainer, batch, loss, n) -> None:
        self.lrs.append(self.lr)
        self.lr = trainer.optimizer.param_groups[0]["lr"]  # the scheduler has stepped: the next batch's
        grads = [p.grad for g in trainer.optimizer.param_groups for p in g["params"] if p.grad is not None]
        self.applied_norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))


TRAINING_DEFAULTS = dict(
    optimizer="adam", weight_decay=0.0, lr_schedule="cosine", clip_grad_norm=1.0, scaler="standard"
)
SCHEDULERS = {
    "cosine": torch.optim.lr_scheduler.CosineAnnealingLR,
    "onecycle": torch.optim.lr_scheduler.OneCycleLR,
    "plateau": torch.optim.lr_scheduler.ReduceLROnPlateau,
    "none": None,
}


def expected_scaling(method: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(center, scale) the scaler ``method`` should learn from ``rows``, computed with numpy."""
    if method == "standard":
        return rows.mean(0), rows.std(0)
    if method == "minmax":
        return rows.min(0), np.ptp(rows, 0)
    if method == "robust":
        return np.median(rows, 0), np.percentile(rows, 75, 0) - np.percentile(rows, 25, 0)
    return np.zeros(rows.shape[1]), np.ones(rows.shape[1])


@pytest.mark.parametrize(
    "options",
    [
        {"head": "seq2seq"},
        {"cell": "gru"},
        {"cell": "rnn"},
        {"bidirectional": True},
        {"channel_independent": True},
        {"tbptt_steps": 8},
        {"num_layers": 2, "dropout": 0.2},
        {"head": "seq2seq", "bidirectional": True, "cell": "gru"},
        {"lr_schedule": "onecycle", "optimizer": "adamw", "weight_decay": 0.03},
        {"norm": "none", "scaler": "minmax"},
        {"scaler": "robust", "lr_schedule": "plateau", "clip_grad_norm": None},
        {"lr_schedule": "none", "clip_grad_norm": 0.01, "scaler": "none"},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_model_options_fit_and_predict(df, options):
    spy = TrainingSpy()
    est = RNNForecaster(**{**FAST, "epochs": 1, **options}, callbacks=[spy]).fit(df)
    out = est.predict()
    assert out.shape == (H, 2) and list(out.columns) == ["a", "b"]
    assert np.isfinite(out.to_numpy()).all()
    assert est.history_.status == "finished"
    assert all(est.model_.config()[k] == v for k, v in options.items() if k in est.model_.config())
    o = {**TRAINING_DEFAULTS, **options}
    logs = est.history_.epochs[0]

    # the optimizer and its weight decay
    assert spy.optimizer is {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[o["optimizer"]]
    assert spy.weight_decays == {o["weight_decay"]}

    # the learning rate follows the schedule, batch by batch, and the epoch logs its first value
    lr, lrs = FAST["lr"], np.array(spy.lrs)
    assert spy.scheduler is SCHEDULERS[o["lr_schedule"]]
    assert logs["lr"] == lrs[0] and len(lrs) > 5
    steps = np.arange(len(lrs))
    if o["lr_schedule"] == "cosine":  # from lr towards 0 at the end of the last epoch, a half cosine
        np.testing.assert_allclose(lrs, lr * (1 + np.cos(np.pi * steps / len(lrs))) / 2, rtol=1e-5)
    elif o["lr_schedule"] == "onecycle":  # up from lr / 25 to about lr, then down to lr / 25 / 1e4
        peak = int(lrs.argmax())
        assert lrs[0] == pytest.approx(lr / 25) and 0 < peak < len(lrs) - 1 and lrs[peak] > lr / 2
        assert (np.diff(lrs[: peak + 1]) > 0).all() and (np.diff(lrs[peak:]) < 0).all()
        assert lrs[-1] == pytest.approx(lr / 25 / 1e4)
    else:  # plateau (one epoch: nothing to reduce yet) and none: constant
        assert (lrs == lr).all()

    # gradient clipping: the logged norm is the one before clipping; the applied one is at most the limit
    clip = o["clip_grad_norm"]
    if clip is None:
        assert "grad_norm" not in logs
    else:
        assert logs["grad_norm"] > 0 and max(spy.applied_norms) <= clip * (1 + 1e-5)
        if clip < 0.1:  # this case's limit is below every norm: clipping really did something
            assert logs["grad_norm"] > 2 * clip and min(spy.applied_norms) == pytest.approx(clip, rel=1e-3)

    # the scaler: its method, and what it learned from the training rows
    assert est.scaler_.method == o["scaler"]
    train = est.series_.series(0)[: int(est.windows_.bounds[0, 1])].astype(np.float64)
    center, scale = expected_scaling(o["scaler"], train)
    np.testing.assert_allclose(est.scaler_.center_[0], center, rtol=1e-6)
    np.testing.assert_allclose(est.scaler_.scale_[0], scale, rtol=1e-6)


def test_bad_options_raise_config_error(df):
    with pytest.raises(ConfigError):
        RNNForecaster(**{**FAST, "cell": "transformer"}).fit(df)
    with pytest.raises(ConfigError):
        RNNForecaster(**{**FAST, "tbptt_steps": 0}).fit(df)
    with pytest.raises(ConfigError):
        RNNForecaster(**{**FAST, "patience": 0}).fit(df)
    with pytest.raises(ConfigError):
        RNNForecaster(**{**FAST, "lr": -1.0}).fit(df)


def test_early_stopping_in_fit_restores_the_best_epoch(df):
    from tsrnn.training import Callback

    snapshots = {}

    class Snap(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            snapshots[epoch] = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    est = RNNForecaster(
        **{**FAST, "epochs": 30, "patience": 2, "lr": 0.05, "lr_schedule": "none"}, callbacks=[Snap()]
    ).fit(df)
    h = est.history_
    assert h.status == "early_stopped"
    assert len(h.epochs) == h.best_epoch + 2 < 30
    assert h.epochs[h.best_epoch - 1]["val_loss"] == min(e["val_loss"] for e in h.epochs)
    final = est.model_.state_dict()
    assert all(torch.equal(final[k], v) for k, v in snapshots[h.best_epoch].items())
    assert not all(torch.equal(final[k], v) for k, v in snapshots[len(h.epochs)].items())


# ----------------------------------------------------------------------------- metrics and backtest


def test_metrics_after_fit(fitted):
    assert fitted.season_ == 24
    assert set(fitted.metrics_) == {"val", "test"}
    for split in ("val", "test"):
        m = fitted.metrics_[split]
        assert set(m) == {"model", "repeat_last", "seasonal_naive"}
        for scores in m.values():
            assert set(scores) >= {"mse", "mae", "mse_original", "mae_original"}
            assert all(np.isfinite(v) and v >= 0 for v in scores.values())


def test_no_seasonal_naive_when_lookback_is_shorter_than_a_season(df):
    est = RNNForecaster(**{**FAST, "lookback": 12, "epochs": 1}).fit(df)
    assert est.season_ == 24
    assert set(est.metrics_["test"]) == {"model", "repeat_last"}


def test_season_length_parameter_overrides(df):
    est = RNNForecaster(**{**FAST, "epochs": 1, "season_length": 12}).fit(df)
    assert est.season_ == 12
    assert "seasonal_naive" in est.metrics_["test"]


def test_backtest_table(fitted):
    table = fitted.backtest()
    assert isinstance(table, pd.DataFrame)
    assert set(table.index) == {"model", "repeat_last", "seasonal_naive"}
    assert {"mse", "mae", "mse_original", "mae_original"} <= set(table.columns)
    assert table.attrs["windows"] > 0
    # on the training data, backtest scores the same test windows as fit did
    for method, scores in fitted.metrics_["test"].items():
        for k, v in scores.items():
            assert table.loc[method, k] == pytest.approx(v, rel=1e-6)


def test_model_beats_repeat_last_on_a_clean_sine(fitted):
    test = fitted.metrics_["test"]
    assert test["model"]["mse"] < 0.5 * test["repeat_last"]["mse"]
    table = fitted.backtest()
    assert table.loc["model", "mse"] < table.loc["repeat_last", "mse"]


def test_original_units_scale_the_errors(long_fitted, long_df):
    table = long_fitted.backtest()
    # series B lives on a scale ~100x larger: its errors dominate the original-unit MSE
    assert table.loc["repeat_last", "mse_original"] > 100 * table.loc["repeat_last", "mse"]


def test_backtest_does_not_depend_on_series_order(long_fitted, long_df):
    a = long_df[long_df["id"] == "A"]
    b = long_df[long_df["id"] == "B"]
    ab = long_fitted.backtest(pd.concat([a, b], ignore_index=True))
    ba = long_fitted.backtest(pd.concat([b, a], ignore_index=True))
    pd.testing.assert_frame_equal(ab, ba, check_exact=False, rtol=1e-6)
    only_b = long_fitted.backtest(b)
    assert only_b.loc["repeat_last", "mse_original"] > 100 * only_b.loc["repeat_last", "mse"]


def test_backtest_on_new_data(fitted):
    other = sine_frame(n=300, offset=1000.0, seed=5, start="2025-01-01")[["time", "a", "b"]]
    table = fitted.backtest(other)
    assert set(table.index) == {"model", "repeat_last", "seasonal_naive"}
    assert table.loc["model", "mse"] < table.loc["repeat_last", "mse"]


def test_learns_a_pure_daily_sine():
    k = np.arange(600)
    data = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=600, freq="h"), "y": np.sin(2 * np.pi * k / 24)})
    est = RNNForecaster(**{**FAST, "epochs": 10}).fit(data)
    assert est.metrics_["test"]["model"]["mse"] < 0.1
    assert est.metrics_["test"]["model"]["mse"] < est.metrics_["test"]["repeat_last"]["mse"]


# ----------------------------------------------------------------------------- reproducibility and checkpoints


def test_same_random_state_same_predictions(df):
    opts = {**FAST, "num_layers": 2, "dropout": 0.2, "head": "seq2seq"}  # dropout + teacher forcing use the RNG
    p1 = RNNForecaster(**opts).fit(df).predict()
    p2 = RNNForecaster(**opts).fit(df).predict()
    pd.testing.assert_frame_equal(p1, p2, check_exact=True)
    p3 = RNNForecaster(**{**opts, "random_state": 1}).fit(df).predict()
    assert not p1.equals(p3)


def test_checkpoint_dir_and_resume(df, tmp_path):
    opts = {**FAST, "lr_schedule": "none"}
    full = RNNForecaster(**{**opts, "epochs": 3}).fit(df)

    first = RNNForecaster(**{**opts, "epochs": 2, "checkpoint_dir": str(tmp_path)}).fit(df)
    path = tmp_path / "last.safetensors"
    assert path.is_file()
    assert path.read_bytes()[:1] != b"\x80"
    assert len(first.history_.epochs) == 2

    resumed = RNNForecaster(**{**opts, "epochs": 3}).fit(df, resume=path)
    assert [e["epoch"] for e in resumed.history_.epochs] == [1, 2, 3]
    assert resumed.history_.epochs[:2] == first.history_.epochs
    pd.testing.assert_frame_equal(resumed.predict(), full.predict(), check_exact=True)


def test_resume_from_a_missing_checkpoint_raises(df, tmp_path):
    from tsrnn.errors import ModelFileError

    with pytest.raises(ModelFileError):
        RNNForecaster(**FAST).fit(df, resume=tmp_path / "nope.safetensors")


def test_stateful_mode_trains_on_consecutive_chunks_and_forecasts(tmp_path):
    df = sine_frame(n=1200, noise=0.05)
    m = RNNForecaster(
        stateful=True,
        channel_independent=False,
        tbptt_steps=24,
        batch_size=4,
        lookback=48,
        horizon=12,
        hidden_size=16,
        epochs=30,
        lr=1e-2,
        patience=None,
        random_state=0,
    ).fit(df)
    losses = [e["loss"] for e in m.history_.epochs]
    assert losses[-1] < 0.5 * losses[0]  # it learns the sine from carried-state chunks
    assert m.metrics_["test"]["model"]["mse"] < m.metrics_["test"]["repeat_last"]["mse"]
    f = m.predict()
    assert len(f) == 12 and np.isfinite(f.to_numpy(dtype=float)).all()
    m.save(tmp_path / "s")
    np.testing.assert_allclose(
        RNNForecaster.load(tmp_path / "s").predict().to_numpy(dtype=float), f.to_numpy(dtype=float), rtol=1e-5
    )


@pytest.mark.parametrize(
    "params,word",
    [
        ({"stateful": True}, "tbptt_steps"),
        ({"stateful": True, "tbptt_steps": 10}, "channel_independent"),
        ({"stateful": True, "tbptt_steps": 10, "channel_independent": False, "head": "seq2seq"}, "head"),
    ],
)
def test_stateful_refuses_what_it_cannot_do(params, word):
    with pytest.raises(ConfigError, match=word):
        RNNForecaster(**params, epochs=1).fit(sine_frame(n=300))


def test_stream_batches_are_consecutive_in_time():
    from tsrnn.stateful import StreamBatches

    values = torch.arange(101, dtype=torch.float32)[:, None]  # row i holds i
    b = StreamBatches(values, 0, 101, 1, streams=2, chunk=10)
    batches = list(b.epoch(0))
    assert b.n_batches == len(batches) == 5
    x0, y0 = batches[0]
    x1, _ = batches[1]
    assert x0[0, :, 0].tolist() == list(range(10)) and x0[1, 0, 0] == 50  # two streams, halves of the series
    assert (y0 == x0 + 1).all()  # next-step targets
    assert x1[0, 0, 0] == 10 and x1[1, 0, 0] == 60  # batch j+1 continues batch j in every stream


def test_teacher_forcing_is_refused_with_the_direct_head():
    with pytest.raises(ConfigError, match="teacher_forcing"):
        RNNForecaster(head="direct", teacher_forcing=0.9, epochs=1).fit(sine_frame(n=300))


@pytest.mark.parametrize("name, fn", [("mse", "mse_loss"), ("mae", "l1_loss"), ("huber", "huber_loss")])
def test_point_loss_is_the_one_named(name, fn):
    from types import SimpleNamespace

    est = RNNForecaster(loss=name, lookback=12, horizon=3, hidden_size=4, dropout=0.0)
    model = est._build_module(SimpleNamespace(channels=("a",), targets=("a",), n_series=1, freq="h"))
    x, y = torch.randn(4, 12, 1), 3 * torch.randn(4, 3, 1)
    expected = getattr(torch.nn.functional, fn)(model(x)[..., 0], y)
    torch.testing.assert_close(est._loss()(model, (x, y)), expected)


def test_loss_is_refused_with_quantiles_and_when_unknown():
    with pytest.raises(ConfigError, match="pinball"):
        RNNForecaster(loss="mae", quantiles=[0.1, 0.9]).fit("no-such-file.csv")
    with pytest.raises(ConfigError, match="unknown loss"):
        RNNForecaster(loss="l2").fit("no-such-file.csv")


def test_new_data_is_read_day_first_as_the_fit_data_was(df, tmp_path):
    """Fitted on day-first text times (31/01/2024 decides), the model reads new rows that could be
    either way (01/03/2024 and 02/03/2024) day first too, also once saved and loaded."""
    text = df.assign(time=df["time"].dt.strftime("%d/%m/%Y %H:%M"))  # 2024-01-01 .. 2024-01-20
    model = RNNForecaster(**{**FAST, "epochs": 1}).fit(text)
    assert model.dayfirst_ is True
    t = pd.date_range("2024-03-01", periods=FAST["lookback"], freq="h")  # 1 and 2 March
    new = pd.DataFrame({"time": t.strftime("%d/%m/%Y %H:%M"), "a": 1000.0, "b": 0.0})
    want = pd.Timestamp("2024-03-03")
    assert model.predict(new).index[0] == want  # read month first: 3 January and 3 February, then 4 February
    again = RNNForecaster.load(model.save(tmp_path / "m"))
    assert again.dayfirst_ is True and again.predict(new).index[0] == want


def test_dayfirst_reads_fit_data_that_could_be_either_way_as_asked(df):
    """Rows from 1 to 12 January written 01/02/2024 are read month first with a warning unless
    ``dayfirst=True`` says otherwise; the model then reads new data day first."""
    text = df.iloc[:240].assign(time=df["time"].iloc[:240].dt.strftime("%d/%m/%Y %H:%M"))  # 1-10 January
    found = RNNForecaster(**{**FAST, "epochs": 1}).fit(text)
    assert found.dayfirst_ is False and any("--day-first" in w for w in found.warnings_)
    model = RNNForecaster(**{**FAST, "epochs": 1}, dayfirst=True).fit(text)
    assert model.dayfirst_ is True and not model.warnings_
    assert model.predict(text).index[0] == df["time"].iloc[240]
    later = df.iloc[300:].assign(time=df["time"].iloc[300:].dt.strftime("%d/%m/%Y %H:%M"))  # 13/01 onwards
    with pytest.raises(DataError, match="have the day first.*month first") as e:
        found.predict(later)  # the model read its fit data month first
    assert "refit" in e.value.hint
    with pytest.raises(DataError, match="have the day first"):  # 13/01 onwards: not month first
        RNNForecaster(**{**FAST, "epochs": 1}, dayfirst=False).fit(
            df.assign(time=df["time"].dt.strftime("%d/%m/%Y %H:%M"))
        )


def test_a_series_too_short_for_any_training_window_is_named_in_a_warning():
    t = pd.date_range("2024-01-01", periods=300, freq="h")
    rows = [
        pd.DataFrame({"time": t[:n], "store": s, "y": np.sin(np.arange(n) / 4.0)}) for s, n in (("a", 300), ("b", 40))
    ]
    model = RNNForecaster(**{**FAST, "epochs": 1}, id_col="store").fit(pd.concat(rows, ignore_index=True))
    assert any("1 series have no training window" in w and "['b']" in w for w in model.warnings_)


# ----------------------------------------------------------------------------- bf16 on the CPU
class _Autocasts:
    """Records, at each forward pass of a module, whether CPU autocast to bf16 was on."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    def __call__(self, module, args) -> None:
        self.seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)


class _HookOnFit(Callback):
    def __init__(self, record: _Autocasts) -> None:
        self.record = record

    def on_fit_start(self, trainer) -> None:
        trainer.model.register_forward_pre_hook(self.record)


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bf16 (AVX512-BF16 or AMX)")
def test_precision_bf16_on_a_cpu_that_has_it_trains_and_predicts_in_bf16(df):
    in_fit = _Autocasts()
    model = RNNForecaster(**FAST, precision="bf16", callbacks=[_HookOnFit(in_fit)]).fit(df)
    assert in_fit.seen and all(in_fit.seen)  # every training and validation forward pass
    in_predict = _Autocasts()
    model.model_.register_forward_pre_hook(in_predict)
    bf16 = model.predict()
    assert in_predict.seen == [True]
    fp32 = model.set_params(precision="fp32").predict()  # the same weights, fp32 forward passes
    assert in_predict.seen == [True, False]
    diff = np.abs(bf16[["a", "b"]].to_numpy() - fp32[["a", "b"]].to_numpy())
    assert 0 < diff.max() < 0.05 * df["a"].std()  # bf16's rounding, nothing more
