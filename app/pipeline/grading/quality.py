"""Quality warnings: stable codes, each with the facts that raised it (docs/errors.md#warnings).

Every threshold is a named constant here; none is a published value unless a source is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from app.pipeline.decode import Calibration
from app.pipeline.measure.labels import LABEL_TENDON
from app.pipeline.measure.scan import Candidate, Scan
from app.pipeline.measure.selection import FLASH_BOX_FRACTION, Selection
from app.pipeline.screen.parse import Screen
from app.pipeline.screen.planes import value_chroma
from app.pipeline.tendon import HINT_HOW

SATURATED_BOX = FLASH_BOX_FRACTION  # the selected frame still has most of its box coloured
OUTSIDE_BOX_SHARE = 0.05  # tendon pixels outside the box, as a share of the whole tendon
OUTSIDE_DOPPLER_PX = 200  # Doppler pixels in the image area outside every box...
OUTSIDE_DOPPLER_SHARE = 0.01  # ...and as a share of the image area outside the boxes
# Below this many pixels one pixel moves the colour fraction by more than 0.25 percentage points.
SMALL_TENDON_PX = 400
SMALL_TENDON_MM2 = 10.0  # calibrated: a 5 mm tendon 2 mm long; typical views show 100-300 mm²
# One vessel group holding this share of the tendon (in the box) is confluent colour, not a vessel: a neovessel
# 0.2-1 mm wide crossing a 4-7 mm tendon covers a few % of a longitudinal view (docs/grading.md#vessel-count)
CONFLUENT_SHARE = 0.2


@dataclass(frozen=True)
class Facts:
    """What the warnings are decided from, for the selected frame unless said otherwise."""

    screen: Screen
    model_roi: bool
    roi_px: int  # the whole region (tendon), inside and outside the box
    roi_outside_box_px: int
    denominator_px: int  # tendon inside the box
    box_fraction: float | None  # colour fraction of the whole box
    doppler_outside_box_px: int
    outside_box_px: int
    calibration: Calibration | None
    why_uncalibrated: str | None
    flash_rejected: int
    all_flash: bool
    fallback: str | None
    lossy_colour: str | None = None  # why the input's colours are approximate (ColourRule.lossy)
    colour_rule: str = "chroma"  # the rule the clip was counted with (ColourRule.kind)
    # the presence when the tendon model's presence head judged the picture to hold no tendon; None otherwise
    absent_presence: float | None = None
    graded: bool = True  # the clip shows Doppler (selection.shows_doppler)
    largest_vessel_px: int | None = None  # the largest vessel group of the vessel count (Grading)


def facts_of(
    scan: Scan,
    selection: Selection,
    chosen: Candidate,
    *,
    model_roi: bool,
    chroma_threshold: int,
    absent_presence: float | None = None,
    largest_vessel_px: int | None = None,
) -> Facts:
    """The facts the warnings are decided from, for the chosen frame of a scanned clip; ``absent_presence``: the
    presence when the tendon model's presence head judged the picture to hold no tendon."""
    setup, flash = scan.setup, selection.flash
    outside, outside_px = doppler_outside_boxes(chosen.frame, setup.countable, setup.in_box, chroma_threshold)
    return Facts(
        screen=setup.screen,
        model_roi=model_roi,
        roi_px=int(chosen.roi.sum()),
        roi_outside_box_px=int((chosen.roi & ~setup.in_box).sum()),
        denominator_px=int(scan.counts.pixels[selection.position, LABEL_TENDON]),
        box_fraction=selection.measures[selection.position].box_colour_fraction,
        doppler_outside_box_px=outside,
        outside_box_px=outside_px,
        calibration=setup.calibration,
        why_uncalibrated=setup.why_uncalibrated,
        flash_rejected=sum(flash) if not all(flash) else 0,
        all_flash=len(flash) > 1 and all(flash),
        fallback=scan.counts.fallback,
        lossy_colour=setup.rule.lossy,
        colour_rule=setup.rule.kind,
        absent_presence=absent_presence,
        graded=selection.graded,
        largest_vessel_px=largest_vessel_px,
    )


def warnings_for(f: Facts) -> Iterator[tuple[str, str]]:
    """``(code, message)`` pairs, in a fixed order. Messages hold counts and sizes only."""
    if f.why_uncalibrated is not None:
        yield "uncalibrated", f"{f.why_uncalibrated}: thickness_mm, area_mm2 and band_width_mm are null"
    if f.screen.mode == "none":
        found = "no colour bar, no Doppler box and too little colour in the image area to read a Doppler mode"
        if f.graded:
            yield "no_doppler_mode", f"{found}: the colour counted is graded; check that the file is a Doppler study"
        else:
            yield "no_doppler_mode", f"{found}: no colour fraction, vessel count or grade"
    elif not f.screen.boxes:
        yield (
            "colour_box_not_found",
            ("Doppler colour is on screen but no colour box was found: the whole image area was counted"),
        )
    elif any(box.source == "colour_extent" for box in f.screen.boxes):
        x0, y0, x1, y1 = f.screen.doppler_box or (0, 0, 0, 0)
        yield (
            "colour_box_from_extent",
            (
                f"no outline of the colour box was found: the {x1 - x0}x{y1 - y0} px box is the extent of the flow "
                "colour and may be smaller than the real box"
            ),
        )
    if f.screen.calipers:
        pixels = sum(int(caliper.pixels.shape[0]) for caliper in f.screen.calipers)
        yield (
            "calipers_left_out",
            (
                f"{len(f.screen.calipers)} coloured measurement caliper(s) drawn over the picture: the {pixels} px "
                "under them were left out of the count and of the tendon's area"
            ),
        )
    if f.model_roi and f.roi_px == 0:
        if f.absent_presence is not None:
            yield (
                "no_tendon_found",
                (
                    f"the tendon model judged the picture to hold no tendon (presence {f.absent_presence:.2f}); if "
                    f"one is there, give a hint ({HINT_HOW}) or draw the region"
                ),
            )
        else:
            yield "no_tendon_found", "the tendon model found no tendon on the selected frame"
    yield from _box_warnings(f)
    if f.denominator_px > 0 and _small(f.denominator_px, f.calibration):
        yield (
            "small_tendon",
            (
                f"only {f.denominator_px} tendon pixels lie inside the Doppler box: one pixel moves the colour "
                f"fraction by {100 / f.denominator_px:.2f} percentage points"
            ),
        )
    if f.flash_rejected and not f.all_flash:
        yield "flash_frames_rejected", f"{f.flash_rejected} frame(s) rejected as motion flash (docs/grading.md)"
    if f.all_flash:
        yield "all_frames_flash", "every frame looked like motion flash: the best of them was graded anyway"
    if f.fallback is not None:
        yield "backend_fallback", f"the preferred counting backend could not run: {f.fallback}"
    if f.lossy_colour is not None and f.screen.mode != "none":
        yield "lossy_colour", _lossy_message(f)


# What the lossy colour rule (ColourRule.kind) took for the paint, as the lossy_colour warning names it.
REFERENCES = {
    "bar": "the colour bar's colours",
    "cores": "the clip's own colours (the cores of its vessels)",
    "saturation": "the clip's own colours (their saturation)",
}


def _lossy_message(f: Facts) -> str:
    if f.colour_rule == "chroma":  # NEOVASC_COLOUR_RULE=chroma
        return (
            f"the input's colours are approximate ({f.lossy_colour}) and were counted with the chroma rule, which "
            "also counts the codec's colour smear around each vessel: the colour fraction may read 15-45 % high"
        )
    reference = REFERENCES.get(f.colour_rule, "the clip's own colours")
    return (
        f"the input's colours are approximate ({f.lossy_colour}): vessel edges were told from the codec's colour "
        f"smear by luma and chroma together, with {reference} as the reference; expect the Doppler pixel count "
        "to be off by a few percent (docs/grading.md)"
    )


def _box_warnings(f: Facts) -> Iterator[tuple[str, str]]:
    if f.largest_vessel_px and f.denominator_px and f.largest_vessel_px >= CONFLUENT_SHARE * f.denominator_px:
        yield (
            "confluent_colour",
            (
                f"one patch of colour covers {100 * f.largest_vessel_px / f.denominator_px:.0f} % of the tendon: the "
                "vessel count, and the modified Öhberg grade from it, count it as one vessel; read the colour "
                "fraction and its grade"
            ),
        )
    if f.box_fraction is not None and f.box_fraction > SATURATED_BOX:
        yield (
            "saturated_box",
            (
                f"{100 * f.box_fraction:.0f} % of the Doppler box is coloured on the selected frame "
                "(flash, gain too high or a wall filter too low)"
            ),
        )
    if f.screen.boxes and f.roi_px and f.roi_outside_box_px > OUTSIDE_BOX_SHARE * f.roi_px:
        yield (
            "tendon_partially_outside_box",
            (
                f"{100 * f.roi_outside_box_px / f.roi_px:.0f} % of the tendon lies outside the Doppler box and is "
                "not in the colour fraction's denominator"
            ),
        )
    outside = f.doppler_outside_box_px
    if f.screen.boxes and outside > max(OUTSIDE_DOPPLER_PX, OUTSIDE_DOPPLER_SHARE * f.outside_box_px):
        yield (
            "doppler_outside_box",
            (
                f"{outside} Doppler-coloured pixels lie in the image outside the colour box(es): the box may be "
                "wrongly placed, or coloured marks are on the image"
            ),
        )


def _small(pixels: int, calibration: Calibration | None) -> bool:
    if pixels < SMALL_TENDON_PX:
        return True
    return calibration is not None and pixels * calibration.mm_per_px_x * calibration.mm_per_px_y < SMALL_TENDON_MM2


OUTLINE_MARGIN = 3  # px around a box's interior left out: scanners draw box outlines in colour too


def doppler_outside_boxes(
    frame: np.ndarray, countable: np.ndarray, in_box: np.ndarray, threshold: int
) -> tuple[int, int]:
    """``(Doppler pixels, pixels)`` of the countable image area outside the boxes, on ``frame (H, W, 3)``.

    The boxes' outlines (and ``OUTLINE_MARGIN`` pixels around their interiors) do not count as outside.
    """
    size = 2 * OUTLINE_MARGIN + 1
    near = cv2.dilate(in_box.view(np.uint8), np.ones((size, size), np.uint8)).view(bool)
    outside = countable & ~near
    if not outside.any():
        return 0, 0
    _, chroma = value_chroma(np.ascontiguousarray(frame))
    return int(np.count_nonzero((chroma > threshold) & outside)), int(np.count_nonzero(outside))
