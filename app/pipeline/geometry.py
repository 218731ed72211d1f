"""Pixel rectangles shared by every step: half-open ``(x0, y0, x1, y1)`` bounds in frame pixels."""

from __future__ import annotations

Rect = tuple[int, int, int, int]  # x0 <= x < x1, y0 <= y < y1


def area(rect: Rect) -> int:
    """Pixels inside ``rect`` (0 for an empty or inverted one)."""
    return max(0, rect[2] - rect[0]) * max(0, rect[3] - rect[1])


def contains(outer: Rect, inner: Rect) -> bool:
    """Whether ``inner`` lies wholly inside ``outer``."""
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def overlap(a: Rect, b: Rect) -> int:
    """Pixels shared by ``a`` and ``b``."""
    return area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def grown(rect: Rect, margin: int) -> Rect:
    """``rect`` widened by ``margin`` pixels on every side (not clipped to a frame)."""
    return rect[0] - margin, rect[1] - margin, rect[2] + margin, rect[3] + margin


def clipped(rect: Rect, width: int, height: int) -> Rect:
    """``rect`` cut to a ``width`` x ``height`` frame."""
    x0, y0, x1, y1 = rect
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def union(rects: list[Rect] | tuple[Rect, ...]) -> Rect:
    """The smallest rectangle holding every one of ``rects`` (at least one)."""
    return (
        int(min(r[0] for r in rects)),
        int(min(r[1] for r in rects)),
        int(max(r[2] for r in rects)),
        int(max(r[3] for r in rects)),
    )
