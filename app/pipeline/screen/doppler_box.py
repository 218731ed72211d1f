"""The Doppler box: the region where the scanner paints flow, found from its drawn outline.

Scanners draw the colour box as a thin line of one colour — white or grey on GE, green on ATL, cyan on
others (docs/references.md#doppler-screens), solid or dotted, sometimes anti-aliased — shaped as a
rectangle, a steered parallelogram (linear probe with beam steering), a trapezoid (linear probe with a
virtual apex) or an annular sector (curved and phased-array probes). Three searches, cheapest first:

* :func:`find_outlines` — a white or coloured line that closes on itself encloses a hole; the hole is the
  box interior. Its outline is fitted with each shape model and the simplest model that matches the hole
  is kept, so that :meth:`DopplerBox.mask` gives the interior exactly (outline pixels excluded) even where
  speckle or flow touches the line.
* :func:`find_dotted_outlines` — the same for dotted coloured lines, their dots joined first.
* :func:`find_straight_outlines` and :func:`find_sector_outlines` — a line of any colour, grey over grey
  speckle too, which no threshold can lift out: found from what sets it apart, that it is straight (or an
  arc around the fan's apex) and of one level, and checked against the pixels along each side and beside it.
  Lines found this way must hold the flow (the caller passes it): straight lines abound in a screen.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np

from app.pipeline.geometry import Rect, area, clipped, contains, grown, overlap
from app.pipeline.screen.planes import Planes, hue

BoxShape = Literal["rectangle", "parallelogram", "trapezoid", "sector", "colour_extent", "region"]
BoxSource = Literal["dicom_region", "outline", "colour_extent"]

MIN_BOX_SIDE = 12  # px; smaller loops are letters (O, P, B) and icons
MIN_BOX_AREA = 400  # px
# All channels at or above: a white outline (lossy codecs take up to ~20 levels off its 255).
WHITE_LEVEL = 232
# Dilations tried, in turn, to close gaps where flow is painted over the outline (px at 640 px of frame width;
# larger screens draw larger flow speckle and thicker lines, so the sizes grow with the frame).
GAP_BRIDGES = (1, 3, 5)
BRIDGE_REFERENCE = 640
OUTLINE_TOLERANCE = 72  # max channel difference from the outline colour (JPEG smears thin coloured lines)
MIN_LINE_COLOUR_SHARE = 0.6  # share of an outline's outer boundary in the outline's colour
MIN_FIT_IOU = 0.9  # a shape model must match the found interior this well
IOU_SAMPLES = 40_000  # pixels sampled to score a model
SIMPLER_SHAPE_SLACK = 0.01  # a simpler model within this IoU of the best one is preferred
SPECK_SHARE = 0.02  # holes smaller than this share of the least box area are specks between bright pixels
# An outline without a colour of its own (grey, found from straight runs or arcs) must hold at least this share of
# the flow: scanners paint flow only inside the box (a split screen shares it between two boxes).
MIN_FLOW_HELD = 0.2


@dataclass(frozen=True)
class DopplerBox:
    """One Doppler box. ``bbox`` is the half-open ``(x0, y0, x1, y1)`` of its interior.

    Parallelograms and sectors keep their side lines as ``x = a + b * y`` through the centres of the
    outermost interior pixels; sectors add the apex ``(x, y)`` and the interior radii ``(inner, outer)``.
    """

    bbox: Rect
    shape: BoxShape
    source: BoxSource
    left: tuple[float, float] | None = None
    right: tuple[float, float] | None = None
    apex: tuple[float, float] | None = None
    radii: tuple[float, float] | None = None

    def window(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """The interior inside the window ``[x0, x1) x [y0, y1)``, ``(y1 - y0, x1 - x0) bool``."""
        ys = np.arange(y0, y1, dtype=np.float64)[:, None]
        xs = np.arange(x0, x1, dtype=np.float64)[None, :]
        bx0, by0, bx1, by1 = self.bbox
        inside = (xs >= bx0) & (xs < bx1) & (ys >= by0) & (ys < by1)
        if self.left is not None and self.right is not None:
            inside &= xs >= self.left[0] + self.left[1] * ys - 0.5
            inside &= xs <= self.right[0] + self.right[1] * ys + 0.5
        if self.apex is not None and self.radii is not None:
            r2 = (xs - self.apex[0]) ** 2 + (ys - self.apex[1]) ** 2
            inside &= (r2 >= (self.radii[0] - 0.5) ** 2) & (r2 <= (self.radii[1] + 0.5) ** 2)
        return inside

    def mask(self, height: int, width: int) -> np.ndarray:
        """The exact interior as ``(height, width) bool`` (outline pixels excluded)."""
        out = np.zeros((height, width), dtype=bool)
        x0, y0, x1, y1 = clipped(self.bbox, width, height)
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = self.window(x0, y0, x1, y1)
        return out

    def describe(self) -> dict[str, object]:
        """JSON-ready summary for reports."""
        x0, y0, x1, y1 = self.bbox
        return {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "shape": self.shape, "source": self.source}


def rect_box(rect: Rect, shape: BoxShape, source: BoxSource) -> DopplerBox:
    """A box whose interior is the whole rectangle ``rect``."""
    return DopplerBox(bbox=tuple(int(v) for v in rect), shape=shape, source=source)


# --- shape fitting -------------------------------------------------------------------------------------------


def _robust_line(t: np.ndarray, s: np.ndarray) -> tuple[float, float] | None:
    """``s = a + b * t`` by least squares with outliers (speckle or flow touching the line) dropped."""
    if t.size < 4:
        return None
    keep = np.ones(t.size, dtype=bool)
    a = b = 0.0
    for _ in range(4):
        b, a = np.polyfit(t[keep], s[keep], 1)
        residual = np.abs(s - (a + b * t))
        scale = max(0.75, 1.4826 * float(np.median(residual[keep])))
        new = residual <= 3.0 * scale
        if new.sum() < 4 or np.array_equal(new, keep):
            break
        keep = new
    return float(a), float(b)


def _extremes(region: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices along ``axis`` of the first and last True per line, for lines holding any True."""
    lines = np.flatnonzero(region.any(axis=axis))
    sub = region[:, lines] if axis == 0 else region[lines]
    first = np.argmax(sub, axis=axis)
    last = sub.shape[axis] - 1 - np.argmax(np.flip(sub, axis=axis), axis=axis)
    return lines, first, last


def _middle(values: np.ndarray, share: float) -> np.ndarray:
    lo, hi = values.min(), values.max()
    margin = (hi - lo) * share
    return (values >= lo + margin) & (values <= hi - margin)


def fit_interior(region: np.ndarray, x0: int = 0, y0: int = 0) -> DopplerBox | None:
    """Fit a rectangle, parallelogram, sector or trapezoid to a filled interior ``region (h, w) bool`` at (x0, y0).

    Returns None when no model matches the region with IoU >= ``MIN_FIT_IOU``.
    """
    rows, xl, xr = _extremes(region, axis=1)
    if rows.size < MIN_BOX_SIDE:
        return None
    mid = _middle(rows, 0.15)
    left = _robust_line(rows[mid].astype(float), xl[mid].astype(float))
    right = _robust_line(rows[mid].astype(float), xr[mid].astype(float))
    if left is None or right is None:
        return None
    cols, yt, yb = _extremes(region, axis=0)
    top, bottom = _off_sides(cols, yt, left, right), _off_sides(cols, yb, left, right)
    if top.sum() < 3 or bottom.sum() < 3:
        return None
    models = _models(rows, xl, xr, cols, yt, yb, top, bottom, left, right)
    stride = max(1, int(np.sqrt(region.size / IOU_SAMPLES)))  # the IoU of a large box needs no every pixel
    sampled = region[::stride, ::stride]
    scores = []
    for box in models:
        if box.shape == "trapezoid" and max(scores) >= 1.0 - SIMPLER_SHAPE_SLACK:
            scores.append(0.0)  # taken only over a clearly worse fit, and nothing fits clearly better than this
            continue
        fitted = box.window(0, 0, region.shape[1], region.shape[0])[::stride, ::stride]
        common = int(np.count_nonzero(fitted & sampled))
        scores.append(common / max(1, int(np.count_nonzero(fitted | sampled))))
    for score, box in zip(scores, models, strict=True):  # models come in order of preference, simplest first
        if score >= max(scores) - SIMPLER_SHAPE_SLACK and score >= MIN_FIT_IOU:
            return _placed(box, x0, y0, region.shape)
    return None


def _off_sides(cols, ys, left, right) -> np.ndarray:
    """Boundary points ``(cols, ys)`` that lie on the top or bottom edge rather than on a side line."""
    xl = left[0] + left[1] * ys
    xr = right[0] + right[1] * ys
    return (cols > xl + 1.5) & (cols < xr - 1.5)


def _models(rows, xl, xr, cols, yt, yb, top, bottom, left, right) -> list[DopplerBox]:
    """Candidate boxes in region coordinates, in order of preference (simplest first)."""
    mid = _middle(rows, 0.15)
    y0, y1 = round(float(np.median(yt[top]))), round(float(np.median(yb[bottom]))) + 1
    x0, x1 = round(float(np.median(xl[mid]))), round(float(np.median(xr[mid]))) + 1
    width = int(xr.max()) + 1
    models = [DopplerBox((x0, y0, x1, y1), "rectangle", "outline")]
    slope = 0.5 * (left[1] + right[1])
    if abs(left[1] - right[1]) <= 0.05 and abs(slope) > 0.01:
        a_left = float(np.median(xl[mid] - slope * rows[mid]))
        a_right = float(np.median(xr[mid] - slope * rows[mid]))
        models.append(
            DopplerBox((0, y0, width, y1), "parallelogram", "outline", left=(a_left, slope), right=(a_right, slope))
        )
    if abs(left[1] - right[1]) > 0.02:  # sides that converge: arcs between them (sector) or straight lines
        ay = (right[0] - left[0]) / (left[1] - right[1])
        ax = left[0] + left[1] * ay
        r_top = np.hypot(cols[top] - ax, yt[top] - ay)
        r_bottom = np.hypot(cols[bottom] - ax, yb[bottom] - ay)
        inner, outer = sorted((float(np.median(r_top)), float(np.median(r_bottom))))
        height = int(max(yb.max(), rows.max())) + 1
        models.append(
            DopplerBox(
                (0, 0, width, height), "sector", "outline", left=left, right=right, apex=(ax, ay), radii=(inner, outer)
            )
        )
        # straight top and bottom: a trapezoid, taken over a sector only when it fits clearly better (a sector's
        # arcs can be flat enough to pass for straight lines)
        models.append(DopplerBox((0, y0, width, y1), "trapezoid", "outline", left=left, right=right))
    return models


def _placed(box: DopplerBox, x0: int, y0: int, shape: tuple[int, int]) -> DopplerBox | None:
    """Move a box fitted in region coordinates to frame coordinates, with its bbox tightened to the pixels."""
    ys, xs = np.nonzero(box.window(0, 0, shape[1], shape[0]))
    if ys.size == 0:
        return None
    bbox = (int(xs.min()) + x0, int(ys.min()) + y0, int(xs.max()) + 1 + x0, int(ys.max()) + 1 + y0)

    def shift(line):
        return None if line is None else (line[0] + x0 - line[1] * y0, line[1])

    apex = None if box.apex is None else (box.apex[0] + x0, box.apex[1] + y0)
    return DopplerBox(bbox, box.shape, "outline", shift(box.left), shift(box.right), apex, box.radii)


# --- outline loops -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutlineCandidate:
    """A closed outline with a fitted interior, and what the interior holds."""

    box: DopplerBox
    colour_px: int  # pixels with chroma > threshold on any sampled frame
    colour_share: float
    texture: float  # share of grey interior pixels that differ from their right neighbour (B-mode speckle)


def _sizes(planes: Planes) -> tuple[float, int, tuple[int, ...], int]:
    """``(scale, least box area, gap bridges, wall)`` for a frame: sizes grow with the frame (larger screens draw
    larger flow speckle and thicker lines); bridges are odd dilation sizes, the wall a closing size."""
    height, width = planes.shape
    scale = max(1.0, max(height, width) / BRIDGE_REFERENCE)
    min_area = max(MIN_BOX_AREA, int(0.002 * height * width))
    bridges = tuple(sorted({2 * round((size * scale - 1) / 2) + 1 for size in GAP_BRIDGES}))
    return scale, min_area, bridges, 2 * round(scale) + 1


def find_outlines(planes: Planes) -> list[OutlineCandidate]:
    """Closed white or coloured outlines whose interior fits a box shape, largest first."""
    height, width = planes.shape
    _, min_area, bridges, wall = _sizes(planes)
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
    _, min_area, bridges, wall = _sizes(planes)
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
    _collect_loops(boxes, line, replace(how, x0=x0, y0=y0))


def _described(boxes: list[DopplerBox], planes: Planes) -> list[OutlineCandidate]:
    """``boxes`` largest first, each with what its interior holds."""
    boxes.sort(key=lambda b: -area(b.bbox))
    return [_describe_interior(box, planes) for box in boxes]


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


def _describe_interior(box: DopplerBox, planes: Planes) -> OutlineCandidate:
    x0, y0, x1, y1 = box.bbox
    inside = box.window(x0, y0, x1, y1)
    colour = planes.colour_any[y0:y1, x0:x1] > 0
    grey = inside & ~colour
    value = planes.value[y0:y1, x0:x1]
    step = max(1, round(max(planes.shape) / BRIDGE_REFERENCE))  # speckle is coarser on larger screens
    changes = np.zeros(inside.shape, dtype=bool)
    changes[:, :-step] = value[:, step:] != value[:, :-step]
    n_inside = max(1, int(inside.sum()))
    colour_px = int((inside & colour).sum())
    texture = float((changes & grey).sum()) / max(1, int(grey.sum()))
    return OutlineCandidate(box, colour_px, colour_px / n_inside, texture)


def extent_box(mask: np.ndarray) -> DopplerBox | None:
    """The bounding rectangle of ``mask (H, W) bool`` as a colour-extent box, or None when empty."""
    points = cv2.findNonZero(mask.astype(np.uint8))
    if points is None:
        return None
    x, y, w, h = cv2.boundingRect(points)
    return rect_box((x, y, x + w, y + h), "colour_extent", "colour_extent")


# --- outlines of any colour: straight runs, checked sides ------------------------------------------------------
#
# A thin grey line over B-mode speckle is no colour of its own: thresholds cannot lift it out of the speckle.
# What sets it apart is that it is straight and of one level: along a horizontal edge (the top and bottom of a
# rectangle, parallelogram or trapezoid) neighbouring pixels keep one level for a long run while speckle changes
# within a few pixels. The runs give the edges and their colour; each side between two edges' ends is then
# checked against the pixels along it, and against the pixels a few px beside it (speckle that happens to match
# the colour matches there too).

RUN_SMOOTH = 5  # px averaged along a row before neighbours are compared (JPEG and H.264 jitter a thin line)
RUN_STEP = 6  # grey levels between neighbouring averages along a drawn line
MIN_RUN = 14  # px at 640 of frame: a straight piece of outline; text strokes and speckle plateaus are shorter
MIN_LINE_LEVEL = 48  # brightness of a drawn line: outlines are drawn to be seen on black
MAX_LINE_ROWS = 3  # rows of one drawn line (1-2 px, anti-aliased or thickened on large screens)
# Mean brightness step from a line to the rows just above and below it (half of it at least on each side): a
# drawn line differs from the speckle around it by 40-60 levels on average, a smooth streak of speckle by 10-25.
MIN_ACROSS = 28
MAX_EDGE_COLOUR = 32  # max channel difference between a box's two edges (codecs shift each edge differently)
MAX_RUN_COLOUR = 16  # ... between the runs joined into one edge (a drawn line is one colour along its length)
# Max channel difference from the line's colour of a pixel on it: anti-aliasing blends a slanted line with the
# speckle beside it, and 4:2:0 codecs move a thin coloured line's chroma by up to ~45 levels (less along rows).
MATCH_TOLERANCE = 48
# ... for a grey line, which codecs keep to within ~20 levels: a wider band would take in half the grey speckle.
GREY_TOLERANCE = 28
GREY_CHROMA = 24  # chroma up to which a colour counts as grey
MIN_SIDE_SHARE = 0.5  # share of a side's pixels in the line's colour (flow and codecs take some of the rest)
MIN_SIDE_CONTRAST = 0.25  # ... above the share CONTROL_OFFSET px beside it
CONTROL_OFFSET = 3  # px at 640
LINE_PARTS = 4  # parts of a side checked each on its own (a quarter of a side missing is no side)
MIN_PART_SHARE = 0.35  # share of each part in the line's colour (a codec brightens a thin line over bright tissue)
CORNER_REACH = 16  # px at 640 around an edge's end where a side's end is looked for (codecs break the ends)
MIN_EDGE_RATIO = 0.4  # the shorter of a box's top and bottom edges, as found, to the longer (flow hides some)
MAX_SIDE_SLOPE = 0.8  # |dx/dy| of a side: beam steering and trapezoid spread stay below 40 degrees
SIDE_SAMPLES = 160  # rows sampled along a side
COARSE_SAMPLES = 40  # ... in the first, coarse search
SECTOR_HALF_LINE = 1.0  # px from a sector line's centre to its interior (half a 1-px line, and half a pixel)
MAX_SHARED = 0.1  # share of the smaller box two boxes found without a colour of their own may have in common
MAX_EDGES = 16  # longest edges paired: a box's top and bottom are among the longest straight runs on screen


@dataclass(frozen=True)
class _Edge:
    """Horizontal runs of one colour on (about) one row: ``y`` the centre row, ``ends`` the runs' (x0, x1) inclusive."""

    y: float
    rows: int
    ends: tuple[tuple[int, int], ...]
    colour: np.ndarray  # (3,) int16
    length: int


def _edges(
    value: np.ndarray, rgb: np.ndarray, scale: float, still: np.ndarray | None = None, max_rows: int = MAX_LINE_ROWS
) -> list[_Edge]:
    """Horizontal edges of drawn lines in ``value (H, W) uint8`` / ``rgb (H, W, 3)``, longest first.

    ``still``: the value plane of another frame of the clip; a drawn line keeps its level on both.
    ``max_rows``: rows one line may cover (more where a picture is unrolled around an apex).
    """
    flat = _flat(value)
    if still is not None:
        flat = cv2.bitwise_and(flat, _flat(still))
    flat = cv2.morphologyEx(flat, cv2.MORPH_OPEN, np.ones((1, max(8, round(MIN_RUN * scale))), np.uint8))
    rows, starts, stops = _row_runs(flat)
    stops = stops + 1  # flat[i] compares pixels i and i + 1: a run of flat[a .. b] covers pixels a .. b + 1
    if rows.size == 0:
        return []
    up, down = _steps_beside(value, rows, starts, stops)
    keep = np.maximum(up, down) >= MIN_ACROSS  # a line differs from speckle on one side at least (two-px lines)
    segments = _row_segments(rgb, rows[keep], starts[keep], stops[keep], scale)
    edges = []
    for group in _stacked(segments):
        top, bottom = group[0][0], group[-1][0]
        if bottom - top + 1 > max_rows:
            continue  # a flat patch: a panel, a bar, saturated tissue
        lengths = [sum(b - a + 1 for a, b in g[1]) for g in group]
        total = sum(lengths)
        colour = np.rint(np.asarray(lengths, np.float64) @ np.array([g[2] for g in group]) / total).astype(np.int16)
        ends = _merged(sorted(span for g in group for span in g[1]))
        x0, x1 = ends[0][0], ends[-1][1]
        level = int(colour.max())
        beside = [r for r in (top - 1, bottom + 1) if 0 <= r < value.shape[0]]
        steps = [float(np.abs(value[r, x0 : x1 + 1].astype(np.int16) - level).mean()) for r in beside]
        if sum(steps) < MIN_ACROSS * len(steps) or min(steps) < 0.5 * MIN_ACROSS:
            continue  # smooth speckle, not a line drawn over it
        centre = sum(g[0] * n for g, n in zip(group, lengths, strict=True)) / total
        edges.append(_Edge(centre, bottom - top + 1, ends, colour, int(sum(b - a + 1 for a, b in ends))))
    edges.sort(key=lambda e: -e.length)
    return edges[:MAX_EDGES]


def _steps_beside(value: np.ndarray, rows: np.ndarray, starts: np.ndarray, stops: np.ndarray):
    """Mean brightness step from each run (pixels ``starts .. stops`` of ``rows``) to the row above and below."""
    out = []
    for other in (-1, 1):
        shifted = np.roll(value, -other, axis=0)  # shifted[y] = value[y + other]; the wrapped row is never a run's
        total = cv2.integral(cv2.absdiff(value, shifted))  # (H + 1, W + 1)
        a, b = starts, stops + 1
        sums = total[rows + 1, b] - total[rows, b] - total[rows + 1, a] + total[rows, a]
        out.append(sums / (b - a))
    return out


def _row_segments(rgb: np.ndarray, rows, starts, stops, scale: float) -> list[tuple[int, list, np.ndarray]]:
    """Runs of one row joined across gaps (codec noise; flow over the line, as long as the line found so far)
    when of one colour: ``(row, [(first, last), ...], colour)`` in row order."""
    segments: list[tuple[int, list, np.ndarray]] = []
    first_of_row = 0  # index in segments of the current row's first segment
    for y, a, b in zip(rows.tolist(), starts.tolist(), stops.tolist(), strict=True):
        colour = np.rint(rgb[y, a : b + 1].mean(axis=0)).astype(np.int16)
        if segments and segments[-1][0] != y:
            first_of_row = len(segments)
        for _, spans, last in reversed(segments[first_of_row:]):
            found = sum(q - p + 1 for p, q in spans) + b - a + 1
            if a - spans[-1][1] <= max(CORNER_REACH * scale, found) and np.abs(colour - last).max() <= MAX_RUN_COLOUR:
                spans.append((a, b))
                break
        else:
            segments.append((y, [(a, b)], colour))
    return segments


def _stacked(segments: list[tuple[int, list, np.ndarray]]) -> list[list]:
    """Row segments stacked into lines: a segment joins a line ending on the row above that it mostly overlaps."""
    groups: list[list] = []
    above: list[list] = []  # lines whose last segment lies on the row above the current one
    here: list[list] = []  # lines whose last segment lies on the current row
    row = None
    for segment in segments:
        y, spans, colour = segment
        if y != row:
            above, here, row = (here if row == y - 1 else []), [], y
        a, b = spans[0][0], spans[-1][1]
        for group in above:
            ga, gb = group[-1][1][0][0], group[-1][1][-1][1]
            shared = min(b, gb) - max(a, ga)
            if shared >= 0.5 * min(b - a, gb - ga) and np.abs(colour - group[-1][2]).max() <= MAX_RUN_COLOUR:
                group.append(segment)
                above.remove(group)
                break
        else:
            group = [segment]
            groups.append(group)
        here.append(group)
    return groups


def _row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of 255 along the rows of ``mask``: ``(row, first, last)`` arrays, inclusive, in row order."""
    padded = cv2.copyMakeBorder(mask, 0, 0, 1, 1, cv2.BORDER_CONSTANT, value=0)
    first = cv2.findNonZero(cv2.subtract(padded[:, 1:-1], padded[:, :-2]))  # 255 after 0: (K, 1, 2) x, y
    last = cv2.findNonZero(cv2.subtract(padded[:, 1:-1], padded[:, 2:]))  # 255 before 0
    if first is None or last is None:
        empty = np.empty(0, np.intp)
        return empty, empty, empty
    first, last = first.reshape(-1, 2), last.reshape(-1, 2)  # both in row order, one of each per run
    return first[:, 1].astype(np.intp), first[:, 0].astype(np.intp), last[:, 0].astype(np.intp)


def _merged(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Overlapping or touching ``(first, last)`` spans joined."""
    out: list[list[int]] = []
    for a, b in spans:
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def _flat(value: np.ndarray) -> np.ndarray:
    """``(H, W - 1) uint8`` 0/255: pixels i and i + 1 of a row are lit and, averaged along the row over RUN_SMOOTH
    px (codecs make a thin line's level jitter from pixel to pixel), within RUN_STEP of each other."""
    smooth = cv2.blur(value, (RUN_SMOOTH, 1))
    step = cv2.absdiff(smooth[:, 1:], smooth[:, :-1])
    flat = cv2.threshold(step, RUN_STEP, 255, cv2.THRESH_BINARY_INV)[1]
    lit = cv2.threshold(cv2.min(value[:, 1:], value[:, :-1]), MIN_LINE_LEVEL - 1, 255, cv2.THRESH_BINARY)[1]
    return cv2.bitwise_and(flat, lit)


def _tolerance(colour) -> int:
    """How far (max channel difference) a pixel of a line of ``colour`` may stray from it."""
    return MATCH_TOLERANCE if int(max(colour)) - int(min(colour)) > GREY_CHROMA else GREY_TOLERANCE


class _LineColours:
    """Where a frame holds a line's colour: one match plane per colour asked for, made once. A wide plane also
    holds the ``reach`` pixels either side of a match on its row, for searches in steps of 2 * reach that must
    not step over a 1-px line."""

    def __init__(self, rgb: np.ndarray) -> None:
        self.rgb = rgb
        self.shape = rgb.shape[:2]
        self._planes: dict[tuple, np.ndarray] = {}

    def _plane(self, key: tuple[int, ...], reach: int) -> np.ndarray:
        plane = self._planes.get((*key, reach))
        if plane is None:
            if reach:
                kernel = np.ones((1, 2 * reach + 1), np.uint8)
                plane = cv2.dilate(self._plane(key, 0).view(np.uint8), kernel).view(bool)
            else:
                tolerance = _tolerance(key)
                low = tuple(float(max(0, c - tolerance)) for c in key)
                high = tuple(float(min(255, c + tolerance)) for c in key)
                plane = cv2.inRange(self.rgb, low, high).view(bool)  # 0/255 bytes: nonzero is True
            self._planes[(*key, reach)] = plane
        return plane

    def matches(self, colour: np.ndarray, ys: np.ndarray, xs: np.ndarray, reach: int = 0) -> np.ndarray:
        """``bool`` like ``xs``: a pixel within ``reach`` px of ``(ys, xs)`` on its row (clipped to the frame) is
        within the colour's tolerance of ``colour``."""
        plane = self._plane(tuple(int(c) for c in colour), reach)
        xs = np.clip(np.rint(xs).astype(np.intp), 0, self.shape[1] - 1)
        return plane[np.broadcast_to(ys, xs.shape), xs]


def _side(lines: _LineColours, colour: np.ndarray, top: tuple[float, float], bottom: tuple[float, float], scale: float):
    """The straight side between an edge end ``top (x, y)`` and ``bottom (x, y)``: ``(x_top, x_bottom, score)`` of
    the line that best matches ``colour`` with each end moved up to CORNER_REACH px, or None when no line is there.
    """
    (xt, yt), (xb, yb) = top, bottom
    margin = 2 + round(scale)  # rows near the corners belong to the edges too
    ys = np.arange(int(np.ceil(yt)) + margin, int(np.floor(yb)) - margin + 1)
    if ys.size < 4:
        return None
    step = max(1, round(scale))
    best = None  # coarse steps of 2 * step against matches widened by step (a 1-px line is never stepped over),
    # then 1-px steps, then half-px steps on more rows
    stages = (
        (COARSE_SAMPLES, round(CORNER_REACH * scale), 2 * step, step),
        (COARSE_SAMPLES, step, 1.0, 0),
        (SIDE_SAMPLES, 1.0, 0.5, 0),
    )
    for samples, spread, stride, reach in stages:
        rows = ys[np.linspace(0, ys.size - 1, min(ys.size, samples)).round().astype(int)]
        t = (rows - yt) / (yb - yt)
        shifts = np.arange(-spread, spread + 0.25, stride)
        x_top, x_bottom = xt + shifts[:, None, None], xb + shifts[None, :, None]
        xs = x_top + (x_bottom - x_top) * t  # (S, S, K)
        share = lines.matches(colour, rows, xs, reach).mean(axis=2)
        i, j = np.unravel_index(int(np.argmax(share)), share.shape)
        xt, xb = float(x_top[i, 0, 0]), float(x_bottom[0, j, 0])
        best = (float(share[i, j]), xs[i, j], rows)
    share, xs, rows = best
    offset = max(CONTROL_OFFSET, round(CONTROL_OFFSET * scale))
    beside = [lines.matches(colour, rows, xs + d) for d in (-offset, offset)]
    score = _line_score(lines.matches(colour, rows, xs), beside)
    return None if score is None else (xt, xb, score)


def _line_score(on: np.ndarray, beside: list[np.ndarray]) -> float | None:
    """How clearly the matches ``on`` a supposed line (in order along it) show a line, or None when they do not:
    enough of them, and in each of LINE_PARTS parts of it, clearly more than ``beside`` it (a side that runs on
    past its corner into speckle fails a part). The score is the parts' least lead over what lies beside."""
    if on.mean() < MIN_SIDE_SHARE:
        return None
    bounds = np.linspace(0, on.size, LINE_PARTS + 1).round().astype(int)
    leads = []
    for lo, hi in itertools.pairwise(bounds):
        if hi <= lo:
            return None
        share = float(on[lo:hi].mean())
        lead = share - max(float(b[lo:hi].mean()) for b in beside)
        if share < MIN_PART_SHARE or lead < MIN_SIDE_CONTRAST:
            return None
        leads.append(lead)
    return min(leads)


def _along_edge(lines: _LineColours, edge: _Edge, x0: float, x1: float) -> float:
    """Share of the edge's row between ``x0`` and ``x1`` in the edge's colour (best of its rows)."""
    xs = np.arange(int(np.ceil(x0)), int(np.floor(x1)) + 1)
    if xs.size == 0:
        return 0.0
    rows = {int(np.floor(edge.y)), int(np.ceil(edge.y))}
    return max(float(lines.matches(edge.colour, np.array(r), xs).mean()) for r in rows if 0 <= r < lines.shape[0])


@dataclass(frozen=True)
class _Quad:
    """A four-sided outline: the edges' centre rows and the sides' x at them (line centres)."""

    top: _Edge
    bottom: _Edge
    left: tuple[float, float]  # x at the top row, x at the bottom row
    right: tuple[float, float]

    def interior(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """``(y1 - y0, x1 - x0) bool``: strictly inside the lines (their thickness excluded)."""
        ys = np.arange(y0, y1, dtype=np.float64)[:, None]
        xs = np.arange(x0, x1, dtype=np.float64)[None, :]
        t = (ys - self.top.y) / (self.bottom.y - self.top.y)
        half = 0.5 * max(self.top.rows, self.bottom.rows)
        left = self.left[0] + (self.left[1] - self.left[0]) * t
        right = self.right[0] + (self.right[1] - self.right[0]) * t
        inside = (ys > self.top.y + half) & (ys < self.bottom.y - half)
        return inside & (xs > left + half) & (xs < right - half)


def _quads(rgb: np.ndarray, edges: list[_Edge], scale: float, min_side: int, flow: _Flow) -> list[tuple]:
    """``(score, quad)`` of the quads whose top and bottom are ``edges``, that can hold the ``flow``, and whose two
    sides the pixels confirm (the score: how clearly the sides show)."""
    lines = _LineColours(rgb)
    found = []
    checked: dict[tuple, tuple[float, float, float] | None] = {}

    def side(top: _Edge, bottom: _Edge, xt: int, xb: int):
        key = (top.y, bottom.y, xt, xb, tuple(top.colour))
        if key not in checked:
            checked[key] = _side(lines, top.colour, (xt, top.y), (xb, bottom.y), scale)
        return checked[key]

    for top in edges:
        for bottom in edges:
            height = bottom.y - top.y
            if height < min_side or np.abs(top.colour - bottom.colour).max() > MAX_EDGE_COLOUR:
                continue
            reach = MAX_SIDE_SLOPE * height + CORNER_REACH * scale
            if abs(top.ends[0][0] - bottom.ends[0][0]) > reach and abs(top.ends[-1][1] - bottom.ends[-1][1]) > reach:
                continue
            spans = (top.ends[-1][1] - top.ends[0][0], bottom.ends[-1][1] - bottom.ends[0][0])
            if min(spans) < MIN_EDGE_RATIO * max(spans):
                continue  # a box's top and bottom are of a length (a trapezoid's within a factor of two)
            x0 = min(top.ends[0][0], bottom.ends[0][0]) - CORNER_REACH * scale
            x1 = max(top.ends[-1][1], bottom.ends[-1][1]) + CORNER_REACH * scale
            if not flow.held((flow.xs > x0) & (flow.xs < x1) & (flow.ys > top.y) & (flow.ys < bottom.y)):
                continue  # the flow lies elsewhere: two lines of the speckle, or of the UI
            gap = 2 * CORNER_REACH * scale
            lefts = [side(top, bottom, a, b) for a in _corners(top, 0, gap) for b in _corners(bottom, 0, gap)
                     if abs(a - b) <= reach]  # fmt: skip
            rights = [side(top, bottom, a, b) for a in _corners(top, 1, gap) for b in _corners(bottom, 1, gap)
                      if abs(a - b) <= reach]  # fmt: skip
            lefts, rights = [s for s in lefts if s], [s for s in rights if s]
            # flow over an edge can hide a corner: a side parallel to the other one, from the edge end that shows
            if lefts and not rights:
                rights = _parallel(side, top, bottom, lefts, 1, gap)
            elif rights and not lefts:
                lefts = _parallel(side, top, bottom, rights, 0, gap)
            best = None
            for left in lefts:
                for right in rights:
                    if min(right[0] - left[0], right[1] - left[1]) < min_side:
                        continue
                    edges_share = min(
                        _along_edge(lines, top, left[0], right[0]), _along_edge(lines, bottom, left[1], right[1])
                    )
                    if edges_share < MIN_SIDE_SHARE:
                        continue
                    score = min(left[2], right[2])
                    if best is None or score > best[0]:
                        best = (score, _Quad(top, bottom, left[:2], right[:2]))
            if best is not None:
                found.append(best)
    return found


def _parallel(side, top: _Edge, bottom: _Edge, others: list[tuple[float, float, float]], end: int, gap: float):
    """Sides at ``end`` (0 left, 1 right) parallel to the ``others`` found at the other end, from either edge."""
    found = []
    for xt, xb, _ in others:
        lean = xb - xt
        found += [side(top, bottom, a, round(a + lean)) for a in _corners(top, end, gap)]
        found += [side(top, bottom, round(b - lean), b) for b in _corners(bottom, end, gap)]
    return [s for s in found if s]


def _corners(edge: _Edge, end: int, gap: float) -> list[int]:
    """Where a side may meet ``edge``: its outer end (``end`` 0 left, 1 right) and the ends of its pieces that
    lie across a gap wider than ``gap`` (two boxes side by side on a split screen)."""
    ends = edge.ends
    out = [ends[0][0] if end == 0 else ends[-1][1]]
    for k in range(1, len(ends)):
        if ends[k][0] - ends[k - 1][1] > gap:
            out.append(ends[k][0] if end == 0 else ends[k - 1][1])
    return out


def _quad_box(quad: _Quad, width: int, height: int) -> DopplerBox | None:
    """The fitted box of a quad's interior (rectangle, parallelogram or trapezoid), in frame pixels."""
    x0 = max(0, int(np.floor(min(quad.left))))
    x1 = min(width, int(np.ceil(max(quad.right))) + 1)
    y0, y1 = max(0, int(np.floor(quad.top.y))), min(height, int(np.ceil(quad.bottom.y)) + 1)
    if x1 - x0 < MIN_BOX_SIDE or y1 - y0 < MIN_BOX_SIDE:
        return None
    return fit_interior(quad.interior(x0, y0, x1, y1), x0, y0)


@dataclass(frozen=True)
class _Flow:
    """The flow seen on screen, as points: a Doppler box holds at least MIN_FLOW_HELD of it."""

    xs: np.ndarray
    ys: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray) -> _Flow:
        ys, xs = np.nonzero(mask)
        return cls(xs.astype(np.float64), ys.astype(np.float64))

    def held(self, inside: np.ndarray) -> bool:
        """Whether the points where ``inside`` is True are enough of the flow."""
        return np.count_nonzero(inside) >= MIN_FLOW_HELD * self.xs.size


def find_straight_outlines(planes: Planes, flow: np.ndarray) -> list[OutlineCandidate]:
    """Rectangle, parallelogram and trapezoid outlines of any colour (grey over speckle too) around a share of the
    ``flow (H, W) bool``, the clearest first."""
    height, width = planes.shape
    scale, min_area, _, _ = _sizes(planes)
    still = None
    if planes.frames.shape[0] > 1:
        still = cv2.max(cv2.max(planes.frames[-1][..., 0], planes.frames[-1][..., 1]), planes.frames[-1][..., 2])
    edges = _edges(planes.value, planes.frame, scale, still)
    min_side = max(MIN_BOX_SIDE, int(np.sqrt(min_area)) // 2)
    found = []
    for score, quad in _quads(planes.frame, edges, scale, min_side, _Flow.of(flow)):
        box = _quad_box(quad, width, height)
        if box is not None:
            found.append((score, box))
    return [_describe_interior(box, planes) for box in _clearest(found)]


# --- sector outlines of any colour: arcs around the fan's apex, straight radial sides ----------------------------
#
# Around the apex, an arc of the outline puts many pixels of one colour at one distance: counted by distance and
# colour, it stands out of the speckle's even spread as a spike. Two spikes of one colour, an inner and an outer
# arc over about the same angles, make a sector when the straight radial sides between their ends are there too.

LEVEL_BIN = 16  # brightness levels per grey class; a line's pixels fall in two neighbouring classes at most
HUE_BIN = 15  # OpenCV hue units per colour class
MIN_SPIKE_RATIO = 1.6  # pixels of one colour at an arc's distance, against the same colour a few px nearer and further
MIN_ARC = 2 * MIN_BOX_SIDE  # px of arc of one colour at least (at 640 of frame; more on larger screens)
ARC_GAP = 3  # px of arc between pixels of one arc, at most (codecs and flow over the line break it)
MAX_ARCS = 8  # strongest spikes paired
APEX_SLACK = 2  # px a radial side may pass beside the apex found from the picture's edges
ARC_SLACK = 1.5  # px an arc's ring may lie in or out of the radius found (ditto)


@dataclass(frozen=True)
class _Arc:
    """Pixels of one colour at one distance from the apex: ``radius`` (their mean), ``angles`` (first, last)."""

    radius: float
    angles: tuple[float, float]
    colour: np.ndarray  # (3,) int16
    length: float


def find_sector_outlines(
    planes: Planes, apex: tuple[float, float], within: np.ndarray, flow: np.ndarray
) -> list[OutlineCandidate]:
    """Sector outlines of any colour around ``apex (x, y)``, inside ``within (H, W) uint8`` (the picture), around a
    share of the ``flow (H, W) bool``, the clearest first."""
    height, width = planes.shape
    scale, min_area, _, _ = _sizes(planes)
    arcs = _arcs(planes, apex, within, scale)
    lines = _LineColours(planes.frame)
    min_side = max(MIN_BOX_SIDE, int(np.sqrt(min_area)) // 2)
    points = _Flow.of(flow)
    flow_r = np.hypot(points.xs - apex[0], points.ys - apex[1])
    flow_a = np.arctan2(points.ys - apex[1], points.xs - apex[0])
    found = []
    for inner in arcs:
        for outer in arcs:
            if outer.radius - inner.radius < min_side or np.abs(inner.colour - outer.colour).max() > MAX_EDGE_COLOUR:
                continue
            radii = (inner.radius, outer.radius)
            reach = CORNER_REACH * scale / inner.radius  # how far the arcs' ends may be off, as an angle
            a0, a1 = min(inner.angles[0], outer.angles[0]) - reach, max(inner.angles[1], outer.angles[1]) + reach
            if not points.held((flow_r > radii[0]) & (flow_r < radii[1]) & (flow_a > a0) & (flow_a < a1)):
                continue
            sides = []
            for end in (0, 1):
                ends = (inner.angles[end], outer.angles[end])
                side = _radial_side(lines, inner.colour, apex, radii, (min(ends) - reach, max(ends) + reach), scale)
                if side is None:
                    break
                sides.append(side)
            if len(sides) < 2 or sides[1][0] - sides[0][0] < min_side / outer.radius:
                continue
            angles = (sides[0][0], sides[1][0])
            scores = [side[1] for side in sides] + [
                _arc_score(lines, inner.colour, apex, r, angles, scale) for r in radii
            ]
            if None in scores:
                continue
            box = _sector_box(apex, radii, angles, width, height)
            if box is not None and box.shape == "sector":
                found.append((min(scores), box))
    return [_describe_interior(box, planes) for box in _clearest(found)]


def _clearest(found: list[tuple[float, DopplerBox]]) -> list[DopplerBox]:
    """Boxes by how clearly their lines show, none overlapping a clearer one: two Doppler boxes lie side by side
    (a split screen), while overlapping finds are one outline seen twice, once with a stretch of speckle or a
    fibre taken for an edge."""
    boxes: list[DopplerBox] = []
    for _, box in sorted(found, key=lambda item: -item[0]):
        if not any(overlap(box.bbox, b.bbox) > MAX_SHARED * min(area(box.bbox), area(b.bbox)) for b in boxes):
            boxes.append(box)
    return boxes


def _ray_points(apex, angles: np.ndarray, radii: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of points at ``radii`` along rays at ``angles`` moved sideways by ``offsets`` px, broadcast."""
    cos, sin = np.cos(angles), np.sin(angles)
    return apex[0] + radii * cos - offsets * sin, apex[1] + radii * sin + offsets * cos


def _radial_side(lines: _LineColours, colour, apex, radii: tuple[float, float], span: tuple[float, float], scale):
    """``(angle, score)`` within ``span`` of the straight radial side between ``radii`` that best matches ``colour``
    (the apex is known to a pixel or two: each ray may pass up to APEX_SLACK px beside it), or None."""
    best = None  # coarse (2-px steps on the outer arc, on the ray itself), then fine around the best
    coarse = np.arange(span[0], span[1], 2.0 / radii[1])
    for angles, offsets, samples in (
        (coarse, np.zeros(1), COARSE_SAMPLES),
        (None, np.arange(-APEX_SLACK, APEX_SLACK + 0.5, 1.0), SIDE_SAMPLES),
    ):
        if angles is None:
            angles = best[1] + np.arange(-2.0, 2.5, 0.5) / radii[1]
        r = np.linspace(radii[0] + 2 * scale, radii[1] - 2 * scale, samples)
        x, y = _ray_points(apex, angles[:, None, None], r[None, None, :], offsets[None, :, None])
        share = lines.matches(colour, _rows(y, lines), x, 1 if offsets.size == 1 else 0).mean(axis=2)
        i, j = np.unravel_index(int(np.argmax(share)), share.shape)
        best = (float(share[i, j]), float(angles[i]), float(offsets[j]), r)
    _, angle, offset, r = best
    step = max(CONTROL_OFFSET, round(CONTROL_OFFSET * scale))
    on_x, on_y = _ray_points(apex, angle, r, offset)
    beside = []
    for d in (-step, step):
        bx, by = _ray_points(apex, angle, r, offset + d)
        beside.append(lines.matches(colour, _rows(by, lines), bx))
    score = _line_score(lines.matches(colour, _rows(on_y, lines), on_x), beside)
    return None if score is None else (angle, score)


def _rows(y: np.ndarray, lines: _LineColours) -> np.ndarray:
    return np.clip(np.rint(y).astype(np.intp), 0, lines.shape[0] - 1)


def _arc_score(lines: _LineColours, colour, apex, radius: float, angles, scale: float) -> float | None:
    """How clearly the arc at ``radius`` between ``angles`` is drawn in ``colour``, or None: in each of LINE_PARTS
    parts, on the best ring up to ARC_SLACK px in or out (the apex is found to a pixel or two), against the rings
    CONTROL_OFFSET px further in and out."""
    step = 1.0 / max(radius, 1.0)
    a = np.arange(angles[0] + 2 * step, angles[1] - step, step)
    if a.size < LINE_PARTS:
        return None
    rings = np.arange(-ARC_SLACK, ARC_SLACK + 0.25, 0.5)
    offset = max(CONTROL_OFFSET, round(CONTROL_OFFSET * scale))
    shifts = np.concatenate([rings, rings - offset, rings + offset])
    x, y = _ray_points(apex, a[None, :], radius + shifts[:, None], 0.0)
    on = lines.matches(colour, _rows(y, lines), x).reshape(3, rings.size, a.size)
    on = (on[:, :-2] | on[:, 1:-1] | on[:, 2:]).reshape(-1, a.size)  # bands of 3 rings half a pixel apart:
    # a rastered arc wanders a pixel about its radius (polygon segments, and the apex found to a pixel or two)
    bounds = np.linspace(0, a.size, LINE_PARTS + 1).round().astype(int)
    leads = []  # per part; one part may lack the arc (a bright fibre tangent to it, smeared in by a codec)
    for lo, hi in itertools.pairwise(bounds):
        share = on[:, lo:hi].mean(axis=1).reshape(3, -1)  # (on, inside, outside) x rings
        best = int(np.argmax(share[0]))  # against the mean of both sides: a fibre may run beside a stretch of arc
        lead = share[0, best] - share[1:, best].mean()
        leads.append(float(lead) if share[0, best] >= MIN_SIDE_SHARE and lead >= MIN_SIDE_CONTRAST else None)
    present = sorted(lead for lead in leads if lead is not None)
    return present[0] if len(present) >= LINE_PARTS - 1 else None


def _arcs(planes: Planes, apex: tuple[float, float], within: np.ndarray, scale: float) -> list[_Arc]:
    """Arcs of one colour around ``apex`` among the lit pixels of ``within``, strongest first."""
    ax, ay = apex
    lit = cv2.bitwise_and(within, cv2.threshold(planes.value, MIN_LINE_LEVEL - 1, 255, cv2.THRESH_BINARY)[1])
    points = cv2.findNonZero(lit)
    if points is None:
        return []
    points = points.reshape(-1, 2)  # OpenCV drops the middle axis for some counts
    xs, ys = points[:, 0], points[:, 1]
    distance = np.hypot(xs - ax, ys - ay)
    ring = distance.astype(np.intp)
    value, chroma = planes.value[ys, xs], planes.chroma[ys, xs]
    levels = 256 // LEVEL_BIN
    hues = hue(planes.frame[ys, xs]) // HUE_BIN
    kind = np.where(chroma <= GREY_CHROMA, value // LEVEL_BIN, levels + hues).astype(np.intp)
    classes = levels + 180 // HUE_BIN
    counts = np.bincount(ring * classes + kind, minlength=(ring.max() + 1) * classes).reshape(-1, classes)
    counts = counts[:, :-1] + counts[:, 1:]  # two neighbouring classes (a line's level sits near a class edge)
    counts = counts[:-1] + counts[1:]  # two neighbouring rings (an arc's pixels lie within a pixel of its radius)
    padded = np.pad(counts, ((3, 3), (0, 0)))
    beside = np.maximum(padded[:-6], padded[6:])  # the same colour 3 rings nearer, and 3 further
    excess = counts - beside
    strong = (counts >= MIN_SPIKE_RATIO * beside) & (excess >= MIN_ARC * scale)
    spikes = np.argwhere(strong)
    spikes = spikes[np.argsort(-excess[strong])]
    gap = ARC_GAP * scale
    arcs: list[_Arc] = []
    for r, k in spikes:
        if len(arcs) >= MAX_ARCS:
            break
        if any(abs(arc.radius - r) < 3 for arc in arcs):
            continue  # the same arc seen in the next class or ring
        near = np.flatnonzero((ring >= r - 1) & (ring <= r + 2))  # the spike's rings and one either side
        seed = _longest_arc(
            near[(kind[near] == k) | (kind[near] == k + 1)], xs, ys, distance, apex, planes.frame, r, gap
        )
        if seed is None:
            continue
        # grown again by colour, not class: codecs move a line's level across class edges along its length
        rgb = planes.frame[ys[near], xs[near]].astype(np.int16)
        alike = near[np.abs(rgb - seed.colour).max(axis=1) <= _tolerance(seed.colour)]
        grown = _longest_arc(alike, xs, ys, distance, apex, planes.frame, r, gap)
        if grown is not None and grown.length >= MIN_ARC * scale:  # the colour of the seed: speckle joins the rest
            arcs.append(_Arc(seed.radius, grown.angles, seed.colour, grown.length))
    return arcs


def _longest_arc(members, xs, ys, distance, apex, rgb: np.ndarray, radius: int, gap: float) -> _Arc | None:
    """The longest stretch of ``members`` (pixel indices) along their ring without a gap wider than ``gap`` px."""
    if members.size < 2:
        return None
    angles = np.arctan2(ys[members] - apex[1], xs[members] - apex[0])
    order = np.argsort(angles)
    along = angles[order] * max(radius, 1)
    breaks = np.flatnonzero(np.diff(along) > gap)
    starts = np.concatenate([[0], breaks + 1])
    stops = np.concatenate([breaks, [along.size - 1]])
    best = int(np.argmax(along[stops] - along[starts]))
    chosen = members[order[starts[best] : stops[best] + 1]]
    colour = np.median(rgb[ys[chosen], xs[chosen]], axis=0).astype(np.int16)
    first, last = angles[order[starts[best]]], angles[order[stops[best]]]
    return _Arc(
        float(distance[chosen].mean()),
        (float(first), float(last)),
        colour,
        float(along[stops[best]] - along[starts[best]]),
    )


def _sector_box(apex, radii: tuple[float, float], angles: tuple[float, float], width: int, height: int):
    """The fitted box of the interior of the sector outline whose lines run at ``radii`` and ``angles``."""
    ax, ay = apex
    inner, outer = radii[0] + SECTOR_HALF_LINE, radii[1] - SECTOR_HALF_LINE
    first, last = angles
    ring = [(ax + r * np.cos(a), ay + r * np.sin(a)) for r in (inner, outer) for a in np.linspace(first, last, 16)]
    xs, ys = np.array(ring).T
    x0, y0 = max(0, int(np.floor(xs.min())) - 1), max(0, int(np.floor(ys.min())) - 1)
    x1, y1 = min(width, int(np.ceil(xs.max())) + 2), min(height, int(np.ceil(ys.max())) + 2)
    if x1 - x0 < MIN_BOX_SIDE or y1 - y0 < MIN_BOX_SIDE:
        return None
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    r = np.hypot(gx - ax, gy - ay)
    a = np.arctan2(gy - ay, gx - ax)
    margin = SECTOR_HALF_LINE / np.maximum(r, 1.0)  # the radial sides' half width, as an angle
    inside = (r > inner) & (r < outer) & (a > first + margin) & (a < last - margin)
    return fit_interior(inside, x0, y0)
