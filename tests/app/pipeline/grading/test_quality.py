"""Quality warnings: each code from the facts that raise it, and never without them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from app.pipeline.decode import Calibration
from app.pipeline.grading.quality import Facts, doppler_outside_boxes, warnings_for
from app.pipeline.screen.doppler_box import rect_box
from app.pipeline.screen.parse import Screen

BOXED = Screen(image_area=(0, 0, 200, 100), mode="power", boxes=(rect_box((50, 10, 150, 90), "rectangle", "outline"),))
QUIET = Facts(
    screen=BOXED, model_roi=True, roi_px=2000, roi_outside_box_px=0, denominator_px=2000, box_fraction=0.1,
    doppler_outside_box_px=0, outside_box_px=12000, calibration=Calibration(0.1, 0.1, "t"), why_uncalibrated=None,
    flash_rejected=0, all_flash=False, fallback=None,
)  # fmt: skip


def _codes(facts: Facts) -> list[str]:
    return [code for code, _ in warnings_for(facts)]


def test_a_clean_measurement_warns_nothing():
    assert _codes(QUIET) == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"why_uncalibrated": "no region"}, "uncalibrated"),
        ({"screen": Screen(image_area=(0, 0, 200, 100), mode="none")}, "no_doppler_mode"),
        ({"screen": Screen(image_area=(0, 0, 200, 100), mode="colour")}, "colour_box_not_found"),
        ({"roi_px": 0, "denominator_px": 0}, "no_tendon_found"),
        ({"box_fraction": 0.51}, "saturated_box"),
        ({"roi_outside_box_px": 101}, "tendon_partially_outside_box"),
        ({"doppler_outside_box_px": 201}, "doppler_outside_box"),
        ({"denominator_px": 399}, "small_tendon"),
        ({"denominator_px": 999}, "small_tendon"),  # 9.99 mm² at 0.01 mm² a pixel
        ({"flash_rejected": 2}, "flash_frames_rejected"),
        ({"all_flash": True, "flash_rejected": 0}, "all_frames_flash"),
        ({"fallback": "triton skipped"}, "backend_fallback"),
        ({"lossy_colour": "lossy jpeg-baseline, 4:2:2 chroma", "colour_rule": "bar"}, "lossy_colour"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_warning_needs_its_facts(change, code):
    assert code not in _codes(QUIET)
    assert code in _codes(replace(QUIET, **change))


def test_thresholds_are_strict():
    assert _codes(replace(QUIET, box_fraction=0.5, roi_outside_box_px=100, doppler_outside_box_px=200)) == []
    assert "small_tendon" not in _codes(replace(QUIET, denominator_px=1000))
    assert "small_tendon" not in _codes(replace(QUIET, denominator_px=400, calibration=None))
    # outside-box colour is judged against the area it lies in: 1 % of 40000 px is 400
    assert "doppler_outside_box" not in _codes(replace(QUIET, doppler_outside_box_px=399, outside_box_px=40000))


def test_messages_hold_counts_not_content():
    message = dict(warnings_for(replace(QUIET, roi_outside_box_px=500)))["tendon_partially_outside_box"]
    assert message.startswith("25 %")


def test_doppler_outside_boxes_counts_only_the_countable_area_outside():
    frame = np.zeros((40, 40, 3), np.uint8)
    keep = np.ones((40, 40), bool)
    keep[:, 39] = False  # a colour bar
    in_box = np.zeros((40, 40), bool)
    in_box[10:30, 10:30] = True
    frame[9, 9:31] = frame[30, 9:31] = (220, 200, 40)  # a coloured box outline, one pixel outside the interior
    assert doppler_outside_boxes(frame, keep, in_box, 40) == (0, 40 * 39 - 26 * 26)  # outline +-3 px left out
    frame[:] = (200, 30, 30)
    assert doppler_outside_boxes(frame, keep, in_box, 40) == (40 * 39 - 26 * 26, 40 * 39 - 26 * 26)
    assert doppler_outside_boxes(frame, in_box, in_box, 40) == (0, 0)


def test_lossy_colour_says_how_it_was_counted():
    lossy = replace(QUIET, lossy_colour="lossy h264, 4:2:0 chroma")
    assert "the clip's own colours" in dict(warnings_for(replace(lossy, colour_rule="saturation")))["lossy_colour"]
    assert "colour bar" in dict(warnings_for(replace(lossy, colour_rule="bar")))["lossy_colour"]
    assert "15-45 % high" in dict(warnings_for(lossy))["lossy_colour"]  # NEOVASC_COLOUR_RULE=chroma
    assert "lossy_colour" not in _codes(replace(lossy, screen=Screen(image_area=(0, 0, 200, 100), mode="none")))


def test_no_tendon_says_when_the_presence_head_turned_the_picture_away():
    found_nothing = dict(warnings_for(replace(QUIET, roi_px=0, denominator_px=0)))["no_tendon_found"]
    judged = dict(warnings_for(replace(QUIET, roi_px=0, denominator_px=0, absent_presence=0.031)))["no_tendon_found"]
    assert "found no tendon" in found_nothing and "presence" not in found_nothing
    assert "presence 0.03" in judged and "--tendon-point" in judged
    assert "no_tendon_found" not in _codes(replace(QUIET, absent_presence=0.031))  # a drawn or found region stands


def test_no_tendon_names_the_hint_in_every_interface():
    """HTTP and Python users are not sent to command-line flags alone."""
    judged = dict(warnings_for(replace(QUIET, roi_px=0, denominator_px=0, absent_presence=0.031)))["no_tendon_found"]
    assert "(roi_hint or tendon_point; --roi-hint or --tendon-point on the command line; Hint in Python)" in judged


def test_confluent_colour_is_named_from_a_fifth_of_the_tendon():
    """One vessel group holding 20 % of the tendon in the box is confluent colour, which the count reads as one."""
    assert "confluent_colour" not in _codes(replace(QUIET, largest_vessel_px=399))  # 2000 px tendon: just under
    message = dict(warnings_for(replace(QUIET, largest_vessel_px=1700)))["confluent_colour"]
    assert "85 % of the tendon" in message and "colour fraction" in message
    assert "confluent_colour" not in _codes(replace(QUIET, largest_vessel_px=1700, denominator_px=0))
