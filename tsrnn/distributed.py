"""Data-parallel training under torchrun: one process per device, gradients averaged every step.

    torchrun --nproc-per-node 4 -m tsrnn fit data.csv ...        # or a script calling .fit()

torchrun starts N copies of the program and tells each who it is in environment variables
(``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, plus where to meet). ``tsrnn.training.Trainer`` calls
``init`` when it sees them: the process joins the group (nccl on CUDA, each process on GPU
``cuda:LOCAL_RANK``; gloo on the CPU), wraps its model in ``DistributedDataParallel`` and trains
on its own share of every epoch's windows. Outside torchrun (``WORLD_SIZE`` unset or 1) nothing
here does anything: ``world_size()`` is 1, ``is_main()`` is True and the reductions return their
input, so single-process training runs exactly as without this module.

Only the main process (rank 0) should print, track or write files; ``is_main()`` says which one
this is, before and after ``init``.
"""

from __future__ import annotations

import atexit
import os

import torch

from tsrnn.errors import ConfigError


def world_size() -> int:
    """How many processes train together (1 outside torchrun)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process' number, 0 .. world_size() - 1 (0 outside torchrun)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """True in the one process that prints, tracks and saves (rank 0; always outside torchrun)."""
    return rank() == 0


def init(device: torch.device) -> torch.device:
    """Join torchrun's process group if this process was started by torchrun; return the device
    this process trains on (``cuda:LOCAL_RANK`` on GPUs, else ``device`` itself).

    Outside torchrun it returns ``device`` untouched. The group is left at interpreter exit.
    """
    if world_size() <= 1:
        return device
    if not torch.distributed.is_available():
        raise ConfigError(
            "this torch build has no torch.distributed, so it cannot train under torchrun",
            "install a torch build with distributed support, or run without torchrun",
        )
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device.index is not None and device.index != local:
            raise ConfigError(
                f"--device {device} under torchrun: every process uses the GPU of its LOCAL_RANK",
                "pass --device cuda (or auto) and let torchrun place the processes",
            )
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        torch.distributed.init_process_group(backend, **kwargs)
        atexit.register(shutdown)
    return device


def shutdown() -> None:
    """Leave the process group (a no-op when there is none); safe to call more than once."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _active() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() and world_size() > 1


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``t`` over all processes (``t`` itself outside torchrun)."""
    if _active():
        t = t.clone()
        torch.distributed.all_reduce(t, torch.distributed.ReduceOp.SUM)
    return t


def all_reduce_max(t: torch.Tensor) -> torch.Tensor:
    """The element-wise maximum of ``t`` over all processes."""
    if _active():
        t = t.clone()
        torch.distributed.all_reduce(t, torch.distributed.ReduceOp.MAX)
    return t


def same_everywhere(value: int, device: torch.device) -> int:
    """Rank 0's ``value`` on every process (e.g. a random seed drawn on each)."""
    if not _active():
        return value
    t = torch.tensor([value], dtype=torch.int64, device=device)
    torch.distributed.broadcast(t, src=0)
    return int(t.item())
