"""Grading on hand-built masks and counts with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.grading.scales import (
    GradingConfig,
    colour_fraction,
    colour_fraction_grade,
    count_vessels,
    grade_frame,
    modified_ohberg,
    vessel_sizes,
)


def _mask(shape, *rects):
    mask = np.zeros(shape, dtype=bool)
    for x0, y0, x1, y1 in rects:
        mask[y0:y1, x0:x1] = True
    return mask


@pytest.mark.parametrize(("vessels", "grade"), [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (9, 4)], ids=lambda v: str(v))
def test_modified_ohberg(vessels, grade):
    assert modified_ohberg(vessels) == grade


@pytest.mark.parametrize(
    ("cf", "doppler_px", "grade"),
    [
        (0.0, 0, 0),
        (0.0001, 1, 1),
        (0.06, 60, 1),
        (0.0601, 61, 2),
        (0.12, 120, 2),
        (0.1201, 121, 3),
        (1.0, 500, 3),
        (None, 0, None),
    ],
    ids=["none", "tiny", "6%-edge", "just-over-6%", "12%-edge", "just-over-12%", "full", "no-roi"],
)
def test_colour_fraction_grade(cf, doppler_px, grade):
    assert colour_fraction_grade(cf, doppler_px) == grade


def test_colour_fraction():
    assert colour_fraction(25, 100) == 0.25
    assert colour_fraction(0, 0) is None


def test_vessels_are_8_connected_components_above_min_area():
    mask = _mask((20, 20), (1, 1, 4, 3), (10, 10, 12, 12), (18, 18, 19, 19))  # 6 px, 4 px, 1 px
    mask[3, 4] = True  # diagonal neighbour of the first blob: joins it under 8-connectivity
    assert count_vessels(mask, min_area_px=1) == 3
    assert count_vessels(mask, min_area_px=4) == 2
    assert count_vessels(mask, min_area_px=7) == 1
    assert count_vessels(np.zeros((5, 5), bool), min_area_px=1) == 0


def test_diagonal_pixels_form_one_vessel():
    mask = np.eye(6, dtype=bool)
    assert count_vessels(mask, min_area_px=1) == 1


def test_grade_frame_known_answer():
    doppler = _mask((50, 50), (5, 5, 10, 10), (20, 20, 25, 25), (30, 5, 35, 10), (40, 40, 45, 45))  # 4 x 25 px
    grading = grade_frame(
        0,
        doppler_px=100,
        area_px=1000,
        doppler_mask=doppler,
        config=GradingConfig(min_vessel_px=5, headline_scale="modified_ohberg"),
    )
    assert grading.colour_fraction == pytest.approx(0.1)
    assert grading.vessel_count == 4
    assert grading.grades == {"modified_ohberg": 4, "colour_fraction_grade": 2}
    assert grading.grade == 4 and grading.headline_scale == "modified_ohberg"


def test_grade_frame_headline_scale_and_empty_roi():
    config = GradingConfig(min_vessel_px=5, headline_scale="colour_fraction_grade")
    grading = grade_frame(0, doppler_px=0, area_px=0, doppler_mask=np.zeros((4, 4), bool), config=config)
    assert grading.colour_fraction is None and grading.vessel_count is None and grading.grade is None


def test_config_rejects_unknown_scale():
    with pytest.raises(ValueError, match="unknown grade scale"):
        GradingConfig(min_vessel_px=5, headline_scale="nope")


def test_vessels_closer_than_the_gap_are_one():
    """Blobs with a gap of at most ``gap`` pixels between them are one vessel; the area counts Doppler pixels."""
    mask = _mask((20, 30), (2, 5, 6, 9), (9, 5, 13, 9), (22, 5, 24, 7))  # 16 px, 16 px 3 apart, 4 px far off
    assert count_vessels(mask, 5) == 2
    assert count_vessels(mask, 5, (2, 2)) == 2  # a 3 px gap stays open
    assert count_vessels(mask, 5, (3, 3)) == 1  # ... and closes at 3
    assert count_vessels(mask, 5, (3, 0)) == 1 and count_vessels(mask.T, 5, (3, 0)) == 2  # per axis
    assert count_vessels(mask, 5, (20, 20)) == 1  # the small blob joins; its 4 px do not reach 5 alone
    assert count_vessels(_mask((20, 30), (22, 5, 24, 7)), 5, (6, 6)) == 0  # dilation adds no area


def test_vessel_sizes_and_the_largest_vessel_of_a_grading():
    mask = _mask((20, 30), (2, 5, 6, 9), (12, 5, 20, 9), (26, 5, 28, 7))  # 16 px, 32 px, 4 px
    assert sorted(vessel_sizes(mask, 5).tolist()) == [16, 32]
    assert vessel_sizes(np.zeros((4, 4), bool), 1).size == 0
    config = GradingConfig(min_vessel_px=5, headline_scale="modified_ohberg")
    grading = grade_frame(0, doppler_px=52, area_px=600, doppler_mask=mask, config=config)
    assert grading.vessel_count == 2 and grading.largest_vessel_px == 32
    assert grade_frame(0, 0, 0, None, config).largest_vessel_px is None
