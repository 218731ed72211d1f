"""The label map: tendon inside the box 1, band 2, rest of the box 3, nothing outside the box or on bars."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.decode import Calibration
from app.pipeline.measure.labels import LABEL_BAND, LABEL_BOX_REST, LABEL_TENDON, Band, label_frames


def _roi(h=40, w=60, box=(10, 15, 30, 35)) -> np.ndarray:
    roi = np.zeros((1, h, w), bool)
    x0, y0, x1, y1 = box
    roi[0, y0:y1, x0:x1] = True
    return roi


def test_labels_of_a_tendon_half_outside_the_box():
    roi = _roi()
    countable = np.zeros((40, 60), bool)
    countable[:, :20] = True  # the box: the left third; the tendon spans x 10..30
    bands, labels = label_frames(roi, Band(2.0, 2.0, None), countable)
    assert (labels[0][roi[0] & countable] == LABEL_TENDON).all()
    assert (labels[0][roi[0] & ~countable] == 0).all()  # tendon outside the box carries no label
    ring = bands[0]
    assert not (ring & roi[0]).any() and ring.any()
    assert (labels[0][ring & countable] == LABEL_BAND).all() and (labels[0][~countable] == 0).all()
    rest = countable & ~roi[0] & ~ring
    assert (labels[0][rest] == LABEL_BOX_REST).all()


def test_an_empty_region_leaves_only_the_box():
    roi = np.zeros((2, 8, 9), bool)
    countable = np.ones((8, 9), bool)
    bands, labels = label_frames(roi, Band(3.0, 3.0, None), countable)
    assert not bands.any() and (labels == LABEL_BOX_REST).all()


def test_no_band_below_a_pixel():
    bands, labels = label_frames(_roi(), Band(0.2, 0.2, None), np.ones((40, 60), bool))
    assert not bands.any() and not (labels == LABEL_BAND).any()


@pytest.mark.parametrize(("mm_x", "mm_y"), [(0.1, 0.1), (0.1, 0.2)], ids=["square", "non-square"])
def test_band_width_in_pixels_follows_the_calibration(mm_x, mm_y):
    band = Band.for_calibration(Calibration(mm_x, mm_y, "test"), width_mm=2.0, width_px=20)
    assert band.radius_x == pytest.approx(2.0 / mm_x) and band.radius_y == pytest.approx(2.0 / mm_y)
    assert band.width_mm == 2.0
    uncalibrated = Band.for_calibration(None, width_mm=2.0, width_px=20)
    assert (uncalibrated.radius_x, uncalibrated.radius_y, uncalibrated.width_mm) == (20.0, 20.0, None)
