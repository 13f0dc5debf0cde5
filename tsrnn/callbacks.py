"""Callbacks: the optional parts of training (early stopping, checkpoints, progress, history)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from tsrnn.training import Callback, Trainer


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    restore the best weights at the end."""

    def __init__(self, patience: int = 5, monitor: str = "val_loss", min_delta: float = 0.0) -> None:
        self.patience = patience
        self.monitor = monitor
        self.min_delta = min_delta
        self.best: float = float("inf")
        self.best_state: dict[str, Any] | None = None
        self.wait = 0

    def on_fit_start(self, trainer: Trainer) -> None:
        resumed = getattr(trainer, "resumed_best", None)
        if resumed is not None and trainer.history.best_epoch is not None:
            self.best_state = resumed
            self.best = trainer.history.epochs[trainer.history.best_epoch - 1].get(self.monitor, float("inf"))
            self.wait = len(trainer.history.epochs) - trainer.history.best_epoch

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get(self.monitor)
        if value is None:
            return
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            self.best_state = copy.deepcopy(trainer.model.state_dict())
            trainer.history.best_epoch = epoch
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop = True

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        if self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)


class Checkpoint(Callback):
    """Write ``directory/last.safetensors`` at the end of every epoch (and on Ctrl-C); under
    torchrun only the main process writes (every process holds the same weights)."""

    def __init__(self, directory: str | Path, early_stopping: EarlyStopping | None = None) -> None:
        self.path = Path(directory) / "last.safetensors"
        self.early_stopping = early_stopping

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        from tsrnn import distributed
        from tsrnn.checkpoint import save_checkpoint

        if not distributed.is_main():
            return
        best = self.early_stopping.best_state if self.early_stopping else None
        save_checkpoint(self.path, trainer, best)


class Progress(Callback):
    """A rich progress bar (epoch, batch, loss, validation loss, samples/s) on a terminal."""

    def __init__(self, total_batches: int, refresh_every: int = 10) -> None:
        self.total_batches = total_batches
        self.refresh_every = refresh_every
        self.progress: Any = None

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
        self.task = self.progress.add_task("fit", total=self.total_batches, epoch=0, loss="-", val="-", speed="")

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self.progress.reset(self.task, total=self.total_batches)
        self.progress.update(self.task, epoch=f"{epoch}/{trainer.config.epochs}")

    def on_batch_end(self, trainer: Trainer, batch: int, loss: Any, n: int) -> None:
        if batch % self.refresh_every == 0:
            self.progress.update(self.task, completed=batch + 1, loss=f"{float(loss):.4f}")

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        val = f"{logs['val_loss']:.4f}" if "val_loss" in logs else "-"
        self.progress.update(
            self.task,
            completed=self.total_batches,
            loss=f"{logs['loss']:.4f}",
            val=val,
            speed=f"{logs['samples_per_s']:,.0f} samples/s",
        )

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        if self.progress is not None:
            self.progress.stop()


def progress_wanted(quiet: bool) -> bool:
    """A progress bar only on an interactive terminal, when not quiet, and under torchrun only in
    the main process (every process logs the same numbers)."""
    from tsrnn import distributed

    return not quiet and sys.stderr.isatty() and distributed.is_main()
