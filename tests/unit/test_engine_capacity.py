"""The capacity sweep (engine/capacity.py) on features made here, with a small d: Gaussian features memorise
shuffled labels up to d + 1 and not at 8 (d + 1); features of low rank memorise less."""

from __future__ import annotations

import pytest
import torch

from tltui.core.errors import BadInput
from tltui.engine import capacity, probe

D, CLASSES = 16, 10


def features(rank: int, n: int = 8 * (D + 1), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gaussian features ``(n, D)``, features of rank ``rank`` in ``D`` dimensions, and random labels of
    ``CLASSES`` classes."""
    g = torch.Generator().manual_seed(seed)
    gaussian = torch.randn(n, D, generator=g)
    low = torch.randn(n, rank, generator=g) @ torch.randn(rank, D, generator=g)
    return low, gaussian, torch.randint(0, CLASSES, (n,), generator=g)


def test_gaussian_features_memorise_up_to_d_plus_one_and_low_rank_ones_less():
    low, gaussian, labels = features(rank=3)
    sizes = [D // 2, D + 1, 2 * (D + 1), 8 * (D + 1)]  # four of the grid's eight: seconds on a busy CPU
    told = []
    points = capacity.sweep(low, gaussian, labels, CLASSES, sizes, lambda done, text: told.append((done, text)))
    assert [p.n for p in points] == sizes
    by_n = {p.n: p for p in points}
    assert by_n[D // 2].gaussian == by_n[D + 1].gaussian == 1.0  # any labelling of d + 1 points fits
    assert by_n[8 * (D + 1)].gaussian < 0.75
    assert by_n[2 * (D + 1)].gaussian >= 0.99 > 0.9 > by_n[2 * (D + 1)].real  # rank 3: it stops long before
    assert [done for done, _ in told] == list(range(1, 2 * len(sizes) + 1))
    assert told[-1][1].startswith(f"n = {8 * (D + 1)}: Gaussian features")


def test_effective_rank_counts_the_directions_that_hold_99_percent_of_the_variance():
    low, gaussian, _ = features(rank=3)
    assert capacity.effective_rank(low) == 3
    assert D - 2 <= capacity.effective_rank(gaussian) <= D
    # The probe divides every dimension by one common scale: a dimension a thousand times smaller than the
    # others barely varies in what it fits, and holds none of the variance.
    shrunk = gaussian * torch.cat([torch.ones(D - 4), torch.full((4,), 1e-3)])
    assert capacity.effective_rank(shrunk) == capacity.effective_rank(gaussian[:, :D - 4])
    assert capacity.effective_rank(gaussian * 1e3) == capacity.effective_rank(gaussian)


def test_the_grid_goes_around_d_plus_one_and_stops_at_the_pool():
    assert capacity.grid(D) == [4, 8, 17, 34, 51, 68, 102, 136]
    assert capacity.grid(128) == [32, 64, 129, 258, 387, 516, 774, 1032]
    assert capacity._sizes((), 128, 1200) == (capacity.grid(128), [])
    sizes, (note,) = capacity._sizes((), 2048, 1200)
    assert sizes == [512, 1024, 1200] and "the pool has 1200 images" in note
    assert capacity._sizes((129, 32, 32), 128, 1200) == ([32, 129], [])
    for asked, words in (((1,), "2 to 1200"), ((1201,), "2 to 1200"), (tuple(range(2, 30)), "at most 20 sizes")):
        with pytest.raises(BadInput, match=words):
            capacity._sizes(asked, 128, 1200)


def test_a_sweep_stops_when_asked():
    low, gaussian, labels = features(rank=3)
    with pytest.raises(probe.Stopped):
        capacity.sweep(low, gaussian, labels, CLASSES, [34], should_stop=lambda: True)
