"""Physical and weighted measures of the selected frame: thickness, area, vessel size, colour-bar weighting.

* Thickness is the other imaging marker of tendinopathy besides neovascularity (fusiform thickening;
  Achilles midportion about 5 mm normal, +2.7 mm on average in tendinopathy, docs/references.md#thickness).
  It is measured as the diameter of the largest disc that fits inside the tendon mask: across the
  tendon's own axis wherever it is thickest, for straight, curved and transverse (elliptical) views
  alike, without fitting an axis first. Pixels are first resampled to a square grid so that non-square
  DICOM pixels keep their two scales. Resolution: one pixel of the finer axis.
* Vessels smaller than 0.05 mm² (``NEOVASC_MIN_VESSEL_MM2``) are not counted when the pixel size is
  known (a vessel of ~0.25 mm diameter; smaller specks are speckle or noise), else the configured
  pixel count.
* With a colour bar read from the screen, each Doppler pixel also carries the value of its nearest bar
  colour: power level 0..1 (power Doppler) or signed velocity fraction -1..1 (colour flow, taken as
  its magnitude here). Their mean and their sum over the tendon area are the weighted measures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from app.pipeline.decode import Calibration
from app.pipeline.screen.colour_bar import ColourBar


def vessel_min_px(calibration: Calibration | None, min_mm2: float, min_px: int) -> int:
    """Smallest blob counted as a vessel: ``min_mm2`` in pixels when calibrated, else ``min_px``."""
    if calibration is None:
        return min_px
    return max(1, math.ceil(min_mm2 / (calibration.mm_per_px_x * calibration.mm_per_px_y)))


def vessel_gap_px(calibration: Calibration | None, gap_mm: float, gap_px: int) -> tuple[int, int]:
    """Widest gap inside one vessel, ``(across x, along y)`` in pixels: ``gap_mm`` on each axis's own pixel size
    when calibrated (rounded to whole pixels), else ``gap_px`` on both (docs/grading.md#vessel-count)."""
    if calibration is None:
        return gap_px, gap_px
    return round(gap_mm / calibration.mm_per_px_x), round(gap_mm / calibration.mm_per_px_y)


def thickness_mm(mask: np.ndarray, calibration: Calibration) -> float | None:
    """Maximal thickness of the ``(H, W) bool`` tendon mask in mm (largest inscribed disc); None if empty.

    The mask is resampled to square pixels and then doubled (each pixel 2 x 2) before the distance
    transform: a band T pixels thick then has 2T rows, and the largest distance from a pixel centre to
    the nearest centre outside is exactly T (doubled pixels) for odd and even T alike, so that distance,
    read in original pixels, is the thickness.
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    crop = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].view(np.uint8)
    step = min(calibration.mm_per_px_x, calibration.mm_per_px_y)  # mm per pixel of the square grid
    fx, fy = calibration.mm_per_px_x / step, calibration.mm_per_px_y / step
    size = (max(1, round(crop.shape[1] * fx)) * 2, max(1, round(crop.shape[0] * fy)) * 2)
    doubled = cv2.resize(crop, size, interpolation=cv2.INTER_NEAREST)
    padded = cv2.copyMakeBorder(doubled, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)  # the crop's edge is outside
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return float(distance.max()) * step


def area_mm2(pixels: int, calibration: Calibration) -> float | None:
    """Area of ``pixels`` pixels in mm²; None for none (no tendon: no area, as no thickness)."""
    if pixels <= 0:
        return None
    return pixels * calibration.mm_per_px_x * calibration.mm_per_px_y


@dataclass(frozen=True)
class Weighted:
    """Colour-bar weighted measures of the tendon's Doppler pixels (``kind`` as the bar's)."""

    kind: str
    mean_value: float | None  # mean value over the Doppler pixels; None without any
    weighted_fraction: float | None  # sum of values / tendon pixels; None for an empty tendon


def weighted(frame: np.ndarray, doppler: np.ndarray, area_px: int, bar: ColourBar) -> Weighted:
    """Values of ``frame (H, W, 3) uint8 RGB`` at ``doppler (H, W) bool`` through ``bar``."""
    values = np.abs(bar.value_of(frame[doppler])).astype(np.float64)  # (K,), magnitude of signed velocity
    mean = float(values.mean()) if values.size else None
    fraction = float(values.sum() / area_px) if area_px > 0 else None
    return Weighted(
        bar.kind, None if mean is None else min(1.0, mean), None if fraction is None else min(1.0, fraction)
    )
