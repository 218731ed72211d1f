"""The catalogue of warning codes: every code a Result or a Comparison can carry, in one place.

Codes are stable (clients match on them); a message holds counts and sizes only. docs/errors.md
describes each code; a test keeps the two in step.
"""

from __future__ import annotations

from app.schemas import WarningInfo

# code -> when it is raised (the long form, with what to do, is in docs/errors.md#warnings)
WARNINGS: dict[str, str] = {
    # grading (app.pipeline.grading.quality)
    "uncalibrated": "no usable pixel size: physical measures are null",
    "no_doppler_mode": "no Doppler colour in the image area",
    "colour_box_not_found": "colour on screen but no colour box found: the image area stands in for it",
    "colour_box_from_extent": "no outline of the colour box found: the box is the extent of the flow colour",
    "calipers_left_out": "coloured measurement calipers over the picture: their pixels are not counted",
    "no_tendon_found": "the tendon model found no tendon on the selected frame",
    "low_confidence_tendon": "the model's outline is uncertain or a fragment; the colour fraction is still given",
    "tendon_outline_moved": "the probe moved during the clip: each frame has its own outline",
    "confluent_colour": "one patch of colour covers much of the tendon: the vessel count reads it as one vessel",
    "saturated_box": "most of the Doppler box is coloured on the selected frame",
    "tendon_partially_outside_box": "part of the tendon lies outside the box and is not in the denominator",
    "doppler_outside_box": "Doppler-coloured pixels outside every box",
    "small_tendon": "so few tendon pixels that one pixel moves the colour fraction noticeably",
    "flash_frames_rejected": "frames of a clip rejected as motion flash",
    "all_frames_flash": "every frame looked like flash; the best was graded",
    "backend_fallback": "the preferred counting backend could not run; another did",
    "lossy_colour": "lossy or chroma-subsampled input: Doppler colours are approximate at vessel edges",
    # outputs (app.pipeline.outputs)
    "dicom_out_not_written": "a DICOM report was asked for but could not be made from this input",
    "overlays_not_stored": "the rendered overlays were too large for the result store",
    # comparisons (app.compare)
    "different_scales": "the two headline grades are on different scales",
    "roi_source_differs": "one region was drawn, the other found by the model",
    "different_doppler_mode": "power Doppler and colour flow fractions are not directly comparable",
}


def warning(code: str, message: str) -> WarningInfo:
    """A warning with a catalogued ``code``; an unknown code is a programming error."""
    if code not in WARNINGS:
        raise ValueError(f"warning code {code!r} is not in the catalogue (app.warning_codes.WARNINGS)")
    return WarningInfo(code=code, message=message)
