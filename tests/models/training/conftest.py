"""Fixtures of the training tests: labelled image folders written on the fly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _write_case(folder: Path, case: str, rng: np.random.Generator, *, nnunet: bool) -> None:
    images, labels = ("imagesTr", "labelsTr") if nnunet else ("images", "masks")
    (folder / images).mkdir(parents=True, exist_ok=True)
    (folder / labels).mkdir(parents=True, exist_ok=True)
    grey = rng.integers(0, 255, (96, 120), dtype=np.uint8)
    label = np.zeros((96, 120), np.uint8)
    label[20:40, 10:60], label[60:80, 70:110] = 1, 2
    Image.fromarray(grey).save(folder / images / (f"{case}_0000.png" if nnunet else f"{case}.png"))
    palette = Image.fromarray(label, mode="P")
    palette.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0])
    palette.save(folder / labels / f"{case}.png")


@pytest.fixture
def write_case() -> Callable[..., None]:
    """``write_case(folder, case, rng, nnunet=...)``: one 96x120 grey image and its two-class palette label,
    in the nnU-Net layout (``imagesTr``/``labelsTr``) or the plain one (``images``/``masks``)."""
    return _write_case
