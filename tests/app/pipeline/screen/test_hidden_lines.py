"""A box line taken as lost at the picture's top or bottom row is moved to the box's own line where the frame shows
one between the sides found, ending where they cross its row (``hidden_outlines._shown_line``); a tissue line
that runs on past the sides leaves it where it is."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.pipeline.screen.hidden_outlines import _shown_line
from app.pipeline.screen.line_colours import LineColours
from app.pipeline.screen.line_edges import Edge, find_edges
from app.pipeline.screen.quads import Quad

GREY = (192, 192, 192)
SIDES = ((150.0, 150.0), (450.0, 450.0))


def _frame(fascia: bool = False) -> np.ndarray:
    """Speckle with a grey 1-px box from row 100 to row 380, columns 150 to 450 (with ``fascia``: its top line
    carried on across the whole frame, as a tissue line of its grey would be)."""
    rng = np.random.default_rng(3)
    grey = cv2.GaussianBlur(rng.integers(0, 150, (480, 640), dtype=np.uint8), (0, 0), 1.0)
    frame = np.repeat(grey[:, :, None], 3, axis=2)
    cv2.rectangle(frame, (150, 100), (450, 380), GREY, 1)
    if fascia:
        cv2.line(frame, (0, 100), (639, 100), GREY, 1)
    return frame


def _guess(frame: np.ndarray, below: bool) -> tuple[Quad, list[Edge], LineColours]:
    """The hidden-line search's guess: the box's sides run on to the picture's top row (10) or bottom row (470)."""
    edges = find_edges(frame.max(axis=2), frame, 1.0)
    shown = next(e for e in edges if abs(e.y - (100 if below else 380)) < 1.5)
    hidden = Edge(470.0 if below else 10.0, 1, ((150, 450),), shown.colour, 300)
    quad = Quad(shown, hidden, *SIDES) if below else Quad(hidden, shown, *SIDES)
    return quad, edges, LineColours(frame)


@pytest.mark.parametrize("below", [False, True], ids=["top hidden", "bottom hidden"])
def test_hidden_line_moves_to_the_line_shown(below):
    quad, edges, lines = _guess(_frame(), below)
    moved = _shown_line(quad, edges, lines, below, min_side=20, scale=1.0)
    assert abs(moved.top.y - 100) < 1.5 and abs(moved.bottom.y - 380) < 1.5
    assert moved.left + moved.right == pytest.approx(SIDES[0] + SIDES[1])


def test_a_line_running_on_past_the_sides_is_no_box_line():
    quad, edges, lines = _guess(_frame(fascia=True), below=False)
    assert _shown_line(quad, edges, lines, False, min_side=20, scale=1.0) is quad


def test_no_line_between_leaves_the_quad():
    frame = _frame()
    frame[95:106] = frame[110:121]  # the box's top line wiped out: lost, as at the picture's top
    quad, edges, lines = _guess(frame, below=False)
    assert _shown_line(quad, edges, lines, False, min_side=20, scale=1.0) is quad
