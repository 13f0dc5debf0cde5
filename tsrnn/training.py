"""One training loop for every tsrnn model, forecasters and detectors alike.

The loop is plain: for each epoch, for each batch, ``loss = compute_loss(model, batch)``,
backward, clip, step. Everything optional (early stopping, checkpoints, progress, logging,
tracking) is a callback that reads and writes the ``Trainer``; nothing is threaded through
function arguments. Ctrl-C stops after the current batch; the last checkpoint is kept.

Under torchrun (see ``tsrnn.distributed``) the same loop runs in every process: the model is
wrapped in ``DistributedDataParallel``, each process trains on its share of every epoch, and the
epoch's logs (loss, validation loss, grad norm, samples/s) are reduced over all processes, so
every process sees the same logs and its callbacks (early stopping) decide the same way.
"""

from __future__ import annotations

import functools
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from tsrnn import distributed
from tsrnn.checks import check_choice, check_int, check_non_negative, check_positive
from tsrnn.errors import ConfigError, ModelFileError

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("none", "cosine", "plateau", "onecycle")
PRECISIONS = ("auto", "fp32", "bf16")


def resolve_device(device: str) -> torch.device:
    """ "auto" -> cuda when available, else cpu; "cpu"; "cuda" or "cuda:N" (checked)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device {device}: no CUDA GPU is available to torch here",
                "use --device cpu (or auto), or install a CUDA build of torch",
            )
        return torch.device(device)
    raise ConfigError(f"unknown device {device!r}", "use auto, cpu, cuda or cuda:N")


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU runs bf16 matmuls natively (AVX512-BF16 or AMX, through oneDNN)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without the query
        return False


def resolve_precision(precision: str, device: torch.device, strict: bool = True) -> torch.dtype | None:
    """The autocast dtype of training and inference; None means fp32.

    "auto" is bf16 on GPUs that support it and fp32 on the CPU; "bf16" is bf16 on such GPUs and on
    CPUs with native bf16 (``cpu_has_bf16``), and refused elsewhere, unless ``strict`` is False
    (a saved model predicting on another machine): then it is fp32 there."""
    check_choice("precision", precision, PRECISIONS)
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if device.type != "cuda":
        native = cpu_has_bf16()
        if native or not strict:
            return torch.bfloat16 if native else None
        raise ConfigError(  # untested there; an earlier build failed mid-fit in bf16 on the CPU
            "--precision bf16 on the CPU needs native bf16 (AVX512-BF16 or AMX), which this CPU lacks",
            "pass --precision fp32 (or auto) with --device cpu",
        )
    if not torch.cuda.is_bf16_supported():
        if precision == "bf16" and strict:
            raise ConfigError("this GPU does not support bf16", "use --precision fp32")
        return None
    return torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` to ``dtype`` on ``device``; off when ``dtype`` is None (fp32)."""
    if dtype is None:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=dtype)


@dataclass
class TrainConfig:
    """How to train; every field is used by ``Trainer``."""

    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    lr_schedule: str = "cosine"
    clip_grad_norm: float | None = 1.0
    device: str = "auto"
    precision: str = "auto"
    seed: int | None = None

    def check(self) -> None:
        check_int("--epochs", self.epochs, 1, hint="e.g. --epochs 30")
        check_positive("--lr", self.lr, hint="e.g. --lr 1e-3")
        check_non_negative("weight_decay", self.weight_decay, hint="e.g. weight_decay=1e-4, or 0 for none")
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("lr_schedule", self.lr_schedule, SCHEDULES)
        if self.clip_grad_norm is not None:
            check_positive(
                "--clip-grad-norm",
                self.clip_grad_norm,
                hint="pass a positive norm; not to clip: None (--clip-grad-norm 0)",
            )


class Callback:
    """Hooks the trainer calls; override the ones you need. ``trainer.stop`` ends training."""

    def on_fit_start(self, trainer: "Trainer") -> None: ...
    def on_epoch_start(self, trainer: "Trainer", epoch: int) -> None: ...
    def on_batch_end(self, trainer: "Trainer", batch: int, loss: float, n: int) -> None: ...
    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, float]) -> None: ...
    def on_fit_end(self, trainer: "Trainer", status: str) -> None: ...


class Batches(Protocol):
    """What the trainer iterates: an epoch's batches, samples per epoch, batches per epoch."""

    n_batches: int

    def epoch(self, epoch: int) -> Iterable[Any]: ...
    def __len__(self) -> int: ...


@dataclass
class History:
    """Per-epoch logs and how training ended."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    status: str = "running"  # finished | early_stopped | interrupted
    best_epoch: int | None = None


class Trainer:
    """Train ``model`` by minimising ``compute_loss(model, batch)``.

    ``compute_loss`` may have a ``reset()`` method; it is called at each epoch start (the
    stateful mode uses it to drop the carried recurrent state).

    The trainer owns the training state that callbacks read and write: ``epoch``, ``history``,
    ``n_batches`` (this process' batches per epoch, set before ``on_fit_start``), ``best_state``
    (the best weights so far, written by ``EarlyStopping``) and ``stop``. ``state_dict()`` holds
    all of it that a resume needs.
    """

    def __init__(
        self,
        model: nn.Module,
        compute_loss: Callable[[nn.Module, Any], torch.Tensor],
        config: TrainConfig,
        callbacks: Iterable[Callback] = (),
    ) -> None:
        config.check()
        self.model = model
        self.compute_loss = compute_loss
        self.config = config
        self.callbacks = list(callbacks)
        self.device = distributed.init(resolve_device(config.device))  # under torchrun: join the group
        self.world = distributed.world_size()
        self.net: nn.Module = model  # what compute_loss gets: the model, or its DDP wrapper under torchrun
        self.amp_dtype = resolve_precision(config.precision, self.device)
        self.history = History()
        self.stop = False
        self.epoch = 0  # the epoch running, or the last one finished
        self.n_batches = 0  # batches per epoch in this process, set by fit before on_fit_start
        self.best_state: dict[str, torch.Tensor] | None = None  # the best weights so far (EarlyStopping)
        self.optimizer: torch.optim.Optimizer | None = None  # optimizer and schedule are made by fit
        self.scheduler: Any = None
        self._per_batch_schedule = False
        self._interrupted = False

    # ------------------------------------------------------------------ set-up
    def _make_optimizer(self, steps_per_epoch: int) -> None:
        cls = torch.optim.AdamW if self.config.optimizer == "adamw" else torch.optim.Adam
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = cls(params, lr=self.config.lr, weight_decay=self.config.weight_decay)
        total = self.config.epochs * max(steps_per_epoch, 1)
        s = self.config.lr_schedule
        if s == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=total)
        elif s == "onecycle":
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=self.config.lr, total_steps=total
            )
        elif s == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, factor=0.5, patience=2)
        self._per_batch_schedule = s in ("cosine", "onecycle")

    def _autocast(self):
        return autocast(self.device, self.amp_dtype)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs, as tensors, numbers, lists and dicts (what
        ``tsrnn.checkpoint.save_checkpoint`` writes):

        ``model`` and ``best`` (the best weights so far, or None) are model state dicts;
        ``optimizer`` and ``scheduler`` their torch state dicts (None before ``fit`` / without a
        schedule); ``rng`` the CPU generator state (uint8 tensor) and ``cuda_rng`` this GPU's (or
        None); ``epoch`` the last epoch run; ``history`` its per-epoch logs; ``best_epoch``.

        Like torch's ``state_dict``, the tensors are the live ones, not copies.
        """
        cuda = self.device.type == "cuda"
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "best": self.best_state,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if cuda else None,
            "epoch": self.epoch,
            "history": list(self.history.epochs),
            "best_epoch": self.history.best_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (as ``state_dict`` returns): weights, optimizer, schedule, random
        streams, epoch, history and best weights. The optimizer and schedule are made by ``fit``, so
        this is for ``fit(..., resume=state)``, which calls it once they exist; a ``state`` that does
        not fit this model raises ModelFileError."""
        if self.optimizer is None:
            raise RuntimeError("load_state_dict needs the optimizer that fit makes: pass the state to fit(resume=...)")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None and state["scheduler"] is not None:
                self.scheduler.load_state_dict(state["scheduler"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise ModelFileError(
                f"the checkpoint does not match this model's configuration ({str(e)[:300]})",
                "resume with the same model options (cell, layers, hidden, lookback, horizon, ...) "
                "as the run that wrote the checkpoint",
            ) from e
        torch.set_rng_state(state["rng"])  # dropout and teacher forcing continue their random stream
        if self.device.type == "cuda" and state.get("cuda_rng") is not None:  # absent in CPU-written states
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.epoch = int(state["epoch"])
        self.history.epochs = list(state["history"])
        self.history.best_epoch = state["best_epoch"]
        self.best_state = state["best"]

    # ------------------------------------------------------------------ the loop
    def fit(self, train: Batches, val: Batches | None = None, resume: dict[str, Any] | None = None) -> History:
        """Train for ``config.epochs`` epochs (or until a callback sets ``stop``).

        ``resume``: a state dict (``state_dict()``, or ``tsrnn.checkpoint.load_checkpoint``'s);
        training continues after its epoch with its weights, optimizer, schedule, random streams,
        history and best weights.
        """
        if self.config.seed is not None:
            torch.manual_seed(self.config.seed)
        self.model.to(self.device)
        has_val = val is not None and len(val) > 0
        if self.world > 1:
            train, val = self._shard(train, val)
        self.n_batches = train.n_batches
        self._make_optimizer(train.n_batches)
        self.history, self.best_state, self.epoch = History(), None, 0  # a new fit starts a new history ...
        self.stop = self._interrupted = False
        if resume is not None:  # ... or continues the resumed one
            self.load_state_dict(resume)
        start = self.epoch + 1
        if self.world > 1:  # after the resume: DDP starts every process from rank 0's weights
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        for cb in self.callbacks:
            cb.on_fit_start(self)
        status = "finished"
        with _StopOnSigint(self):
            for epoch in range(start, self.config.epochs + 1):
                self.epoch = epoch
                logs = self._train_epoch(train, epoch)
                if has_val:
                    logs["val_loss"] = self.evaluate(val)
                if self.scheduler is not None and not self._per_batch_schedule:
                    self.scheduler.step(logs.get("val_loss", logs["loss"]))
                self.history.epochs.append(logs)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, epoch, logs)
                if self.world > 1:  # one process stopping alone would leave the others waiting
                    flags = torch.tensor([float(self._interrupted), float(self.stop)], device=self.device)
                    self._interrupted, self.stop = (bool(v) for v in distributed.all_reduce_max(flags).tolist())
                if self._interrupted:
                    status = "interrupted"
                    break
                if self.stop:
                    status = "early_stopped"
                    break
        self.history.status = status
        for cb in self.callbacks:
            cb.on_fit_end(self, status)
        self.net = self.model
        return self.history

    def _shard(self, train: Batches, val: Batches | None) -> tuple[Batches, Batches | None]:
        """Each process' share of the training windows (padded: as many batches everywhere) and of
        the validation windows (not padded: the validation loss is a sum over all processes)."""
        if not hasattr(train, "shard"):
            raise ConfigError(
                f"{type(train).__name__} has no shard(), so its batches cannot be split across torchrun processes",
                "train it in one process (without torchrun)",
            )
        r = distributed.rank()
        return train.shard(r, self.world, pad=True), (val.shard(r, self.world, pad=False) if val is not None else None)

    def _train_epoch(self, train: Batches, epoch: int) -> dict[str, float]:
        self.model.train()
        reset = getattr(self.compute_loss, "reset", None)
        if reset is not None:
            reset()
        for cb in self.callbacks:
            cb.on_epoch_start(self, epoch)
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        clip = self.config.clip_grad_norm
        total = torch.zeros((), device=self.device)
        norms = torch.zeros((), device=self.device)
        n_seen, n_batches, t0 = 0, 0, time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]
        for i, batch in enumerate(train.epoch(epoch)):
            with self._autocast():
                loss = self.compute_loss(self.net, batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                norms += torch.nn.utils.clip_grad_norm_(params, clip)
            self.optimizer.step()
            if self._per_batch_schedule:
                self.scheduler.step()
            n = _batch_size(batch)
            total += loss.detach().float() * n
            n_seen += n
            n_batches += 1
            for cb in self.callbacks:
                cb.on_batch_end(self, i, loss, n)
            if self._interrupted and self.world == 1:  # under torchrun, stop at the epoch's end
                break
        # the first host sync of the epoch: it waits for the device, so the time below is honest
        sums = torch.stack(
            [total.double(), norms.double(), torch.tensor(n_seen, dtype=torch.float64, device=self.device)]
        )
        sums = distributed.all_reduce_sum(sums).tolist()  # (loss * n, grad norms, n) over all processes
        seconds = time.perf_counter() - t0
        if self.world > 1:  # every process logs the same numbers: the slowest time, the summed speed
            speed_time = torch.tensor([n_seen / max(seconds, 1e-9), seconds], dtype=torch.float64, device=self.device)
            speed = float(distributed.all_reduce_sum(speed_time)[0])
            seconds = float(distributed.all_reduce_max(speed_time)[1])
        else:
            speed = n_seen / max(seconds, 1e-9)
        logs = {
            "epoch": epoch,
            "loss": sums[0] / max(sums[2], 1),
            "lr": lr,
            "epoch_time": seconds,
            "samples_per_s": speed,
        }
        if clip is not None:
            logs["grad_norm"] = sums[1] / max(n_batches * self.world, 1)
        return logs

    @torch.no_grad()
    def evaluate(self, batches: Batches) -> float:
        """Mean loss over one pass of ``batches`` in eval mode."""
        self.model.eval()
        reset = getattr(self.compute_loss, "reset", None)
        if reset is not None:
            reset()
        total = torch.zeros((), device=self.device)
        n_seen = 0
        for batch in batches.epoch(0):  # the bare model: processes may run different numbers of batches
            with self._autocast():
                loss = self.compute_loss(self.model, batch)
            n = _batch_size(batch)
            total += loss.float() * n
            n_seen += n
        self.model.train()
        sums = torch.stack([total.double(), torch.tensor(n_seen, dtype=torch.float64, device=self.device)])
        total_loss, count = distributed.all_reduce_sum(sums).tolist()  # over all processes under torchrun
        return total_loss / max(count, 1)


def _batch_size(batch: Any) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return int(first.shape[0])


class _StopOnSigint:
    """While training, the first Ctrl-C asks the loop to stop after the current batch; a second one aborts."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.previous: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.trainer._interrupted:
            raise KeyboardInterrupt
        self.trainer._interrupted = True

    def __enter__(self) -> "_StopOnSigint":
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
