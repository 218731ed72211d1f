"""Training data: folders of PNG images + label masks, letterboxed to the model input, and batch tensors.

Two folder layouts are read:

* nnU-Net-like: ``imagesTr/<case>_0000.png`` (or ``<case>.png``) with ``labelsTr/<case>.png``, and
  optionally ``imagesTs/`` + ``labelsTs/`` for a test split;
* plain: ``images/<case>.png`` with ``masks/<case>.png``.

Images may be grey or RGB (grey is replicated to RGB, so the colour-presence channel is 0). Labels hold
class indices (0 = background, 1..K). Everything is resized to the model input with the same letterbox as
the predictor (labels by nearest neighbour), so training sees what inference sees.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from models.transforms import derive_channels, letterbox, letterbox_geometry, normalize

__all__ = [
    "FOLD_SPLIT_SEED",
    "DatasetLayoutError",
    "find_pairs",
    "letterbox_labels",
    "load_folder",
    "split_indices",
    "to_batch",
]

_LAYOUTS = (("imagesTr", "labelsTr"), ("images", "masks"))
_TEST_LAYOUTS = (("imagesTs", "labelsTs"),)


class DatasetLayoutError(ValueError):
    """A dataset folder has neither layout, an image without a label, or unreadable files."""


def _case_id(path: Path) -> str:
    # nnU-Net names the channel of each case: <case>_0000.png; the label is <case>.png.
    stem = path.stem
    return stem[:-5] if len(stem) > 5 and stem[-5] == "_" and stem[-4:].isdigit() else stem


def find_pairs(root: str | Path, split: str = "train") -> list[tuple[Path, Path]]:
    """``(image, label)`` paths of ``root`` in case order; ``split`` is ``"train"`` or ``"test"``.

    Raises:
        DatasetLayoutError: no known layout under ``root``, or an image whose label is missing.
    """
    root = Path(root)
    layouts = _LAYOUTS if split == "train" else _TEST_LAYOUTS + _LAYOUTS
    for images, labels in layouts:
        if (root / images).is_dir() and (root / labels).is_dir():
            break
    else:
        names = " or ".join(f"{a}/ + {b}/" for a, b in layouts)
        raise DatasetLayoutError(f"{root} holds neither {names}; see models/training/data.py for the layouts")
    label_of = {_case_id(p): p for p in sorted((root / labels).glob("*.png"))}
    pairs = []
    for image in sorted((root / images).glob("*.png")):
        label = label_of.get(_case_id(image))
        if label is None:
            raise DatasetLayoutError(f"{image} has no label {root / labels / (_case_id(image) + '.png')}")
        pairs.append((image, label))
    if not pairs:
        raise DatasetLayoutError(f"{root / images} holds no .png images")
    return pairs


def letterbox_labels(labels: np.ndarray, target_size: tuple[int, int]) -> np.ndarray:
    """``(H, W) uint8`` class map -> ``target_size`` by nearest neighbour, padded with background (0)."""
    geom = letterbox_geometry(labels.shape[:2], target_size)
    (rh, rw), (th, tw) = geom.resized_size, geom.target_size
    out = np.zeros((th, tw), np.uint8)
    resized = cv2.resize(labels, (rw, rh), interpolation=cv2.INTER_NEAREST)
    out[geom.top : geom.top + rh, geom.left : geom.left + rw] = resized
    return out


def _read_image(path: Path) -> np.ndarray:
    """``(H, W, 3) uint8 RGB`` from a grey, RGB or palette PNG."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except OSError as exc:
        raise DatasetLayoutError(f"cannot read image {path}: {exc}") from exc


def _read_label(path: Path) -> np.ndarray:
    """``(H, W) uint8`` class indices. Palette PNGs hold the indices themselves (not the palette colours)."""
    try:
        with Image.open(path) as im:
            if im.mode in ("P", "L", "I", "I;16"):
                return np.asarray(im, dtype=np.int64).clip(0, 255).astype(np.uint8)
            return np.asarray(im.convert("L"), dtype=np.uint8)
    except OSError as exc:
        raise DatasetLayoutError(f"cannot read label {path}: {exc}") from exc


def load_folder(
    root: str | Path, size: tuple[int, int], split: str = "train", label_size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All cases of ``root`` letterboxed to ``size``: ``(N, h, w, 3) uint8 RGB``, ``(N, h, w) uint8`` labels
    (letterboxed to ``label_size`` instead where given, from the same read)."""
    label_size = size if label_size is None else label_size
    images, labels = [], []
    for image_path, label_path in find_pairs(root, split):
        image, label = _read_image(image_path), _read_label(label_path)
        if image.shape[:2] != label.shape:
            raise DatasetLayoutError(f"{image_path} is {image.shape[:2]} but its label is {label.shape}")
        boxed, _ = letterbox(image[None], size)  # (1, h, w, 3)
        images.append(boxed[0])
        labels.append(letterbox_labels(label, label_size))
    return np.stack(images), np.stack(labels)


# The permutation behind --folds: fixed, so the folds of every --seed partition the same images and the
# models of one cross-validation (one run per fold) together validate each image exactly once.
FOLD_SPLIT_SEED = 0


def split_indices(
    n: int, seed: int, val_fraction: float, folds: int = 0, fold: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)`` indices into a folder of ``n`` images: fold ``fold`` of ``folds`` when
    ``folds > 1``, else a ``val_fraction`` share picked by ``seed`` (empty at fraction 0)."""
    if folds > 1:
        order = np.random.default_rng(FOLD_SPLIT_SEED).permutation(n)
        val = np.array_split(order, folds)[fold]
        return np.setdiff1d(order, val), np.sort(val)
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(val_fraction * n)) if val_fraction > 0 else 0
    return order[n_val:], order[:n_val]


def read_textures(folder: str | Path | None) -> list[np.ndarray] | None:
    """The PNGs of ``folder`` as ``(H, W) uint8`` grey images (real B-mode to blend into synthetic tissue, or
    real images without a tendon); None without a folder or an image."""
    if folder is None:
        return None
    images = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(Path(folder).glob("*.png"))]
    return [im for im in images if im is not None] or None


def to_batch(images: np.ndarray, in_channels: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(B, h, w, 3) uint8 RGB`` already at model size -> ``(B, C, h, w) float32`` model input."""
    return normalize(derive_channels(images, in_channels), device)
