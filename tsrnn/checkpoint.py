"""Checkpoints without pickle: tensors in a safetensors file, everything else as JSON metadata.

A checkpoint holds the model weights, the optimizer and schedule state, the epoch, the best
weights so far (when early stopping tracks them) and the history, so ``resume`` continues
exactly where training stopped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from tsrnn.errors import ModelFileError

if TYPE_CHECKING:
    from tsrnn.training import Trainer


def _flatten(prefix: str, obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Move every tensor of a nested dict/list into ``tensors``; return a JSON-able skeleton."""
    if isinstance(obj, torch.Tensor):
        key = f"{prefix}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {
            "__dict__": [
                [_flatten(f"{prefix}.k{i}", k, tensors), _flatten(f"{prefix}.{i}", v, tensors)]
                for i, (k, v) in enumerate(obj.items())
            ]
        }
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_flatten(f"{prefix}.{i}", v, tensors) for i, v in enumerate(obj)]}
    return obj


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {_unflatten(k, tensors): _unflatten(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            return [_unflatten(v, tensors) for v in obj["__list__"]]
        return {k: _unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def save_checkpoint(path: str | Path, trainer: "Trainer", best_state: dict[str, torch.Tensor] | None = None) -> None:
    """Write ``path`` atomically (a temporary file renamed over the old one)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    state = {
        "model": _flatten("model", trainer.model.state_dict(), tensors),
        "optimizer": _flatten("optim", trainer.optimizer.state_dict(), tensors),
        "scheduler": _flatten("sched", trainer.scheduler.state_dict(), tensors) if trainer.scheduler else None,
        "best": _flatten("best", best_state, tensors) if best_state is not None else None,
        "rng": _flatten("rng", torch.get_rng_state(), tensors),
        "epoch": trainer.epoch,
        "history": trainer.history.epochs,
        "best_epoch": trainer.history.best_epoch,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"tsrnn_checkpoint": json.dumps(state)})
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (no code in it can run)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"no checkpoint at {path}", "pass the checkpoint file written during training (last.safetensors)"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        state = json.loads(meta["tsrnn_checkpoint"])
    except (KeyError, ValueError, OSError, Exception) as e:  # safetensors raises its own error type
        raise ModelFileError(f"{path} is not a tsrnn checkpoint ({e})", "pass a checkpoint written by tsrnn") from e
    return _unflatten(state, tensors)


def restore(trainer: "Trainer", ckpt: dict[str, Any]) -> int:
    """Load a checkpoint into ``trainer`` (model, optimizer, schedule, history); returns its epoch."""
    try:
        trainer.model.load_state_dict(ckpt["model"])
        trainer.optimizer.load_state_dict(ckpt["optimizer"])
        if trainer.scheduler is not None and ckpt.get("scheduler") is not None:
            trainer.scheduler.load_state_dict(ckpt["scheduler"])
    except (RuntimeError, ValueError, KeyError) as e:
        raise ModelFileError(
            f"the checkpoint does not match this model's configuration ({str(e)[:300]})",
            "resume with the same model options (cell, layers, hidden, lookback, horizon, ...) "
            "as the run that wrote the checkpoint",
        ) from e
    if ckpt.get("rng") is not None:  # dropout and teacher forcing continue their random stream
        torch.set_rng_state(ckpt["rng"])
    trainer.history.epochs = list(ckpt.get("history") or [])
    trainer.history.best_epoch = ckpt.get("best_epoch")
    trainer.resumed_best = ckpt.get("best")
    return int(ckpt["epoch"])
