"""Tests for the training loop (tsrnn.training), its callbacks (tsrnn.callbacks) and checkpoints
(tsrnn.checkpoint): history, clipping, early stopping, resume, truncated BPTT, Ctrl-C, config checks
and determinism. Everything runs on tiny generated data on the CPU."""

from __future__ import annotations

import copy
import json
import math
import pickle
import signal
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tsrnn import training
from tsrnn.callbacks import Checkpoint, EarlyStopping, Progress
from tsrnn.checkpoint import load_checkpoint, save_checkpoint
from tsrnn.data import from_arrays
from tsrnn.errors import ConfigError, ModelFileError
from tsrnn.models import RecurrentForecaster
from tsrnn.training import Callback, TrainConfig, Trainer, resolve_device, resolve_precision
from tsrnn.windows import WindowBatches, make_windows

LOOKBACK, HORIZON = 32, 8


@pytest.fixture(scope="module")
def data():
    """A noisy hourly sine (one target, one covariate), its windows and its scaled-ish values."""
    rng = np.random.default_rng(0)
    n = 400
    k = np.arange(n)
    y = np.sin(2 * np.pi * k / 24) + 0.1 * rng.standard_normal(n)
    cov = np.cos(2 * np.pi * k / 24)
    series = from_arrays(np.stack([y, cov], axis=1), targets=["y", "cov"])
    windows = make_windows(series, LOOKBACK, HORIZON, val=0.15, test=0.1)
    values = torch.from_numpy(series.values)
    return windows, values


def train_batches(data, batch_size=32, seed=3):
    windows, values = data
    return WindowBatches(values, windows.train, 1, batch_size, shuffle=True, seed=seed)


def val_batches(data):
    windows, values = data
    return WindowBatches(values, windows.val, 1, 256)


def make_model(seed=1, **kw):
    torch.manual_seed(seed)
    args = dict(n_inputs=2, target_index=[0], horizon=HORIZON, hidden_size=8, num_layers=1)
    args.update(kw)
    return RecurrentForecaster(**args)


def mse(model, batch):
    x, y = batch
    return torch.nn.functional.mse_loss(model(x)[..., 0], y)


def mse_tf(model, batch):
    """With y passed in, so the seq2seq head uses teacher forcing in training."""
    x, y = batch
    return torch.nn.functional.mse_loss(model(x, y)[..., 0], y)


def config(**kw):
    args = dict(epochs=3, lr=1e-2, device="cpu", seed=0)
    args.update(kw)
    return TrainConfig(**args)


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def same_state(a, b, skip=("epoch_time", "samples_per_s")):
    """Nested dicts/lists of tensors and numbers are equal (tensors bit for bit, same dtype);
    the wall-clock fields of epoch logs are skipped."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a.cpu(), b.cpu())
    if isinstance(a, dict):
        keys = [k for k in a if k not in skip]
        return (
            isinstance(b, dict)
            and keys == [k for k in b if k not in skip]
            and all(same_state(a[k], b[k]) for k in keys)
        )
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same_state(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


class StopAt(Callback):
    """Ends training after epoch ``epoch`` (as an interruption would)."""

    def __init__(self, epoch):
        self.at = epoch

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == self.at:
            trainer.stop = True


class Epochs(Callback):
    """Records the epochs that ran and the weights at each epoch's end."""

    def __init__(self):
        self.started, self.snapshots = [], {}

    def on_epoch_start(self, trainer, epoch):
        self.started.append(epoch)

    def on_epoch_end(self, trainer, epoch, logs):
        self.snapshots[epoch] = weights(trainer.model)


# ----------------------------------------------------------------------------- history


def test_loss_goes_down_and_history_has_every_field(data):
    model = make_model()
    history = Trainer(model, mse, config(epochs=4, clip_grad_norm=1.0)).fit(train_batches(data), val_batches(data))
    assert history.status == "finished"
    assert [e["epoch"] for e in history.epochs] == [1, 2, 3, 4]
    for e in history.epochs:
        assert {"loss", "lr", "epoch_time", "samples_per_s", "grad_norm", "val_loss"} <= e.keys()
        assert math.isfinite(e["loss"]) and math.isfinite(e["val_loss"])
        assert e["epoch_time"] > 0 and e["samples_per_s"] > 0 and e["grad_norm"] > 0
    losses = [e["loss"] for e in history.epochs]
    assert losses[-1] < 0.7 * losses[0]
    assert history.epochs[-1]["val_loss"] < history.epochs[0]["val_loss"]
    lrs = [e["lr"] for e in history.epochs]  # cosine: the first epoch at the full rate, then decaying
    assert lrs[0] == pytest.approx(1e-2)
    assert all(b < a for a, b in zip(lrs, lrs[1:]))


def test_no_grad_norm_without_clipping_and_no_val_loss_without_val(data):
    history = Trainer(make_model(), mse, config(epochs=1, clip_grad_norm=None)).fit(train_batches(data))
    (logs,) = history.epochs
    assert "grad_norm" not in logs and "val_loss" not in logs
    assert {"loss", "lr", "epoch_time", "samples_per_s"} <= logs.keys()


def test_samples_per_epoch_are_counted(data):
    seen = []

    class Count(Callback):
        def on_batch_end(self, trainer, batch, loss, n):
            seen.append(n)

    train = train_batches(data, batch_size=50)
    Trainer(make_model(), mse, config(epochs=1), [Count()]).fit(train)
    assert sum(seen) == len(train)
    assert len(seen) == math.ceil(len(train) / 50)


def test_reset_is_called_every_epoch_and_before_evaluation(data):
    calls = []

    class Loss:
        def __call__(self, model, batch):
            return mse(model, batch)

        def reset(self):
            calls.append("reset")

    Trainer(make_model(), Loss(), config(epochs=2)).fit(train_batches(data), val_batches(data))
    assert calls == ["reset"] * 4  # train + evaluate, twice


# ----------------------------------------------------------------------------- clipping


def test_gradient_clipping_bounds_the_norm_and_logs_the_norm_before_clipping(data):
    clip = 1e-3
    model = make_model()
    pre, post = [], []

    def total_norm(grads):
        return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))

    # the gradient of each parameter as backward leaves it (before clipping) ...
    fresh: dict[int, torch.Tensor] = {}
    handles = [
        p.register_post_accumulate_grad_hook(lambda p: fresh.__setitem__(id(p), p.grad.detach().clone()))
        for p in model.parameters()
    ]

    class Spy(Callback):
        def on_fit_start(self, trainer):
            def before_step(optimizer, args, kwargs):  # ... and as the optimizer sees it (after clipping)
                params = [p for g in optimizer.param_groups for p in g["params"]]
                pre.append(total_norm([fresh[id(p)] for p in params]))
                post.append(total_norm([p.grad for p in params]))
                fresh.clear()

            trainer.optimizer.register_step_pre_hook(before_step)

    try:
        history = Trainer(model, mse, config(epochs=1, clip_grad_norm=clip), [Spy()]).fit(train_batches(data))
    finally:
        for h in handles:
            h.remove()
    assert len(pre) == len(post) == math.ceil(len(train_batches(data)) / 32)
    assert min(pre) > 10 * clip  # clipping was active at every step
    assert max(post) <= clip * (1 + 1e-4)
    assert post == pytest.approx([clip] * len(post), rel=1e-3)
    assert history.epochs[0]["grad_norm"] == pytest.approx(float(np.mean(pre)), rel=1e-4)


def test_no_clipping_leaves_gradients_alone(data):
    model = make_model()
    norms = []

    class Spy(Callback):
        def on_fit_start(self, trainer):
            trainer.optimizer.register_step_pre_hook(
                lambda opt, a, k: norms.append(
                    float(torch.nn.utils.get_total_norm([p.grad for g in opt.param_groups for p in g["params"]]))
                )
            )

    Trainer(model, mse, config(epochs=1, clip_grad_norm=None), [Spy()]).fit(train_batches(data))
    assert max(norms) > 1e-2  # far above the 1e-3 of the clipping test: gradients were not scaled down


# ----------------------------------------------------------------------------- early stopping


def scripted_evaluate(trainer, values):
    it = iter(values)
    trainer.evaluate = lambda batches: next(it)


def test_early_stopping_stops_and_restores_the_best_weights(data):
    model = make_model()
    rec = Epochs()
    early = EarlyStopping(patience=2)
    trainer = Trainer(model, mse, config(epochs=10), [rec, early])
    scripted_evaluate(trainer, [1.0, 0.5, 0.7, 0.6, 0.1, 0.1])
    history = trainer.fit(train_batches(data), val_batches(data))
    assert history.status == "early_stopped"
    assert [e["epoch"] for e in history.epochs] == [1, 2, 3, 4]
    assert [e["val_loss"] for e in history.epochs] == [1.0, 0.5, 0.7, 0.6]
    assert history.best_epoch == 2
    assert not same_weights(rec.snapshots[2], rec.snapshots[4])  # training did move the weights on
    assert same_weights(weights(model), rec.snapshots[2])


def test_early_stopping_min_delta(data):
    trainer = Trainer(make_model(), mse, config(epochs=10), [EarlyStopping(patience=2, min_delta=0.1)])
    scripted_evaluate(trainer, [1.0, 0.95, 0.92, 0.5, 0.5])  # 0.95 and 0.92 are not better by 0.1
    history = trainer.fit(train_batches(data), val_batches(data))
    assert history.status == "early_stopped"
    assert len(history.epochs) == 3 and history.best_epoch == 1


def test_early_stopping_without_the_monitored_value_never_stops(data):
    history = Trainer(make_model(), mse, config(epochs=2), [EarlyStopping(patience=1)]).fit(train_batches(data))
    assert history.status == "finished" and len(history.epochs) == 2 and history.best_epoch is None


def test_a_callback_can_stop_training(data):
    history = Trainer(make_model(), mse, config(epochs=5), [StopAt(2)]).fit(train_batches(data))
    assert history.status == "early_stopped" and len(history.epochs) == 2


# ----------------------------------------------------------------------------- checkpoints and resume


def _resume_matches_uninterrupted(data, tmp_path, schedule="cosine", **model_kw):
    cfg = dict(epochs=4, lr_schedule=schedule)
    full = make_model(**model_kw)
    full_history = Trainer(full, mse, config(**cfg)).fit(train_batches(data), val_batches(data))

    first = make_model(**model_kw)
    h1 = Trainer(first, mse, config(**cfg), [Checkpoint(tmp_path), StopAt(2)]).fit(
        train_batches(data), val_batches(data)
    )
    assert h1.status == "early_stopped" and len(h1.epochs) == 2
    path = tmp_path / "last.safetensors"
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 2

    resumed = make_model(seed=99, **model_kw)  # other initial weights: they must all come from the checkpoint
    rec = Epochs()
    history = Trainer(resumed, mse, config(**cfg), [rec]).fit(train_batches(data), val_batches(data), resume=ckpt)
    assert rec.started == [3, 4]
    assert [e["epoch"] for e in history.epochs] == [1, 2, 3, 4]
    assert [e["lr"] for e in history.epochs] == pytest.approx([e["lr"] for e in full_history.epochs])
    return weights(full), weights(resumed)


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "plateau", "none"])
def test_resume_continues_exactly(data, tmp_path, schedule):
    full, resumed = _resume_matches_uninterrupted(data, tmp_path, schedule)
    assert same_weights(full, resumed)


@pytest.mark.parametrize("schedule", ["none", "plateau"])
def test_resume_with_more_epochs_equals_one_longer_run(data, tmp_path, schedule):
    """Schedules that do not depend on the number of epochs: 2 epochs, then resumed to 4 == 4 epochs."""
    full = make_model()
    Trainer(full, mse, config(epochs=4, lr_schedule=schedule)).fit(train_batches(data), val_batches(data))
    first = make_model()
    Trainer(first, mse, config(epochs=2, lr_schedule=schedule), [Checkpoint(tmp_path)]).fit(
        train_batches(data), val_batches(data)
    )
    resumed = make_model(seed=5)
    rec = Epochs()
    history = Trainer(resumed, mse, config(epochs=4, lr_schedule=schedule), [rec]).fit(
        train_batches(data), val_batches(data), resume=load_checkpoint(tmp_path / "last.safetensors")
    )
    assert rec.started == [3, 4] and history.status == "finished"
    assert same_weights(weights(full), weights(resumed))


def test_resume_with_dropout_continues_exactly(data, tmp_path):
    full, resumed = _resume_matches_uninterrupted(data, tmp_path, num_layers=2, dropout=0.3)
    assert same_weights(full, resumed)


def test_checkpoint_keeps_early_stopping_state(data, tmp_path):
    rec = Epochs()
    early = EarlyStopping(patience=5)
    trainer = Trainer(make_model(), mse, config(epochs=3), [rec, early, Checkpoint(tmp_path)])
    scripted_evaluate(trainer, [1.0, 0.5, 0.7])
    trainer.fit(train_batches(data), val_batches(data))
    ckpt = load_checkpoint(tmp_path / "last.safetensors")
    assert ckpt["epoch"] == 3 and ckpt["best_epoch"] == 2
    assert same_weights(ckpt["best"], rec.snapshots[2])
    assert same_weights(ckpt["model"], rec.snapshots[3])

    # resumed with early stopping, the best so far (epoch 2, 0.5) is still the one to beat
    early2 = EarlyStopping(patience=5)
    resumed = make_model(seed=7)
    trainer2 = Trainer(resumed, mse, config(epochs=4), [early2])
    scripted_evaluate(trainer2, [0.6])
    history = trainer2.fit(train_batches(data), val_batches(data), resume=ckpt)
    assert history.best_epoch == 2 and early2.best == 0.5
    assert early2.wait == 2  # epoch 3 (0.7) from before the resume, epoch 4 (0.6) after it
    assert same_weights(weights(resumed), rec.snapshots[2])
    assert same_weights(trainer2.best_state, rec.snapshots[2])


def _early_stopping_run(data, values, callbacks, resume=None, checkpoint=None):
    early = EarlyStopping(patience=3)
    if checkpoint is not None:  # as RNNForecaster.fit wires them: after the early stopping
        callbacks = [Checkpoint(checkpoint), *callbacks]
    trainer = Trainer(make_model(), mse, config(epochs=10), [early, *callbacks])
    scripted_evaluate(trainer, values)
    return trainer.fit(train_batches(data), val_batches(data), resume=resume)


def test_early_stopping_patience_carries_over_a_resume(data, tmp_path):
    losses = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99, 1.0]
    full = _early_stopping_run(data, losses, [])
    assert full.status == "early_stopped" and len(full.epochs) == 5  # best at 2, three worse epochs

    first = _early_stopping_run(data, losses, [StopAt(4)], checkpoint=tmp_path)
    assert len(first.epochs) == 4
    resumed = _early_stopping_run(data, losses[4:], [], resume=load_checkpoint(tmp_path / "last.safetensors"))
    assert resumed.status == "early_stopped" and resumed.best_epoch == 2
    assert len(resumed.epochs) == len(full.epochs)


def test_resume_with_early_stopping_equals_the_uninterrupted_run(data, tmp_path):
    """Real training with scripted validation losses (best at epoch 2): 2 epochs, a checkpoint, 2 more
    from it end in the same state as 4 epochs in one go: weights, optimizer, history, best weights
    and epoch, and the patience count."""
    losses = [1.0, 0.5, 0.7, 0.6]

    def run(values, callbacks, resume=None, seed=1):
        early, rec = EarlyStopping(patience=5), Epochs()
        trainer = Trainer(make_model(seed=seed), mse, config(epochs=4), [rec, early, *callbacks])
        scripted_evaluate(trainer, values)
        trainer.fit(train_batches(data), val_batches(data), resume=resume)
        return trainer, early, rec

    full, full_early, full_rec = run(losses, [])
    assert full.history.best_epoch == 2 and full_early.wait == 2
    run(losses, [Checkpoint(tmp_path), StopAt(2)])
    resumed, early, rec = run(losses[2:], [], resume=load_checkpoint(tmp_path / "last.safetensors"), seed=9)
    assert rec.started == [3, 4] and resumed.history.status == "finished"
    assert same_weights(rec.snapshots[4], full_rec.snapshots[4])  # the weights trained last, before the restore
    assert same_state(resumed.state_dict(), full.state_dict())  # best weights (restored) and best epoch included
    assert same_weights(weights(resumed.model), full_rec.snapshots[2])
    assert (early.best, early.wait) == (full_early.best, full_early.wait) == (0.5, 2)


def test_state_dict_round_trip(data, tmp_path):
    """load_state_dict(state_dict()) and save/load_checkpoint keep every tensor (dtype included),
    the optimizer's int keys, the schedule, the random stream, history and best weights."""
    saved = {}

    class Keep(Callback):  # the state at the last epoch's end, before the best weights are loaded back
        def on_epoch_end(self, trainer, epoch, logs):
            saved["state"] = copy.deepcopy(trainer.state_dict())

    a = Trainer(make_model(seed=1), mse, config(epochs=2), [EarlyStopping(patience=5), Keep()])
    scripted_evaluate(a, [1.0, 2.0])
    a.fit(train_batches(data), val_batches(data))
    state = saved["state"]
    assert state["epoch"] == 2 and state["best_epoch"] == 1 and len(state["history"]) == 2
    assert same_weights(state["best"], a.best_state) and not same_weights(state["best"], state["model"])
    assert 0 in state["optimizer"]["state"] and state["rng"].dtype == torch.uint8

    b = Trainer(make_model(seed=2), mse, config(epochs=1, seed=5))  # other weights, optimizer steps, history
    b.fit(train_batches(data, seed=8))
    assert not same_state(b.state_dict(), state)
    b.load_state_dict(state)
    assert same_state(b.state_dict(), state)
    assert torch.equal(torch.get_rng_state(), state["rng"])

    save_checkpoint(tmp_path / "ck" / "last.safetensors", state)
    assert same_state(load_checkpoint(tmp_path / "ck" / "last.safetensors"), state)


def test_load_state_dict_needs_the_optimizer_that_fit_makes(data):
    state = Trainer(make_model(), mse, config(epochs=1)).state_dict()
    assert state["optimizer"] is None and state["epoch"] == 0
    with pytest.raises(RuntimeError, match="fit"):
        Trainer(make_model(), mse, config()).load_state_dict(state)


def test_resume_into_another_model_configuration_is_refused(data, tmp_path):
    Trainer(make_model(), mse, config(epochs=1), [Checkpoint(tmp_path)]).fit(train_batches(data))
    other = Trainer(make_model(hidden_size=16), mse, config(epochs=2))
    with pytest.raises(ModelFileError, match="does not match this model's configuration"):
        other.fit(train_batches(data), resume=load_checkpoint(tmp_path / "last.safetensors"))


def test_a_checkpoint_written_before_the_state_dict_still_resumes(data, tmp_path):
    """Older checkpoints kept the history (and epoch, best epoch) as plain JSON next to the tensors."""
    from safetensors.torch import save_file

    from tsrnn.checkpoint import _flatten

    a = Trainer(make_model(), mse, config(epochs=2))
    a.fit(train_batches(data))
    state, tensors = a.state_dict(), {}
    meta = {k: _flatten(k, v, tensors) for k, v in state.items() if k not in ("history", "cuda_rng")}
    meta["history"] = state["history"]
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata={"tsrnn_checkpoint": json.dumps(meta)})
    old = load_checkpoint(tmp_path / "old.safetensors")
    assert same_state(old["history"], state["history"]) and old["epoch"] == 2
    rec = Epochs()
    Trainer(make_model(seed=4), mse, config(epochs=3), [rec]).fit(train_batches(data), resume=old)
    assert rec.started == [3]


def test_a_second_fit_starts_a_new_history(data):
    trainer = Trainer(make_model(), mse, config(epochs=2), [EarlyStopping(patience=5), StopAt(1)])
    scripted_evaluate(trainer, [0.1, 1.0, 0.9])
    first = trainer.fit(train_batches(data), val_batches(data))
    assert first.status == "early_stopped" and first.best_epoch == 1
    second = trainer.fit(train_batches(data), val_batches(data))  # nothing left over: not the old best 0.1
    assert [e["val_loss"] for e in second.epochs] == [1.0]
    assert second.best_epoch == 1 and second is trainer.history and first is not second


def test_checkpoint_file_is_safetensors_not_pickle(data, tmp_path):
    Trainer(make_model(), mse, config(epochs=1), [Checkpoint(tmp_path / "ck")]).fit(train_batches(data))
    path = tmp_path / "ck" / "last.safetensors"
    head = path.read_bytes()[:9]
    assert head[:1] != b"\x80" and head[:4] != b"PK\x03\x04"
    assert head[8:9] == b"{"  # u64 header length, then the JSON header
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["last.safetensors"]  # no temporary left behind
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 1 and len(ckpt["history"]) == 1


def test_load_checkpoint_refuses_garbage_and_missing_files(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"this is not a checkpoint at all" * 10)
    with pytest.raises(ModelFileError):
        load_checkpoint(garbage)
    with pytest.raises(ModelFileError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors")
    with pytest.raises(ModelFileError):
        load_checkpoint(tmp_path)  # a directory


def test_load_checkpoint_refuses_a_pickle_without_running_it(tmp_path):
    marker = tmp_path / "marker"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "last.safetensors"
    path.write_bytes(pickle.dumps({"model": Evil()}))
    with pytest.raises(ModelFileError):
        load_checkpoint(path)
    assert not marker.exists()


def test_load_checkpoint_refuses_a_safetensors_file_without_tsrnn_metadata(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(ModelFileError, match="not a tsrnn checkpoint"):
        load_checkpoint(path)


# ----------------------------------------------------------------------------- progress bar


def test_progress_needs_no_arguments_and_counts_the_trainers_batches(data):
    progress = Progress(refresh_every=1)
    train = train_batches(data, batch_size=50)
    trainer = Trainer(make_model(), mse, config(epochs=2), [progress])  # made before any batches exist
    trainer.fit(train, val_batches(data))
    assert trainer.n_batches == train.n_batches == math.ceil(len(train) / 50)
    (task,) = progress.progress.tasks
    assert task.total == task.completed == trainer.n_batches
    assert task.fields["epoch"] == "2/2" and task.fields["val"] != "-"
    assert progress.progress.live.is_started is False  # stopped at the end of fit


# ----------------------------------------------------------------------------- truncated BPTT


def _saved_numel(lookback, tbptt, cell="gru"):
    torch.manual_seed(0)
    model = RecurrentForecaster(2, [0], 4, cell=cell, hidden_size=8, num_layers=2, norm="none")
    x = torch.randn(4, lookback, 2)
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x, tbptt_steps=tbptt)
    return total


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_tbptt_keeps_activations_for_k_steps_only(cell):
    short, long = _saved_numel(64, 8, cell), _saved_numel(256, 8, cell)
    assert long <= 1.05 * short
    full_short, full_long = _saved_numel(64, None, cell), _saved_numel(256, None, cell)
    assert full_long >= 3 * full_short
    assert full_short > 2 * short


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_tbptt_gradient_stops_k_steps_back(cell):
    torch.manual_seed(0)
    model = RecurrentForecaster(2, [0], 4, cell=cell, hidden_size=8, num_layers=2, norm="none")
    L, k = 40, 8
    x = torch.randn(3, L, 2, requires_grad=True)
    model(x, tbptt_steps=k).pow(2).sum().backward()
    g = x.grad.abs().sum(dim=(0, 2))  # per time step
    assert torch.all(g[: L - k] == 0)
    assert torch.all(g[L - k :] > 0)

    x.grad = None
    model(x).pow(2).sum().backward()
    assert torch.all(x.grad.abs().sum(dim=(0, 2))[: L - k] > 0)  # without truncation they do get gradient


@pytest.mark.parametrize("quantiles", [None, [0.1, 0.5, 0.9]])
def test_estimator_loss_truncates_backprop_too(quantiles):
    """RNNForecaster's training loss hands tbptt_steps to the model (both the MSE and the pinball loss)."""
    from tsrnn import RNNForecaster

    L, k = 40, 8
    est = RNNForecaster(
        lookback=L,
        horizon=4,
        tbptt_steps=k,
        norm="none",
        hidden_size=8,
        num_layers=1,
        quantiles=quantiles,
        segment_length=None,  # per-step tokens: k counts rows (tests/test_segments.py counts segments)
    )
    torch.manual_seed(0)
    series = SimpleNamespace(channels=("a", "b"), targets=("a",), n_series=1, freq=None)  # what _build_module reads
    model = est._build_module(series)
    x = torch.randn(3, L, 2, requires_grad=True)
    est._loss()(model, (x, torch.randn(3, 4, 1))).backward()
    g = x.grad.abs().sum(dim=(0, 2))
    assert torch.all(g[: L - k] == 0) and torch.all(g[L - k :] > 0)


def test_tbptt_forward_values_equal_the_full_pass():
    torch.manual_seed(0)
    model = RecurrentForecaster(2, [0], 4, cell="lstm", hidden_size=8, num_layers=2, norm="none")
    x = torch.randn(3, 50, 2)
    torch.testing.assert_close(model(x, tbptt_steps=8), model(x), atol=1e-6, rtol=1e-5)


# ----------------------------------------------------------------------------- Ctrl-C


class SigintAt(Callback):
    def __init__(self, epoch, batch, times=1):
        self.epoch, self.batch, self.times = epoch, batch, times
        self.batches_after = 0
        self.sent = False

    def on_batch_end(self, trainer, batch, loss, n):
        if self.sent:
            self.batches_after += 1
        if trainer.epoch == self.epoch and batch == self.batch:
            self.sent = True
            for _ in range(self.times):
                signal.raise_signal(signal.SIGINT)


@pytest.fixture
def sigint_guard():
    """A handler of our own while the test runs: a SIGINT the trainer fails to catch is recorded, not fatal."""
    stray = []

    def handler(signum, frame):
        stray.append(signum)

    previous = signal.signal(signal.SIGINT, handler)
    yield handler, stray
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_after_the_batch_and_keeps_a_checkpoint(data, tmp_path, sigint_guard):
    handler, stray = sigint_guard
    steps = []

    class Steps(Callback):
        def on_fit_start(self, trainer):
            trainer.optimizer.register_step_post_hook(lambda *a: steps.append(trainer.epoch))

    sig = SigintAt(epoch=1, batch=2)
    trainer = Trainer(make_model(), mse, config(epochs=3), [Steps(), sig, Checkpoint(tmp_path)])
    history = trainer.fit(train_batches(data), val_batches(data))
    assert history.status == "interrupted"
    assert sig.sent and sig.batches_after == 0
    assert steps == [1, 1, 1]  # batches 0, 1 and 2 were finished, nothing after
    assert len(history.epochs) == 1
    assert (tmp_path / "last.safetensors").is_file()
    assert load_checkpoint(tmp_path / "last.safetensors")["epoch"] == 1
    assert signal.getsignal(signal.SIGINT) is handler
    assert stray == []


def test_second_ctrl_c_aborts_and_restores_the_handler(data, sigint_guard):
    handler, stray = sigint_guard
    trainer = Trainer(make_model(), mse, config(epochs=2), [SigintAt(epoch=1, batch=1, times=2)])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(train_batches(data))
    assert signal.getsignal(signal.SIGINT) is handler
    assert stray == []


def test_handler_restored_after_a_normal_fit(data, sigint_guard):
    handler, _ = sigint_guard
    Trainer(make_model(), mse, config(epochs=1)).fit(train_batches(data))
    assert signal.getsignal(signal.SIGINT) is handler


# ----------------------------------------------------------------------------- configuration


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_resolve_device_cuda_without_gpu(device):
    with pytest.raises(ConfigError, match="no CUDA"):
        resolve_device(device)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu")


def test_resolve_precision():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) is None
    assert resolve_precision("fp32", cpu) is None
    with pytest.raises(ConfigError, match="precision"):
        resolve_precision("fp16", cpu)


def test_bf16_on_the_cpu_only_where_it_is_native(monkeypatch):
    """bf16 on the CPU needs AVX512-BF16 or AMX (oneDNN's bf16 LSTM fails mid-fit without them);
    a saved bf16 model still predicts on a CPU without, in fp32 (strict=False)."""
    cpu = torch.device("cpu")
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: False)
    with pytest.raises(ConfigError, match="AVX512-BF16 or AMX") as e:
        resolve_precision("bf16", cpu)
    assert "--precision fp32" in e.value.hint
    assert resolve_precision("bf16", cpu, strict=False) is None
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: True)
    assert resolve_precision("bf16", cpu) is torch.bfloat16
    assert resolve_precision("auto", cpu) is None  # auto stays fp32 on every CPU


@pytest.mark.parametrize(
    "bad",
    [
        {"epochs": 0},
        {"lr": 0.0},
        {"lr": -1e-3},
        {"lr": float("nan")},
        {"weight_decay": -0.1},
        {"optimizer": "sgd"},
        {"lr_schedule": "step"},
        {"clip_grad_norm": 0.0},
        {"clip_grad_norm": -1.0},
        {"precision": "fp16"},
        {"device": "tpu"},
    ],
)
def test_bad_train_config_raises_config_error(bad):
    with pytest.raises(ConfigError):
        Trainer(make_model(), mse, TrainConfig(**{"device": "cpu", **bad}))


def test_bad_config_check_direct():
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig(epochs=0).check()
    TrainConfig().check()  # the defaults are valid


# ----------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("head", ["direct", "seq2seq"])
def test_same_seed_gives_bit_identical_weights(data, head):
    kw = dict(num_layers=2, dropout=0.2, head=head)  # dropout and teacher forcing use the torch RNG

    def run(seed):
        model = make_model(**kw)
        Trainer(model, mse_tf, config(epochs=2, seed=seed)).fit(train_batches(data))
        return weights(model)

    a, b, c = run(0), run(0), run(1)
    assert same_weights(a, b)
    assert not same_weights(a, c)


def test_adamw_and_weight_decay_run(data):
    model = make_model()
    before = weights(model)
    history = Trainer(model, mse, config(epochs=1, optimizer="adamw", weight_decay=0.1)).fit(train_batches(data))
    assert history.status == "finished" and not same_weights(before, weights(model))
