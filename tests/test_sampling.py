"""tsrnn.sampling: uniform and balanced epoch orders, and sharding an order between processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsrnn.errors import ConfigError
from tsrnn.sampling import balanced_order, check_sampling, shard, uniform_order


def series_numbers(counts: list[int]) -> torch.Tensor:
    """(sum(counts),) the series number of each window: windows of series i are contiguous."""
    return torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_balanced_gives_every_series_an_equal_quota_whatever_its_length():
    counts = [3, 40, 5000, 957]
    series = series_numbers(counts)
    order = balanced_order(series, gen())
    assert len(order) == sum(counts) and order.dtype == torch.int64
    per_series = torch.bincount(series[order], minlength=len(counts)).tolist()
    assert max(per_series) - min(per_series) <= 1  # 6000 draws / 4 series = 1500 each
    assert sum(per_series) == sum(counts)
    # uniform, by contrast, follows the lengths
    assert torch.bincount(series[uniform_order(len(series), gen())]).tolist() == counts


def test_balanced_draws_without_replacement_and_cycles_short_series_evenly():
    counts = [4, 2000, 2000]  # quota 1334 or 1335: series 0 is cycled through, the long ones are sampled
    series = series_numbers(counts)
    order = balanced_order(series, gen(3))
    picked = order[series[order] == 0]
    reps = torch.bincount(picked, minlength=4).tolist()  # windows 0..3 belong to series 0
    assert sum(reps) in (1334, 1335) and max(reps) - min(reps) <= 1
    for s in (1, 2):
        mine = order[series[order] == s]
        assert len(torch.unique(mine)) == len(mine)  # no window twice within its quota
        assert (series[mine] == s).all()


@pytest.mark.parametrize("chunk", [1, 7, 100, 1 << 20])
def test_balanced_is_the_same_in_small_groups_and_for_unsorted_series(chunk):
    counts = [3, 40, 1, 250, 17]
    series = series_numbers(counts)
    for s in (series, series[torch.randperm(len(series), generator=gen(9))]):  # windows in any order
        order = balanced_order(s, gen(), chunk=chunk)
        per_series = torch.bincount(s[order], minlength=len(counts))
        assert len(order) == len(s) and per_series.max() - per_series.min() <= 1
        for i in range(len(counts)):  # without replacement up to each series' size
            mine = order[s[order] == i]
            reps = torch.bincount(mine, minlength=len(s))[s == i]
            assert reps.max() - reps.min() <= 1


def test_balanced_skips_series_numbers_without_windows():
    series = torch.tensor([0, 0, 0, 2, 2, 2, 2, 2, 2, 2])  # series 1 has no training windows
    order = balanced_order(series, gen())
    assert torch.bincount(series[order], minlength=3).tolist() == [5, 0, 5]


def test_orders_repeat_with_the_seed_and_change_with_it():
    series = series_numbers([10, 300, 77])
    for draw in (lambda g: balanced_order(series, g), lambda g: uniform_order(len(series), g)):
        assert torch.equal(draw(gen(5)), draw(gen(5)))
        assert not torch.equal(draw(gen(5)), draw(gen(6)))
    assert torch.equal(uniform_order(len(series), gen(1)).sort().values, torch.arange(len(series)))


@pytest.mark.parametrize("n", [0, 1, 7, 10, 13])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shard_splits_an_order_between_processes(n, world):
    order = torch.randperm(n, generator=gen())
    plain = [shard(order, r, world, pad=False) for r in range(world)]
    assert sorted(torch.cat(plain).tolist()) == list(range(n))  # disjoint, nothing lost
    assert max(map(len, plain)) - min(map(len, plain)) <= 1
    padded = [shard(order, r, world, pad=True) for r in range(world)]
    assert len({len(p) for p in padded}) == 1  # as many windows on every process: nobody waits
    assert len(padded[0]) == -(-n // world)
    assert set(torch.cat(padded).tolist()) == set(range(n))
    for r in range(world):  # padding only appends to each share
        assert torch.equal(padded[r][: len(plain[r])], plain[r])


def test_check_sampling():
    assert check_sampling("balanced") == "balanced"
    with pytest.raises(ConfigError, match="unknown sampling 'weighted'"):
        check_sampling("weighted")


def test_balanced_order_of_equal_series_is_a_permutation():
    series = series_numbers([50, 50, 50])
    order = balanced_order(series, gen(2)).numpy()
    np.testing.assert_array_equal(np.sort(order), np.arange(150))
