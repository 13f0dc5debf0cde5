"""Model directories: weights as safetensors, everything else as JSON. No pickle, ever.

A directory holds ``config.json`` (parameters, model shape, data schema, scaler, metrics) and
``weights.safetensors`` (the module's weights and the last rows of history used by
``predict()``). Loading reads only those two files with parsers that cannot run code, and
refuses a directory that contains anything that looks like a pickle.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tsrnn.errors import ModelFileError, OutputExistsError

CONFIG = "config.json"
WEIGHTS = "weights.safetensors"
FORMAT = 2
_PICKLE_SUFFIXES = {".pkl", ".pickle", ".pt", ".pth", ".bin", ".joblib", ".ckpt", ".npy", ".npz", ".dill"}


def save_model_dir(
    path: str | Path,
    config: dict[str, Any],
    tensors: dict[str, Any],
    overwrite: bool = False,
    extra: dict[str, Path] | None = None,
) -> Path:
    """Write a model directory atomically (see ``write_dir``).

    ``extra``: files copied in as well, by their path inside the directory (e.g. the last
    training checkpoint, a safetensors file)."""
    from safetensors.torch import save_file

    def fill(tmp: Path) -> None:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(json.dumps({"format": FORMAT, **config}, indent=2, default=str))
        for name, source in (extra or {}).items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp / name)

    return write_dir(path, fill, overwrite)


def write_dir(path: str | Path, fill: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Write the directory ``path`` atomically: ``fill(tmp)`` writes a temporary sibling, which
    is then renamed into place (replacing ``path`` only with ``overwrite``)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists", "choose another directory, or pass --force / overwrite=True")
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"{path} exists and is not a directory", "choose another path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        fill(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def _looks_like_pickle(f: Path) -> bool:
    """A pickle-ish name, a pickle stream (protocol 2-5) or a torch.save zip; safetensors files pass."""
    if f.suffix.lower() in _PICKLE_SUFFIXES:
        return True
    try:
        with open(f, "rb") as fh:
            head = fh.read(9)
        size = f.stat().st_size
    except OSError:
        return False
    if len(head) == 9 and head[8:9] == b"{" and 8 + int.from_bytes(head[:8], "little") <= size:
        return False  # a safetensors header: u64 length, then a JSON object
    return (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")) or head[:4] == b"PK\x03\x04"


def load_model_dir(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read (config, tensors) from a model directory, refusing anything unsafe or damaged."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"no model at {path}", "pass a directory written by `tsrnn fit` or .save()")
    if not path.is_dir():
        raise ModelFileError(f"{path} is not a model directory", "pass the directory written by `tsrnn fit` or .save()")
    unsafe = sorted(str(f.relative_to(path)) for f in path.rglob("*") if f.is_file() and _looks_like_pickle(f))
    if unsafe:
        raise ModelFileError(
            f"{path} contains pickle data ({', '.join(unsafe)}); tsrnn never loads pickles because they can run code",
            "use a directory written by tsrnn, and only from sources you trust",
        )
    missing = [n for n in (CONFIG, WEIGHTS) if not (path / n).is_file()]
    if missing:
        raise ModelFileError(
            f"{path} is not a complete tsrnn model (missing {', '.join(missing)})",
            "pass a directory written by `tsrnn fit` or .save(); it may have been copied partially",
        )
    try:
        config = json.loads((path / CONFIG).read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path / CONFIG} is damaged ({e})", "save the model again") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(
            f"{path / CONFIG} is not a tsrnn model configuration (format {config.get('format') if isinstance(config, dict) else '?'})",
            "save the model again with this version of tsrnn",
        )
    try:
        tensors = load_file(str(path / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{path / WEIGHTS} is damaged ({e})", "save the model again") from e
    return config, tensors
