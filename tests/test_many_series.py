"""One global RNNForecaster over many series: balanced sampling and the learned series embedding
(training, save/load, predict, refusals). Small generated long-format data, tiny models, CPU."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsrnn import RNNForecaster
from tsrnn.errors import ConfigError, DataError

FAST = dict(hidden_size=8, epochs=6, lr=1e-2, batch_size=32, random_state=0, device="cpu", patience=None)


def ar_frame(n: int = 300, n_series: int = 4, seed: int = 0) -> pd.DataFrame:
    """Long format: AR(1) series s0..s{k}, coefficient +0.9 for even and -0.9 for odd series.

    From one step of history the two kinds look the same (both have mean 0 and the same variance);
    only knowing which series it is tells whether the next value follows or flips the last one.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(n_series):
        phi, e = (0.9 if k % 2 == 0 else -0.9), rng.standard_normal(n)
        y = np.zeros(n)
        for t in range(1, n):
            y[t] = phi * y[t - 1] + e[t]
        parts.append(pd.DataFrame({"time": pd.date_range("2024-01-01", periods=n, freq="h"), "id": f"s{k}", "y": y}))
    return pd.concat(parts, ignore_index=True)


ONE_STEP = dict(lookback=1, horizon=1, norm="none", id_col="id")  # instance norm needs > 1 step


@pytest.fixture(scope="module")
def ar():
    return ar_frame()


@pytest.fixture(scope="module")
def embedded(ar):
    return RNNForecaster(**FAST, **ONE_STEP, series_embedding=4).fit(ar)


def test_series_embedding_learns_what_the_window_cannot_show(ar, embedded):
    plain = RNNForecaster(**FAST, **ONE_STEP).fit(ar)
    mse_plain, mse_embedded = (m.metrics_["test"]["model"]["mse"] for m in (plain, embedded))
    # the best forecast without the series is about 0 (MSE ~1 in scaled units); with it, 0.9 * y (MSE ~0.19)
    assert mse_plain > 0.8 and mse_embedded < 0.4, (mse_plain, mse_embedded)


def test_series_embedding_is_saved_loaded_and_used_in_predict(ar, embedded, tmp_path):
    assert embedded.model_.embedding.weight.shape == (4, 4)
    forecast = embedded.predict()
    assert forecast["id"].tolist() == ["s0", "s1", "s2", "s3"]
    loaded = RNNForecaster.load(embedded.save(tmp_path / "m"))
    assert loaded.series_embedding == 4
    pd.testing.assert_frame_equal(loaded.predict(), forecast)
    pd.testing.assert_frame_equal(loaded.predict(ar), embedded.predict(ar))
    pd.testing.assert_frame_equal(loaded.backtest(ar), embedded.backtest(ar))
    # the same last value, forecast for an even and an odd series: the signs differ
    recent = ar.groupby("id").tail(5).copy()
    recent.loc[recent.groupby("id").tail(1).index, "y"] = 2.0
    ahead = loaded.predict(recent).set_index("id")["y"]
    assert ahead["s0"] > 0.5 and ahead["s1"] < -0.5, ahead


def test_series_embedding_refuses_unknown_series(ar, embedded):
    other = ar.assign(id=ar["id"].replace({"s3": "new"}))
    with pytest.raises(DataError, match=r"\['new'\] were not in the training data.*series embedding"):
        embedded.predict(other)


def test_series_embedding_and_balanced_sampling_refused_for_one_series(ar):
    one = ar[ar["id"] == "s0"].drop(columns="id")
    for param in (dict(series_embedding=4), dict(sampling="balanced")):
        with pytest.raises(ConfigError, match="is for many series.*holds one series") as e:
            RNNForecaster(**FAST, lookback=4, horizon=1, **param).fit(one)
        assert "--id-col" in e.value.hint


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "8"])
def test_bad_series_embedding_refused(ar, bad):
    with pytest.raises(ConfigError, match="series_embedding must be (a whole number|at least 1)"):
        RNNForecaster(**FAST, **ONE_STEP, series_embedding=bad).fit(ar)


def test_stateful_refuses_series_embedding_and_balanced_sampling(ar):
    for param, name in (
        (dict(series_embedding=2), "series_embedding"),
        (dict(sampling="balanced"), "sampling='balanced'"),
    ):
        with pytest.raises(ConfigError, match=f"stateful mode does not support {name}"):
            RNNForecaster(
                **FAST, lookback=4, horizon=1, stateful=True, tbptt_steps=4, channel_independent=False, **param
            ).fit(ar)


def test_unknown_sampling_refused(ar):
    with pytest.raises(ConfigError, match="unknown sampling 'equal'"):
        RNNForecaster(**FAST, **ONE_STEP, sampling="equal").fit(ar)


def test_balanced_sampling_trains_each_series_equally_often(monkeypatch):
    # one long and three short series: uniform sampling would spend ~80 % of each epoch on s0
    ar = ar_frame(n=900, n_series=4)
    ar = ar[(ar["id"] == "s0") | (ar.groupby("id").cumcount() < 150)]
    from tsrnn.windows import WindowBatches

    seen: dict[int, list[np.ndarray]] = {}
    epoch = WindowBatches.epoch

    def recording_epoch(self, e):  # the series of every training window fit draws, per epoch
        for batch in epoch(self, e):
            if self.shuffle:
                seen.setdefault(e, []).append(batch[2].numpy().copy())
            yield batch

    monkeypatch.setattr(WindowBatches, "epoch", recording_epoch)
    est = RNNForecaster(**{**FAST, "epochs": 2}, **ONE_STEP, sampling="balanced").fit(ar)
    assert sorted(seen) == [1, 2]
    for e, batches in seen.items():
        counts = np.bincount(np.concatenate(batches), minlength=4)
        assert counts.sum() == len(est.windows_.train) and counts.max() - counts.min() <= 1, (e, counts)
    monkeypatch.undo()
    again = RNNForecaster(**{**FAST, "epochs": 2}, **ONE_STEP, sampling="balanced").fit(ar)
    pd.testing.assert_frame_equal(again.predict(), est.predict())  # seeded per epoch: runs repeat
    uniform = RNNForecaster(**{**FAST, "epochs": 2}, **ONE_STEP).fit(ar)
    assert not np.allclose(uniform.predict()["y"], est.predict()["y"])
