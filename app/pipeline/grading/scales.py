"""Grading: colour fraction, vessel count, frame selection and the named scales.

Sources (full references in docs/grading.md):
* Colour fraction (CF) = Doppler pixels / ROI pixels: the area measure of neovascularity, the most
  reliable of the Doppler measures (ICC 0.81, minimal detectable difference 8 %).
* modified Öhberg score 0–4+: vessel-count based (Öhberg et al. 2001; modified scale as used by
  Sengkerij et al. 2009). Automated approximation here: grade = number of vessels, capped at 4;
  the published scale also weighs where the vessels lie, which a pixel count cannot see.
* colour-fraction grade 0–3: 0 no Doppler pixel; 1 CF <= 6 %; 2 CF <= 12 %; 3 CF > 12 % — measured-CF
  thresholds published for power Doppler synovitis (PMID 26070943), applied here to tendons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from app.schemas import GradeScale

SCALES: dict[GradeScale, str] = {  # one entry per GradeScale
    "modified_ohberg": "modified Öhberg 0–4+ (automated: vessel count, capped at 4)",
    "colour_fraction_grade": "colour-fraction grade 0–3 (0: none; 1: <= 6 %; 2: <= 12 %; 3: > 12 %)",
}
CF_GRADE_LIMITS = (0.06, 0.12)  # upper bounds of grades 1 and 2, PMID 26070943
OHBERG_MAX = 4  # "4+": four or more vessels


@dataclass(frozen=True)
class GradingConfig:
    """Grading parameters. ``min_vessel_px``: smallest Doppler blob counted as a vessel, in pixels;
    ``vessel_gap_px``: blobs separated by at most this many pixels (across x, along y) are one vessel."""

    min_vessel_px: int  # default: NEOVASC_MIN_VESSEL_PX (app.config)
    headline_scale: str  # default: NEOVASC_GRADE_SCALE
    vessel_gap_px: tuple[int, int] = (0, 0)  # from NEOVASC_VESSEL_GAP_PX / _MM (physical.vessel_gap_px)

    def __post_init__(self) -> None:
        if self.headline_scale not in SCALES:
            raise ValueError(f"unknown grade scale {self.headline_scale!r}; known: {', '.join(SCALES)}")
        if self.min_vessel_px < 1:
            raise ValueError(f"min_vessel_px must be >= 1, got {self.min_vessel_px}")


@dataclass(frozen=True)
class Grading:
    """Grades of the selected frame."""

    frame_index: int
    colour_fraction: float | None
    doppler_px: int
    area_px: int
    vessel_count: int | None
    grades: dict[str, int | None] = field(default_factory=dict)
    headline_scale: str = "modified_ohberg"
    vessel_min_px: int | None = None  # the smallest blob counted as a vessel
    largest_vessel_px: int | None = None  # the Doppler pixels of the largest vessel counted (None: no count)

    @property
    def grade(self) -> int | None:
        return self.grades.get(self.headline_scale)


def colour_fraction(doppler_px: int, area_px: int) -> float | None:
    """Doppler pixels over ROI pixels; None for an empty ROI."""
    if area_px <= 0:
        return None
    return doppler_px / area_px


def count_vessels(doppler_mask: np.ndarray, min_area_px: int, gap_px: tuple[int, int] = (0, 0)) -> int:
    """Vessels in an ``(H, W) bool`` Doppler mask (docs/grading.md#vessel-count): :func:`vessel_sizes`' count."""
    return len(vessel_sizes(doppler_mask, min_area_px, gap_px))


def vessel_sizes(doppler_mask: np.ndarray, min_area_px: int, gap_px: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The Doppler pixels of each vessel counted in an ``(H, W) bool`` Doppler mask (docs/grading.md#vessel-count).

    Doppler pixels separated by a gap of at most ``gap_px = (across x, along y)`` pixels belong to one vessel:
    the mask is dilated by an ellipse ``gap + 1`` pixels wide and high (two pixels ``g + 1`` apart on a row then
    touch), its 8-connected components group the Doppler pixels, and a group counts when it holds at least
    ``min_area_px`` of them (the dilation adds none). ``(0, 0)``: plain 8-connected components.
    """
    if not doppler_mask.any():
        return np.zeros(0, np.int64)
    mask = doppler_mask.astype(np.uint8)
    gap_x, gap_y = gap_px
    joined = mask
    if gap_x > 0 or gap_y > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (gap_x + 1, gap_y + 1))
        # both axes through the anchor in full: OpenCV's flat ellipse (one row or column) keeps only its centre
        kernel[(gap_y + 1) // 2, :] = 1
        kernel[:, (gap_x + 1) // 2] = 1
        joined = cv2.dilate(mask, kernel)
    count, labels = cv2.connectedComponents(joined, connectivity=8)
    areas = np.bincount(labels[mask > 0], minlength=count)[1:]  # Doppler pixels per group; 0 is the background
    return areas[areas >= min_area_px]


def modified_ohberg(vessel_count: int) -> int:
    """Automated modified Öhberg grade: 0, 1, 2, 3 vessels -> 0..3; four or more -> 4 ("4+")."""
    return min(vessel_count, OHBERG_MAX)


def colour_fraction_grade(cf: float | None, doppler_px: int) -> int | None:
    """CF grade 0–3 (PMID 26070943); None without a colour fraction."""
    if cf is None:
        return None
    if doppler_px == 0:
        return 0
    low, high = CF_GRADE_LIMITS
    return 1 if cf <= low else 2 if cf <= high else 3


def ungraded(frame_index: int, doppler_px: int, area_px: int, config: GradingConfig) -> Grading:
    """A frame with no colour fraction, vessel count or grade (a screen without Doppler), its counts kept."""
    grades: dict[str, int | None] = dict.fromkeys(SCALES)
    return Grading(frame_index, None, doppler_px, area_px, None, grades, config.headline_scale, config.min_vessel_px)


def grade_frame(
    frame_index: int,
    doppler_px: int,
    area_px: int,
    doppler_mask: np.ndarray | None,
    config: GradingConfig,
) -> Grading:
    """Grade one frame from its ROI counts and its ``(H, W) bool`` Doppler mask inside the ROI."""
    cf = colour_fraction(doppler_px, area_px)
    vessels = largest = None
    if doppler_mask is not None and cf is not None:
        sizes = vessel_sizes(doppler_mask, config.min_vessel_px, config.vessel_gap_px)
        vessels, largest = len(sizes), int(sizes.max(initial=0))
    grades = {
        "modified_ohberg": None if vessels is None else modified_ohberg(vessels),
        "colour_fraction_grade": colour_fraction_grade(cf, doppler_px),
    }
    return Grading(
        frame_index, cf, doppler_px, area_px, vessels, grades, config.headline_scale, config.min_vessel_px, largest
    )
