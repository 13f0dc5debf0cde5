"""Segment recurrence (SegRNN): segment tokens, the parallel head, the segment seq2seq decoder,
last-value normalisation, and how RNNForecaster and `tsrnn fit` expose them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from cli import run_cli

from tsrnn import RNNForecaster
from tsrnn.errors import ConfigError
from tsrnn.models import CELLS, HEADS, RecurrentForecaster


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def seg(**overrides) -> RecurrentForecaster:
    """A tiny segmented forecaster: 3 inputs, targets 0 and 2 (channel 1 a covariate), w = 4."""
    kwargs = dict(n_inputs=3, target_index=[0, 2], horizon=10, hidden_size=8, num_layers=1, segment_length=4)
    kwargs.update(overrides)
    return RecurrentForecaster(**kwargs)


# ----------------------------------------------------------------------------- shapes and tokens
@pytest.mark.parametrize("lookback, horizon", [(16, 8), (18, 8), (16, 10), (19, 3)])  # multiples of w = 4 or not
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("channel_independent", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_output_shape_for_any_lookback_and_horizon(lookback, horizon, head, channel_independent, bidirectional):
    model = seg(horizon=horizon, head=head, channel_independent=channel_independent, bidirectional=bidirectional)
    x, y = torch.randn(5, lookback, 3), torch.randn(5, horizon, 2)
    assert model.train()(x, y, tbptt_steps=2).shape == (5, horizon, 2, 1)
    out = model.eval()(x)
    assert out.shape == (5, horizon, 2, 1) and torch.isfinite(out).all()


@pytest.mark.parametrize("cell", CELLS)
def test_the_encoder_runs_one_step_per_segment(cell):
    model = seg(cell=cell, channel_independent=True, norm="none")
    seen = []
    model.encoder.rnn.register_forward_hook(lambda mod, inp, out: seen.append(tuple(inp[0].shape)))
    model(torch.randn(5, 18, 3))
    # channel-independent: 2 sequences per window; 18 // 4 = 4 segment tokens of hidden_size numbers
    assert seen == [(10, 4, 8)]
    # each token embeds w rows of (one target + one covariate)
    assert model.segment_embed[0].in_features == 4 * 2


def test_the_oldest_partial_segment_is_dropped():
    model = seg(norm="none").eval()
    x = torch.randn(2, 18, 3)  # 18 = 2 + 4 * 4: rows 0 and 1 are the partial segment
    x2 = x.clone()
    x2[:, :2] += 5.0
    torch.testing.assert_close(model(x2), model(x))
    x2[:, 2] += 5.0  # the oldest row of the first full segment does count
    assert not torch.allclose(model(x2), model(x))


def test_covariates_enter_each_segment_token():
    model = seg(channel_independent=True, norm="none").eval()
    x = torch.randn(2, 16, 3)
    x2 = x.clone()
    x2[:, -1, 1] += 1.0  # the newest covariate value
    assert not torch.allclose(model(x2), model(x))


def test_series_embedding_with_segments():
    model = seg(n_ids=3, embedding_dim=2, head="parallel").eval()
    assert model.segment_embed[0].in_features == 4 * 3 + 2  # w rows of 3 channels, plus the series vector
    x = torch.randn(2, 16, 3)
    a, b = model(x, ids=torch.tensor([0, 0])), model(x, ids=torch.tensor([1, 1]))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("head", HEADS)
def test_quantiles_with_segments(head):
    model = seg(head=head, n_quantiles=3).eval()
    assert model(torch.randn(4, 16, 3)).shape == (4, 10, 2, 3)


# ----------------------------------------------------------------------------- the parallel head
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("channel_independent", [False, True])
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (2, True)])
def test_parallel_decoding_equals_a_loop_over_output_segments(cell, channel_independent, num_layers, bidirectional):
    """One batched decoder step over all M output segments = M separate steps from the same state."""
    model = seg(
        cell=cell,
        head="parallel",
        channel_independent=channel_independent,
        num_layers=num_layers,
        bidirectional=bidirectional,
        n_quantiles=3,
        norm="none",
    ).eval()
    x = torch.randn(3, 16, 3)
    with torch.no_grad():
        batched = model(x)  # (3, 10, 2, 3)
        xs = x
        if channel_independent:  # the module's own split: one target + the covariate per sequence
            xs = torch.cat(
                [x[:, :, [0, 2]].permute(0, 2, 1).reshape(6, 16, 1), x[:, :, [1]].repeat_interleave(2, 0)], -1
            )
        _, state = model.encoder(model._tokens(xs, None))
        start = model.encoder.layer_states(state)
        parts = []
        for m in range(model.n_out):  # ceil(10 / 4) = 3 output segments, one at a time
            token = model.positions[m].expand(xs.shape[0], -1)  # (B', width - c)
            if channel_independent:
                token = torch.cat([token, model.channel_vectors[torch.arange(6) % 2]], -1)
            out, _ = model.decoder(token[:, None], start)
            parts.append(model._out(out[:, 0]))  # (B', 4, S, Q)
        looped = torch.cat(parts, 1)[:, :10]  # the last segment trimmed to H = 10
        if channel_independent:
            looped = looped.reshape(3, 2, 10, 3).permute(0, 2, 1, 3)
    assert model.n_out == 3
    torch.testing.assert_close(batched, looped)


def test_parallel_output_segments_do_not_see_each_other():
    """Changing one output segment's position vector changes that segment's forecast only."""
    model = seg(head="parallel", norm="none").eval()
    x = torch.randn(2, 16, 3)
    before = model(x)
    with torch.no_grad():
        model.positions[1] += 1.0
    after = model(x)
    torch.testing.assert_close(after[:, :4], before[:, :4])
    torch.testing.assert_close(after[:, 8:], before[:, 8:])
    assert not torch.allclose(after[:, 4:8], before[:, 4:8])


def test_parallel_head_without_segments_has_one_position_per_step():
    model = RecurrentForecaster(2, [0], 6, hidden_size=8, head="parallel")
    assert model.positions.shape[0] == 6
    assert model(torch.randn(3, 12, 2)).shape == (3, 6, 1, 1)


# ----------------------------------------------------------------------------- the segment seq2seq decoder
def test_segment_seq2seq_feeds_back_whole_segments():
    model = seg(head="seq2seq", teacher_forcing=1.0, norm="none").train()
    assert model.decoder_embed[0].in_features == 4 * 2  # a fed-back segment: w rows of both targets
    x, y = torch.randn(2, 16, 3), torch.randn(2, 10, 2)
    out = model(x, y)
    y2 = y.clone()
    y2[:, 4:8] += 1.0  # the truth of output segment 1 is the input of segment 2 only
    out2 = model(x, y2)
    torch.testing.assert_close(out2[:, :8], out[:, :8])
    assert not torch.allclose(out2[:, 8:], out[:, 8:])


# ----------------------------------------------------------------------------- truncated BPTT over segments
def test_tbptt_counts_segments():
    """tbptt_steps=k keeps gradient for the last k segments, k * w rows."""
    model = seg(norm="none", head="parallel")
    x = torch.randn(2, 20, 3, requires_grad=True)  # 5 segments of 4
    model(x, tbptt_steps=2).pow(2).sum().backward()
    g = x.grad.abs().sum(dim=(0, 2))
    assert torch.all(g[:12] == 0) and torch.all(g[12:] > 0)
    x.grad = None
    model(x).pow(2).sum().backward()
    assert torch.all(x.grad.abs().sum(dim=(0, 2)) > 0)


# ----------------------------------------------------------------------------- last-value normalisation
@pytest.mark.parametrize("head", HEADS)
def test_last_value_norm_makes_forecasts_shift_equivariant(head):
    model = seg(head=head, norm="last", n_quantiles=3).eval()
    x = torch.randn(3, 16, 3)
    shift = torch.tensor([5.0, -2.0, 7.0])
    torch.testing.assert_close(model(x + shift), model(x) + shift[[0, 2]][None, None, :, None], atol=1e-4, rtol=1e-4)
    # the scale is not normalised: scaling the window changes the shape of the forecast
    assert not torch.allclose(model(3 * x), 3 * model(x), atol=1e-3)


def test_module_arguments_are_checked():
    with pytest.raises(ConfigError, match="segment_length"):
        seg(segment_length=0)
    with pytest.raises(ConfigError, match="norm"):
        seg(norm="revin")
    with pytest.raises(ValueError, match="shorter than one segment"):
        seg()(torch.randn(2, 3, 3))


# ----------------------------------------------------------------------------- the estimator
def frame(n=400, freq="h", period=24):
    k = np.arange(n)
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=n, freq=freq),
            "a": 5 + np.sin(2 * np.pi * k / period) + 0.1 * rng.standard_normal(n),
            "temp": np.cos(2 * np.pi * k / period) + 0.1 * rng.standard_normal(n),
        }
    )


FAST = dict(lookback=48, horizon=12, hidden_size=16, epochs=4, batch_size=32, lr=0.01, patience=None, random_state=0)


@pytest.fixture(scope="module")
def fitted() -> RNNForecaster:
    return RNNForecaster(
        cell="gru",
        segment_length=12,
        head="parallel",
        norm="last",
        quantiles=[0.1, 0.5, 0.9],
        covariates=["temp"],
        **FAST,
    ).fit(frame())


def test_estimator_fits_and_beats_repeat_last(fitted):
    assert fitted.model_.segment_length == 12 and fitted.model_.head_type == "parallel"
    test = fitted.metrics_["test"]
    assert test["model"]["mse"] < test["repeat_last"]["mse"]
    assert set(fitted.predict().columns) == {"a", "a_q0.1", "a_q0.5", "a_q0.9"}


def test_save_load_and_clone_keep_the_segment_model(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    loaded = RNNForecaster.load(tmp_path / "m")
    assert loaded.model_.config() == fitted.model_.config()
    pd.testing.assert_frame_equal(loaded.predict(), fitted.predict())
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["format"] == 2
    clone = fitted.__class__(**fitted.get_params())
    assert clone.get_params()["segment_length"] == 12 and clone.get_params()["norm"] == "last"


@pytest.mark.parametrize(
    "freq, lookback, expected",
    [("h", 96, 24), ("h", 48, 24), ("h", 40, 10), ("D", 28, 7), ("D", 10, 2), ("15min", 96, 24), (None, 6, 1)],
)
def test_auto_segment_length(freq, lookback, expected):
    est = RNNForecaster(segment_length="auto", lookback=lookback)
    assert est._segment_length(freq) == expected


def test_auto_segment_length_fits_on_a_short_file():
    est = RNNForecaster(segment_length="auto", head="parallel", **{**FAST, "lookback": 48}).fit(frame(300))
    assert est.model_.segment_length == 24


@pytest.mark.parametrize(
    "params, words",
    [
        ({"segment_length": 0}, "between 1 and the lookback"),
        ({"segment_length": 97}, "between 1 and the lookback"),
        ({"segment_length": "24"}, "whole number"),
        ({"segment_length": 2.5}, "whole number"),
        ({"head": "parallel", "teacher_forcing": 0.3}, "teacher_forcing"),
        ({"norm": "revin"}, "unknown norm"),
        ({"head": "sideways"}, "unknown head"),
        (
            {"stateful": True, "tbptt_steps": 10, "channel_independent": False, "segment_length": 24},
            "segment_length=24",
        ),
        ({"stateful": True, "tbptt_steps": 10, "channel_independent": False, "head": "parallel"}, "head=.parallel"),
        ({"stateful": True, "tbptt_steps": 10, "channel_independent": False, "norm": "instance"}, "norm"),
    ],
)
def test_nonsense_is_refused_before_reading_data(params, words):
    with pytest.raises(ConfigError, match=words):
        RNNForecaster(**params).fit("no-such-file.csv")


# ----------------------------------------------------------------------------- the CLI
@pytest.mark.slow
def test_cli_fit_with_segments_and_refusals(tmp_path):
    frame(300).to_csv(tmp_path / "d.csv", index=False)
    small = ["--lookback", "48", "-H", "12", "--epochs", "2", "--hidden", "8", "--no-track", "--quiet"]
    r = run_cli(
        "fit", "d.csv", *small, "--segment-length", "auto", "--head", "parallel", "--norm", "last", "--json",
        "--out", "m", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["params"]["segment_length"] == "auto" and config["params"]["head"] == "parallel"
    assert config["model"]["segment_length"] == 24 and config["model"]["norm"] == "last"
    # the CLI's own conversion of the option (the estimator's refusals are tested above)
    r = run_cli("fit", "d.csv", *small, "--segment-length", "abc", "--out", "bad", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "--segment-length 'abc'" in r.stderr and not (tmp_path / "bad").exists()
