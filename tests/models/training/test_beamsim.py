"""Tests of the beamsim synthetic generator: determinism, shapes, mask statistics, colour independence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.training.beamsim import GENERATOR_VERSION, BeamSample, make_dataset, make_sample
from models.transforms import letterbox_geometry

SEEDS = range(60)


@pytest.fixture(scope="module")
def samples() -> list[BeamSample]:
    return [make_sample(s) for s in SEEDS]


def _colour(image: np.ndarray) -> np.ndarray:
    """Pixels clearly painted in colour (Doppler): high max - min over RGB; ``(H, W) bool``."""
    img = image.astype(np.int16)
    return (img.max(axis=2) - img.min(axis=2)) > 60


def test_version() -> None:
    assert GENERATOR_VERSION == "neovasc.beamsim/1"


def test_same_seed_same_sample() -> None:
    a, b = make_sample(7), make_sample(7)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.mask, b.mask)
    assert a.params == b.params


@pytest.mark.parametrize("size", [(256, 256), (128, 192), (97, 61)], ids=["square", "wide", "odd"])
def test_shapes_dtypes_values(size: tuple[int, int]) -> None:
    s = make_sample(3, size=size)
    assert s.image.shape == (*size, 3) and s.image.dtype == np.uint8
    assert s.mask.shape == size and s.mask.dtype == np.uint8
    assert set(np.unique(s.mask).tolist()) <= {0, 1}


def test_empty_share_and_views(samples: list[BeamSample]) -> None:
    empty = np.mean([s.mask.sum() == 0 for s in samples])
    assert 0.03 <= empty <= 0.22
    views = {s.params["view"] for s in samples}
    assert {"longitudinal", "transverse"} <= views


def test_mask_zero_in_letterbox_padding(samples: list[BeamSample]) -> None:
    for s in samples:
        h, w = s.params["crop_hw"]  # the cropped picture that was letterboxed
        geom = letterbox_geometry((h, w), (256, 256))
        inner = np.zeros((256, 256), bool)
        inner[geom.top : geom.top + geom.resized_size[0], geom.left : geom.left + geom.resized_size[1]] = True
        assert s.mask[~inner].sum() == 0


def test_colour_independent_of_tendon(samples: list[BeamSample]) -> None:
    inside, only_outside = 0, 0
    for s in samples:
        colour = _colour(s.image)
        if s.mask.sum() == 0 or colour.sum() < 10:
            continue
        n_in = int((colour & (s.mask > 0)).sum())
        if n_in >= 10:
            inside += 1
        elif n_in <= 0.002 * s.mask.sum() + 2:
            only_outside += 1
    assert inside > 0
    assert only_outside > 0


def test_dataset_stacks() -> None:
    images, masks = make_dataset(3, seed=2, size=(64, 80))
    assert images.shape == (3, 64, 80, 3) and images.dtype == np.uint8
    assert masks.shape == (3, 64, 80) and masks.dtype == np.uint8
    first = make_sample(2 * 1_000_003, size=(64, 80))
    assert np.array_equal(images[0], first.image)


def test_params_json(samples: list[BeamSample]) -> None:
    for s in samples[:20]:
        json.dumps(s.params)


def test_textures_stay_outside_tendon() -> None:
    rng = np.random.default_rng(0)
    textures = [rng.integers(0, 255, (120, 160), dtype=np.uint8)]
    used = 0
    for seed in range(12):
        plain, textured = make_sample(seed), make_sample(seed, textures=textures)
        assert np.array_equal(plain.mask, textured.mask)
        used += bool(textured.params["texture_blend"])
    assert used > 0
