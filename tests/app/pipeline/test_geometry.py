"""Pixel rectangles: half-open bounds, areas, containment, overlap, growth, clipping, union."""

from __future__ import annotations

import pytest

from app.pipeline.geometry import area, clipped, contains, grown, overlap, union


@pytest.mark.parametrize(("rect", "pixels"), [((0, 0, 4, 3), 12), ((5, 5, 5, 9), 0), ((6, 2, 3, 8), 0)])
def test_area(rect, pixels):
    assert area(rect) == pixels


def test_contains_is_inclusive_of_equal_edges():
    assert contains((0, 0, 10, 10), (0, 0, 10, 10)) and contains((0, 0, 10, 10), (2, 3, 4, 5))
    assert not contains((0, 0, 10, 10), (5, 5, 11, 6))


def test_overlap_grown_clipped_union():
    assert overlap((0, 0, 10, 10), (5, 5, 20, 20)) == 25 and overlap((0, 0, 2, 2), (2, 2, 4, 4)) == 0
    assert grown((5, 5, 10, 10), 2) == (3, 3, 12, 12)
    assert clipped((-3, 4, 50, 70), width=40, height=60) == (0, 4, 40, 60)
    assert union([(5, 6, 7, 8), (1, 9, 3, 12)]) == (1, 6, 7, 12)
