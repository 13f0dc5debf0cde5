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

from tsrnn.checks import check_choice

SAMPLINGS = ("uniform", "balanced")


def check_sampling(sampling: str) -> str:
    """``sampling`` if it is one of ``SAMPLINGS``."""
    return check_choice("sampling", sampling, SAMPLINGS)


def uniform_order(n_windows: int, generator: torch.Generator) -> torch.Tensor:
    """(n_windows,) every window once, in random order."""
    return torch.randperm(n_windows, generator=generator)


def balanced_order(series_numbers: torch.Tensor, generator: torch.Generator, chunk: int = 1 << 20) -> torch.Tensor:
    """(n,) window numbers drawn in equal quotas per series, shuffled; n = len(series_numbers).

    ``series_numbers`` (n,) int64 (on the CPU) is the series number of each window. Series are
    handled a group of about ``chunk`` windows at a time, so the temporaries stay small however many
    windows there are; the result and one permutation of it are the only (n,) allocations.
    """
    n = len(series_numbers)
    by_series = None
    if n > 1 and bool((series_numbers[1:] < series_numbers[:-1]).any()):  # make_windows' order is sorted already
        by_series = torch.argsort(series_numbers, stable=True)
        series_numbers = series_numbers[by_series]
    counts = torch.bincount(series_numbers)  # (S,) windows per series number, 0 for a series without any
    active = torch.nonzero(counts).flatten()  # (A,) series that have windows
    quota = torch.full((len(active),), n // len(active), dtype=torch.int64)
    quota[torch.randperm(len(active), generator=generator)[: n % len(active)]] += 1  # the remainder: +1 each
    first = (torch.cumsum(counts, 0) - counts)[active]  # (A,) each series' first window
    size = counts[active]  # (A,)
    ends = torch.cumsum(size, 0)
    cuts = [
        0,
        *torch.searchsorted(ends, torch.tensor(range(chunk, n, chunk), dtype=torch.int64), right=True).tolist(),
        len(active),
    ]
    picked = torch.empty(n, dtype=torch.int64)
    done = 0
    for a, b in zip(cuts[:-1], cuts[1:]):
        if a == b:
            continue
        lo, hi = int(first[a]), int(first[b - 1] + size[b - 1])  # the group's windows, contiguous
        # within each series a random order: sort by series number + a random fraction
        keys = (series_numbers[lo:hi] - series_numbers[lo]).double() + torch.rand(
            hi - lo, generator=generator, dtype=torch.float64
        )
        grouped = torch.argsort(keys) + lo  # (hi - lo,) window numbers, series by series, shuffled within
        q, c, f = quota[a:b], size[a:b], first[a:b] - lo
        owner = torch.repeat_interleave(torch.arange(b - a), q)  # (Q,) the series of each draw
        draw = torch.arange(len(owner)) - torch.repeat_interleave(torch.cumsum(q, 0) - q, q)  # 0 .. quota - 1
        picked[done : done + len(owner)] = grouped[f[owner] + draw % c[owner]]  # cycles if quota > count
        done += len(owner)
    picked = picked[torch.randperm(n, generator=generator)]
    return picked if by_series is None else by_series[picked]


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
