"""Physical pixel size from the DICOM Sequence of Ultrasound Regions.

A screen holds several regions (the B-mode image, a spectral trace, an ECG strip), each with its own
scale, and viewers that applied the wrong one have shown 60 mm for a 20 mm structure. So the scale
comes only from the smallest region that contains the whole analysed area, and only when that region
states centimetres on both axes; otherwise there is no calibration and the Result warns ``uncalibrated``.
Non-square pixels keep their two scales. Without a region that gives it, :func:`calibrate_from_screen` reads
the depth scale drawn beside the picture (:mod:`.depth_scale`), or says why it cannot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from app.pipeline.decode import Calibration, UltrasoundRegion
from app.pipeline.geometry import Rect
from app.pipeline.screen import depth_scale

UNITS_CM = 3  # PhysicalUnitsX/YDirection: 3 = cm (DICOM PS3.3 C.8.5.5.1.15)
SOURCE = "dicom_ultrasound_region"


def region_for(regions: Sequence[UltrasoundRegion], area: Rect) -> UltrasoundRegion | None:
    """The smallest region containing ``area`` (half-open x0, y0, x1, y1), or None."""
    holding = [r for r in regions if r.contains(area)]
    return min(holding, key=lambda r: r.area) if holding else None


def calibrate(regions: Sequence[UltrasoundRegion], area: Rect | None) -> tuple[Calibration | None, str | None]:
    """``(calibration, why not)``: mm per pixel for ``area``, or None with the reason."""
    if not regions:
        return None, "the input states no physical pixel size"
    if area is None:
        return None, "there is no analysed area to place in an ultrasound region"
    region = region_for(regions, area)
    if region is None:
        return None, "no ultrasound region of the input contains the whole analysed area"
    if region.units_x != UNITS_CM or region.units_y != UNITS_CM:
        return None, "the ultrasound region holding the analysed area is not in centimetres on both axes"
    mm_x, mm_y = region.delta_x * 10.0, region.delta_y * 10.0
    if not (0 < mm_x < math.inf and 0 < mm_y < math.inf):  # NaN, infinite or overflowing sizes are not sizes
        return None, "the ultrasound region holding the analysed area states no positive, finite pixel size"
    return Calibration(mm_per_px_x=mm_x, mm_per_px_y=mm_y, source=SOURCE), None


@dataclass(frozen=True)
class ScreenCalibration(Calibration):
    """A pixel size read from the screen's depth scale, with what was seen (``DepthScale.evidence``)."""

    evidence: dict = field(default_factory=dict, compare=False, hash=False)


def calibrate_from_screen(frames: np.ndarray, picture: Rect | None) -> tuple[Calibration | None, str | None]:
    """``(calibration, why not)`` from the depth scale beside ``picture`` on ``frames`` ``(N, H, W, 3)``.

    The scale gives mm per pixel along the depth; x gets the same (square pixels, see :mod:`.depth_scale`).
    """
    if picture is None:
        return None, "no picture was found to read a depth scale beside"
    scale = depth_scale.read_depth_scale(frames, picture)
    if scale.mm_per_px is None:
        return None, scale.why_not
    mm = scale.mm_per_px
    return ScreenCalibration(mm_per_px_x=mm, mm_per_px_y=mm, source=depth_scale.SOURCE, evidence=scale.evidence), None
