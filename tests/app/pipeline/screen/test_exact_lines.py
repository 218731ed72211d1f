"""A box outline drawn at one exact level into a lossless frame is found where its sides are barely brighter than the
bright tissue they cross (``straight_outlines``, ``line_colours.EXACT_TOLERANCE``); speckle alone makes no box."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.pipeline.screen.planes import make_planes
from app.pipeline.screen.straight_outlines import find_straight_outlines

LINE = 237  # the outline's level: the tissue around it reaches 205-235
PICTURE = (40, 30, 600, 450)


def _frame(outline: bool) -> tuple[np.ndarray, np.ndarray]:
    """Speckle over the picture, bright (205-220) from row 120 to row 360, a steered 1-px box (leaning 60 px right
    from top to bottom, its top and bottom lines over darker speckle) with a patch of flow inside it; and where the
    flow is."""
    rng = np.random.default_rng(11)
    grey = np.zeros((480, 640), np.uint8)
    x0, y0, x1, y1 = PICTURE
    grey[y0:y1, x0:x1] = cv2.GaussianBlur(rng.integers(60, 200, (y1 - y0, x1 - x0), dtype=np.uint8), (0, 0), 1.2)
    grey[120:360, x0:x1] = cv2.GaussianBlur(rng.integers(170, 256, (240, x1 - x0), dtype=np.uint8), (0, 0), 1.2)
    frame = np.repeat(grey[:, :, None], 3, axis=2)
    if outline:
        corners = np.array([[150, 100], [450, 100], [510, 380], [210, 380]], np.int32)
        cv2.polylines(frame, [corners], True, (LINE, LINE, LINE), 1)
    cv2.ellipse(frame, (330, 240), (40, 12), 20, 0, 360, (200, 40, 30), -1)
    flow = np.zeros((480, 640), bool)
    flow[(frame[..., 0].astype(int) - frame[..., 2]) > 100] = True
    return frame, flow


def test_sides_barely_brighter_than_the_tissue_are_found():
    frame, flow = _frame(outline=True)
    found = find_straight_outlines(make_planes(frame[None], 40), flow, PICTURE)
    assert found, "no outline"
    x0, y0, x1, y1 = found[0].box.bbox
    assert abs(y0 - 101) <= 2 and abs(y1 - 380) <= 2
    assert abs(x0 - 151) <= 3 and abs(x1 - 510) <= 3


@pytest.mark.parametrize("quality", [None, 90], ids=["lossless", "jpeg"])
def test_speckle_alone_makes_no_box(quality):
    frame, flow = _frame(outline=False)
    if quality is not None:
        frame = cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
    assert find_straight_outlines(make_planes(frame[None], 40), flow, PICTURE) == []
