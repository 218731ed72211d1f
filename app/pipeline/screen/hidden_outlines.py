"""Doppler boxes one of whose lines is lost at the picture's top or bottom row: a box started at the skin, whose top
line lies in the bright skin line, or one taken down to the picture's bottom. One edge shown, two sides from its ends
to the picture's row, and the line moved back to one the frame does show where the sides run past it."""

from __future__ import annotations

import numpy as np

from app.pipeline.geometry import Rect
from app.pipeline.screen.line_colours import MIN_SIDE_SHARE, LineColours
from app.pipeline.screen.line_edges import CORNER_REACH, Edge
from app.pipeline.screen.quads import MAX_SIDE_SLOPE, MIN_BORDER_FLOW, Flow, Quad, at_border, border_side
from app.pipeline.screen.straight_sides import COARSE_SAMPLES, along_edge, sides

HIDDEN_EDGES = 4  # longest edges tried as one side of a box whose other lies on the picture's top or bottom row
HIDDEN_LEANS = 3  # leans of the two sides checked in full, the best of a coarse search


def hidden_edge_quads(
    lines: LineColours,
    edges: list[Edge],
    scale: float,
    min_side: int,
    flow: Flow,
    picture: Rect,
    far_y: int,
    borders: bool = False,
) -> list[tuple]:
    """``(score, quad)`` of boxes whose top or bottom lies on the picture's top or bottom row ``far_y``, where its
    line is lost (many scanners start the box at the skin, and the skin line is as bright as the outline; a box
    taken down to the picture's bottom loses its bottom line at the picture's edge): one of the longest edges on
    the other side of the box, and two sides in its colour from its ends to ``far_y``, leaning alike (a rectangle
    or a steered parallelogram). A side is the picture's own left or right border where the edge runs to it and
    no line does (a box taken to the picture's side), with ``borders`` and only around flow (MIN_BORDER_FLOW); the
    other side is then a line. The sides' lean is found coarsely for both at once, then the best few are checked
    in full."""
    found = []
    stride = 2 * max(1, round(scale))
    below = far_y > picture[1]  # the hidden line is the box's bottom
    for edge in sorted(edges, key=lambda e: -e.length)[:HIDDEN_EDGES]:
        height = abs(edge.y - far_y)
        x0, x1 = edge.ends[0][0], edge.ends[-1][1]
        inside = picture[1] - CORNER_REACH * scale <= edge.y <= picture[3] + CORNER_REACH * scale
        if height < min_side or x1 - x0 < min_side or (edge.y < far_y) != below or not inside:
            continue  # a banner's or a panel's edge beyond the picture is no box line
        reach = MAX_SIDE_SLOPE * height
        y0, y1 = sorted((edge.y, far_y))
        if not flow.held((flow.xs > x0 - reach) & (flow.xs < x1 + reach) & (flow.ys > y0) & (flow.ys < y1)):
            continue
        border = [
            borders and flow.xs.size >= MIN_BORDER_FLOW and at_border(picture, end, x, scale)
            for end, x in enumerate((x0, x1))
        ]
        leans = _leans(lines, edge, far_y, reach, scale, border)
        # both sides of every lean in one search (a left side that fails leaves its right one unused)
        ends = [((x + lean, far_y), (x, edge.y))[:: -1 if below else 1] for lean, xl, xr in leans for x in (xl, xr)]
        checked = sides(lines, edge.colour, ends, scale)
        best = None
        for left, right in zip(checked[0::2], checked[1::2], strict=True):
            if left is None and border[0] and right is not None:
                left = border_side(picture, 0, right[2])
            elif right is None and border[1] and left is not None:
                right = border_side(picture, 1, left[2])
            elif left is None or right is None or abs((left[0] - left[1]) - (right[0] - right[1])) > 2 * stride:
                continue
            if min(right[0] - left[0], right[1] - left[1]) < min_side:
                continue
            at_edge, at_far = ((left[0], right[0]), (left[1], right[1]))[:: 1 if below else -1]
            if along_edge(lines, edge, *at_edge) < MIN_SIDE_SHARE:
                continue
            score = min(left[2], right[2])
            if best is None or score > best[0]:
                hidden = Edge(float(far_y), 1, ((round(at_far[0]), round(at_far[1])),), edge.colour,
                              round(at_far[1] - at_far[0]))  # fmt: skip
                top, bottom = (edge, hidden) if below else (hidden, edge)
                best = (score, Quad(top, bottom, left[:2], right[:2]))
        if best is not None:
            found.append((best[0], _shown_line(best[1], edges, lines, below, min_side, scale)))
    return found


def _shown_line(quad: Quad, edges: list[Edge], lines: LineColours, below: bool, min_side: int, scale: float) -> Quad:
    """``quad`` (its bottom hidden when ``below``, else its top) with that line moved to an edge of its colour
    that ends where the sides cross its row, nearest the picture's row, where there is one: the box's own line,
    shown, which the sides found ran on past (a tissue line across the box runs on past its sides)."""
    shown, hidden = (quad.top, quad.bottom) if below else (quad.bottom, quad.top)
    reach = CORNER_REACH * scale
    between = [
        e
        for e in edges
        if abs(e.y - shown.y) >= min_side
        and (shown.y < e.y < hidden.y if below else hidden.y < e.y < shown.y)
        and abs(e.ends[0][0] - quad.x_at(quad.left, e.y)) <= reach
        and abs(e.ends[-1][1] - quad.x_at(quad.right, e.y)) <= reach
        and quad.spanned_by(e, lines)
    ]
    if not between:
        return quad
    line = max(between, key=lambda e: e.y) if below else min(between, key=lambda e: e.y)
    return quad.between(shown, line) if below else quad.between(line, shown)


def _leans(
    lines: LineColours, edge: Edge, far_y: int, reach: float, scale: float, border: list[bool]
) -> list[tuple[float, float, float]]:
    """``(lean, x_left, x_right)``: the HIDDEN_LEANS leans (x at ``far_y`` minus x at the edge) at which two lines
    from near the ends of ``edge`` to ``far_y`` are most in its colour (the lesser of the two sides' shares; the
    one side's share where the other end lies on the picture's border, ``border`` for left and right), at least 2
    strides apart, with where each side meets the edge's row. A side may meet it up to CORNER_REACH px inside the
    edge's end, or beyond the end by up to the edge's length (a codec can break the far part of a thin line into
    pieces of another grey, which the edge does not take in); the nearest of equal matches wins."""
    stride = 2 * max(1, round(scale))
    half = stride // 2  # matches widened by half a stride: a 1-px line is never stepped over
    rows = np.linspace(far_y, edge.y, COARSE_SAMPLES + 2)[1:-1].round().astype(int)
    t = (rows - far_y) / (edge.y - far_y)  # (K,): 0 at the far row, 1 at the edge
    leans = np.arange(-reach, reach + 0.5, stride)  # (L,)
    slope = leans[None, :, None] * (1 - t)[None, None, :]  # (1, L, K)
    x0, x1 = edge.ends[0][0], edge.ends[-1][1]
    inward, outward = CORNER_REACH * scale, max(CORNER_REACH * scale, x1 - x0)
    shares = []
    for at, end, step in ((np.arange(x0 + inward, x0 - outward - 0.5, -stride), x0, -stride),
                          (np.arange(x1 - inward, x1 + outward + 0.5, stride), x1, stride)):  # fmt: skip
        share = lines.shifted_matches(edge.colour, rows, at[0], slope[0], step, at.size, half)  # (P, L)
        nearest = np.argmax(share - 1e-6 * np.abs(at - end)[:, None], axis=0)  # (L,)
        shares.append((share.max(axis=0), at[nearest]))
    both = np.minimum(shares[0][0], shares[1][0])  # (L,)
    share = np.maximum.reduce([both] + [shares[1 - k][0] for k in (0, 1) if border[k]])
    chosen: list[tuple[float, float, float]] = []
    for i in np.argsort(-share):
        if share[i] < MIN_SIDE_SHARE or len(chosen) == HIDDEN_LEANS:
            break
        if all(abs(leans[i] - c[0]) > 2 * stride for c in chosen):
            chosen.append((float(leans[i]), float(shares[0][1][i]), float(shares[1][1][i])))
    return chosen
