"""The straight-outline side search: sides searched together give what each gives searched alone.

``straight_sides.sides`` checks many sides in one array pass, padding the shorter ones; a side's result
must not depend on what it was batched with (its length, its neighbours in the batch, a side too short to
search among them).
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from app.pipeline.screen.line_colours import LineColours, line_score, line_scores
from app.pipeline.screen.straight_sides import side_line, sides

GREY = np.array([200, 200, 200], dtype=np.int16)


def _frame() -> np.ndarray:
    """Speckle with three grey 1-px boxes of different heights (30, 120 and 300 rows) and a slanted side."""
    rng = np.random.default_rng(7)
    grey = cv2.GaussianBlur(rng.integers(0, 160, (480, 640), dtype=np.uint8), (0, 0), 1.0)
    frame = np.repeat(grey[:, :, None], 3, axis=2)
    colour = tuple(int(c) for c in GREY)
    cv2.rectangle(frame, (40, 20), (140, 50), colour, 1)
    cv2.rectangle(frame, (200, 30), (330, 150), colour, 1)
    cv2.line(frame, (400, 60), (400, 360), colour, 1)
    cv2.line(frame, (600, 60), (560, 360), colour, 1)  # a steered side
    return frame


# (top (x, y), bottom (x, y)) of sides on the lines, off them by a few px, along speckle, and one too short
ENDS = [
    ((40, 20.0), (40, 50.0)),
    ((142, 20.0), (138, 50.0)),
    ((203, 30.0), (197, 150.0)),
    ((330, 30.0), (330, 150.0)),
    ((401, 60.0), (399, 360.0)),
    ((596, 60.0), (566, 360.0)),
    ((480, 60.0), (480, 360.0)),  # speckle only
    ((40, 20.0), (40, 26.0)),  # too short to search
]


def test_sides_batched_equal_sides_alone() -> None:
    frame = _frame()
    together = sides(LineColours(frame), GREY, ENDS, 1.0)
    alone = [side_line(LineColours(frame), GREY, top, bottom, 1.0) for top, bottom in ENDS]
    assert together == alone
    found = [side is not None for side in together]
    assert found == [True, True, True, True, True, True, False, False]
    xt, xb, _ = together[5]
    assert abs(xt - 600) <= 1 and abs(xb - 560) <= 1  # the steered side found at both ends
    assert sides(LineColours(frame), GREY, [], 1.0) == []


def _score_one(on: np.ndarray, beside: list[np.ndarray]) -> float | None:
    """The rule of ``line_score`` written out for one line: half of it matching, in each quarter at least
    MIN_PART_SHARE matching, and MIN_SIDE_CONTRAST more than beside it in both end quarters and in one of the two
    middle ones at least; the score is the least lead of the quarters that lead by that much."""
    if on.sum() < 0.5 * on.size:
        return None
    bounds = np.linspace(0, on.size, 5).round().astype(int)
    leads = []
    for lo, hi in itertools.pairwise(bounds):
        if hi <= lo or on[lo:hi].mean() < 0.35:
            return None
        leads.append(on[lo:hi].mean() - max(b[lo:hi].mean() for b in beside))
    clear = [lead >= 0.25 for lead in leads]
    if not (clear[0] and clear[3] and (clear[1] or clear[2])):
        return None
    return float(min(lead for lead, c in zip(leads, clear, strict=True) if c))


def test_line_scores_follow_the_rule_per_row() -> None:
    rng = np.random.default_rng(3)
    sizes = np.array([4, 9, 40, 57, 160, 3])
    on = rng.random((sizes.size, 160)) < np.array([0.95, 0.6, 0.9, 0.3, 0.8, 1.0])[:, None]
    beside = [rng.random(on.shape) < 0.2, rng.random(on.shape) < 0.4]
    got = line_scores(on, beside, sizes)
    want = [_score_one(on[n, :s], [b[n, :s] for b in beside]) for n, s in enumerate(sizes)]
    assert got == [pytest.approx(w) if w is not None else None for w in want]
    assert any(s is None for s in got) and any(s is not None for s in got)
    hidden = np.ones((1, 80), bool)
    hidden[0, 25:35] = False  # the second quarter: the line's colour on only half of it ...
    busy = np.zeros((1, 80), bool)
    busy[0, 20:40] = True  # ... and on all of the speckle beside it (bright tissue the line crosses)
    assert line_scores(hidden, [busy], np.array([80])) == [pytest.approx(1.0)]
    busy[0, 40:60] = True  # two middle quarters lost: no line
    assert line_scores(hidden, [busy], np.array([80])) == [None]
    busy[0, 40:60], busy[0, 60:80] = False, True  # an end quarter lost: a side running on past its corner
    assert line_scores(hidden, [busy], np.array([80])) == [None]
    assert line_score(on[2, :40], [b[2, :40] for b in beside]) == got[2]
