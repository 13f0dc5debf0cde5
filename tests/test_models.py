"""Tests for tsrnn.models: shapes, instance norm, truncated BPTT, teacher forcing, channel independence,
the stateful model, the pinball loss, argument checks, and that a small model actually learns."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch

from tsrnn.models import (
    CELLS,
    HEADS,
    NORMS,
    InstanceNorm,
    NextStepRNN,
    RecurrentEncoder,
    RecurrentForecaster,
    detach_state,
    pinball_loss,
)


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def small(**overrides) -> RecurrentForecaster:
    """A tiny forecaster: 3 inputs, targets 0 and 2 (channel 1 is a covariate), horizon 4."""
    kwargs = dict(n_inputs=3, target_index=[0, 2], horizon=4, hidden_size=8, num_layers=2)
    kwargs.update(overrides)
    return RecurrentForecaster(**kwargs)


# ----------------------------------------------------------------------------- shapes


def test_constants():
    assert CELLS == ("rnn", "lstm", "gru")
    assert HEADS == ("direct", "seq2seq", "parallel")
    assert NORMS == ("instance", "last", "none")


@pytest.mark.parametrize("n_quantiles", [1, 3])
@pytest.mark.parametrize("channel_independent", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("cell", CELLS)
def test_forecaster_output_shape(cell, head, bidirectional, channel_independent, n_quantiles):
    model = small(
        cell=cell,
        head=head,
        bidirectional=bidirectional,
        channel_independent=channel_independent,
        n_quantiles=n_quantiles,
    )
    x, y = torch.randn(5, 10, 3), torch.randn(5, 4, 2)
    model.train()
    assert model(x, y, tbptt_steps=4).shape == (5, 4, 2, n_quantiles)
    model.eval()
    out = model(x)
    assert out.shape == (5, 4, 2, n_quantiles)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("cell, torch_cell", [("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_encoder_shapes_and_summary_layout(cell, torch_cell, bidirectional):
    enc = RecurrentEncoder(3, hidden_size=5, num_layers=2, cell=cell, bidirectional=bidirectional)
    assert isinstance(enc.rnn, torch_cell) and enc.rnn.num_layers == 2
    d = 2 if bidirectional else 1
    assert enc.output_size == d * 5
    out, state = enc(torch.randn(4, 7, 3))
    assert out.shape == (4, 7, d * 5)
    h = state[0] if cell == "lstm" else state
    assert h.shape == (2 * d, 4, 5)
    summary = enc.summary(state)
    assert summary.shape == (4, d * 5)
    # the summary is the last layer's final hidden state: forward half at t = L-1, backward half at t = 0
    torch.testing.assert_close(summary[:, :5], out[:, -1, :5])
    if bidirectional:
        torch.testing.assert_close(summary[:, 5:], out[:, 0, 5:])
    layers = enc.layer_states(state)
    for s in layers if cell == "lstm" else (layers,):
        assert s.shape == (2, 4, d * 5)
    h_layers = layers[0] if cell == "lstm" else layers
    torch.testing.assert_close(h_layers[-1], summary)


def test_hidden_size_num_layers_and_horizon_shape_the_model():
    model = small(hidden_size=6, num_layers=3, horizon=7, bidirectional=True)
    assert model.encoder.rnn.hidden_size == 6 and model.encoder.rnn.num_layers == 3
    assert model.head.in_features == 12 and model.head.out_features == 7 * 2
    assert model(torch.randn(2, 9, 3)).shape == (2, 7, 2, 1)
    s2s = small(hidden_size=6, num_layers=3, bidirectional=True, head="seq2seq")
    assert s2s.decoder.rnn.hidden_size == 12 and s2s.decoder.rnn.num_layers == 3
    assert not s2s.decoder.rnn.bidirectional


def test_dropout_acts_between_layers_in_training_only():
    x = torch.randn(3, 8, 3)
    model = small(dropout=0.5).train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    no_dropout = small(dropout=0.0).train()
    torch.testing.assert_close(no_dropout(x), no_dropout(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns about dropout with a single layer unless we pass 0
        enc = RecurrentEncoder(3, hidden_size=4, num_layers=1, dropout=0.5)
    assert enc.rnn.dropout == 0.0


def test_config_round_trip_rebuilds_the_same_model():
    model = small(
        cell="gru",
        head="seq2seq",
        bidirectional=True,
        dropout=0.1,
        teacher_forcing=0.25,
        norm="none",
        channel_independent=True,
        n_quantiles=3,
    ).eval()
    cfg = json.loads(json.dumps(model.config()))
    assert cfg["target_index"] == [0, 2] and cfg["head"] == "seq2seq"
    rebuilt = RecurrentForecaster(**cfg)
    rebuilt.load_state_dict(model.state_dict())
    rebuilt.eval()
    x = torch.randn(2, 6, 3)
    torch.testing.assert_close(rebuilt(x), model(x))


# ----------------------------------------------------------------------------- instance norm


def test_instance_norm_normalize_and_denormalize():
    norm = InstanceNorm()
    x = torch.randn(4, 20, 3, dtype=torch.float64) * torch.tensor([1.0, 5.0, 0.1]) + torch.tensor([0.0, -3.0, 100.0])
    z, (mean, std) = norm.normalize(x)
    assert mean.shape == std.shape == (4, 1, 3)
    torch.testing.assert_close(z.mean(dim=1), torch.zeros(4, 3, dtype=torch.float64), atol=1e-9, rtol=0)
    torch.testing.assert_close(z.std(dim=1, unbiased=False), torch.ones(4, 3, dtype=torch.float64), atol=1e-3, rtol=0)
    torch.testing.assert_close(norm.denormalize(z, (mean, std)), x)
    # selected channels, with an extra trailing quantile dim
    y = z[:, :5, [2, 0], None].expand(4, 5, 2, 3)  # (B, H, 2, Q)
    back = norm.denormalize(y, (mean, std), [2, 0])
    torch.testing.assert_close(back, x[:, :5, [2, 0], None].expand(4, 5, 2, 3))
    torch.testing.assert_close(norm.normalize_like(x[:, :5, [2, 0]], (mean, std), [2, 0]), z[:, :5, [2, 0]])
    # a constant window does not divide by zero
    z_const, _ = norm.normalize(torch.full((1, 6, 1), 7.0))
    assert torch.equal(z_const, torch.zeros(1, 6, 1))


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("channel_independent", [False, True])
def test_instance_norm_makes_forecasts_affine_equivariant(head, channel_independent):
    model = small(head=head, channel_independent=channel_independent, n_quantiles=3, norm="instance").eval()
    x = torch.randn(4, 16, 3)
    a = torch.tensor([2.5, 0.3, 4.0])  # per channel, a > 0
    b = torch.tensor([-1.0, 7.0, 30.0])
    expected = model(x) * a[[0, 2], None] + b[[0, 2], None]  # targets are channels 0 and 2
    torch.testing.assert_close(model(x * a + b), expected, rtol=1e-4, atol=1e-4)
    # also in training mode with teacher forcing: y is normalized with the same statistics
    model.train()
    model.teacher_forcing = 1.0
    y = torch.randn(4, 4, 2)
    out = model(x, y)
    torch.testing.assert_close(
        model(x * a + b, y * a[[0, 2]] + b[[0, 2]]), out * a[[0, 2], None] + b[[0, 2], None], rtol=1e-4, atol=1e-4
    )


def test_without_instance_norm_forecasts_are_not_equivariant():
    model = small(norm="none").eval()
    assert model.norm is None
    x = torch.randn(4, 16, 3)
    assert not torch.allclose(model(x * 3.0 + 5.0), model(x) * 3.0 + 5.0, atol=1e-2)


# ----------------------------------------------------------------------------- truncated BPTT


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("lookback, k", [(12, 4), (10, 4), (10, 1)])
def test_tbptt_gradient_reaches_only_the_last_k_steps(cell, lookback, k):
    model = small(cell=cell, norm="none")  # instance norm's mean/std would pass gradient to every step
    x = torch.randn(3, lookback, 3, requires_grad=True)
    model(x, tbptt_steps=k).sum().backward()
    per_step = x.grad.abs().sum(dim=(0, 2))  # (L,)
    assert torch.all(per_step[: lookback - k] == 0)
    assert torch.all(per_step[lookback - k :] > 0)

    x.grad = None
    model(x).sum().backward()
    assert x.grad[:, 0].abs().sum() > 0  # without truncation the gradient reaches t = 0


def test_tbptt_longer_than_the_window_is_a_plain_pass():
    model = small(norm="none")
    x = torch.randn(2, 6, 3, requires_grad=True)
    model(x, tbptt_steps=50).sum().backward()
    assert x.grad[:, 0].abs().sum() > 0


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("k", [1, 3, 4, 11])
def test_tbptt_does_not_change_unidirectional_values(cell, k):
    enc = RecurrentEncoder(3, hidden_size=6, num_layers=2, cell=cell)
    x = torch.randn(2, 11, 3)
    out_full, state_full = enc(x)
    out_tbptt, state_tbptt = enc(x, tbptt_steps=k)
    torch.testing.assert_close(out_tbptt, out_full)
    torch.testing.assert_close(state_tbptt, state_full)


def test_tbptt_bidirectional_backward_direction_sees_only_its_chunk():
    enc = RecurrentEncoder(2, hidden_size=4, num_layers=1, cell="gru", bidirectional=True)
    x = torch.randn(2, 10, 2)
    out_tbptt, _ = enc(x, tbptt_steps=4)  # chunks [0:2], [2:6], [6:10]
    out_last, _ = enc(x[:, 6:], enc(x[:, :6], tbptt_steps=4)[1])
    torch.testing.assert_close(out_tbptt[:, 6:], out_last)
    out_full, _ = enc(x)
    assert not torch.allclose(out_tbptt[:, :6, 4:], out_full[:, :6, 4:])  # backward direction differs
    torch.testing.assert_close(out_tbptt[..., :4], out_full[..., :4])  # forward direction does not


def test_detach_state_keeps_values_and_cuts_the_graph():
    h = torch.randn(2, 3, 4, requires_grad=True) * 2
    c = torch.randn(2, 3, 4, requires_grad=True) * 2
    for state in (h, (h, c)):
        detached = detach_state(state)
        pairs = zip(detached, state) if isinstance(state, tuple) else [(detached, state)]
        for d, s in pairs:
            assert torch.equal(d, s) and not d.requires_grad and s.requires_grad


# ----------------------------------------------------------------------------- seq2seq teacher forcing


@pytest.mark.parametrize("cell", CELLS)
def test_seq2seq_teacher_forcing_feeds_the_truth_in_training(cell):
    model = small(cell=cell, head="seq2seq", teacher_forcing=1.0, horizon=5).train()
    x, y = torch.randn(3, 8, 3), torch.randn(3, 5, 2)
    out = model(x, y)
    for t in range(1, 5):
        y2 = y.clone()
        y2[:, t - 1] += 1.0
        out2 = model(x, y2)
        torch.testing.assert_close(out2[:, :t], out[:, :t])  # earlier steps do not see y[t-1]
        assert not torch.allclose(out2[:, t], out[:, t])  # step t does
    # the last true value is never an input
    y2 = y.clone()
    y2[:, -1] += 1.0
    torch.testing.assert_close(model(x, y2), out)


def test_seq2seq_ignores_y_in_eval_and_without_teacher_forcing():
    x, y = torch.randn(3, 8, 3), torch.randn(3, 4, 2)
    model = small(head="seq2seq", teacher_forcing=1.0).eval()
    free_running = model(x)
    torch.testing.assert_close(model(x, y), free_running)
    torch.testing.assert_close(model(x, y + 5.0), free_running)
    model.train()  # no dropout, so training mode differs only by teacher forcing
    assert not torch.allclose(model(x, y), free_running)
    model.teacher_forcing = 0.0
    torch.testing.assert_close(model(x, y), free_running)


def test_seq2seq_teacher_forcing_probability_follows_the_seed():
    model = small(head="seq2seq", teacher_forcing=0.5, horizon=12).train()
    x, y = torch.randn(2, 8, 3), torch.randn(2, 12, 2)
    torch.manual_seed(123)
    a = model(x, y)
    torch.manual_seed(123)
    torch.testing.assert_close(model(x, y), a)
    model.teacher_forcing = 1.0
    forced = model(x, y)
    model.teacher_forcing = 0.0
    free = model(x, y)
    # with p = 0.5 over 11 draws, some steps are forced and some are not
    same_as_forced = [torch.allclose(a[:, t], forced[:, t]) for t in range(12)]
    same_as_free = [torch.allclose(a[:, t], free[:, t]) for t in range(12)]
    assert not all(same_as_forced) and not all(same_as_free)


def test_seq2seq_feeds_back_the_middle_quantile_detached():
    model = small(head="seq2seq", n_quantiles=3, norm="none").eval()
    x = torch.randn(2, 8, 3, requires_grad=True)
    out = model(x)
    (grad_model,) = torch.autograd.grad(out[:, -1].sum(), x)

    def unroll_by_hand(detach: bool) -> tuple[torch.Tensor, torch.Tensor]:
        _, state = model.encoder(x)
        dstate = model.encoder.layer_states(state)
        step_input = x[:, -1:, [0, 2]]  # last observed targets
        preds = []
        for _ in range(4):
            h, dstate = model.decoder(step_input, dstate)
            preds.append(model.head(h[:, 0]).view(2, 2, 3))
            step_input = preds[-1][:, None, :, 1]  # middle quantile
            step_input = step_input.detach() if detach else step_input
        pred = torch.stack(preds, dim=1)
        return pred, torch.autograd.grad(pred[:, -1].sum(), x)[0]

    pred, grad_detached = unroll_by_hand(detach=True)
    torch.testing.assert_close(pred, out)
    torch.testing.assert_close(grad_model, grad_detached)
    _, grad_attached = unroll_by_hand(detach=False)
    assert not torch.allclose(grad_model, grad_attached)


# ----------------------------------------------------------------------------- channel independence


@pytest.mark.parametrize("head", HEADS)
def test_channel_independent_permuting_targets_permutes_outputs(head):
    kwargs = dict(n_inputs=4, target_index=[0, 1, 2], horizon=3, hidden_size=8, head=head)
    x = torch.randn(2, 9, 4)
    perm = [2, 0, 1]
    x_perm = x.clone()
    x_perm[:, :, [0, 1, 2]] = x[:, :, perm]  # channel 3 (covariate) stays
    model = RecurrentForecaster(channel_independent=True, **kwargs).eval()
    assert model.encoder.rnn.input_size == 2  # one target + one covariate
    expected = model(x)[:, :, perm]
    if head == "parallel":  # its learned channel vectors tell the channels apart: permute them too
        assert not torch.allclose(model(x_perm), expected)
        with torch.no_grad():
            model.channel_vectors.copy_(model.channel_vectors[perm])
    torch.testing.assert_close(model(x_perm), expected)
    joint = RecurrentForecaster(channel_independent=False, **kwargs).eval()
    assert joint.encoder.rnn.input_size == 4
    assert not torch.allclose(joint(x_perm), joint(x)[:, :, perm])


def test_channel_independent_each_target_sees_only_itself_and_covariates():
    model = small(channel_independent=True).eval()  # targets 0, 2; covariate 1
    x = torch.randn(2, 9, 3)
    x2 = x.clone()
    x2[:, :, 2] += torch.randn(2, 9)
    out, out2 = model(x), model(x2)
    torch.testing.assert_close(out2[:, :, 0], out[:, :, 0])  # target 0 ignores target 2
    assert not torch.allclose(out2[:, :, 1], out[:, :, 1])
    x3 = x.clone()
    x3[:, :, 1] += torch.randn(2, 9)  # the covariate feeds both
    out3 = model(x3)
    assert not torch.allclose(out3[:, :, 0], out[:, :, 0]) and not torch.allclose(out3[:, :, 1], out[:, :, 1])


def test_target_index_order_selects_output_channels():
    model = RecurrentForecaster(3, [2, 0], horizon=2, hidden_size=4, channel_independent=True).eval()
    x = torch.randn(2, 9, 3)
    swapped = RecurrentForecaster(3, [0, 2], horizon=2, hidden_size=4, channel_independent=True).eval()
    swapped.load_state_dict(model.state_dict())
    torch.testing.assert_close(swapped(x), model(x)[:, :, [1, 0]])


# ----------------------------------------------------------------------------- pinball loss


def test_pinball_loss_median_is_half_mae():
    pred, y = torch.randn(3, 4, 2, 1), torch.randn(3, 4, 2)
    loss = pinball_loss(pred, y, torch.tensor([0.5]))
    torch.testing.assert_close(loss, 0.5 * (pred[..., 0] - y).abs().mean())


def test_pinball_loss_hand_computed():
    y = torch.tensor([1.0]).view(1, 1, 1)
    pred = torch.tensor([0.0, 1.0, 3.0]).view(1, 1, 1, 3)
    # q=0.1 under-forecast by 1: 0.1; q=0.5 exact: 0; q=0.9 over-forecast by 2: 0.1 * 2 = 0.2
    loss = pinball_loss(pred, y, torch.tensor([0.1, 0.5, 0.9]))
    torch.testing.assert_close(loss, torch.tensor((0.1 + 0.0 + 0.2) / 3))


@pytest.mark.parametrize(
    "pred_shape, y_shape, quantiles, name",
    [
        ((2, 3, 1, 2), (2, 3, 1), [0.5], "quantiles"),
        ((2, 3, 1, 1), (2, 3, 1), [1.0], "quantiles"),
        ((2, 3, 1, 1), (2, 3, 2), [0.5], "y"),
    ],
)
def test_pinball_loss_bad_shapes(pred_shape, y_shape, quantiles, name):
    with pytest.raises(ValueError, match=name):
        pinball_loss(torch.zeros(pred_shape), torch.zeros(y_shape), torch.tensor(quantiles))


# ----------------------------------------------------------------------------- stateful next-step model


@pytest.mark.parametrize("cell", CELLS)
def test_next_step_state_carried_over_chunks_equals_one_pass(cell):
    model = NextStepRNN(3, [1], cell=cell, hidden_size=6, num_layers=2).eval()
    x = torch.randn(2, 12, 3)
    full, full_state = model(x)
    assert full.shape == (2, 12, 1)
    first, state = model(x[:, :5])
    second, state = model(x[:, 5:], detach_state(state))
    torch.testing.assert_close(torch.cat([first, second], dim=1), full)
    torch.testing.assert_close(state, full_state)
    fresh, _ = model(x[:, 5:])
    assert not torch.allclose(fresh, second)  # the carried state matters


def test_next_step_config_and_arguments():
    model = NextStepRNN(4, [0, 3], cell="gru", hidden_size=5, num_layers=3, dropout=0.2)
    cfg = json.loads(json.dumps(model.config()))
    assert cfg == dict(n_inputs=4, target_index=[0, 3], cell="gru", hidden_size=5, num_layers=3, dropout=0.2)
    rebuilt = NextStepRNN(**cfg)
    assert isinstance(rebuilt.encoder.rnn, torch.nn.GRU)
    assert rebuilt.encoder.rnn.num_layers == 3 and rebuilt.encoder.rnn.dropout == 0.2
    assert rebuilt(torch.randn(2, 5, 4))[0].shape == (2, 5, 2)


# ----------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    "overrides, name",
    [
        (dict(cell="transformer"), "cell"),
        (dict(head="attention"), "head"),
        (dict(horizon=0), "horizon"),
        (dict(horizon=2.5), "horizon"),
        (dict(hidden_size=0), "hidden_size"),
        (dict(num_layers=0), "num_layers"),
        (dict(dropout=1.0), "dropout"),
        (dict(dropout=-0.1), "dropout"),
        (dict(teacher_forcing=1.5), "teacher_forcing"),
        (dict(teacher_forcing=-0.1), "teacher_forcing"),
        (dict(target_index=[]), "target_index"),
        (dict(target_index=[0, 0]), "target_index"),
        (dict(target_index=[3]), "target_index"),
        (dict(target_index=[-1]), "target_index"),
        (dict(target_index=[0.5]), "target_index"),
        (dict(target_index="0"), "target_index"),
        (dict(n_quantiles=0), "n_quantiles"),
        (dict(n_inputs=0, target_index=[0]), "n_inputs"),
    ],
)
def test_forecaster_bad_arguments_raise_value_error(overrides, name):
    with pytest.raises(ValueError, match=name):
        small(**overrides)


def test_bad_argument_message_lists_allowed_values():
    with pytest.raises(ValueError, match="unknown cell 'LSTM'.*\n.*use one of rnn, lstm, gru"):
        small(cell="LSTM")
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        small(dropout=2)


def test_forward_bad_inputs_raise_value_error():
    model = small(head="seq2seq")
    with pytest.raises(ValueError, match="x"):
        model(torch.randn(2, 8, 4))
    with pytest.raises(ValueError, match="y"):
        model(torch.randn(2, 8, 3), torch.randn(2, 3, 2))
    with pytest.raises(ValueError, match="tbptt_steps"):
        model(torch.randn(2, 8, 3), tbptt_steps=0)
    with pytest.raises(ValueError, match="x"):
        NextStepRNN(3, [0], hidden_size=4)(torch.randn(2, 8))


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: RecurrentEncoder(3, cell="lstmm"), "cell"),
        (lambda: RecurrentEncoder(0), "n_inputs"),
        (lambda: RecurrentEncoder(3, hidden_size=-1), "hidden_size"),
        (lambda: RecurrentEncoder(3, dropout=1), "dropout"),
        (lambda: NextStepRNN(3, [5]), "target_index"),
        (lambda: NextStepRNN(3, [0], cell="x"), "cell"),
        (lambda: NextStepRNN(3, [0], num_layers=0), "num_layers"),
    ],
)
def test_encoder_and_next_step_bad_arguments(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_numpy_integers_are_accepted_and_stored_as_json_ints():
    model = small(target_index=np.array([0, 2]), horizon=np.int64(4), hidden_size=np.int32(8))
    cfg = model.config()
    assert cfg["target_index"] == [0, 2] and cfg["horizon"] == 4
    json.dumps(cfg)


# ----------------------------------------------------------------------------- it learns


def test_direct_lstm_learns_a_sine_wave():
    lookback, horizon = 24, 6
    t = torch.arange(400, dtype=torch.float32)
    series = 2.0 * torch.sin(2 * math.pi * t / 16) + 1.0
    windows = series.unfold(0, lookback + horizon, 1)  # (N, L + H)
    x, y = windows[:, :lookback, None], windows[:, lookback:, None]  # (N, L, 1), (N, H, 1)
    model = RecurrentForecaster(1, [0], horizon, cell="lstm", hidden_size=16, num_layers=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        idx = torch.randint(0, len(x), (32,))
        loss = torch.nn.functional.mse_loss(model(x[idx])[..., 0], y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        mse = torch.nn.functional.mse_loss(model(x)[..., 0], y).item()
    assert mse < 0.01  # the series' variance is 2.0


# ----------------------------------------------------------------------------- series embedding


@pytest.mark.parametrize("channel_independent", [False, True])
@pytest.mark.parametrize("head", HEADS)
def test_series_embedding_tells_series_apart(head, channel_independent):
    model = small(head=head, channel_independent=channel_independent, n_ids=5, embedding_dim=3).eval()
    assert model.embedding.weight.shape == (5, 3)
    assert model.encoder.rnn.input_size == (2 if channel_independent else 3) + 3
    x = torch.randn(1, 10, 3).expand(4, -1, -1)  # one window, four times
    out = model(x, ids=torch.tensor([0, 1, 4, 0]))
    assert out.shape == (4, 4, 2, 1)
    torch.testing.assert_close(out[0], out[3])  # same window, same series: same forecast
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[0], out[2])


def test_series_embedding_needs_ids_and_plain_models_refuse_them():
    with pytest.raises(ValueError, match="pass ids"):
        small(n_ids=3, embedding_dim=2)(torch.randn(2, 6, 3))
    with pytest.raises(ValueError, match=r"ids must have shape \(batch=2,\)"):
        small(n_ids=3, embedding_dim=2)(torch.randn(2, 6, 3), ids=torch.tensor([0]))
    with pytest.raises(ValueError, match="no series embedding"):
        small()(torch.randn(2, 6, 3), ids=torch.tensor([0, 1]))
    for n_ids, dim in ((3, 0), (0, 2)):
        with pytest.raises(ValueError, match="both be positive"):
            small(n_ids=n_ids, embedding_dim=dim)


def test_series_embedding_survives_the_config_round_trip():
    model = small(n_ids=4, embedding_dim=2).eval()
    cfg = json.loads(json.dumps(model.config()))
    assert (cfg["n_ids"], cfg["embedding_dim"]) == (4, 2)
    rebuilt = RecurrentForecaster(**cfg)
    rebuilt.load_state_dict(model.state_dict())
    x, ids = torch.randn(3, 6, 3), torch.tensor([3, 0, 1])
    torch.testing.assert_close(rebuilt.eval()(x, ids=ids), model(x, ids=ids))
    plain = small()
    assert plain.embedding is None and (plain.config()["n_ids"], plain.config()["embedding_dim"]) == (0, 0)
