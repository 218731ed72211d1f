"""Training augmentation: labels move with their pixels, grey stays grey, the same seed repeats."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.training.augment import _random_rescan, augment


@pytest.mark.parametrize("kind", ["basic", "affine", "strong", "style", "rescan"])
def test_augmentations_keep_labels_aligned_and_grey_grey(kind: str) -> None:
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (6, 48, 48, 1), dtype=np.uint8).repeat(3, axis=3)
    grey[:, 16:32, 16:32] = 255  # a bright square exactly where label 1 is
    labels = np.zeros((6, 48, 48), np.uint8)
    labels[:, 16:32, 16:32] = 1
    images, out = augment(np.random.default_rng(0), grey, labels, kind)
    again, _ = augment(np.random.default_rng(0), grey, labels, kind)
    assert images.dtype == np.uint8 and out.dtype == np.uint8 and set(np.unique(out)) <= {0, 1}
    assert (images == again).all()  # deterministic by seed
    assert (images[..., 0] == images[..., 1]).all() and (images[..., 1] == images[..., 2]).all()
    inside = images[..., 0][out == 1].astype(float).mean()
    outside = images[..., 0][out == 0].astype(float).mean()
    assert inside > outside + 40  # the labelled square moved with its pixels


def test_style_restyles_the_grey_and_leaves_the_colour_and_the_labels() -> None:
    rng = np.random.default_rng(5)
    images = rng.integers(40, 200, (16, 64, 64, 1), dtype=np.uint8).repeat(3, axis=3)
    images[:, 20:30, 20:40] = (200, 40, 30)  # a red vessel
    labels = np.zeros((16, 64, 64), np.uint8)
    labels[:, 10:50, 5:60] = 1
    # the same seed draws the same flips and jitter first: "style" is "basic" restyled
    basic, basic_labels = augment(np.random.default_rng(1), images, labels, "basic")
    styled, styled_labels = augment(np.random.default_rng(1), images, labels, "style")
    assert (styled_labels == basic_labels).all()  # the geometry is left alone
    colour = (basic.max(axis=3).astype(int) - basic.min(axis=3)) > 60
    assert colour.any() and (styled[colour] == basic[colour]).all()  # the vessel keeps its values
    changed = np.abs(styled[..., 0].astype(float) - basic[..., 0]).mean(axis=(1, 2))
    assert (changed > 5).sum() >= 8  # most images are restyled (each change with STYLE_P = 0.5)


def test_rescan_forms_new_speckle_over_the_same_echogenicity_and_leaves_the_colour() -> None:
    """ "rescan" keeps what the picture shows (a bright band over darker tissue, a red vessel, the labels) and
    replaces what one generator's image formation adds: each rescanned image's fine grain is another one."""
    rng = np.random.default_rng(7)
    images = rng.integers(30, 90, (16, 64, 64, 1), dtype=np.uint8).repeat(3, axis=3)
    images[:, 24:40] = rng.integers(120, 220, (16, 16, 64, 1), dtype=np.uint8).repeat(3, axis=3)  # the band
    images[:, 4:8, 20:40] = (200, 40, 30)  # a red vessel
    labels = np.zeros((16, 64, 64), np.uint8)
    labels[:, 24:40] = 1
    basic, basic_labels = augment(np.random.default_rng(1), images, labels, "basic")
    formed, formed_labels = augment(np.random.default_rng(1), images, labels, "rescan")
    assert (formed_labels == basic_labels).all()
    colour = (basic.max(axis=3).astype(int) - basic.min(axis=3)) > 60
    assert colour.any() and (formed[colour] == basic[colour]).all()
    grey = formed[..., 0].astype(float)
    band, rest = grey[:, 26:38].mean(axis=(1, 2)), grey[:, 44:60].mean(axis=(1, 2))
    assert (band > rest + 30).all()  # the band still shows on every image

    def fine(stack: np.ndarray) -> np.ndarray:  # the grain: each pixel less its 5 x 5 mean, over the band
        return np.stack([s - cv2.blur(s, (5, 5)) for s in stack.astype(np.float32)])[:, 26:38, 8:56]

    rescanned = np.stack([_random_rescan(np.random.default_rng(i), image) for i, image in enumerate(basic)])
    assert (rescanned[colour] == basic[colour]).all()
    a, b = fine(basic[..., 0]), fine(rescanned[..., 0])
    kept = [np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(a, b, strict=True)]
    assert 3 <= sum(k < 0.3 for k in kept) <= 13  # new grain on about half of them (RESCAN_P)
