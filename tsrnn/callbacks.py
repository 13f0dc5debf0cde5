"""Callbacks: the optional parts of training (early stopping, checkpoints, a progress bar)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from tsrnn.training import Callback, Trainer


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs; keep the
    best weights in ``trainer.best_state`` (its epoch in ``trainer.history.best_epoch``) and load
    them into the model at the end.

    On a resume the best value and the patience count are read back from the trainer's history,
    so training stops where an uninterrupted run would have."""

    def __init__(self, patience: int = 5, monitor: str = "val_loss", min_delta: float = 0.0) -> None:
        self.patience = patience
        self.monitor = monitor
        self.min_delta = min_delta
        self.best: float = float("inf")
        self.wait = 0  # epochs with ``monitor`` since the best one

    def on_fit_start(self, trainer: Trainer) -> None:
        history = trainer.history
        self.best, self.wait = float("inf"), 0
        if history.best_epoch is not None:  # resumed: the best so far is still the one to beat
            self.best = history.epochs[history.best_epoch - 1].get(self.monitor, float("inf"))
            self.wait = sum(self.monitor in e for e in history.epochs[history.best_epoch :])

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get(self.monitor)
        if value is None:
            return
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            trainer.best_state = copy.deepcopy(trainer.model.state_dict())
            trainer.history.best_epoch = epoch
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop = True

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        if trainer.best_state is not None:
            trainer.model.load_state_dict(trainer.best_state)


class Checkpoint(Callback):
    """Write ``trainer.state_dict()`` to ``directory/last.safetensors`` at the end of every epoch
    (and on Ctrl-C); under torchrun only the main process writes (every process holds the same
    weights). Put it after ``EarlyStopping`` so that the epoch's best weights are in the file."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / "last.safetensors"

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        from tsrnn import distributed
        from tsrnn.checkpoint import save_checkpoint

        if distributed.is_main():
            save_checkpoint(self.path, trainer.state_dict())


class Progress(Callback):
    """A rich progress bar (epoch, batch, loss, validation loss, samples/s) on a terminal; an
    epoch's length is ``trainer.n_batches``."""

    def __init__(self, refresh_every: int = 10) -> None:
        self.refresh_every = refresh_every
        self.progress: Any = None  # the rich bar, from on_fit_start to on_fit_end
        self.task: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self.progress = Bar(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]} val {task.fields[val]} {task.fields[speed]}"),
            TimeElapsedColumn(),
            transient=False,
            console=Console(stderr=True),
        )
        self.progress.start()
        self.task = self.progress.add_task("fit", total=trainer.n_batches, epoch=0, loss="-", val="-", speed="")

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self.progress.reset(self.task, total=trainer.n_batches)
        self.progress.update(self.task, epoch=f"{epoch}/{trainer.config.epochs}")

    def on_batch_end(self, trainer: Trainer, batch: int, loss: Any, n: int) -> None:
        if batch % self.refresh_every == 0:
            self.progress.update(self.task, completed=batch + 1, loss=f"{loss.item():.4f}")

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        val = f"{logs['val_loss']:.4f}" if "val_loss" in logs else "-"
        self.progress.update(
            self.task,
            completed=trainer.n_batches,
            loss=f"{logs['loss']:.4f}",
            val=val,
            speed=f"{logs['samples_per_s']:,.0f} samples/s",
        )

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        if self.progress is not None:
            self.progress.stop()


def progress_wanted() -> bool:
    """A progress bar only on an interactive terminal, and under torchrun only in the main process
    (every process logs the same numbers)."""
    from tsrnn import distributed

    return sys.stderr.isatty() and distributed.is_main()
