"""Training augmentation: labels move with their pixels, grey stays grey, the same seed repeats."""

from __future__ import annotations

import numpy as np
import pytest

from models.training.augment import augment


@pytest.mark.parametrize("kind", ["basic", "affine", "strong"])
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
