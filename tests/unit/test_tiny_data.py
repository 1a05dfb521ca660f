"""The built-in target sets the race trains on: the same bytes for the same seed, at the tiny backbone's size."""

from __future__ import annotations

import pytest
import torch

from tltui.engine import builtin, data, tiny


@pytest.mark.parametrize("shifted", [False, True])
def test_the_target_generator_is_deterministic_per_seed(shifted):
    first, labels = builtin.render(64, seed=5, shifted=shifted, per_class=6)
    again, _ = builtin.render(64, seed=5, shifted=shifted, per_class=6)
    other, _ = builtin.render(64, seed=6, shifted=shifted, per_class=6)
    assert first.shape == (60, 64, 64, 3) and labels.tolist() == [c for c in range(10) for _ in range(6)]
    assert first.tobytes() == again.tobytes() and first.tobytes() != other.tobytes()


def test_the_race_data_at_tiny_size_is_the_same_subset_every_time():
    def load(seed: int) -> data.ImageData:
        return data.load("builtin", image_size=tiny.IMAGE_SIZE, augment=("crop", "flip"), val_fraction=0.2,
                         limit_per_class=5, seed=seed)

    first = load(0)
    assert first.train_x.shape == (50, 3, 37, 37) and first.val_x.shape == (240, 3, 32, 32)
    data._render.cache_clear()  # render again, not from the cache
    again = load(0)
    assert torch.equal(first.train_x, again.train_x) and torch.equal(first.val_x, again.val_x)
    assert torch.equal(first.train_y, again.train_y)
