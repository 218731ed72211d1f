"""White, coloured and dotted Doppler box outlines that close on themselves: the enclosed hole is the box interior.

* :func:`find_outlines` — a white or coloured line that closes on itself encloses a hole; the hole is the
  box interior. Its outline is fitted with each shape model (:func:`.doppler_box.fit_interior`) and the
  simplest model that matches the hole is kept, so that the box's mask gives the interior exactly (outline
  pixels excluded) even where speckle or flow touches the line.
* :func:`find_dotted_outlines` — the same for dotted coloured lines, their dots joined first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from app.pipeline.geometry import Rect, area, clipped, contains, grown, overlap
from app.pipeline.screen.doppler_box import (
    MIN_BOX_SIDE,
    DopplerBox,
    OutlineCandidate,
    box_sizes,
    describe_interior,
    fit_interior,
)
from app.pipeline.screen.planes import Planes

# All channels at or above: a white outline (lossy codecs take up to ~20 levels off its 255).
WHITE_LEVEL = 232
OUTLINE_TOLERANCE = 72  # max channel difference from the outline colour (JPEG smears thin coloured lines)
MIN_LINE_COLOUR_SHARE = 0.6  # share of an outline's outer boundary in the outline's colour
# share of a window that an outline's colour may cover: a 4-px line round the smallest box covers under 40 %;
# a colour that fills more is a panel or a background (a dark-blue interface), not a line
MAX_LINE_WINDOW_SHARE = 0.5
SPECK_SHARE = 0.02  # holes smaller than this share of the least box area are specks between bright pixels


def find_outlines(planes: Planes) -> list[OutlineCandidate]:
    """Closed white or coloured outlines whose interior fits a box shape, largest first."""
    height, width = planes.shape
    _, min_area, bridges, wall = box_sizes(planes)
    white = cv2.inRange(planes.frame, (WHITE_LEVEL,) * 3, (255, 255, 255))
    if planes.frames.shape[0] > 1:  # the outline stays; speckle and flow change from frame to frame
        white = cv2.bitwise_and(white, cv2.inRange(planes.frames[-1], (WHITE_LEVEL,) * 3, (255, 255, 255)))
    boxes: list[DopplerBox] = []
    _collect_loops(boxes, white, _Loops(0, 0, min_area, bridges, wall))
    rects = [(cv2.boundingRect(c), c) for c in planes.colour_contours]
    large = [(r, c) for r, c in rects if min(r[2], r[3]) >= MIN_BOX_SIDE + 2 and r[2] * r[3] >= min_area]
    for (x, y, w, h), contour in sorted(large, key=lambda rc: -rc[0][2] * rc[0][3]):
        if any(contains(grown(box.bbox, 2), (x, y, x + w, y + h)) for box in boxes):
            continue  # flow inside a box already found
        colour = _line_colour(planes.frame, contour[:, 0, :])
        if colour is None:
            continue
        # JPEG leaves gaps in thin coloured lines: look again, a little wider, at every pixel of that colour
        window = clipped(grown((x, y, x + w, y + h), 4), width, height)
        _loops_of_colour(boxes, planes, colour, window, _Loops(0, 0, min_area, bridges, wall, first_only=True))
    return _described(boxes, planes)


def find_dotted_outlines(planes: Planes) -> list[OutlineCandidate]:
    """Dotted or dashed coloured outlines, largest first: the colour on screen grown across the gaps between the
    dots makes loops; a loop whose pixels are mostly of one colour is looked at again in that colour, as above."""
    height, width = planes.shape
    _, min_area, bridges, wall = box_sizes(planes)
    reach = bridges[-1]
    joined = cv2.dilate(planes.colour, np.ones((reach, reach), np.uint8))  # dots a few px apart become one line
    boxes: list[DopplerBox] = []
    for contour in sorted(cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0], key=len, reverse=True):
        x, y, w, h = cv2.boundingRect(contour)
        if min(w, h) < MIN_BOX_SIDE + 2 or w * h < min_area:
            continue
        if any(contains(grown(box.bbox, 2), (x, y, x + w, y + h)) for box in boxes):
            continue
        x0, y0, x1, y1 = clipped(grown((x, y, x + w, y + h), reach), width, height)
        band = np.zeros((y1 - y0, x1 - x0), np.uint8)  # the dots under the loop's outer boundary
        cv2.drawContours(band, [contour], -1, 255, reach + 2, offset=(-x0, -y0))
        dots = planes.frame[y0:y1, x0:x1][(band > 0) & (planes.colour[y0:y1, x0:x1] > 0)].astype(np.int16)
        if dots.shape[0] < MIN_BOX_SIDE:
            continue
        # the line's own colour is that of its most saturated half: the rest are the blends of thin, anti-aliased
        # or codec-smeared dots with the speckle around them
        chroma = dots.max(axis=1) - dots.min(axis=1)
        dots = dots[chroma >= np.median(chroma)]
        colour = np.median(dots, axis=0)
        if np.mean(np.abs(dots - colour).max(axis=1) <= OUTLINE_TOLERANCE) < MIN_LINE_COLOUR_SHARE:
            continue  # flow and its many colours, not a line of one
        window = (x0, y0, x1, y1)
        _loops_of_colour(boxes, planes, colour, window, _Loops(0, 0, min_area, bridges, wall, first_only=True))
    return _described(boxes, planes)


def _loops_of_colour(boxes: list[DopplerBox], planes: Planes, colour, window: Rect, how: _Loops) -> None:
    """Add the loops drawn in ``colour`` (within ``OUTLINE_TOLERANCE``) inside ``window`` to ``boxes``."""
    x0, y0, x1, y1 = window
    low = tuple(float(max(0, v - OUTLINE_TOLERANCE)) for v in colour)
    high = tuple(float(min(255, v + OUTLINE_TOLERANCE)) for v in colour)
    line = cv2.inRange(planes.frame[y0:y1, x0:x1], low, high)
    if cv2.countNonZero(line) > MAX_LINE_WINDOW_SHARE * line.size:
        return  # not a line: looking for its loops would cost tens of milliseconds and find none
    _collect_loops(boxes, line, replace(how, x0=x0, y0=y0))


def _described(boxes: list[DopplerBox], planes: Planes) -> list[OutlineCandidate]:
    """``boxes`` largest first, each with what its interior holds."""
    boxes.sort(key=lambda b: -area(b.bbox))
    return [describe_interior(box, planes) for box in boxes]


def _line_colour(frame: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """The colour of an outline traced by ``points (P, 2)``, or None when the trace is not of one colour.

    A box outline (with or without flow touching it) is one colour along most of its outer boundary; the
    boundary of a flow patch runs through many.
    """
    colours = frame[points[:, 1], points[:, 0]].astype(np.int16)  # (P, 3)
    colour = np.median(colours, axis=0)
    near = np.abs(colours - colour).max(axis=1) <= OUTLINE_TOLERANCE
    return colour if near.mean() >= MIN_LINE_COLOUR_SHARE else None


@dataclass(frozen=True)
class _Loops:
    """How to look for loops in a line mask placed at (x0, y0) of the frame."""

    x0: int
    y0: int
    min_area: int
    bridges: tuple[int, ...]  # dilations tried in turn
    wall: int  # closing size that joins holes split by one thin line (a fibre, a vessel) into one interior
    first_only: bool = False  # stop at the first box (the line was traced from one outline)


def _collect_loops(boxes: list[DopplerBox], line: np.ndarray, how: _Loops) -> None:
    """Add to ``boxes`` the fitted interiors of the loops in ``line (h, w) uint8``.

    Gaps where flow is painted over the outline are bridged by dilating the line; what the dilation took
    from an interior is given back afterwards, but never a pixel of the line itself. The holes of one
    loop are first fitted together, joined across thin walls (bright fibres or flow in the outline's
    colour crossing the box; two boxes drawn side by side are apart by two lines and a gap, and stay
    apart), then each on its own (a hole beside the box).
    """
    padded = cv2.copyMakeBorder(line, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    holes_at: dict[int, tuple[np.ndarray, list]] = {}  # size -> (closed line, its holes), shared by both passes
    for single in (False, True):
        for size in how.bridges:
            if size not in holes_at:
                closed = padded if size == 1 else cv2.dilate(padded, np.ones((size, size), np.uint8))
                holes_at[size] = (closed, _holes(closed, how))
            closed, holes = holes_at[size]
            for group in _groups(holes, boxes, how, size):
                tries = [[item] for item in group if item[0] >= how.min_area] if single else [group]
                for part in tries:
                    for box in _fit_holes(part, closed, padded, size, how, join=not single):
                        if not any(overlap(box.bbox, b.bbox) for b in boxes):
                            boxes.append(box)
                            if how.first_only:
                                return


def _holes(closed: np.ndarray, how: _Loops) -> list[tuple[int, float, np.ndarray, Rect]]:
    """Holes of the loops in ``closed``: ``(loop id, area, contour, frame rect)``, specks left out."""
    contours, hierarchy = cv2.findContours(closed, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    holes = []
    for contour, link in zip(contours, hierarchy[0], strict=True):
        if link[3] < 0:
            continue  # an outer contour; holes have one (link[3]) around them
        hole_area = cv2.contourArea(contour)
        if hole_area >= SPECK_SHARE * how.min_area:
            hx, hy, hw, hh = cv2.boundingRect(contour)
            rect = (how.x0 + hx - 1, how.y0 + hy - 1, how.x0 + hx - 1 + hw, how.y0 + hy - 1 + hh)
            holes.append((int(link[3]), hole_area, contour, rect))
    return holes


def _groups(holes, boxes: list[DopplerBox], how: _Loops, size: int) -> list[list[tuple[float, np.ndarray, Rect]]]:
    """Holes not inside a box found already, grouped by the loop around them, largest first.

    Each hole is ``(area, contour, frame rect)``; groups whose largest hole is below ``min_area`` are left out.
    """
    groups: dict[int, list[tuple[float, np.ndarray, Rect]]] = {}
    for loop, hole_area, contour, rect in holes:
        if not any(contains(grown(box.bbox, size + 2), rect) for box in boxes):
            groups.setdefault(loop, []).append((hole_area, contour, rect))
    ordered = [sorted(group, key=lambda item: -item[0]) for group in groups.values()]
    return [group for group in ordered if group[0][0] >= how.min_area]


def _fit_holes(holes, closed: np.ndarray, padded: np.ndarray, size: int, how: _Loops, join: bool) -> list[DopplerBox]:
    """Boxes fitted to the interior made of ``holes`` ((area, contour, frame rect) of one loop)."""
    kept = [(c, r) for area, c, r in holes if area >= 0.02 * holes[0][0]]
    corners = np.array([r for _, r in kept])
    reach = (size - 1) // 2  # the dilation moved the hole's border inward by this much: look that much wider
    lo = np.maximum(corners[:, :2].min(axis=0) - reach, [how.x0 - 1, how.y0 - 1])
    hi = np.minimum(corners[:, 2:].max(axis=0) + reach, [how.x0 - 1 + closed.shape[1], how.y0 - 1 + closed.shape[0]])
    rect = (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))
    hx, hy, hw, hh = rect[0] - how.x0 + 1, rect[1] - how.y0 + 1, rect[2] - rect[0], rect[3] - rect[1]
    interior = np.zeros((hh, hw), dtype=np.uint8)
    cv2.drawContours(interior, [c for c, _ in kept], -1, 1, -1, offset=(-hx, -hy))
    inside = (interior > 0) & (closed[hy : hy + hh, hx : hx + hw] == 0)  # drawn holes cover their border
    if size > 1:  # give back what the dilation took from the hole, but never a pixel of the line itself
        grown = cv2.dilate(inside.astype(np.uint8), np.ones((size, size), np.uint8)) > 0
        inside = grown & (padded[hy : hy + hh, hx : hx + hw] == 0)
    if not join:
        box = fit_interior(inside, rect[0], rect[1])
        return [] if box is None else [box]
    pad = how.wall  # room for the closing: beyond the window is not interior
    joined = cv2.copyMakeBorder(inside.astype(np.uint8), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    joined = cv2.morphologyEx(joined, cv2.MORPH_CLOSE, np.ones((how.wall, how.wall), np.uint8))[pad:-pad, pad:-pad]
    count, labels = cv2.connectedComponents(joined, connectivity=4)
    parts = [labels == k for k in range(1, count)]
    boxes = [fit_interior(part, rect[0], rect[1]) for part in parts if part.sum() >= how.min_area]
    return [box for box in boxes if box is not None]
