"""Thickness, areas, vessel size, the band and colour-bar weighting on hand-built masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.pipeline.decode import Calibration
from app.pipeline.grading.physical import area_mm2, thickness_mm, vessel_gap_px, vessel_min_px, weighted
from app.pipeline.measure.labels import LABEL_BAND, LABEL_BOX_REST, LABEL_TENDON, Band, label_frames
from app.pipeline.screen.colour_bar import ColourBar

SQUARE = Calibration(mm_per_px_x=0.1, mm_per_px_y=0.1, source="test")


@pytest.mark.parametrize("rows", [1, 2, 3, 10, 39, 40])
def test_thickness_of_a_straight_band_is_exact(rows):
    mask = np.zeros((100, 200), bool)
    mask[30 : 30 + rows, 20:180] = True
    assert thickness_mm(mask, SQUARE) == pytest.approx(rows * 0.1)


def test_thickness_is_across_the_axis_for_a_tilted_or_fusiform_tendon():
    mask = np.zeros((300, 300), np.uint8)
    cv2.line(mask, (20, 40), (280, 260), 1, thickness=21)  # a 21 px band at 40 degrees
    assert thickness_mm(mask.astype(bool), SQUARE) == pytest.approx(2.1, abs=0.25)
    spindle = np.zeros((200, 400), np.uint8)
    cv2.ellipse(spindle, (200, 100), (180, 30), 0, 0, 360, 1, -1)  # fusiform: 61 px at its thickest
    assert thickness_mm(spindle.astype(bool), SQUARE) == pytest.approx(6.1, rel=0.05)


def test_thickness_with_non_square_pixels():
    mask = np.zeros((100, 200), bool)
    mask[30:70, 20:180] = True  # 40 rows of 0.05 mm: 2 mm
    assert thickness_mm(mask, Calibration(mm_per_px_x=0.1, mm_per_px_y=0.05, source="t")) == pytest.approx(2.0)
    assert thickness_mm(np.zeros((5, 5), bool), SQUARE) is None


def test_area_and_vessel_size():
    assert area_mm2(2400, SQUARE) == pytest.approx(24.0)
    assert vessel_min_px(SQUARE, 0.05, 5) == 5 and vessel_min_px(None, 0.05, 7) == 7
    assert vessel_min_px(Calibration(0.2, 0.2, "t"), 0.05, 5) == 2  # ceil(0.05 / 0.04)
    assert vessel_gap_px(None, 0.25, 3) == (3, 3)
    assert vessel_gap_px(Calibration(0.08, 0.05, "t"), 0.25, 3) == (3, 5)  # 0.25 mm on each axis's own pixel


def test_band_is_the_dilation_minus_the_tendon_with_per_axis_radii():
    roi = np.zeros((1, 60, 80), bool)
    roi[0, 30, 40] = True
    band = label_frames(roi, Band(radius_x=6.0, radius_y=3.0, width_mm=None), np.ones((60, 80), bool))[0][0]
    ys, xs = np.nonzero(band)
    assert not band[30, 40] and (xs.min(), xs.max(), ys.min(), ys.max()) == (34, 46, 27, 33)
    no_band, labels = label_frames(roi, Band(0.2, 0.2, None), np.ones((60, 80), bool))  # narrower than a pixel
    assert not no_band.any() and labels[0, 30, 40] == LABEL_TENDON and (labels == LABEL_BAND).sum() == 0


def test_label_map_priorities():
    roi = np.zeros((2, 4, 6), bool)
    roi[0, 1:3, 1:3] = True  # frame 1 has no region: only the box
    countable = np.ones((4, 6), bool)
    countable[:, 5] = False  # a colour bar column
    band, labels = label_frames(roi, Band(1.0, 1.0, None), countable)
    assert labels[0, 1, 1] == LABEL_TENDON and labels[0, 0, 1] == LABEL_BAND and labels[0, 0, 4] == LABEL_BOX_REST
    assert (labels[:, :, 5] == 0).all() and not band[0, 1, 1] and band[0, 0, 1] and not band[0, 0, 0]  # a 3x3 disc
    assert (labels[1, :, :5] == LABEL_BOX_REST).all() and not band[1].any()


def test_labels_equal_whole_frame_arithmetic(rng):
    roi = rng.random((3, 50, 70)) > 0.97  # scattered regions: windows overlap the edges
    countable = rng.random((50, 70)) > 0.2
    spec = Band(3.0, 2.0, None)
    band, labels = label_frames(roi, spec, countable)
    grown = np.stack([cv2.dilate(m.view(np.uint8), spec.kernel).view(bool) for m in roi])
    assert (band == (grown & ~roi)).all()
    expected = np.where(countable, LABEL_BOX_REST, 0)[None].repeat(3, 0)
    expected[band & countable] = LABEL_BAND
    expected[roi & countable] = LABEL_TENDON
    assert (labels == expected).all()


def test_weighted_measures_use_the_nearest_bar_colour():
    colours = np.array([[60, 0, 0], [160, 40, 0], [255, 200, 0]], np.uint8)
    bar = ColourBar((0, 0, 1, 3), colours, np.array([0.2, 0.5, 1.0], np.float32), "power", "vertical", 0.0)
    frame = np.zeros((2, 3, 3), np.uint8)
    frame[0, 0], frame[0, 1] = (250, 190, 5), (150, 50, 10)
    doppler = np.zeros((2, 3), bool)
    doppler[0, :2] = True
    w = weighted(frame, doppler, area_px=4, bar=bar)
    assert w.kind == "power" and w.mean_value == pytest.approx(0.75) and w.weighted_fraction == pytest.approx(0.375)
    velocity = ColourBar((0, 0, 1, 3), colours, np.array([-1.0, 0.0, 0.5], np.float32), "velocity", "vertical", 1.0)
    assert weighted(frame, doppler, 4, velocity).mean_value == pytest.approx(0.25)  # |0.5| and |0.0|
    assert weighted(frame, np.zeros((2, 3), bool), 4, bar).mean_value is None
