"""RNNAnomalyDetector: scores per row, injected anomalies found, streaming == batch, save/load."""

from __future__ import annotations

import collections
import copy
import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from frames import sine_frame
from sklearn.base import clone

from tsrnn import RNNAnomalyDetector
from tsrnn.detection.thresholds import CalibrationWarning
from tsrnn.errors import ConfigError, DataError, NotFittedError
from tsrnn.training import cpu_has_bf16


def series(n: int = 900, seed: int = 0) -> pd.DataFrame:
    return sine_frame(n, noise=0.05, seed=seed)


def with_anomalies() -> tuple[pd.DataFrame, np.ndarray]:
    df = series(900, seed=1)
    label = np.zeros(len(df), dtype=bool)
    df.loc[700:702, "a"] += 4.0  # spike
    label[700:703] = True
    df.loc[800:830, "b"] += 2.5  # level shift
    label[800:831] = True
    return df, label


SMALL = dict(
    lookback=24,
    hidden_size=16,
    epochs=6,
    batch_size=32,
    random_state=0,
    threshold="gaussian",
    k=4.0,
    adapt_every=None,
    calibration_folds=None,
)


@pytest.fixture(scope="module", params=["reconstruction", "forecast", "hybrid"])
def fitted(request) -> RNNAnomalyDetector:
    return RNNAnomalyDetector(method=request.param, **SMALL).fit(series(600))


def test_one_score_per_row_and_flags(fitted: RNNAnomalyDetector) -> None:
    df, _ = with_anomalies()
    scores = fitted.score_samples(df)
    flags = fitted.predict(df)
    assert scores.shape == (len(df),) and np.isfinite(scores).all()
    assert set(np.unique(flags)) <= {0, 1}
    frame = fitted.score_frame(df)
    assert list(frame.columns) == ["time", "score", "is_anomaly", "likelihood", "score_a", "score_b"]
    assert (frame["time"].to_numpy() == df["time"].to_numpy()).all()
    # normalize="none": the likelihood is Phi(score), a probability-like score in [0, 1]
    likelihood = frame["likelihood"].to_numpy()
    assert ((likelihood >= 0) & (likelihood <= 1)).all()
    np.testing.assert_allclose(likelihood, 0.5 * np.vectorize(math.erfc)(-frame["score"].to_numpy() / math.sqrt(2)))


def test_injected_spike_and_level_shift_are_found_with_few_false_alarms(fitted: RNNAnomalyDetector) -> None:
    df, label = with_anomalies()
    flags = fitted.predict(df).astype(bool)
    assert flags[700:703].any(), "the spike was missed"
    assert flags[800:831].any(), "the level shift was missed"
    # rows just after an anomaly are not counted as false alarms: smoothed residuals decay over `smoothing` rows
    after = np.zeros_like(label)
    for end in (703, 831):
        after[end : end + fitted.smoothing + 1] = True
    normal = ~label & ~after
    assert flags[normal].mean() < 0.01, f"false alarm rate {flags[normal].mean():.3f}"
    events = fitted.detect_events(df)
    assert list(events.columns) == ["start", "end", "length", "peak_time", "peak_score", "channels"]
    shift = events[(events["start"] >= df["time"][790]) & (events["start"] <= df["time"][831])]
    assert len(shift) and shift["channels"].iloc[0].split(",")[0] == "b"  # the channel responsible comes first


def test_first_rows_are_scored(fitted: RNNAnomalyDetector) -> None:
    df = series(200, seed=3)
    df.loc[2, "a"] += 5.0
    scores = fitted.score_samples(df)
    if fitted.method != "forecast" and fitted.combine != "last":  # covered by the first window: the anomaly shows
        assert scores[2] > 3
    else:  # no forecast, or no window ending at them, for the first rows: score 0, never flagged
        assert (scores[: fitted.lookback - 1] == 0).all()


@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_streaming_equals_batch(fitted: RNNAnomalyDetector, chunk: int) -> None:
    df, _ = with_anomalies()
    df = df.iloc[:300]
    batch = fitted.score_frame(df)
    parts = [fitted.update(df.iloc[i : i + chunk]) for i in range(0, len(df), chunk)] + [fitted.flush()]
    stream = pd.concat(parts, ignore_index=True)
    assert len(stream) == len(df)
    np.testing.assert_allclose(stream["score"].to_numpy(), batch["score"].to_numpy(), atol=1e-5)
    assert (stream["is_anomaly"].to_numpy() == batch["is_anomaly"].to_numpy()).all()


def test_a_stream_refuses_rows_that_go_back_or_repeat_and_goes_on(fitted: RNNAnomalyDetector) -> None:
    """Each chunk is checked on its own by load_series; across chunks, a row at or before the
    stream's last time is refused, and the stream is left as it was."""
    df, _ = with_anomalies()
    df = df.iloc[:120]
    batch = fitted.score_frame(df)
    parts = [fitted.update(df.iloc[:60])]
    with pytest.raises(DataError, match="repeats the stream's last row"):
        fitted.update(df.iloc[59:70])
    with pytest.raises(DataError, match="comes before the stream's last row"):
        fitted.update(df.iloc[30:31])
    aware = df.iloc[60:70].assign(time=df["time"].iloc[60:70].dt.tz_localize("UTC"))
    with pytest.raises(DataError, match="time zone"):  # not a TypeError comparing naive and aware times
        fitted.update(aware)
    stream = pd.concat([*parts, fitted.update(df.iloc[60:]), fitted.flush()], ignore_index=True)
    np.testing.assert_allclose(stream["score"].to_numpy(), batch["score"].to_numpy(), atol=1e-5)


def test_save_load_round_trip(fitted: RNNAnomalyDetector, tmp_path) -> None:
    df, _ = with_anomalies()
    fitted.save(tmp_path / "det")
    again = RNNAnomalyDetector.load(tmp_path / "det")
    np.testing.assert_allclose(again.score_samples(df), fitted.score_samples(df), atol=1e-6)
    assert again.threshold_ == fitted.threshold_
    np.testing.assert_array_equal(again.level_, fitted.level_)
    config = json.loads((tmp_path / "det" / "config.json").read_text())
    del config["calibration"]["level"]  # as saved before 2026-12-07
    (tmp_path / "det" / "config.json").write_text(json.dumps(config))
    assert (RNNAnomalyDetector.load(tmp_path / "det").level_ == 0).all()


def test_sklearn_contract_and_errors() -> None:
    det = RNNAnomalyDetector(lookback=12, threshold="quantile")
    assert clone(det).get_params() == det.get_params()
    with pytest.raises(NotFittedError):
        det.predict(series(100))
    with pytest.raises(ConfigError, match="method"):
        RNNAnomalyDetector(method="magic").fit(series(100))
    with pytest.raises(ConfigError, match="threshold"):
        RNNAnomalyDetector(threshold="magic").fit(series(100))
    with pytest.raises(DataError):
        RNNAnomalyDetector(lookback=64, epochs=1).fit(series(60))


def test_dynamic_threshold_is_refused_when_streaming() -> None:
    det = RNNAnomalyDetector(
        threshold="dynamic",
        **{k: v for k, v in SMALL.items() if k not in ("threshold", "k")},
    )
    det.set_params(epochs=1).fit(series(300))
    assert det.predict(with_anomalies()[0]).shape == (900,)
    with pytest.raises(ConfigError, match="dynamic"):
        det.update(series(30))


def test_default_configuration_finds_spike_and_level_shift_with_few_false_alarms() -> None:
    det = RNNAnomalyDetector(random_state=0).fit(series(600))  # every parameter at its default
    assert (det.method, det.combine, det.threshold, det.adapt_every) == ("hybrid", "last", "pot", 512)
    assert det.calibration_folds == "auto" and det.metrics_["calibration_rows"] > 400  # 5 folds: every fit row
    df, label = with_anomalies()
    flags = det.predict(df).astype(bool)
    assert flags[700:703].any() and flags[800:831].any()
    # a forecast detector also reacts to the return to normal after an anomaly: rows within
    # 3 x smoothing after each anomaly are not counted as false alarms
    after = np.zeros_like(label)
    for end in (703, 831):
        after[end : end + 3 * det.smoothing] = True
    normal = ~label & ~after
    assert flags[normal].mean() < 0.015, f"false alarm rate {flags[normal].mean():.3f}"


@pytest.mark.parametrize(
    "params,word",
    [
        ({"method": "forecast", "combine": "max"}, "combine"),
        ({"method": "reconstruction", "smoothing": 5}, "smoothing"),
        ({"threshold": "pot", "k": 5.0}, "k=5.0"),
        ({"threshold": "gaussian", "fpr": 0.05}, "fpr"),
        ({"likelihood_window": 500}, 'likelihood_window=500 has no effect with normalize="none"'),
        ({"likelihood_eps": 1e-3}, "likelihood_eps"),
        ({"normalize": "likelihood", "threshold": "quantile"}, "threshold='quantile' has no effect with normalize"),
        ({"normalize": "likelihood", "risk": 1e-3}, "risk=0.001 has no effect with normalize"),
        ({"normalize": "magic"}, "normalize"),
        ({"normalize": "likelihood", "likelihood_window": 5, "likelihood_short": 10}, "must not exceed"),
        ({"normalize": "likelihood", "likelihood_eps": 1.0}, "likelihood_eps"),
    ],
)
def test_parameters_the_configuration_ignores_are_refused(params, word) -> None:
    with pytest.raises(ConfigError, match=word):
        RNNAnomalyDetector(**params, epochs=1).fit(series(200))


# ---------------------------------------------------------------------- normalize="likelihood"
LIKELY = dict(SMALL, normalize="likelihood", likelihood_window=600, likelihood_eps=1e-3)
del LIKELY["threshold"], LIKELY["k"]


@pytest.fixture(scope="module", params=["reconstruction", "forecast", "hybrid"])
def likely(request) -> RNNAnomalyDetector:
    return RNNAnomalyDetector(method=request.param, **LIKELY).fit(series(600))


def test_likelihood_flags_the_injected_anomalies_and_calibrates_through_the_stage(likely: RNNAnomalyDetector) -> None:
    assert likely.threshold_ is None  # no threshold on `score` is fitted
    assert likely.metrics_["likelihood_threshold"] == 1 - 1e-3 and likely.metrics_["calibration_flagged"] < 0.01
    df, label = with_anomalies()
    frame = likely.score_frame(df)
    likelihood, flags = frame["likelihood"].to_numpy(), frame["is_anomaly"].to_numpy().astype(bool)
    assert ((likelihood >= 0) & (likelihood <= 1)).all()
    assert (flags == (likelihood >= 1 - 1e-3)).all()
    assert flags[700:712].any() and flags[800:831].any()  # the short window lags the spike by a few rows
    after = np.zeros_like(label)
    for end in (703, 831):  # the short mean stays high for `likelihood_short` rows, the smoothing a bit longer
        after[end : end + 30] = True
    assert flags[~label & ~after].mean() < 0.01
    if likely.method == "forecast":  # rows without a forecast: score 0, likelihood 0.5, never flagged
        assert (likelihood[: likely.lookback] == 0.5).all()


@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_likelihood_streaming_equals_batch(likely: RNNAnomalyDetector, chunk: int) -> None:
    df = with_anomalies()[0].iloc[400:]  # 500 rows after 120 calibration scores: the sums restart once
    batch = likely.score_frame(df)
    stream = pd.concat(
        [likely.update(df.iloc[i : i + chunk]) for i in range(0, len(df), chunk)] + [likely.flush()], ignore_index=True
    )
    assert len(stream) == len(df) and list(stream.columns) == list(batch.columns)
    np.testing.assert_allclose(stream["likelihood"].to_numpy(), batch["likelihood"].to_numpy(), atol=1e-5)
    assert batch["is_anomaly"].sum() > 0  # the spike at row 700 is in there
    assert (stream["is_anomaly"].to_numpy() == batch["is_anomaly"].to_numpy()).all()
    # flush() restarted the stream: the same rows again give the same answer
    again = pd.concat([likely.update(df), likely.flush()], ignore_index=True)
    np.testing.assert_allclose(again["likelihood"].to_numpy(), batch["likelihood"].to_numpy(), atol=1e-5)


def test_likelihood_adapts_to_slow_drift_where_the_calibrated_threshold_does_not() -> None:
    """The noise grows slowly after the fit rows: standardised scores drift above any threshold
    calibrated on the fit rows, the likelihood judges each row against the recent past."""
    df = series(3000, seed=5)
    rng = np.random.default_rng(5)
    growth = np.r_[np.zeros(600), np.linspace(0, 0.6, 2400)]
    for c in ("a", "b"):
        df[c] += growth * rng.normal(size=len(df))
    det = RNNAnomalyDetector(method="forecast", **SMALL).fit(df.iloc[:600])
    plain = det.score_frame(df)
    share_above = (plain["score"].to_numpy()[1500:] > 3.3).mean()
    det.set_params(normalize="likelihood", likelihood_window=200, likelihood_eps=1e-3)  # the same model
    flagged = det.score_frame(df)["is_anomaly"].to_numpy()[1500:].mean()
    assert share_above > 0.2 and flagged < 0.01, (share_above, flagged)


def test_likelihood_detector_save_load_round_trip(likely: RNNAnomalyDetector, tmp_path) -> None:
    df, _ = with_anomalies()
    likely.save(tmp_path / "det")
    again = RNNAnomalyDetector.load(tmp_path / "det")
    assert again.normalize == "likelihood" and again.likelihood_window == 600
    a, b = again.score_frame(df), likely.score_frame(df)
    np.testing.assert_allclose(a["likelihood"].to_numpy(), b["likelihood"].to_numpy(), atol=1e-6)
    assert (a["is_anomaly"].to_numpy() == b["is_anomaly"].to_numpy()).all()


def test_calibration_folds_calibrate_on_out_of_sample_errors_of_every_fit_row() -> None:
    df = series(600)
    held_out = RNNAnomalyDetector(**SMALL).fit(df)
    folded = RNNAnomalyDetector(**{**SMALL, "calibration_folds": 3}).fit(df)
    W = SMALL["lookback"]
    assert held_out.metrics_["calibration_rows"] < 600 * 0.25  # the last 20 % only
    assert folded.metrics_["calibration_rows"] == 600 - W  # every row with a forecast (the first W have none)
    # the model kept is the same (the fold models only score their folds): same predictions
    np.testing.assert_array_equal(held_out.score_frame(df)["is_anomaly"].shape, (600,))
    for a, b in zip(held_out.model_.state_dict().values(), folded.model_.state_dict().values()):
        assert torch.equal(a, b)
    again = RNNAnomalyDetector(**{**SMALL, "calibration_folds": 3}).fit(df)
    assert again.threshold_ == folded.threshold_  # seeded: the same folds, the same threshold
    with pytest.raises(ConfigError, match="calibration_folds"):
        RNNAnomalyDetector(**{**SMALL, "calibration_folds": 1}).fit(df)


def test_default_detector_fits_a_short_noiseless_periodic_series_with_a_warning() -> None:
    """POT cannot fit a tail on 50 calibration scores (it used to refuse): a normal tail stands in,
    with a warning; the default's cross-fitted calibration scores every fit row."""
    t = np.arange(250)
    df = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=250, freq="h"), "a": np.sin(2 * np.pi * t / 24)})
    with pytest.warns(CalibrationWarning):
        det = RNNAnomalyDetector(epochs=2, random_state=0, calibration_folds=None).fit(df)
    assert np.isfinite(det.threshold_) and any("pot could not fit a tail" in w for w in det.warnings_)
    assert det.predict(df).shape == (250,)
    default = RNNAnomalyDetector(epochs=2, random_state=0).fit(df)
    assert np.isfinite(default.threshold_) and default.predict(df).shape == (250,)


def test_calibration_folds_on_too_few_rows_fall_back_with_a_warning() -> None:
    df = series(90)  # only 24 windows of 25 rows avoid the middle fold (rows 36-53): fewer than a batch
    with pytest.warns(CalibrationWarning, match="not scored"):
        det = RNNAnomalyDetector(**{**SMALL, "calibration_folds": 5}).fit(df)
    assert det.metrics_["calibration_rows"] > 0 and np.isfinite(det.threshold_)


@pytest.mark.parametrize("threshold,extra", [("spot", {}), ("dspot", {"spot_depth": 30})])
def test_streaming_thresholds_stream_as_they_score_in_batch(threshold, extra) -> None:
    """spot / dspot move with the rows scored: batch scoring replays the stream from calibration."""
    det = RNNAnomalyDetector(**{**SMALL, "k": 3.0, "threshold": threshold}, risk=1e-2, **extra).fit(series(600))
    df, label = with_anomalies()
    batch = det.score_frame(df)
    for chunk in (1, 50):
        parts = [det.update(df.iloc[i : i + chunk]) for i in range(0, len(df), chunk)] + [det.flush()]
        stream = pd.concat(parts, ignore_index=True)
        np.testing.assert_array_equal(stream["is_anomaly"].to_numpy(), batch["is_anomaly"].to_numpy())
    flags = batch["is_anomaly"].to_numpy().astype(bool)
    assert flags[700:703].any()  # the spike
    assert flags[~label].mean() < 0.1  # a 6-epoch model, risk 1e-2
    assert det.threshold_ == pytest.approx(det._spot_start()[1].z)  # where the stream's threshold starts


def test_spot_depth_is_refused_unless_dspot() -> None:
    with pytest.raises(ConfigError, match="spot_depth=10 has no effect with threshold='spot'"):
        RNNAnomalyDetector(**{**SMALL, "k": 3.0, "threshold": "spot"}, spot_depth=10).fit(series(300))


def footprint(obj) -> int:
    """How many values a stream's state holds: array elements, queue and index lengths, summed
    over its dataclasses, tuples and lists (the networks' weights are a fixed size and left out)."""
    if isinstance(obj, torch.nn.Module) or obj is None or isinstance(obj, (int, float, str)):
        return 0
    if isinstance(obj, np.ndarray):
        return obj.size
    if isinstance(obj, (pd.Index, collections.deque)):
        return len(obj) + sum(footprint(v) for v in obj if isinstance(v, np.ndarray))
    if isinstance(obj, (tuple, list)):
        return sum(footprint(v) for v in obj)
    if dataclasses.is_dataclass(obj):
        return sum(footprint(getattr(obj, f.name)) for f in dataclasses.fields(obj))
    return sum(footprint(v) for v in vars(obj).values())


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"normalize": "likelihood", "likelihood_window": 200, "likelihood_eps": 1e-3},
        {"threshold": "dspot", "spot_depth": 30, "risk": 1e-2},
        {"adapt_every": 100, "adapt_rows": 120, "adapt_steps": 1},
    ],
    ids=["plain", "likelihood", "dspot", "adapting"],
)
def test_stream_state_stays_bounded(fitted: RNNAnomalyDetector, extra) -> None:
    """Memory flat in the stream's length: the state after 2,000 more rows holds as much as after
    1,000. DSPOT's peaks are the exception until there are ``max_peaks`` of them (about 2 % of the
    rows are peaks: its bound is tested in test_spot.py), so they are counted apart."""
    det = copy.copy(fitted)
    det._stream = None
    det.set_params(**extra)
    df = series(3000, seed=4)
    sizes = []
    for i in range(0, len(df), 100):
        det.update(df.iloc[i : i + 100])
        if i + 100 in (1000, 3000):
            peaks = 0
            if det._stream.spot is not None:
                spot, state = det._stream.spot
                peaks = len(state.peaks)
                assert peaks <= spot.max_peaks
            sizes.append(footprint(det._stream) - peaks)
    assert sizes[0] > 0 and sizes[1] == sizes[0], sizes


# ---------------------------------------------------------------- adaptation while streaming
ADAPT = dict(adapt_every=40, adapt_rows=100, adapt_steps=2)


def adapting(det: RNNAnomalyDetector, **params) -> RNNAnomalyDetector:
    """A shallow copy of a fitted detector (sharing its model_) with other parameters and no stream."""
    out = copy.copy(det)
    out._stream = None
    return out.set_params(**params)


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_adapting_stream_equals_batch_and_leaves_the_fitted_model_alone(fitted: RNNAnomalyDetector, chunk: int) -> None:
    det = adapting(fitted, **ADAPT)
    fitted_weights = weights(det.model_)
    df = with_anomalies()[0].iloc[:300]
    batch = det.score_frame(df)
    pd.testing.assert_frame_equal(det.score_frame(df), batch)  # batch scoring starts from model_ every time
    plain = adapting(fitted).score_frame(df)
    assert np.abs(batch["score"] - plain["score"]).max() > 1e-3  # the adapted model scores differently
    parts = [det.update(df.iloc[i : i + chunk]) for i in range(0, len(df), chunk)]
    assert det._stream.adapt.adaptations == len(df) // ADAPT["adapt_every"]  # the first after adapt_every rows
    assert len(det._stream.adapt.rows) <= ADAPT["adapt_rows"]  # bounded memory
    stream = pd.concat([*parts, det.flush()], ignore_index=True)
    assert len(stream) == len(df)
    np.testing.assert_allclose(stream["score"].to_numpy(), batch["score"].to_numpy(), atol=1e-5)
    assert (stream["is_anomaly"].to_numpy() == batch["is_anomaly"].to_numpy()).all()
    for k, v in weights(det.model_).items():
        assert torch.equal(v, fitted_weights[k]), f"model_ changed ({k})"
    # after flush a new stream starts again from the fitted weights
    again = pd.concat([det.update(df), det.flush()], ignore_index=True)
    np.testing.assert_allclose(again["score"].to_numpy(), batch["score"].to_numpy(), atol=1e-5)


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bf16 (AVX512-BF16 or AMX)")
def test_bf16_adapting_stream_equals_batch_to_bf16_rounding(fitted: RNNAnomalyDetector) -> None:
    """precision="bf16" on the CPU: scoring and fine-tunes run in bf16; a stream scored one row
    at a time runs other kernels than batch scoring, so they agree to bf16's rounding, not 1e-5."""
    det = adapting(fitted, **ADAPT, precision="bf16")
    df = with_anomalies()[0].iloc[:300]
    batch = det.score_frame(df)
    fp32 = adapting(fitted, **ADAPT).score_frame(df)
    assert 0 < np.abs(batch["score"] - fp32["score"]).max() < 0.5  # bf16 forward passes, the same model
    for chunk in (1, 100):
        stream = pd.concat([*(det.update(df.iloc[i : i + chunk]) for i in range(0, len(df), chunk)), det.flush()])
        np.testing.assert_allclose(stream["score"].to_numpy(), batch["score"].to_numpy(), atol=0.05)
        assert (stream["is_anomaly"].to_numpy() == batch["is_anomaly"].to_numpy()).all()


def test_adaptation_keeps_a_slow_drift_from_raising_false_alarms_and_still_finds_a_spike() -> None:
    det = RNNAnomalyDetector(**SMALL).fit(series(600))
    df = series(1200, seed=4)
    df["a"] += np.linspace(0.0, 1.0, len(df))  # a slow drift of normal behaviour
    df.loc[1100:1102, "a"] += 4.0  # and one spike
    normal = np.ones(len(df), bool)
    normal[1100 : 1103 + det.lookback + det.smoothing] = False  # the spike and the rows it disturbs
    normal[: len(df) // 2] = False  # the last half: where the drift has moved the level from the fit data
    plain = det.predict(df).astype(bool)
    adapted = adapting(det, adapt_every=50, adapt_rows=200, adapt_steps=5).predict(df).astype(bool)
    assert plain[normal].mean() > 0.3, f"without adaptation the drift should alarm ({plain[normal].mean():.3f})"
    assert adapted[normal].mean() < plain[normal].mean() / 5, (adapted[normal].mean(), plain[normal].mean())
    assert adapted[1100:1103].any(), "the adapted detector missed the spike"


def test_flagged_rows_are_not_learned(fitted: RNNAnomalyDetector) -> None:
    df = series(200, seed=5)
    det = adapting(fitted, **ADAPT)
    det.update(df)
    assert det._stream.adapt.adaptations == 5 and det._stream.adapt.skipped == 0
    changed = weights(det._stream.adapt.module)
    assert any(not torch.equal(v, w) for v, w in zip(changed.values(), weights(det.model_).values()))
    det.flush()
    det.threshold_ = -1e9  # every row is flagged: no window is clean, nothing is learned
    det.set_params(adapt_persist=None).update(df)
    assert det._stream.adapt.adaptations == 5 and det._stream.adapt.skipped == 5 and det._stream.adapt.flags.all()
    for k, v in weights(det._stream.adapt.module).items():
        assert torch.equal(v, weights(det.model_)[k]), k


@pytest.mark.parametrize("persist, accepted", [(1, 5), (2, 2), (3, 1)])
def test_a_change_flagged_for_adapt_persist_fine_tunes_in_a_row_is_learned(
    fitted: RNNAnomalyDetector, persist: int, accepted: int
) -> None:
    """Every row flagged: fine-tunes find no clean window; each adapt_persist-th in a row learns
    from every window instead (a change that lasts is the new normal), and the count starts again."""
    det = adapting(fitted, **ADAPT, adapt_persist=persist)
    det.threshold_ = -1e9
    det.update(series(200, seed=5))  # 5 fine-tunes due
    state = det._stream.adapt
    assert (state.adaptations, state.accepted, state.skipped) == (5, accepted, 5 - accepted)
    changed = weights(state.module)
    assert any(not torch.equal(v, w) for v, w in zip(changed.values(), weights(det.model_).values()))


@pytest.mark.parametrize("shift", [1.0, 10.0])  # about 1.4 and 14 std of the sine
def test_adapt_persist_lets_a_lasting_level_shift_stop_alarming(shift: float) -> None:
    """A shift that the first fine-tunes after it cannot learn (every recent window is flagged)
    is learned once it has lasted adapt_persist fine-tunes, however large (the stream's rows are
    re-centred on the fit's level first); with None it alarms to the end."""
    det = RNNAnomalyDetector(**{**SMALL, "adapt_every": 40, "adapt_rows": 100, "adapt_steps": 5}).fit(series(600))
    df = series(1500, seed=6)
    df.loc[300:, ["a", "b"]] += shift
    tail = {}
    for persist in (None, 2):
        flags = det.set_params(adapt_persist=persist).predict(df).astype(bool)
        assert flags[300:340].any() and not flags[:300].any()  # the shift is found either way
        tail[persist] = flags[1200:].mean()
    assert tail[None] > 0.5 and tail[2] < 0.05, tail


@pytest.mark.parametrize("method", ["reconstruction", "forecast", "hybrid"])
def test_a_stream_re_centred_on_a_lasting_shift_equals_batch(method: str) -> None:
    """Re-centring moves the rows kept by the adaptation and by the scorer by the same shift:
    streamed in chunks of 1 or 100 rows, the scores equal batch scoring, and a saved detector
    keeps the fit's level."""
    det = RNNAnomalyDetector(**{**SMALL, "method": method, "adapt_every": 40, "adapt_rows": 100}).fit(series(600))
    df = series(600, seed=7)
    df.loc[200:, ["a", "b"]] += 10.0
    batch = det.score_frame(df)
    for chunk in (1, 100):
        parts = [det.update(df.iloc[i : i + chunk]) for i in range(0, len(df), chunk)]
        state = det._stream.adapt
        assert state.accepted >= 1 and np.abs(state.offset).min() > 5  # re-centred by about the shift, scaled
        stream = pd.concat([*parts, det.flush()], ignore_index=True)
        np.testing.assert_allclose(stream["score"].to_numpy(), batch["score"].to_numpy(), atol=1e-5)
        assert (stream["is_anomaly"].to_numpy() == batch["is_anomaly"].to_numpy()).all()
    assert det.level_.shape == (2,) and np.abs(det.level_).max() < 0.5  # standard scaling: about 0


def test_adaptation_parameters_are_checked() -> None:
    with pytest.raises(ConfigError, match="adapt_rows=100 has no effect with adapt_every=None"):
        RNNAnomalyDetector(**SMALL, adapt_rows=100).fit(series(300))
    with pytest.raises(ConfigError, match="adapt_steps"):
        RNNAnomalyDetector(**SMALL, adapt_steps=3).fit(series(300))
    with pytest.raises(ConfigError, match="adapt_every"):
        RNNAnomalyDetector(**{**SMALL, "adapt_every": 0}).fit(series(300))
    with pytest.raises(ConfigError, match="adapt_persist=3 has no effect with adapt_every=None"):
        RNNAnomalyDetector(**SMALL, adapt_persist=3).fit(series(300))
    with pytest.raises(ConfigError, match="adapt_persist"):
        RNNAnomalyDetector(**{**SMALL, "adapt_every": 10, "adapt_persist": 0}).fit(series(300))
    with pytest.raises(ConfigError, match="adapt_rows must be at least 25") as e:  # not one window of lookback + 1
        RNNAnomalyDetector(**{**SMALL, "adapt_every": 10, "adapt_rows": 24}).fit(series(300))
    assert "one window of 25 rows" in e.value.hint and "--adapt-every 0" in e.value.hint
    dynamic = {**SMALL, "threshold": "dynamic"}
    dynamic.pop("k")
    with pytest.raises(ConfigError, match="dynamic"):
        RNNAnomalyDetector(**{**dynamic, "adapt_every": 10}).fit(series(300))


@pytest.fixture(scope="module", params=["reconstruction", "hybrid"])
def causal(request) -> RNNAnomalyDetector:
    return RNNAnomalyDetector(method=request.param, combine="last", **SMALL).fit(series(600))


def test_combine_last_is_causal_and_final_at_once(causal: RNNAnomalyDetector) -> None:
    df, _ = with_anomalies()
    full = causal.score_samples(df)
    assert np.allclose(causal.score_samples(df.iloc[:720]), full[:720], atol=1e-5)  # no later row counts
    assert (full[: causal.lookback - 1] == 0).all()  # the first rows end no window: score 0
    assert full[700] > 3  # the spike shows on its own row
    causal.flush()
    sizes = [len(causal.update(df.iloc[i : i + 50])) for i in range(0, len(df), 50)]
    assert sizes == [50] * (len(df) // 50)  # every row is final when it arrives
    assert len(causal.flush()) == 0


@pytest.mark.parametrize("chunk", [1, 100])
def test_combine_last_streaming_equals_batch(causal: RNNAnomalyDetector, chunk: int) -> None:
    df, _ = with_anomalies()
    batch = causal.score_frame(df)
    causal.flush()
    parts = [causal.update(df.iloc[i : i + chunk]) for i in range(0, len(df), chunk)] + [causal.flush()]
    stream = pd.concat(parts, ignore_index=True)
    assert np.allclose(stream["score"], batch["score"], atol=1e-5)
    assert (stream["is_anomaly"] == batch["is_anomaly"]).all()


@pytest.mark.parametrize("clean", [dict(resample="1h"), dict(duplicates="mean")])
def test_a_step_split_across_chunks_streams_as_it_scores_in_batch(clean) -> None:
    """Quarter-hour rows resampled hourly (or each hour's rows logged twice and averaged), streamed
    three rows at a time: a step's rows arrive in two chunks, are held back until the next step
    begins, and are combined once, as in batch scoring; flush() scores the last step."""
    n = 1600
    t = pd.date_range("2024-01-01", periods=n, freq="15min")
    if "duplicates" in clean:
        t = t.floor("30min")  # every timestamp twice
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"time": t, "a": np.sin(np.arange(n) * 2 * np.pi / 96) + 0.05 * rng.normal(size=n)})
    det = RNNAnomalyDetector(
        random_state=0, epochs=1, lookback=12, threshold="gaussian", calibration_folds=None, adapt_every=None, **clean
    ).fit(df.iloc[:1000])
    batch = det.score_frame(df.iloc[1000:])
    stream = pd.concat([*(det.update(df.iloc[i : i + 3]) for i in range(1000, n, 3)), det.flush()], ignore_index=True)
    assert (stream["time"].to_numpy() == batch["time"].to_numpy()).all()
    np.testing.assert_allclose(stream["score"].to_numpy(), batch["score"].to_numpy(), atol=1e-5)
