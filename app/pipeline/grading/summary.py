"""The grade step: the selected frame's grades and measures, the clip's statistics, as one ``Summary``.

Every Summary field is computed here, once, from the scan and the selected frame (docs/grading.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.pipeline.grading.physical import area_mm2, thickness_mm, vessel_gap_px, vessel_min_px, weighted
from app.pipeline.grading.scales import Grading, GradingConfig, grade_frame, ungraded
from app.pipeline.measure.labels import LABEL_BAND, LABEL_TENDON
from app.pipeline.measure.scan import Candidate, Scan
from app.pipeline.measure.selection import Selection, clip_stats
from app.schemas import Grades, Summary


@dataclass(frozen=True)
class GradeParams:
    """The settings grading reads (``app.config.Settings`` fields of the same names)."""

    min_vessel_px: int
    min_vessel_mm2: float
    grade_scale: str
    vessel_gap_px: int = 0
    vessel_gap_mm: float = 0.0


def grade_selected(scan: Scan, selection: Selection, chosen: Candidate, params: GradeParams) -> Grading:
    """Colour fraction, vessel count and every named grade of the chosen frame; none of them for a clip that shows
    no Doppler (:func:`app.pipeline.measure.selection.shows_doppler`)."""
    counts, row = scan.counts, selection.position
    min_px = vessel_min_px(scan.setup.calibration, params.min_vessel_mm2, params.min_vessel_px)
    gap = vessel_gap_px(scan.setup.calibration, params.vessel_gap_mm, params.vessel_gap_px)
    config = GradingConfig(min_vessel_px=min_px, headline_scale=params.grade_scale, vessel_gap_px=gap)
    doppler_px, area_px = int(counts.doppler[row, LABEL_TENDON]), int(counts.pixels[row, LABEL_TENDON])
    if not selection.graded:
        return ungraded(chosen.index, doppler_px, area_px, config)
    vessels = None  # the tendon's coloured pixels (docs/grading.md#vessel-count)
    if chosen.doppler is not None:
        coloured = scan.setup.rule.coloured_pixels(chosen.frame, chosen.labels, chosen.doppler)
        vessels = coloured & (chosen.labels == LABEL_TENDON)
    return grade_frame(chosen.index, doppler_px, area_px, vessels, config)


def summarise(scan: Scan, selection: Selection, chosen: Candidate, grading: Grading, *, tendon_shape: bool) -> Summary:
    """The Summary of a graded clip. ``tendon_shape``: the region is a tendon outline (the model's or a
    drawn mask), so thickness and area apply; a drawn rectangle holds other tissue too."""
    setup, counts, row = scan.setup, scan.counts, selection.position
    calibration = setup.calibration
    stats = clip_stats([m.colour_fraction for m in selection.measures], selection.flash)
    physical = calibration is not None and tendon_shape
    bar = setup.screen.colour_bars[0] if setup.screen.colour_bars else None
    values = weighted(chosen.frame, chosen.doppler, grading.area_px, bar) if bar is not None else None
    return Summary(
        colour_fraction=grading.colour_fraction,
        doppler_px=grading.doppler_px,
        tendon_area_px=grading.area_px,
        vessel_count=grading.vessel_count,
        grade=grading.grade,
        grade_scale=grading.headline_scale,
        grades=Grades(**grading.grades),
        frame_index=grading.frame_index,
        thickness_mm=thickness_mm(chosen.roi, calibration) if physical else None,
        area_mm2=area_mm2(int(chosen.roi.sum()), calibration) if physical else None,
        frames_analysed=stats.analysed,
        frames_kept=stats.kept,
        colour_fraction_mean=stats.mean,
        colour_fraction_median=stats.median,
        band_colour_fraction=selection.measures[row].band_colour_fraction,
        band_doppler_px=int(counts.doppler[row, LABEL_BAND]),
        band_area_px=int(counts.pixels[row, LABEL_BAND]),
        band_width_mm=setup.band.width_mm,
        band_width_px=setup.band.radius_x,
        vessel_min_px=grading.vessel_min_px,
        value_kind=None if values is None else values.kind,
        mean_value=None if values is None else values.mean_value,
        weighted_fraction=None if values is None else values.weighted_fraction,
    )
