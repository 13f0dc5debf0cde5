"""Checkpoints without pickle: ``Trainer.state_dict()`` in a safetensors file, its tensors as
tensors and everything else (numbers, lists, dict keys) as JSON metadata.

    save_checkpoint(path, trainer.state_dict())
    trainer.fit(train, val, resume=load_checkpoint(path))   # continues exactly where it stopped
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from tsrnn.errors import ModelFileError


def _flatten(prefix: str, obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Move every tensor of a nested dict/list into ``tensors`` (named by its path); return a
    JSON-able skeleton. Dicts become lists of key/value pairs: optimizer states have int keys."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
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
    """The inverse of ``_flatten``; plain JSON dicts and lists (the top level, and the history of
    checkpoints written before the state dict was flattened whole) are read as they are."""
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


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (``Trainer.state_dict()``: str keys, values of tensors, numbers, strings,
    None and nested dicts/lists of them) to ``path`` atomically: a temporary file renamed over the
    old one, so an interruption never leaves a half-written checkpoint."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    skeleton = {key: _flatten(key, value, tensors) for key, value in state.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"tsrnn_checkpoint": json.dumps(skeleton)})
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The state dict written by ``save_checkpoint`` (tensors on the CPU); nothing in the file can
    run. A missing file, or one that is not a tsrnn checkpoint, raises ModelFileError."""
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
        skeleton = json.loads(meta["tsrnn_checkpoint"])
    except Exception as e:  # KeyError, JSON's ValueError, OSError, or safetensors' own error type
        raise ModelFileError(f"{path} is not a tsrnn checkpoint ({e})", "pass a checkpoint written by tsrnn") from e
    return _unflatten(skeleton, tensors)
