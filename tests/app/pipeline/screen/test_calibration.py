"""Calibration from DICOM ultrasound regions: only the smallest region holding the area, only in cm."""

from __future__ import annotations

import math

import pytest

from app.pipeline.decode import UltrasoundRegion
from app.pipeline.screen.calibration import UNITS_CM, calibrate, region_for


def _region(bbox, delta=0.01, units=UNITS_CM) -> UltrasoundRegion:
    return UltrasoundRegion(bbox, 1, 1, units, units, delta, delta * 2)


def test_the_smallest_region_holding_the_area_gives_the_scale():
    outer, inner = _region((0, 0, 640, 480), 0.02), _region((100, 50, 500, 400), 0.005)
    assert region_for([outer, inner], (120, 60, 300, 200)) is inner
    calibration, why = calibrate([outer, inner], (120, 60, 300, 200))
    assert (
        why is None and calibration.mm_per_px_x == pytest.approx(0.05) and calibration.mm_per_px_y == pytest.approx(0.1)
    )


@pytest.mark.parametrize(
    ("regions", "area", "reason"),
    [
        ([], (0, 0, 10, 10), "states no physical pixel size"),
        ([_region((0, 0, 100, 100))], None, "no analysed area"),
        ([_region((0, 0, 100, 100))], (50, 50, 150, 90), "contains the whole analysed area"),
        ([_region((0, 0, 100, 100), units=4)], (10, 10, 20, 20), "not in centimetres"),
        ([_region((0, 0, 100, 100), delta=math.nan)], (10, 10, 20, 20), "positive, finite"),
        ([_region((0, 0, 100, 100), delta=0.0)], (10, 10, 20, 20), "positive, finite"),
    ],
    ids=["no-regions", "no-area", "not-contained", "not-cm", "nan", "zero"],
)
def test_refusals_say_why(regions, area, reason):
    calibration, why = calibrate(regions, area)
    assert calibration is None and reason in why
