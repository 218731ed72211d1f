"""Labelled folders (nnU-Net-like and plain layouts) and the fixed cross-validation folds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from models.training.data import DatasetLayoutError, find_pairs, load_folder, split_indices


def test_nnunet_layout_is_read(tmp_path: Path, rng: np.random.Generator, write_case: Callable[..., None]) -> None:
    for case in ("a", "b"):
        write_case(tmp_path, case, rng, nnunet=True)
    assert [p[0].name for p in find_pairs(tmp_path)] == ["a_0000.png", "b_0000.png"]
    images, labels = load_folder(tmp_path, (64, 64))
    assert images.shape == (2, 64, 64, 3) and labels.shape == (2, 64, 64)
    assert set(np.unique(labels)) == {0, 1, 2}  # palette indices, not palette colours
    assert (images[..., 0] == images[..., 1]).all()  # grey replicated to RGB


def test_missing_label_is_reported(tmp_path: Path, rng: np.random.Generator, write_case: Callable[..., None]) -> None:
    write_case(tmp_path, "a", rng, nnunet=False)
    (tmp_path / "masks" / "a.png").unlink()
    with pytest.raises(DatasetLayoutError, match="has no label"):
        find_pairs(tmp_path)
    with pytest.raises(DatasetLayoutError, match="holds neither"):
        find_pairs(tmp_path / "nowhere")


def test_folds_partition_the_images_alike_for_every_seed() -> None:
    splits = [split_indices(204, seed=k, val_fraction=0.15, folds=5, fold=k) for k in range(5)]
    vals = [v for _, v in splits]
    assert sorted(np.concatenate(vals).tolist()) == list(range(204))  # each image validated exactly once
    assert [len(v) for v in vals] == [41, 41, 41, 41, 40]
    for train_idx, val_idx in splits:
        assert np.intersect1d(train_idx, val_idx).size == 0 and train_idx.size + val_idx.size == 204
    again = split_indices(204, seed=99, val_fraction=0.15, folds=5, fold=2)[1]
    np.testing.assert_array_equal(again, vals[2])  # --seed does not move the folds
    # without --folds, the seed picks a 15 % share as before
    train_idx, val_idx = split_indices(204, seed=3, val_fraction=0.15)
    assert val_idx.size == 31 and train_idx.size == 173
