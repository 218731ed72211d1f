"""Horizontal edges of drawn lines (``line_edges.find_edges``): a row of a line whose flat run goes on past the
line's end, over tissue that fades smoothly, is taken back into the line rather than left beside it; a short flat
stretch of tissue on the row beside a line is no row of it."""

from __future__ import annotations

import cv2
import numpy as np

from app.pipeline.screen.line_edges import find_edges

LINE = 231  # a light grey 3-px line, rows 200-202, columns 150-449


def _frame(fading_tail: bool = False, flat_above: bool = False) -> np.ndarray:
    """Speckle with the line; with ``fading_tail``, its bottom row runs on past its right end into tissue that fades
    smoothly from the line's level to the speckle's (flat along the row: no step for a run to stop at); with
    ``flat_above``, a 40-px stretch of tissue on the row above it is as flat and nearly as bright (a bony cortex)."""
    rng = np.random.default_rng(5)
    grey = cv2.GaussianBlur(rng.integers(40, 170, (400, 640), dtype=np.uint8), (0, 0), 1.0)
    grey[200:203, 150:450] = LINE
    if fading_tail:
        grey[202, 450:560] = np.linspace(LINE - 4, 110, 110).astype(np.uint8)
    if flat_above:
        grey[199, 250:290] = LINE + 5
    return np.repeat(grey[:, :, None], 3, axis=2)


def _line_edges(frame: np.ndarray) -> list:
    return [e for e in find_edges(frame.max(axis=2), frame, 1.0) if 195 <= e.y <= 207]


def test_a_plain_line_is_one_edge():
    (edge,) = _line_edges(_frame())
    assert edge.rows == 3 and abs(edge.y - 201) < 0.5


def test_a_row_running_on_past_the_line_is_taken_back():
    (edge,) = _line_edges(_frame(fading_tail=True))
    assert edge.rows == 3 and abs(edge.y - 201) < 0.5
    assert edge.ends[0][0] <= 155 and edge.ends[-1][1] >= 445


def test_a_short_flat_stretch_on_the_row_beside_a_line_is_left_out_of_it():
    # stacked onto the line, it made a stack of four rows: too thick for a line, and the line was lost
    (edge,) = _line_edges(_frame(flat_above=True))
    assert edge.rows == 3 and abs(edge.y - 201) < 0.5
    assert edge.ends[0][0] <= 155 and edge.ends[-1][1] >= 445
