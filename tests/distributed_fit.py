"""Run by tests/test_distributed.py under torchrun (2 processes, gloo): every process fits the same
RNNForecaster on datasets/demo.csv and writes what it ended with; rank 0 also saves the model.

    python -m torch.distributed.run --nproc-per-node 2 ... tests/distributed_fit.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from tsrnn import RNNForecaster, distributed
from tsrnn.errors import ConfigError
from tsrnn.training import Callback

ROOT = Path(__file__).resolve().parent.parent


class CountWindows(Callback):
    """How many training windows this process itself trained on, per epoch."""

    def __init__(self) -> None:
        self.per_epoch: list[int] = []

    def on_epoch_start(self, trainer, epoch) -> None:
        self.per_epoch.append(0)

    def on_batch_end(self, trainer, batch, loss, n) -> None:
        self.per_epoch[-1] += n


def main(out: Path) -> None:
    torch.set_num_threads(1)
    count = CountWindows()
    est = RNNForecaster(
        lookback=24,
        horizon=6,
        hidden_size=8,
        epochs=3,
        batch_size=64,
        lr=1e-2,
        patience=2,
        random_state=None,
        device="cpu",
        checkpoint_dir=str(out / "checkpoint"),
        callbacks=[count],
    )
    est.fit(ROOT / "datasets" / "demo.csv")
    r = distributed.rank()
    save_file({k: v.contiguous() for k, v in est.model_.state_dict().items()}, str(out / f"weights{r}.safetensors"))
    try:  # stateful training cannot be split: every process must refuse it, none may hang
        RNNForecaster(
            lookback=24,
            horizon=6,
            hidden_size=8,
            epochs=1,
            stateful=True,
            tbptt_steps=24,
            channel_independent=False,
            device="cpu",
        ).fit(ROOT / "datasets" / "demo.csv")
        stateful = "trained"
    except ConfigError as e:
        stateful = str(e)
    report = {
        "world": distributed.world_size(),
        "is_main": distributed.is_main(),
        "history": est.history_.epochs,
        "status": est.history_.status,
        "windows_trained": count.per_epoch,
        "train_windows": len(est.windows_.train),
        "stateful": stateful,
    }
    (out / f"rank{r}.json").write_text(json.dumps(report))
    if distributed.is_main():
        est.save(out / "model")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
