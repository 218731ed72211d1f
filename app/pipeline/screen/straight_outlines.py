"""Doppler box outlines of any colour made of straight lines (rectangles, parallelograms, trapezoids): long flat
horizontal runs paired as top and bottom edges, each side then checked against the pixels along it and beside it."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import cv2
import numpy as np

from app.pipeline.geometry import Rect
from app.pipeline.screen.doppler_box import (
    MIN_BOX_SIDE,
    DopplerBox,
    OutlineCandidate,
    box_sizes,
    clearest,
    describe_interior,
    fit_interior,
)
from app.pipeline.screen.hidden_outlines import hidden_edge_quads
from app.pipeline.screen.line_colours import EXACT_TOLERANCE, MIN_SIDE_SHARE, LineColours
from app.pipeline.screen.line_edges import CORNER_REACH, MAX_LINE_ROWS, Edge, exact_edge, find_edges
from app.pipeline.screen.planes import Planes
from app.pipeline.screen.quads import (
    MAX_EDGE_COLOUR,
    MAX_SIDE_SLOPE,
    MIN_BORDER_FLOW,
    Flow,
    Quad,
    at_border,
    border_side,
)
from app.pipeline.screen.straight_sides import along_edge, side_line, sides

# --- outlines of any colour: straight runs, checked sides ------------------------------------------------------
#
# The edges (long flat horizontal runs of one level, app/pipeline/screen/line_edges.py) are paired as top and
# bottom; each side between two edges' ends is then checked against the pixels along it, and against the pixels
# a few px beside it (speckle that happens to match the colour matches there too).

MIN_EDGE_RATIO = 0.4  # the shorter of a box's top and bottom edges, as found, to the longer (flow hides some)
SECTOR_HALF_LINE = 1.0  # px from a sector line's centre to its interior (half a 1-px line, and half a pixel)
# A quad's top or bottom is moved out to a farther edge of its colour (or the top up to the picture's top row) when
# both sides run on to it: a tissue line crossing the box (a fascia, a tendon's bright border) is no box edge when
# the box's sides carry on past it. The sides' extensions must be found within RUN_ON_REACH px (at 640) of where the
# sides point, and start SKIN_MARGIN px (at 640) below the picture's top (the skin line hides a line's top).
RUN_ON_REACH = 2.0
SKIN_MARGIN = 6.0


def _quads(
    lines: LineColours, edges: list[Edge], scale: float, min_side: int, flow: Flow, picture: Rect | None
) -> tuple[list[tuple], list[tuple]]:
    """``(score, quad)`` of the quads whose top and bottom are ``edges``, that can hold the ``flow``, and whose two
    sides the pixels confirm (the score: how clearly the sides show). Where one side shows no line and an edge
    runs to the ``picture``'s left or right border there, that border is the side (a box taken to the picture's
    side), the other side being a line, and only around flow (MIN_BORDER_FLOW): these come apart, second, to be
    tried only after every other search (a tissue line that runs on to the border from a box's corner would
    otherwise make one)."""
    found, bordered = [], []
    checked: dict[tuple, tuple[float, float, float] | None] = {}

    def side(top: Edge, bottom: Edge, xt: int, xb: int):
        key = (top.y, bottom.y, xt, xb, tuple(top.colour))
        if key not in checked:
            checked[key] = side_line(lines, top.colour, (xt, top.y), (xb, bottom.y), scale)
        return checked[key]

    pairs = [(top, bottom) for top in edges for bottom in edges if _may_pair(top, bottom, scale, min_side, flow)]
    gap = 2 * CORNER_REACH * scale
    # every side the pairs ask for first, searched together per colour; the sides asked for below are then known
    by_colour: dict[tuple, dict[tuple, tuple]] = {}  # line colour -> {side's key: its (top, bottom) ends}
    for top, bottom in pairs:
        colour = tuple(top.colour)
        for end in (0, 1):
            for a, b in _side_ends(top, bottom, end, gap, scale):
                by_colour.setdefault(colour, {})[(top.y, bottom.y, a, b, colour)] = ((a, top.y), (b, bottom.y))
    for colour, asked in by_colour.items():
        checked.update(zip(asked, sides(lines, np.array(colour), list(asked.values()), scale), strict=True))
    for top, bottom in pairs:
        lefts, rights = (
            [s for s in (side(top, bottom, a, b) for a, b in _side_ends(top, bottom, end, gap, scale)) if s]
            for end in (0, 1)
        )
        # flow over an edge can hide a corner: a side parallel to the other one, from the edge end that shows
        if lefts and not rights:
            rights = _parallel(side, top, bottom, lefts, 1, gap)
        elif rights and not lefts:
            lefts = _parallel(side, top, bottom, rights, 0, gap)
        border = picture is not None and flow.xs.size >= MIN_BORDER_FLOW and bool(lefts) != bool(rights)
        if border:
            lefts, rights = (
                lefts or _border(top, bottom, picture, 0, rights, scale),
                rights or _border(top, bottom, picture, 1, lefts, scale),
            )
        best = None
        for left in lefts:
            for right in rights:
                if min(right[0] - left[0], right[1] - left[1]) < min_side:
                    continue
                edges_share = min(
                    along_edge(lines, top, left[0], right[0]), along_edge(lines, bottom, left[1], right[1])
                )
                if edges_share < MIN_SIDE_SHARE:
                    continue
                score = min(left[2], right[2])
                if best is None or score > best[0]:
                    best = (score, Quad(top, bottom, left[:2], right[:2]))
        if best is not None:
            (bordered if border else found).append(best)
    return found, bordered


def _side_ends(top: Edge, bottom: Edge, end: int, gap: float, scale: float) -> list[tuple[int, int]]:
    """Where a side at ``end`` (0 left, 1 right) may meet ``top`` and ``bottom``: pairs of their corners
    (:func:`_corners`) no further apart than a side's slope allows."""
    reach = MAX_SIDE_SLOPE * (bottom.y - top.y) + CORNER_REACH * scale
    return [(a, b) for a in _corners(top, end, gap) for b in _corners(bottom, end, gap) if abs(a - b) <= reach]


def _may_pair(top: Edge, bottom: Edge, scale: float, min_side: int, flow: Flow) -> bool:
    """Whether ``top`` and ``bottom`` may be a box's top and bottom edges: far enough apart, of one colour, ends
    within a side's slope of each other at one end at least, of a length, and around enough of the ``flow``."""
    height = bottom.y - top.y
    if height < min_side or np.abs(top.colour - bottom.colour).max() > MAX_EDGE_COLOUR:
        return False
    reach = MAX_SIDE_SLOPE * height + CORNER_REACH * scale
    if abs(top.ends[0][0] - bottom.ends[0][0]) > reach and abs(top.ends[-1][1] - bottom.ends[-1][1]) > reach:
        return False
    spans = (top.ends[-1][1] - top.ends[0][0], bottom.ends[-1][1] - bottom.ends[0][0])
    if min(spans) < MIN_EDGE_RATIO * max(spans):
        return False  # a box's top and bottom are of a length (a trapezoid's within a factor of two)
    x0 = min(top.ends[0][0], bottom.ends[0][0]) - CORNER_REACH * scale
    x1 = max(top.ends[-1][1], bottom.ends[-1][1]) + CORNER_REACH * scale
    # the flow lies elsewhere: two lines of the speckle, or of the UI
    return flow.held((flow.xs > x0) & (flow.xs < x1) & (flow.ys > top.y) & (flow.ys < bottom.y))


def _parallel(side, top: Edge, bottom: Edge, others: list[tuple[float, float, float]], end: int, gap: float):
    """Sides at ``end`` (0 left, 1 right) parallel to the ``others`` found at the other end, from either edge."""
    found = []
    for xt, xb, _ in others:
        lean = xb - xt
        found += [side(top, bottom, a, round(a + lean)) for a in _corners(top, end, gap)]
        found += [side(top, bottom, round(b - lean), b) for b in _corners(bottom, end, gap)]
    return [s for s in found if s]


def _border(
    top: Edge, bottom: Edge, picture: Rect, end: int, others: list[tuple[float, float, float]], scale: float
) -> list[tuple[float, float, float]]:
    """The picture's left (``end`` 0) or right border as a side, scored as the clearest of the ``others``, where
    ``top`` or ``bottom`` runs to it; else nothing."""
    if not any(at_border(picture, end, edge.ends[-end][end], scale) for edge in (top, bottom)):
        return []  # neither edge's end on that side runs to the border
    return [border_side(picture, end, max(side[2] for side in others))]


def _corners(edge: Edge, end: int, gap: float) -> list[int]:
    """Where a side may meet ``edge``: its outer end (``end`` 0 left, 1 right) and the ends of its pieces that
    lie across a gap wider than ``gap`` (two boxes side by side on a split screen)."""
    ends = edge.ends
    out = [ends[0][0] if end == 0 else ends[-1][1]]
    for k in range(1, len(ends)):
        if ends[k][0] - ends[k - 1][1] > gap:
            out.append(ends[k][0] if end == 0 else ends[k - 1][1])
    return out


def _quad_box(quad: Quad, width: int, height: int, picture: Rect | None) -> DopplerBox | None:
    """The fitted box of a quad's interior (rectangle, parallelogram or trapezoid), in frame pixels, cut at the
    ``picture``'s left and right borders where it reaches past them: a box steered past the picture's side holds
    no flow beyond it (its outline may still be drawn there)."""
    x0 = max(0, int(np.floor(min(quad.left))))
    x1 = min(width, int(np.ceil(max(quad.right))) + 1)
    y0, y1 = max(0, int(np.floor(quad.top.y))), min(height, int(np.ceil(quad.bottom.y)) + 1)
    if x1 - x0 < MIN_BOX_SIDE or y1 - y0 < MIN_BOX_SIDE:
        return None
    box = fit_interior(quad.interior(x0, y0, x1, y1), x0, y0)
    if box is None or picture is None:
        return box
    bx0, by0, bx1, by1 = box.bbox
    cut = (max(bx0, picture[0]), by0, min(bx1, picture[2]), by1)
    return box if cut == box.bbox or cut[2] - cut[0] < MIN_BOX_SIDE else replace(box, bbox=cut)


def _run_on(quad: Quad, edges: list[Edge], lines: LineColours, scale: float, picture_top: int | None) -> Quad:
    """``quad`` with its top moved up and its bottom down to the farthest edges of its colour (the top also to the
    picture's top row ``picture_top``) that both its sides run on to as lines; unchanged where they do not."""
    top, bottom, at = quad.top, quad.bottom, quad.x_at

    def runs_on(y_from: float, y_to: float) -> bool:  # both sides are lines from row y_from to row y_to
        ends = [((at(side, y_from), y_from), (at(side, y_to), y_to)) for side in (quad.left, quad.right)]
        found = sides(lines, top.colour, ends, scale)
        reach = max(RUN_ON_REACH, RUN_ON_REACH * scale)
        return all(
            side is not None and abs(side[0] - a[0]) <= reach and abs(side[1] - b[0]) <= reach
            for side, (a, b) in zip(found, ends, strict=True)
        )

    gap = max(MIN_BOX_SIDE, CORNER_REACH * scale)  # an edge closer than this is the same line, or its shadow
    above = (e for e in sorted(edges, key=lambda e: e.y) if e.y < top.y - gap)
    new_top = next((e for e in above if quad.spanned_by(e, lines) and runs_on(e.y, top.y)), None)
    if new_top is None and picture_top is not None and top.y - picture_top > gap:
        skin = picture_top + SKIN_MARGIN * scale
        if runs_on(skin, top.y):
            xl, xr = at(quad.left, picture_top), at(quad.right, picture_top)
            new_top = Edge(float(picture_top), 1, ((round(xl), round(xr)),), top.colour, round(xr - xl))
    below = (e for e in sorted(edges, key=lambda e: -e.y) if e.y > bottom.y + gap)
    new_bottom = next((e for e in below if quad.spanned_by(e, lines) and runs_on(bottom.y, e.y)), None)
    if new_top is None and new_bottom is None:
        return quad
    return quad.between(new_top or top, new_bottom or bottom)


def find_straight_outlines(planes: Planes, flow: np.ndarray, picture: Rect | None = None) -> list[OutlineCandidate]:
    """Rectangle, parallelogram and trapezoid outlines of any colour (grey over speckle too) around a share of the
    ``flow (H, W) bool``, the clearest first. Without one, and given the ``picture``'s rectangle: a box drawn from
    the skin line, whose top line is lost in the bright skin line at the picture's top, or taken down to the
    picture's bottom; either may also be taken to the picture's left or right border.

    Lines are 1-3 rows thick; where none makes an outline on a large screen, lines up to as much thicker as the
    screen is larger than 640 px are tried (a scanner's 1-2 px outline in a capture at two to five times its size).
    Only then: a thicker line also takes in flat bright tissue rows beside a thin one, which would move its edge."""
    scale, min_area, _, _ = box_sizes(planes)
    min_side = max(MIN_BOX_SIDE, int(np.sqrt(min_area)) // 2)
    still = None
    if planes.frames.shape[0] > 1:
        still = cv2.max(cv2.max(planes.frames[-1][..., 0], planes.frames[-1][..., 1]), planes.frames[-1][..., 2])
    lines = LineColours(planes.frame)  # one match plane per line colour, shared by every search below
    flow_points = Flow.of(flow)
    outlines = partial(
        _outlines, planes=planes, lines=lines, flow=flow_points, scale=scale, min_side=min_side, picture=picture
    )
    found = outlines(find_edges(planes.value, planes.frame, scale, still))
    thick = round(MAX_LINE_ROWS * scale)
    if not found and thick > MAX_LINE_ROWS:
        edges = find_edges(planes.value, planes.frame, scale, still, max_rows=thick)
        found = outlines(edges)
    return found


def _outlines(
    edges: list[Edge],
    *,
    planes: Planes,
    lines: LineColours,
    flow: Flow,
    scale: float,
    min_side: int,
    picture: Rect | None,
) -> list[OutlineCandidate]:
    """The outlines the ``edges`` make (:func:`find_straight_outlines`), the clearest first."""
    height, width = planes.shape
    found = []
    quads, bordered = _quads(lines, edges, scale, min_side, flow, picture)
    if not quads:  # lines drawn at one exact level, their sides a little brighter than the tissue they cross
        exact = [edge for edge in edges if exact_edge(planes.value, edge)]
        if len(exact) >= 2:
            quads = _quads(LineColours(planes.frame, EXACT_TOLERANCE), exact, scale, min_side, flow, picture)[0]
    if quads:
        top = None if picture is None else picture[1]
        quads = [(score, _run_on(quad, edges, lines, scale, top)) for score, quad in quads]
    elif picture is not None:  # a line lost at the picture's top or bottom, then a side on its left or right
        hidden = partial(hidden_edge_quads, lines, edges, scale, min_side, flow, picture)
        top, bottom = picture[1], picture[3] - 1
        quads = hidden(top) or hidden(bottom) or bordered or hidden(top, True) or hidden(bottom, True)
    for score, quad in quads:
        box = _quad_box(quad, width, height, picture)
        if box is not None:
            found.append((score, box))
    return [describe_interior(box, planes) for box in clearest(found)]
