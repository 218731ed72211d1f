"""The synthetic tendon generator: deterministic by seed, sane shapes, labels and held-out ranges."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.training.synth import HELDOUT_RANGES, TRAIN_RANGES, make_dataset, make_sample


def test_same_seed_gives_identical_frames() -> None:
    a, b = make_sample(7), make_sample(7)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert a.params == b.params


def test_different_seeds_differ() -> None:
    assert not np.array_equal(make_sample(1).image, make_sample(2).image)


@pytest.mark.parametrize("size", [(256, 256), (128, 160)], ids=["256x256", "128x160"])
def test_shapes_and_label_values(size: tuple[int, int]) -> None:
    sample = make_sample(3, replace(TRAIN_RANGES, size=size))
    assert sample.image.shape == (*size, 3) and sample.image.dtype == np.uint8
    assert sample.mask.shape == size and sample.mask.dtype == np.uint8
    assert set(np.unique(sample.mask)) <= {0, 1}


def test_tendon_is_present_and_plausibly_sized() -> None:
    images, masks = make_dataset(12, seed=5)
    assert images.shape == (12, 256, 256, 3) and masks.shape == (12, 256, 256)
    fractions = masks.reshape(12, -1).mean(axis=1)
    # A tendon a few mm thick on a 2-5 cm field of view: between ~0.3 % and ~40 % of the frame.
    assert (fractions > 0.003).all() and (fractions < 0.4).all()


def test_tendon_texture_survives_doppler_paint() -> None:
    # Painted pixels are saturated colours; the tendon must still hold mostly grey (unpainted) tissue.
    images, masks = make_dataset(8, seed=11)
    rgb = images.astype(np.int16)
    chroma = rgb.max(axis=3) - rgb.min(axis=3)  # (N, H, W)
    painted_share = (chroma[masks == 1] > 40).mean()
    assert painted_share < 0.5


def test_heldout_ranges_lie_outside_the_training_ranges() -> None:
    for name in ("fov_mm", "thickness_scale", "gain_db", "dynamic_range_db"):
        (train_lo, train_hi), *_ = getattr(TRAIN_RANGES, name)
        for lo, hi in getattr(HELDOUT_RANGES, name):
            assert hi <= train_lo or lo >= train_hi, name
    sample = make_sample(4, HELDOUT_RANGES)
    lo, hi = TRAIN_RANGES.fov_mm[0]
    assert not lo < sample.params["fov_mm"] < hi
