"""Horizontal edges of drawn lines of any colour: the tops and bottoms of straight Doppler box outlines.

A thin grey line over B-mode speckle is no colour of its own: thresholds cannot lift it out of the speckle. What
sets it apart is that it is straight and of one level: along a horizontal edge (the top and bottom of a
rectangle, parallelogram or trapezoid) neighbouring pixels keep one level for a long run while speckle changes
within a few pixels. The runs give the edges and their colour (``find_edges``); ``straight_outlines`` pairs them
and checks the sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

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
SHORT_ROW = 0.5  # a stacked row shorter than this share of the stack's longest row may be a piece of tissue beside it
# Mean brightness step from a line to the rows just above and below it (half of it at least on each side): a
# drawn line differs from the speckle around it by 40-60 levels on average, a smooth streak of speckle by 10-25.
MIN_ACROSS = 28
MAX_RUN_COLOUR = 16  # ... between the runs joined into one edge (a drawn line is one colour along its length)
CORNER_REACH = 16  # px at 640 around an edge's end where a side's end is looked for (codecs break the ends)
MAX_EDGES = 16  # longest edges paired: a box's top and bottom are among the longest straight runs on screen


@dataclass(frozen=True)
class Edge:
    """Horizontal runs of one colour on (about) one row: ``y`` the centre row, ``ends`` the runs' (x0, x1) inclusive."""

    y: float
    rows: int
    ends: tuple[tuple[int, int], ...]
    colour: np.ndarray  # (3,) int16
    length: int


def find_edges(
    value: np.ndarray, rgb: np.ndarray, scale: float, still: np.ndarray | None = None, max_rows: int = MAX_LINE_ROWS
) -> list[Edge]:
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
    # (the middle rows of a thicker line from the rows just past its half-thickness)
    across = [np.maximum(*_steps_beside(value, rows, starts, stops, d)) for d in range(1, (max_rows + 3) // 2)]
    keep = (np.max(across, axis=0) >= MIN_ACROSS) & (_run_spread(value, rows, starts, stops) <= MAX_RUN_SPREAD)
    segments = _row_segments(rgb, rows[keep], starts[keep], stops[keep], scale)
    lines = []  # (length, group, ends): stacks of one line's rows, the longest checked first
    for group in _stacked(segments):
        group = _trimmed(group, max_rows)
        top, bottom = group[0][0], group[-1][0]
        if bottom - top + 1 > max_rows:
            continue  # a flat patch: a panel, a bar, saturated tissue
        ends = _merged(sorted(span for g in group for span in g[1]))
        lines.append((sum(b - a + 1 for a, b in ends), group, ends))
    lines.sort(key=lambda line: -line[0])
    edges: list[Edge] = []
    for length, group, ends in lines:
        top, bottom = group[0][0], group[-1][0]
        lengths = [sum(b - a + 1 for a, b in g[1]) for g in group]
        total = sum(lengths)
        colour = np.rint(np.asarray(lengths, np.float64) @ np.array([g[2] for g in group]) / total).astype(np.int16)
        x0, x1 = ends[0][0], ends[-1][1]
        level = int(colour.max())
        # a row of the line left out of it (its run went on past the line's end over flat tissue, and spread there)
        # is taken back where it keeps the line's level along most of the line, as far as a line may be thick
        extra = []
        for r, outward in ((top - 1, -1), (bottom + 1, 1)):
            while 0 <= r < value.shape[0] and bottom - top + 1 < max_rows and _at_level(value, r, x0, x1, level):
                extra.append(r)
                top, bottom = min(top, r), max(bottom, r)
                r += outward
        beside = [r for r in (top - 1, bottom + 1) if 0 <= r < value.shape[0]]
        steps = [float(_off_level(value, r, x0, x1, level).mean()) for r in beside]
        # a line drawn at one exact level over a long run needs less contrast with the speckle around it: speckle
        # never keeps one level that long (a faint grey outline a little brighter than the tissue)
        # (the exactness test, the costly one, only where it decides: between the two contrasts)
        if not _contrasted(steps, MIN_ACROSS) and (
            not _contrasted(steps, EXACT_ACROSS_FACTOR * MIN_ACROSS) or not _exact(value, group)
        ):
            continue  # smooth speckle, not a line drawn over it
        span = x1 - x0 + 1
        weighted = sum(g[0] * n for g, n in zip(group, lengths, strict=True)) + span * sum(extra)
        centre = weighted / (total + span * len(extra))
        edges.append(Edge(centre, bottom - top + 1, ends, colour, length))
        if len(edges) == MAX_EDGES:
            break
    return edges


def exact_edge(value: np.ndarray, edge: Edge) -> bool:
    """Whether ``edge`` keeps one exact level along its runs (:func:`_one_level`, on its centre row or the one
    next to it): a line drawn into a lossless frame."""
    return any(_one_level(value, row, edge.ends) for row in {int(np.floor(edge.y)), int(np.ceil(edge.y))})


def _off_level(value: np.ndarray, row: int, x0: int, x1: int, level: int) -> np.ndarray:
    """Brightness difference of ``row``'s pixels ``x0 .. x1`` from ``level``."""
    return np.abs(value[row, x0 : x1 + 1].astype(np.int16) - level)


def _at_level(value: np.ndarray, row: int, x0: int, x1: int, level: int) -> bool:
    """Whether ``row`` keeps ``level`` along ``x0 .. x1``: EXACT_SHARE of its pixels within MAX_RUN_COLOUR of it."""
    return bool(np.mean(_off_level(value, row, x0, x1, level) <= MAX_RUN_COLOUR) >= EXACT_SHARE)


def _contrasted(steps: list[float], across: float) -> bool:
    """Whether a line's mean steps to the rows beside it are ``across`` on average, and half of it on each side."""
    return sum(steps) >= across * len(steps) and min(steps) >= 0.5 * across


def _exact(value: np.ndarray, group: list) -> bool:
    """Whether each row of a stacked line keeps one level (:func:`_one_level`)."""
    return all(_one_level(value, row, spans) for row, spans, _ in group)


def _one_level(value: np.ndarray, row: int, spans) -> bool:
    """Whether ``row``'s pixels in ``spans`` (``(first, last)`` inclusive) keep one level: EXACT_SHARE of them
    within EXACT_LEVELS of their median (the runs may take in a stretch of flat speckle at their ends)."""
    pixels = np.concatenate([value[row, a : b + 1] for a, b in spans]).astype(np.int16)
    return bool(np.mean(np.abs(pixels - np.median(pixels)) <= EXACT_LEVELS) >= EXACT_SHARE)


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


def _trimmed(group: list, max_rows: int) -> list:
    """A stack of more than ``max_rows`` rows without its first and last rows while they are short pieces (under
    SHORT_ROW of the stack's longest row): a flat stretch of tissue on the row beside a line, stacked onto it, is
    no row of the line. A flat patch (a panel, a bar) keeps its rows, all long, and stays too thick."""
    lengths = [sum(b - a + 1 for a, b in spans) for _, spans, _ in group]
    longest, first, last = max(lengths), 0, len(group)
    while last - first > max_rows and lengths[first] < SHORT_ROW * longest:
        first += 1
    while last - first > max_rows and lengths[last - 1] < SHORT_ROW * longest:
        last -= 1
    return group[first:last]


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
