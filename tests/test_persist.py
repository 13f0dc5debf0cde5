"""Tests for saving and loading models (tsrnn.persist and RNNForecaster.save/load): round trips,
refusal to overwrite, clear errors for damaged directories, and that no pickle is ever executed."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from tsrnn import GRUForecaster, LSTMForecaster, RNNAnomalyDetector, RNNForecaster
from tsrnn.errors import ModelFileError, OutputExistsError

H, L = 6, 24
FAST = dict(
    lookback=L,
    horizon=H,
    hidden_size=8,
    num_layers=1,
    epochs=1,
    batch_size=64,
    lr=1e-2,
    random_state=0,
    device="cpu",
    patience=None,
)


def frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    return pd.DataFrame(
        {
            "time": pd.date_range("2024-03-01", periods=n, freq="h"),
            "a": 50 + 5 * np.sin(2 * np.pi * k / 24) + rng.standard_normal(n),
            "b": np.cos(2 * np.pi * k / 24) + 0.1 * rng.standard_normal(n),
            "temp": np.sin(2 * np.pi * (k + 2) / 24),
        }
    )


@pytest.fixture(scope="module")
def df():
    return frame()


@pytest.fixture(scope="module")
def model(df):
    return RNNForecaster(**FAST, target=["a", "b"]).fit(df)


@pytest.fixture
def saved(model, tmp_path):
    return model.save(tmp_path / "model")


def evil_pickle(marker, protocol=pickle.DEFAULT_PROTOCOL):
    """A pickle that creates ``marker`` when it is unpickled."""

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    return pickle.dumps(Evil(), protocol=protocol)


def files(path):
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- round trips


def test_round_trip_predicts_the_same(model, saved):
    loaded = RNNForecaster.load(saved)
    pd.testing.assert_frame_equal(loaded.predict(), model.predict(), check_exact=True)
    assert loaded.get_params() == model.get_params()
    assert loaded.targets_ == model.targets_ and loaded.freq_ == model.freq_ and loaded.season_ == model.season_
    assert loaded.metrics_ == json.loads(json.dumps(model.metrics_))
    assert [e["epoch"] for e in loaded.history_.epochs] == [e["epoch"] for e in model.history_.epochs]


def test_round_trip_predicts_the_same_on_new_data(model, saved, df):
    other = frame(n=200, seed=3)
    loaded = RNNForecaster.load(saved)
    pd.testing.assert_frame_equal(loaded.predict(other), model.predict(other), check_exact=True)


def test_saved_directory_holds_json_and_safetensors_only(saved):
    assert saved.is_dir()
    names = sorted(p.name for p in saved.iterdir())
    assert names == ["config.json", "weights.safetensors"]
    config = json.loads((saved / "config.json").read_text())
    assert config["kind"] == "RNNForecaster" and config["format"] == 2
    assert config["schema"]["targets"] == ["a", "b"]
    for name, data in files(saved).items():
        assert not data.startswith(b"\x80"), f"{name} looks like a pickle"
        assert not data.startswith(b"PK\x03\x04"), f"{name} looks like a torch.save zip"
    head = (saved / "weights.safetensors").read_bytes()[:9]
    assert head[8:9] == b"{"
    assert not any(p.name.startswith(".") for p in saved.parent.iterdir())  # no temporary directory left


@pytest.mark.parametrize(
    "options",
    [
        {"quantiles": [0.1, 0.5, 0.9]},
        {"covariates": ["temp"], "target": "a"},
        {"head": "seq2seq", "cell": "gru", "bidirectional": True},
        {"channel_independent": True, "scaler": "robust"},
    ],
    ids=["quantiles", "covariates", "seq2seq", "channel_independent"],
)
def test_round_trip_with_options(df, tmp_path, options):
    est = RNNForecaster(**{**FAST, "target": ["a", "b"], **options}).fit(df)
    loaded = RNNForecaster.load(est.save(tmp_path / "m"))
    pd.testing.assert_frame_equal(loaded.predict(), est.predict(), check_exact=True)
    pd.testing.assert_frame_equal(loaded.predict(df.iloc[:-30]), est.predict(df.iloc[:-30]), check_exact=True)


def test_round_trip_long_format_with_time_zone(tmp_path):
    rng = np.random.default_rng(2)
    parts = []
    for sid, level in (("x", 0.0), ("y", 100.0)):
        k = np.arange(200)
        parts.append(
            pd.DataFrame(
                {
                    "ts": pd.date_range("2024-03-30", periods=200, freq="h", tz="Europe/Berlin"),
                    "site": sid,
                    "v": level + np.sin(2 * np.pi * k / 24) + rng.standard_normal(200),
                }
            )
        )
    data = pd.concat(parts, ignore_index=True)
    est = RNNForecaster(**FAST, id_col="site").fit(data)
    loaded = RNNForecaster.load(est.save(tmp_path / "m"))
    out = loaded.predict()
    pd.testing.assert_frame_equal(out, est.predict(), check_exact=True)
    assert str(out.index.tz) == "Europe/Berlin"
    assert list(out["site"].unique()) == ["x", "y"]


def test_load_onto_cpu_by_default_and_eval_mode(saved):
    loaded = RNNForecaster.load(saved)
    assert loaded.device_ == torch.device("cpu")
    assert not loaded.model_.training
    assert all(p.device.type == "cpu" for p in loaded.model_.parameters())


@pytest.mark.parametrize("cls", [LSTMForecaster, GRUForecaster])
def test_round_trip_cell_subclasses(df, tmp_path, cls):
    est = cls(**FAST, target=["a", "b"]).fit(df)
    loaded = cls.load(est.save(tmp_path / "m"))
    assert loaded.lookback == L and loaded.cell == est.cell
    pd.testing.assert_frame_equal(loaded.predict(), est.predict(), check_exact=True)


# ----------------------------------------------------------------------------- overwrite


def test_save_refuses_an_existing_path_and_leaves_it_alone(model, saved):
    before = files(saved)
    with pytest.raises(OutputExistsError, match="already exists") as info:
        model.save(saved)
    assert isinstance(info.value, FileExistsError)
    assert files(saved) == before


def test_save_refuses_an_existing_file(model, tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    with pytest.raises(OutputExistsError):
        model.save(target)
    with pytest.raises(OutputExistsError):
        model.save(target, overwrite=True)  # never replaces a file with a directory
    assert target.read_text() == "keep me"


def test_save_overwrite_replaces(model, saved, df):
    other = RNNForecaster(**{**FAST, "random_state": 1}, target=["a", "b"]).fit(df)
    before = files(saved)
    other.save(saved, overwrite=True)
    assert files(saved) != before
    loaded = RNNForecaster.load(saved)
    pd.testing.assert_frame_equal(loaded.predict(), other.predict(), check_exact=True)
    assert sorted(p.name for p in saved.parent.iterdir()) == ["model"]  # no .old or temporary left


def test_save_creates_parent_directories(model, tmp_path):
    path = model.save(tmp_path / "a" / "b" / "model")
    assert (path / "config.json").is_file()


# ----------------------------------------------------------------------------- damaged directories


def test_load_missing_directory(tmp_path):
    with pytest.raises(ModelFileError, match="no model at"):
        RNNForecaster.load(tmp_path / "does-not-exist")


def test_load_a_file_instead_of_a_directory(tmp_path):
    f = tmp_path / "model.json"
    f.write_text("{}")
    with pytest.raises(ModelFileError, match="not a model directory"):
        RNNForecaster.load(f)


@pytest.mark.parametrize("missing", ["weights.safetensors", "config.json"])
def test_load_a_directory_missing_a_file(saved, missing):
    (saved / missing).unlink()
    with pytest.raises(ModelFileError, match=f"missing {missing}"):
        RNNForecaster.load(saved)


def test_load_an_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="missing"):
        RNNForecaster.load(tmp_path / "empty")


@pytest.mark.parametrize("content", ["{not json", "", "\x00\x01\x02", "[1, 2, 3]", '{"format": 999}'])
def test_load_damaged_config(saved, content):
    (saved / "config.json").write_text(content)
    with pytest.raises(ModelFileError, match="config.json"):
        RNNForecaster.load(saved)


@pytest.mark.parametrize("key", ["params", "model", "schema"])
def test_load_config_missing_a_section(saved, key):
    config = json.loads((saved / "config.json").read_text())
    del config[key]
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="damaged"):
        RNNForecaster.load(saved)


def test_load_config_missing_the_scaler(saved):
    config = json.loads((saved / "config.json").read_text())
    del config["scaler"]
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError):
        RNNForecaster.load(saved)


def test_load_config_with_wrong_model_shape(saved):
    config = json.loads((saved / "config.json").read_text())
    config["model"]["hidden_size"] = 3  # the weights no longer fit
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="damaged"):
        RNNForecaster.load(saved)


@pytest.mark.parametrize("keep", [0, 4, 8, 40, 0.5, -1])
def test_load_truncated_weights(saved, keep):
    path = saved / "weights.safetensors"
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (len(data) + keep if keep < 0 else keep)
    path.write_bytes(data[:n])
    with pytest.raises(ModelFileError, match="weights.safetensors"):
        RNNForecaster.load(saved)


def test_load_weights_of_another_model(saved, tmp_path, df):
    other = RNNForecaster(**{**FAST, "hidden_size": 4}, target=["a", "b"]).fit(df).save(tmp_path / "other")
    os.replace(other / "weights.safetensors", saved / "weights.safetensors")
    with pytest.raises(ModelFileError):
        RNNForecaster.load(saved)


def test_load_a_model_of_another_kind(saved):
    config = json.loads((saved / "config.json").read_text())
    config["kind"] = "RNNAnomalyDetector"
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="RNNAnomalyDetector"):
        RNNForecaster.load(saved)


@pytest.mark.parametrize("cls", [LSTMForecaster, GRUForecaster])
def test_a_preset_loads_through_the_base_class_as_itself(df, tmp_path, cls):
    est = cls(**FAST, target=["a", "b"]).fit(df)
    loaded = RNNForecaster.load(est.save(tmp_path / "m"))
    assert type(loaded) is cls and loaded.cell == est.cell
    pd.testing.assert_frame_equal(loaded.predict(), est.predict(), check_exact=True)


def test_a_preset_refuses_another_preset(df, tmp_path):
    path = LSTMForecaster(**FAST, target=["a", "b"]).fit(df).save(tmp_path / "m")
    with pytest.raises(ModelFileError, match="holds a LSTMForecaster, not a GRUForecaster"):
        GRUForecaster.load(path)


def test_a_forecaster_is_not_a_detector(model, tmp_path):
    path = model.save(tmp_path / "m")
    with pytest.raises(ModelFileError, match="not a RNNAnomalyDetector"):
        RNNAnomalyDetector.load(path)


def test_load_with_the_wrong_class(model, tmp_path):
    path = model.save(tmp_path / "m")  # kind RNNForecaster
    with pytest.raises(ModelFileError, match="RNNForecaster"):
        GRUForecaster.load(path)


# ----------------------------------------------------------------------------- pickle refusal


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickle_beside_the_model_is_refused_and_not_run(saved, tmp_path, protocol):
    marker = tmp_path / "marker"
    (saved / "extra.pkl").write_bytes(evil_pickle(marker, protocol))
    with pytest.raises(ModelFileError, match="pickle"):
        RNNForecaster.load(saved)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_pickle_as_weights_is_refused_and_not_run(saved, tmp_path, protocol):
    marker = tmp_path / "marker"
    (saved / "weights.safetensors").write_bytes(evil_pickle(marker, protocol))
    with pytest.raises(ModelFileError):
        RNNForecaster.load(saved)
    assert not marker.exists()


def test_pickle_with_an_innocent_name_in_a_subdirectory(saved, tmp_path):
    marker = tmp_path / "marker"
    (saved / "sub").mkdir()
    (saved / "sub" / "data.txt").write_bytes(evil_pickle(marker))
    with pytest.raises(ModelFileError, match="pickle"):
        RNNForecaster.load(saved)
    assert not marker.exists()


def test_torch_save_file_as_weights_is_refused(saved, model, tmp_path):
    torch.save(model.model_.state_dict(), saved / "weights.safetensors")
    with pytest.raises(ModelFileError, match="pickle"):
        RNNForecaster.load(saved)


def test_pickle_as_config_is_refused_and_not_run(saved, tmp_path):
    marker = tmp_path / "marker"
    (saved / "config.json").write_bytes(evil_pickle(marker))
    with pytest.raises(ModelFileError):
        RNNForecaster.load(saved)
    assert not marker.exists()


def test_a_harmless_extra_file_is_allowed(model, saved):
    (saved / "README.txt").write_text("notes about this model")
    pd.testing.assert_frame_equal(RNNForecaster.load(saved).predict(), model.predict(), check_exact=True)


def test_an_estimator_missing_a_hook_cannot_be_made():
    """The core's hooks are abstract: a subclass that forgets one fails at once, not mid-fit."""
    from tsrnn.estimators import RecurrentEstimator

    class Half(RecurrentEstimator):
        def _check_params(self) -> None: ...

    with pytest.raises(TypeError, match="abstract"):
        Half()
    RecurrentEstimator._kinds.pop("Half", None)
