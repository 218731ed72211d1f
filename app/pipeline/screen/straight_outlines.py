"""Doppler box outlines of any colour made of straight lines (rectangles, parallelograms, trapezoids): long flat
horizontal runs paired as top and bottom edges, each side then checked against the pixels along it and beside it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

from app.pipeline.screen.doppler_box import (
    MIN_BOX_SIDE,
    MIN_FLOW_HELD,
    DopplerBox,
    OutlineCandidate,
    box_sizes,
    clearest,
    describe_interior,
    fit_interior,
)
from app.pipeline.screen.planes import Planes

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
# Brightness spread (standard deviation) along a run of a drawn line: one level, give or take what a codec adds;
# a streak of speckle drifts by 15 levels or more within the few-px steps that the flatness test lets through.
MAX_RUN_SPREAD = 15
# A line whose rows keep one level (EXACT_SHARE of the pixels within EXACT_LEVELS of it) needs only
# EXACT_ACROSS_FACTOR of MIN_ACROSS of contrast with the rows beside it.
EXACT_LEVELS = 3
EXACT_SHARE = 0.8
EXACT_ACROSS_FACTOR = 0.5
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
    # a line differs from speckle on one side at least (two-px lines); the middle row of a three-px line only from
    # the rows two px off
    across = [np.maximum(*_steps_beside(value, rows, starts, stops, d)) for d in range(1, MAX_LINE_ROWS)]
    keep = (np.max(across, axis=0) >= MIN_ACROSS) & (_run_spread(value, rows, starts, stops) <= MAX_RUN_SPREAD)
    segments = _row_segments(rgb, rows[keep], starts[keep], stops[keep], scale)
    lines = []  # (length, group, ends): stacks of one line's rows, the longest checked first
    for group in _stacked(segments):
        top, bottom = group[0][0], group[-1][0]
        if bottom - top + 1 > max_rows:
            continue  # a flat patch: a panel, a bar, saturated tissue
        ends = _merged(sorted(span for g in group for span in g[1]))
        lines.append((sum(b - a + 1 for a, b in ends), group, ends))
    lines.sort(key=lambda line: -line[0])
    edges: list[_Edge] = []
    for length, group, ends in lines:
        top, bottom = group[0][0], group[-1][0]
        lengths = [sum(b - a + 1 for a, b in g[1]) for g in group]
        total = sum(lengths)
        colour = np.rint(np.asarray(lengths, np.float64) @ np.array([g[2] for g in group]) / total).astype(np.int16)
        x0, x1 = ends[0][0], ends[-1][1]
        level = int(colour.max())
        beside = [r for r in (top - 1, bottom + 1) if 0 <= r < value.shape[0]]
        steps = [float(np.abs(value[r, x0 : x1 + 1].astype(np.int16) - level).mean()) for r in beside]
        # a line drawn at one exact level over a long run needs less contrast with the speckle around it: speckle
        # never keeps one level that long (a faint grey outline a little brighter than the tissue)
        across = MIN_ACROSS * (EXACT_ACROSS_FACTOR if _exact(value, group) else 1.0)
        if sum(steps) < across * len(steps) or min(steps) < 0.5 * across:
            continue  # smooth speckle, not a line drawn over it
        centre = sum(g[0] * n for g, n in zip(group, lengths, strict=True)) / total
        edges.append(_Edge(centre, bottom - top + 1, ends, colour, length))
        if len(edges) == MAX_EDGES:
            break
    return edges


def _exact(value: np.ndarray, group: list) -> bool:
    """Whether each row of a stacked line keeps one level: EXACT_SHARE of its pixels within EXACT_LEVELS of the
    row's median (the runs may take in a stretch of flat speckle at their ends)."""
    for row, spans, _ in group:
        pixels = np.concatenate([value[row, a : b + 1] for a, b in spans]).astype(np.int16)
        if np.mean(np.abs(pixels - np.median(pixels)) <= EXACT_LEVELS) < EXACT_SHARE:
            return False
    return True


def _run_spread(value: np.ndarray, rows: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Standard deviation of the brightness along each run (pixels ``starts .. stops`` of ``rows``)."""
    total, squares = cv2.integral2(value, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)  # (H + 1, W + 1) each
    n = (stops - starts + 1).astype(np.float64)
    a, b = starts, stops + 1

    def along(table: np.ndarray) -> np.ndarray:
        return (table[rows + 1, b] - table[rows, b] - table[rows + 1, a] + table[rows, a]) / n

    mean = along(total)
    variance = along(squares) - mean * mean
    return np.sqrt(np.maximum(variance, 0.0))


def _steps_beside(value: np.ndarray, rows: np.ndarray, starts: np.ndarray, stops: np.ndarray, distance: int = 1):
    """Mean brightness step from each run (pixels ``starts .. stops`` of ``rows``) to the row ``distance`` above
    and below (none past the frame's first and last rows)."""
    out = []
    for other in (-distance, distance):
        shifted = value.copy()  # shifted[y] = value[y + other], value[y] itself where y + other is off the frame
        if other < 0:
            shifted[-other:] = value[:other]
        else:
            shifted[:-other] = value[other:]
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


def colour_tolerance(colour) -> int:
    """How far (max channel difference) a pixel of a line of ``colour`` may stray from it."""
    return MATCH_TOLERANCE if int(max(colour)) - int(min(colour)) > GREY_CHROMA else GREY_TOLERANCE


class LineColours:
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
                tolerance = colour_tolerance(key)
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


def _side(lines: LineColours, colour: np.ndarray, top: tuple[float, float], bottom: tuple[float, float], scale: float):
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
    score = line_score(lines.matches(colour, rows, xs), beside)
    return None if score is None else (xt, xb, score)


def line_score(on: np.ndarray, beside: list[np.ndarray]) -> float | None:
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


def _along_edge(lines: LineColours, edge: _Edge, x0: float, x1: float) -> float:
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


def _quads(rgb: np.ndarray, edges: list[_Edge], scale: float, min_side: int, flow: Flow) -> list[tuple]:
    """``(score, quad)`` of the quads whose top and bottom are ``edges``, that can hold the ``flow``, and whose two
    sides the pixels confirm (the score: how clearly the sides show)."""
    lines = LineColours(rgb)
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
class Flow:
    """The flow seen on screen, as points: a Doppler box holds at least MIN_FLOW_HELD of it."""

    xs: np.ndarray
    ys: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray) -> Flow:
        ys, xs = np.nonzero(mask)
        return cls(xs.astype(np.float64), ys.astype(np.float64))

    def held(self, inside: np.ndarray) -> bool:
        """Whether the points where ``inside`` is True are enough of the flow."""
        return np.count_nonzero(inside) >= MIN_FLOW_HELD * self.xs.size


def find_straight_outlines(planes: Planes, flow: np.ndarray) -> list[OutlineCandidate]:
    """Rectangle, parallelogram and trapezoid outlines of any colour (grey over speckle too) around a share of the
    ``flow (H, W) bool``, the clearest first."""
    height, width = planes.shape
    scale, min_area, _, _ = box_sizes(planes)
    still = None
    if planes.frames.shape[0] > 1:
        still = cv2.max(cv2.max(planes.frames[-1][..., 0], planes.frames[-1][..., 1]), planes.frames[-1][..., 2])
    edges = _edges(planes.value, planes.frame, scale, still)
    min_side = max(MIN_BOX_SIDE, int(np.sqrt(min_area)) // 2)
    found = []
    for score, quad in _quads(planes.frame, edges, scale, min_side, Flow.of(flow)):
        box = _quad_box(quad, width, height)
        if box is not None:
            found.append((score, box))
    return [describe_interior(box, planes) for box in clearest(found)]
