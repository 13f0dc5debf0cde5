"""Which training windows an epoch visits, in which order, and on which torchrun process.

An epoch's order is a 1-D int64 tensor of window numbers (positions in a ``WindowIndex``):

* ``uniform``: every window once, shuffled; long series contribute more windows than short ones.
* ``balanced``: the same number of draws as windows, split into equal quotas per series (the
  remainder goes to randomly chosen series, one draw each), so every series weighs the same in
  an epoch whatever its length. Within a series, windows are drawn without replacement; a series
  with fewer windows than its quota is cycled through in one random order. All draws are then
  shuffled together.

``shard`` hands each of ``world`` processes its own slice of one order (DistributedSampler's
scheme: every ``world``-th element from ``rank``), padded with the order's first elements when
asked so that every process gets the same number of windows and no process waits for a batch
that another never sends.
"""

from __future__ import annotations

import torch

from tsrnn.errors import ConfigError

SAMPLINGS = ("uniform", "balanced")


def check_sampling(sampling: str) -> str:
    if sampling not in SAMPLINGS:
        raise ConfigError(f"unknown sampling {sampling!r}", f"use one of {', '.join(SAMPLINGS)}")
    return sampling


def uniform_order(n_windows: int, generator: torch.Generator) -> torch.Tensor:
    """(n_windows,) every window once, in random order."""
    return torch.randperm(n_windows, generator=generator)


def balanced_order(series: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(n,) window numbers drawn in equal quotas per series, shuffled; n = len(series).

    ``series`` (n,) int64 (on the CPU) is the series number of each window.
    """
    n = len(series)
    counts = torch.bincount(series)  # (S,) windows per series number, 0 for a series without any
    active = torch.nonzero(counts).flatten()  # (A,) series that have windows
    quota = torch.full((len(active),), n // len(active), dtype=torch.int64)
    quota[torch.randperm(len(active), generator=generator)[: n % len(active)]] += 1  # the remainder: +1 each
    # every series' windows, grouped by series (in series order) and shuffled within the group
    grouped = torch.randperm(n, generator=generator)
    grouped = grouped[torch.argsort(series[grouped], stable=True)]  # (n,)
    first = torch.cumsum(counts, 0) - counts  # (S,) where each series' group begins in ``grouped``
    owner = torch.repeat_interleave(active, quota)  # (n,) the series of each draw
    draw = torch.arange(n) - torch.repeat_interleave(torch.cumsum(quota, 0) - quota, quota)  # (n,) 0.. quota-1
    picked = grouped[first[owner] + draw % counts[owner]]  # (n,) cycling through a group if quota > count
    return picked[torch.randperm(n, generator=generator)]


def shard(order: torch.Tensor, rank: int, world: int, pad: bool) -> torch.Tensor:
    """Process ``rank``'s share of ``order``: elements rank, rank + world, ...

    ``pad``: first repeat the order's head so its length divides by ``world`` (every process then
    gets ceil(n / world) elements; a few windows are seen twice that epoch). Without padding the
    shares differ by at most one element.
    """
    if pad and len(order) % world:
        extra = world - len(order) % world
        order = torch.cat([order, order.repeat(-(-extra // max(len(order), 1)))[:extra]])
    return order[rank::world]
