"""Inference at scale: historical forecasts (and backtest from the same pass), batched predict
over many series, the fast path of loading clean long-format data, and ONNX export (torch and
onnxruntime agree for every cell, head and option; skipped where onnx/onnxruntime are absent)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from tsrnn import RNNForecaster
from tsrnn.errors import ConfigError, DataError, DataWarning

L, H = 24, 6
TINY = dict(lookback=L, horizon=H, hidden_size=8, epochs=1, batch_size=64, random_state=0, device="cpu", patience=None)


def frame(n: int = 200, ids: tuple[str, ...] = ("A", "B", "C"), seed: int = 0) -> pd.DataFrame:
    """Long format: series ``ids``, each a noisy daily sine on its own level and scale, a covariate."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    parts = [
        pd.DataFrame(
            {
                "time": pd.date_range("2024-01-01", periods=n, freq="h"),
                "id": sid,
                "y": 10 * i + (1 + i) * np.sin(2 * np.pi * k / 24) + 0.1 * rng.standard_normal(n),
                "temp": np.cos(2 * np.pi * k / 24) + 0.1 * rng.standard_normal(n),
            }
        )
        for i, sid in enumerate(ids)
    ]
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return frame()


@pytest.fixture(scope="module")
def model(data) -> RNNForecaster:
    return RNNForecaster(**TINY, id_col="id", target="y", covariates=["temp"], quantiles=[0.1, 0.5, 0.9]).fit(data)


# ----------------------------------------------------------------------------- historical forecasts


def test_historical_forecasts_are_what_predict_says_at_each_origin(model, data):
    hf = model.historical_forecasts(data, stride=7)
    assert list(hf.columns[:4]) == ["id", "origin", "time", "step"]
    assert {"y", "y_q0.1", "y_q0.5", "y_q0.9"} <= set(hf.columns)
    for sid, origin in [("A", hf.origin.iloc[0]), ("C", hf[hf.id == "C"].origin.iloc[-1])]:
        past = data[(data.id == sid) & (data.time <= origin)]
        expected = model.predict(past)
        got = hf[(hf.id == sid) & (hf.origin == origin)]
        np.testing.assert_array_equal(got.time.to_numpy(), expected.index.to_numpy())
        np.testing.assert_array_equal(got.step.to_numpy(), np.arange(1, H + 1))
        np.testing.assert_allclose(got[["y", "y_q0.9"]].to_numpy(), expected[["y", "y_q0.9"]].to_numpy(), rtol=1e-5)


def test_backtest_errors_come_from_the_historical_forecasts(model, data, tmp_path):
    table = model.backtest(data, output=tmp_path / "f.csv")
    hf = model.historical_forecasts(data)
    assert len(hf) == table.attrs["windows"] * H
    truth = hf.merge(data[["id", "time", "y"]], on=["id", "time"], suffixes=("", "_true"))
    err = truth["y"].to_numpy(np.float64) - truth["y_true"].to_numpy()
    assert table.loc["model", "mse_original"] == pytest.approx(np.mean(err**2), rel=1e-4)
    assert table.loc["model", "mae_original"] == pytest.approx(np.mean(np.abs(err)), rel=1e-4)
    inside = (truth["y_true"] >= truth["y_q0.1"]) & (truth["y_true"] <= truth["y_q0.9"])
    assert table.loc["model", "coverage_0.1_0.9"] == pytest.approx(inside.mean())
    written = pd.read_csv(tmp_path / "f.csv", parse_dates=["origin", "time"])
    pd.testing.assert_frame_equal(written, hf.astype({"id": object}), check_dtype=False, rtol=1e-5)


def test_chunks_start_and_stride(model, data):
    whole = model.historical_forecasts(data, start=60)
    chunked = model.historical_forecasts(data, start=60, chunk_size=7)
    pd.testing.assert_frame_equal(whole, chunked)
    assert whole.groupby("id").origin.nunique().tolist() == [60 - H + 1] * 3  # targets in the last 60 rows
    strided = model.historical_forecasts(data, start=60, stride=5)
    assert strided.origin.nunique() == len(range(0, 60 - H + 1, 5))
    at = model.historical_forecasts(data, start="2024-01-08 00:00")
    assert at.time.min() == pd.Timestamp("2024-01-08 00:00")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(chunk_size=0), ConfigError, "chunk_size"),
        (dict(start=H - 1), DataError, "test split has 5 rows"),
        (dict(stride=0), ConfigError, "stride"),
    ],
)
def test_historical_forecasts_refuse_bad_options(model, data, kwargs, error, match):
    with pytest.raises(error, match=match):
        model.historical_forecasts(data, **kwargs)


# ----------------------------------------------------------------------------- many series


def test_predict_many_series_at_once_equals_one_by_one(model, data):
    together = model.predict(data)
    for sid in ("A", "B", "C"):
        alone = model.predict(data[data.id == sid])
        pd.testing.assert_frame_equal(together[together.id == sid], alone)


def test_predict_short_skip_leaves_out_series_shorter_than_the_lookback(model, data):
    short = pd.concat([data[data.id == "A"].tail(model.lookback - 1), data[data.id != "A"]], ignore_index=True)
    with pytest.raises(DataError, match="series 'A' of <DataFrame> has 23 rows") as e:
        model.predict(short)  # the default refuses, and says how to forecast the others
    assert "short='skip' (--short skip)" in e.value.hint
    with pytest.warns(
        DataWarning,
        match=r"1 of 3 series in <DataFrame> has fewer than 24 rows \(the model's lookback\); left out of the forecast: 'A'",
    ):
        skipped = model.predict(short, short="skip")
    pd.testing.assert_frame_equal(skipped, model.predict(data[data.id != "A"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to leave out: no warning
        pd.testing.assert_frame_equal(model.predict(data, short="skip"), model.predict(data))
    every = data.groupby("id").tail(5)
    with pytest.raises(DataError, match="has 5 rows, but the model looks back 24 rows \\(3 series"):
        model.predict(every, short="skip")  # nothing would be left to forecast
    with pytest.raises(ConfigError, match="unknown short 'drop'"):
        model.predict(data, short="drop")


def test_historical_forecasts_warn_of_series_without_a_test_window(model, data):
    short = pd.concat([data[data.id == "A"].tail(model.lookback - 1), data[data.id != "A"]], ignore_index=True)
    with pytest.warns(
        DataWarning,
        match=r"1 of 3 series in <DataFrame> has no test window \(one needs 30 rows, the last 6 in the test split\); left out of the test split: 'A'",
    ):
        hf = model.historical_forecasts(short)
    assert sorted(hf["id"].unique()) == ["B", "C"]


def test_predict_reads_only_the_rows_it_needs(model, data):
    early_nan = data.copy()
    early_nan.loc[0, "y"] = np.nan  # long before A's last window
    pd.testing.assert_frame_equal(model.predict(early_nan), model.predict(data))
    late_nan = data.copy()
    late_nan.loc[199, "y"] = np.nan  # inside A's last window
    with pytest.raises(DataError, match="missing"):
        model.predict(late_nan)
    out_of_order = data.copy()
    out_of_order.loc[0, "time"] = pd.Timestamp("2030-01-01")  # an early row dated after the window
    with pytest.raises(DataError, match="not in time order"):
        model.predict(out_of_order)


def test_clean_data_loads_the_same_at_once_as_series_by_series(data, monkeypatch):
    import tsrnn.data as tdata

    shuffled = data.sample(frac=1.0, random_state=0).sort_values("time", kind="stable")  # ids interleaved
    fast = tdata.load_series(shuffled, time_col="time", id_col="id", target="y", covariates=["temp"])
    monkeypatch.setattr(tdata, "_clean_regular", lambda *a: None)
    slow = tdata.load_series(shuffled, time_col="time", id_col="id", target="y", covariates=["temp"])
    for field in ("values", "offsets", "times"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field))
    assert (fast.ids, fast.freq, fast.report) == (slow.ids, slow.freq, slow.report)


# ----------------------------------------------------------------------------- ONNX export

# one entry per model configuration: every cell and head, and each option that changes the graph
CONFIGS = {  # every cell, head, encoder (per step / segments) and normalisation at least once
    "default-gru-segments-direct-last": dict(),
    "gru-segments-parallel": dict(head="parallel"),
    "lstm-per-step-direct-instance": dict(cell="lstm", segment_length=None, head="direct", norm="instance"),
    "rnn-per-step-direct": dict(cell="rnn", segment_length=None, head="direct"),
    "lstm-per-step-seq2seq": dict(cell="lstm", segment_length=None, head="seq2seq"),
    "gru-segments-seq2seq-2-layers": dict(head="seq2seq", num_layers=2),
    "rnn-seq2seq-bidirectional": dict(cell="rnn", segment_length=None, head="seq2seq", bidirectional=True),
    "lstm-segments-parallel-bidirectional-2-layers": dict(
        cell="lstm", head="parallel", bidirectional=True, num_layers=2
    ),
    "per-step-parallel-instance": dict(segment_length=None, head="parallel", norm="instance"),
    "multivariate-no-norm": dict(channel_independent=False, norm="none"),
    "quantiles-covariates-parallel": dict(quantiles=[0.1, 0.5, 0.9], covariates=["temp"], head="parallel"),
    "series-embedding-multivariate": dict(series_embedding=3, channel_independent=False, covariates=["temp"]),
}
TOLERANCE = dict(rtol=1e-4, atol=1e-4)  # original units; the series here are of order 1 to 30


@pytest.fixture(scope="module")
def onnx_runtime():
    pytest.importorskip("onnx", reason="ONNX export needs the onnx package (pip install 'tsrnn[onnx]')")
    return pytest.importorskip("onnxruntime", reason="running exported models needs onnxruntime")


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_onnx_forecasts_equal_torch(config, data, onnx_runtime, tmp_path):
    from tsrnn.onnx_runner import OnnxForecaster
    from tsrnn.windows import latest_windows

    two = data[data.id.isin(["A", "B"])]
    est = RNNForecaster(**{**TINY, **config}, id_col="id", target="y").fit(two)
    runner = OnnxForecaster(est.export_onnx(tmp_path / "onnx"))
    series = est.load_data(two)
    x = latest_windows(series, L)  # (2, L, C) original units
    x = np.concatenate([x, x[:, ::-1] * 1.5, x + 3.0])  # (6, L, C): a batch size not seen at export
    ids = ["A", "B"] * 3
    rows = est._scaler_rows(series)[[0, 1] * 3]
    c, s = est.scaler_.center_[rows][:, None], est.scaler_.scale_[rows][:, None]
    want = est._forecast(((x - c) / s).astype(np.float32), rows) * s[..., :1, None] + c[..., :1, None]
    got = runner.forecast(x, ids)
    assert got.shape == (6, H, 1, len(config.get("quantiles", [0])))
    np.testing.assert_allclose(got, want, **TOLERANCE)
    pd.testing.assert_frame_equal(  # the runner's point forecast is predict's
        pd.DataFrame(got[:2, :, 0, runner.point_index].ravel()),
        pd.DataFrame(est.predict(two)["y"].to_numpy(np.float32)),
        rtol=1e-4,
    )


def test_onnx_refuses_stateful_models_and_bad_windows(data, onnx_runtime, tmp_path, model):
    from tsrnn.onnx_runner import OnnxForecaster

    one = data[data.id == "A"].drop(columns="id")
    stateful = RNNForecaster(**TINY, target="y", stateful=True, tbptt_steps=12, channel_independent=False).fit(one)
    with pytest.raises(ConfigError, match="stateful model cannot be exported"):
        stateful.export_onnx(tmp_path / "s")
    runner = OnnxForecaster(model.export_onnx(tmp_path / "m"))
    with pytest.raises(DataError, match=r"windows must have shape \(batch, 24, 2\)"):
        runner.forecast(np.zeros((1, L, 3)), "A")
    with pytest.raises(DataError, match="fitted on 3 series"):
        runner.forecast(np.zeros((1, L, 2)))
    with pytest.raises(DataError, match=r"\['Z'\] were not in the training data"):
        runner.forecast(np.zeros((1, L, 2)), "Z")


def test_the_runner_imports_without_torch():
    code = "import sys, tsrnn.onnx_runner; assert 'torch' not in sys.modules and 'pandas' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
