"""Which colour on the picture is flow (``flow_pixels.flow_mask``): one-colour strokes are not, wherever they lie,
the edge of the colour's bounds included (a screen's dark blue rule along the picture's top, the topmost colour)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.pipeline.screen.flow_pixels import flow_mask
from app.pipeline.screen.planes import make_planes

NAVY = (3, 19, 45)  # chroma 42: colour by the chroma rule, the tint of a dark blue interface


@pytest.mark.parametrize("edge", ["top", "left"])
def test_a_stroke_along_the_colours_bounds_is_not_flow(edge):
    rng = np.random.default_rng(2)
    grey = cv2.GaussianBlur(rng.integers(0, 160, (400, 600), dtype=np.uint8), (0, 0), 1.0)
    frame = np.repeat(grey[:, :, None], 3, axis=2)
    cv2.circle(frame, (320, 220), 12, (220, 40, 20), -1)  # a vessel cut across
    if edge == "top":
        frame[60:62, 100:520] = NAVY  # the topmost colour on the picture: the colour's bounds start on its rows
    else:
        frame[80:360, 40:42] = NAVY  # the leftmost
    flow = flow_mask(make_planes(frame[None], 40), np.full(grey.shape, 255, np.uint8), [])
    assert flow[220, 320]
    assert not (flow[60:62].any() if edge == "top" else flow[:, 40:42].any())


def test_a_picture_full_of_colour_pieces_is_not_searched_for_lines_of_glyphs():
    """Past MAX_GLYPHS candidate pieces (flow or colour noise everywhere) the pairwise search is skipped: its memory
    grows as the square of the count."""
    from app.pipeline.screen import flow_pixels

    count = flow_pixels.MAX_GLYPHS + 2
    stats = np.zeros((count, 5), np.int32)
    stats[1:, cv2.CC_STAT_LEFT] = np.arange(count - 1) * 12  # one long row of alike glyphs
    stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT] = 8, 10
    ink = np.full((count, 3), (250.0, 230.0, 20.0))
    candidate = np.ones(count, bool)
    assert not flow_pixels._glyph_lines(stats, ink, candidate).any()
    fewer = flow_pixels._glyph_lines(stats[:10], ink[:10], candidate[:10])
    assert fewer[1:].all() and not fewer[0]
