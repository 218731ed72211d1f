"""Regions of a frame the predictor works in and keeps: the picture's rectangle checked, and the one tendon region
chosen among those the network's map holds (numpy and OpenCV only)."""

from __future__ import annotations

import operator
from collections.abc import Sequence

import cv2
import numpy as np

from models.transforms import InvalidInputError

__all__ = ["Area", "keep_largest_component", "validate_area"]

# (x0, y0, x1, y1) in frame pixels, x1/y1 exclusive, e.g. the B-mode image region of a scanner screen.
Area = tuple[int, int, int, int]


def validate_area(area: Sequence[int] | None, size: tuple[int, int]) -> Area | None:
    """Check ``area`` is ``(x0, y0, x1, y1)`` with ``0 <= x0 < x1 <= W`` and ``0 <= y0 < y1 <= H``.

    Args:
        area: rectangle in pixels, x1/y1 exclusive, or ``None`` for the whole frame.
        size: the frame size ``(H, W)``.

    Raises:
        InvalidInputError: not four integers, or not a non-empty rectangle inside the frame.
    """
    if area is None:
        return None
    h, w = size
    try:
        x0, y0, x1, y1 = (operator.index(v) for v in area)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"area must be four integers (x0, y0, x1, y1), got {area!r}") from exc
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise InvalidInputError(
            f"area (x0, y0, x1, y1) = {(x0, y0, x1, y1)} must satisfy 0 <= x0 < x1 <= {w} and "
            f"0 <= y0 < y1 <= {h} for a {w}x{h} (W x H) frame; x1 and y1 are exclusive"
        )
    return x0, y0, x1, y1


def keep_largest_component(mask: np.ndarray, area: Area | None = None, weights: np.ndarray | None = None) -> np.ndarray:
    """Keep only the largest 8-connected component of an ``(H, W) bool`` mask, optionally within ``area``.

    Pixels outside ``area`` are dropped before components are found, so a blob outside the image region
    (text, a colour bar) can never win. With ``weights`` (``(H, W)``, the tendon probabilities), the largest is
    the component of the largest summed weight: a region the network is sure of outweighs a slightly larger one
    it doubts. Ties keep the component found first in raster order. An empty input gives an empty output: "no
    tendon found" is a valid answer.

    Returns:
        ``(H, W) bool`` mask.
    """
    h, w = mask.shape
    x0, y0, x1, y1 = area if area is not None else (0, 0, w, h)
    out = np.zeros((h, w), dtype=bool)
    window = mask[y0:y1, x0:x1]
    rows, cols = np.flatnonzero(window.any(axis=1)), np.flatnonzero(window.any(axis=0))
    if rows.size == 0:
        return out
    # Components are found in the bounding box of the mask only: a tendon covers a small part of a
    # full-HD frame, and labelling the whole frame cost more than the network's forward pass.
    y0, y1, x0, x1 = y0 + rows[0], y0 + rows[-1] + 1, x0 + cols[0], x0 + cols[-1] + 1
    crop = np.ascontiguousarray(mask[y0:y1, x0:x1], dtype=np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(crop, connectivity=8)
    if weights is None:
        sizes = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    else:
        sizes = np.bincount(labels.ravel(), weights=weights[y0:y1, x0:x1].ravel().astype(np.float64), minlength=count)
    best = 1 + int(np.argmax(sizes[1:]))  # label 0 is the background; the crop holds a pixel
    out[y0:y1, x0:x1] = labels == best
    return out
