"""Tests of the scan-line generator ``neovasc.scanline/1``."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from models.training.scanline import GENERATOR_VERSION, ScanSample, make_dataset, make_sample

N_SURVEY = 40


@pytest.fixture(scope="module")
def survey() -> list[ScanSample]:
    """40 default-size samples shared by the distribution tests (generated once)."""
    return [make_sample(1000 + i) for i in range(N_SURVEY)]


def test_version() -> None:
    assert GENERATOR_VERSION == "neovasc.scanline/1"


@pytest.mark.parametrize("size", [(256, 256), (96, 160), (200, 120), (8, 8)], ids=["square", "wide", "tall", "tiny"])
def test_shapes_dtypes_values(size: tuple[int, int]) -> None:
    s = make_sample(3, size)
    assert s.image.shape == (*size, 3) and s.image.dtype == np.uint8
    assert s.mask.shape == size and s.mask.dtype == np.uint8
    assert set(np.unique(s.mask)) <= {0, 1}
    json.dumps(s.params)
    assert s.params["generator"] == GENERATOR_VERSION


def test_determinism() -> None:
    a, b, c = make_sample(11), make_sample(11), make_sample(12)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert a.params == b.params
    assert not np.array_equal(a.image, c.image)


def test_make_dataset_seeds() -> None:
    images, masks = make_dataset(3, seed=2, size=(64, 80))
    assert images.shape == (3, 64, 80, 3) and masks.shape == (3, 64, 80)
    assert images.dtype == np.uint8 and masks.dtype == np.uint8
    one = make_sample(2 * 1_000_033 + 1, (64, 80))
    assert np.array_equal(images[1], one.image) and np.array_equal(masks[1], one.mask)


def test_too_small_size_raises() -> None:
    with pytest.raises(ValueError, match="at least"):
        make_sample(0, (4, 4))


def test_tendon_presence_matches_mask(survey: list[ScanSample]) -> None:
    for s in survey:
        json.dumps(s.params)
        drawn = s.params["scene"]["tendon"] is not None
        if not drawn:
            assert s.mask.sum() == 0
        assert s.params["has_tendon"] == bool(s.mask.any())
    with_tendon = [s for s in survey if s.mask.any()]
    assert 0.7 * N_SURVEY <= len(with_tendon) < N_SURVEY or len(with_tendon) == N_SURVEY
    # the mask lies in the picture: most of it away from the outermost rows/columns
    for s in with_tendon:
        inner = s.mask[2:-2, 2:-2].sum()
        assert inner >= 0.8 * s.mask.sum()


def test_share_without_tendon_and_colour(survey: list[ScanSample]) -> None:
    no_tendon = sum(s.params["scene"]["tendon"] is None for s in survey)
    no_colour = sum(not s.params["doppler"]["sources"] for s in survey)
    assert no_tendon <= 0.3 * N_SURVEY  # designed 10 %
    assert 0.1 * N_SURVEY <= no_colour <= 0.55 * N_SURVEY  # designed 30 %


def test_colour_independent_of_tendon(survey: list[ScanSample]) -> None:
    coloured = [s for s in survey if s.params["doppler"]["pixels"] > 0 and s.mask.any()]
    outside_only = [s for s in coloured if s.params["doppler"]["in_mask"] == 0]
    some_inside = [s for s in coloured if s.params["doppler"]["in_mask"] > 0]
    assert outside_only and some_inside


def test_colour_pixels_are_saturated(survey: list[ScanSample]) -> None:
    s = next(s for s in survey if s.params["doppler"]["pixels"] > 50 and s.params["codec"]["codec"] == "png")
    img = s.image.astype(int)
    chroma = img.max(-1) - img.min(-1)
    assert (chroma > 60).sum() >= 0.5 * s.params["doppler"]["pixels"]


def test_textures_used() -> None:
    rng = np.random.default_rng(0)
    textures = [cv2.GaussianBlur(rng.integers(0, 255, (120, 150), dtype=np.uint8), (0, 0), 3) for _ in range(3)]
    used = 0
    for i in range(20):
        s = make_sample(500 + i, (96, 96), textures)
        tex = s.params["scene"]["texture"]
        if tex is not None:
            used += 1
            assert 0 <= tex["texture_index"] < 3
    assert 2 <= used <= 15
    assert all(make_sample(500 + i, (96, 96)).params["scene"]["texture"] is None for i in range(3))


def _fibre_energy(grey: np.ndarray, mask: np.ndarray) -> float:
    """Mean |vertical second derivative| inside the mask: parallel fibre lines make it large."""
    d2 = np.abs(np.diff(grey.astype(float), 2, axis=0))
    m = mask[1:-1].astype(bool)
    return float(d2[m].mean()) if m.any() else 0.0


def test_tendon_visible(survey: list[ScanSample]) -> None:
    """Loose: the tendon's mean grey differs from a ring around it, or it has fibre texture, in most samples
    (some are designed to be barely visible). Doppler-coloured pixels are left out of both means."""
    checked = visible = 0
    for s in survey:
        if s.mask.sum() < 20:
            continue
        img = s.image.astype(int)
        grey_px = (img.max(-1) - img.min(-1)) < 30  # not painted with colour
        grey = img.min(-1).astype(float)
        tendon = s.mask.astype(bool) & grey_px
        ring = cv2.dilate(s.mask, np.ones((9, 9), np.uint8)).astype(bool) & ~s.mask.astype(bool) & grey_px
        if tendon.sum() < 10 or ring.sum() < 10:
            continue
        checked += 1
        contrast = abs(grey[tendon].mean() - grey[ring].mean()) / max(grey[ring].mean(), 1.0)
        visible += contrast > 0.1 or _fibre_energy(grey, s.mask) > 8
    assert checked >= 10
    assert visible >= 0.6 * checked


def test_speed() -> None:
    start = time.perf_counter()
    for i in range(40):
        make_sample(2000 + i)
    assert time.perf_counter() - start < 10.0


def test_bad_texture_raises() -> None:
    bad = [np.zeros((3, 3), np.uint8)]
    with pytest.raises(ValueError, match="textures"):
        for i in range(30):  # textures are used in about a third of the samples
            make_sample(i, (32, 32), bad)


def test_rgb_texture_accepted() -> None:
    rgb = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    for i in range(10):
        s = make_sample(i, (32, 32), [rgb])
        assert s.image.shape == (32, 32, 3)
