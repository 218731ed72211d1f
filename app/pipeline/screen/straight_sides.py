"""The sides and edges of straight box outlines checked against the pixels: where the line between two ends best
matches a line colour, and how clearly it shows (``line_colours.line_scores``), for the search for straight boxes
(``straight_outlines``); the sector search (``sector_outlines``) samples its sides as finely."""

from __future__ import annotations

import numpy as np

from app.pipeline.screen.line_colours import CONTROL_OFFSET, LineColours, line_scores
from app.pipeline.screen.line_edges import CORNER_REACH, Edge

SIDE_SAMPLES = 160  # rows sampled along a side
COARSE_SAMPLES = 40  # ... in the first, coarse search


def side_line(
    lines: LineColours, colour: np.ndarray, top: tuple[float, float], bottom: tuple[float, float], scale: float
):
    """The straight side between an edge end ``top (x, y)`` and ``bottom (x, y)``: ``(x_top, x_bottom, score)`` of
    the line that best matches ``colour`` with each end moved up to CORNER_REACH px, or None when no line is there.
    """
    return sides(lines, colour, [(top, bottom)], scale)[0]


def sides(lines: LineColours, colour: np.ndarray, ends: list, scale: float) -> list:
    """:func:`side_line` for each ``(top, bottom)`` of ``ends`` (sides of one colour), all searched at once: the same
    stages on arrays with a row per side (a short side's rows padded and left out of its counts), which costs a
    few whole-array passes instead of a few dozen small ones per side."""
    out: list = [None] * len(ends)
    margin = 2 + round(scale)  # rows near the corners belong to the edges too
    first = np.array([int(np.ceil(top[1])) + margin for top, _ in ends], dtype=np.intp)
    count = np.array([int(np.floor(bottom[1])) - margin + 1 for _, bottom in ends], dtype=np.intp) - first
    todo = np.flatnonzero(count >= 4).tolist()
    if not todo:
        return out
    first, count = first[todo], count[todo]
    xt = np.array([float(ends[k][0][0]) for k in todo])
    xb = np.array([float(ends[k][1][0]) for k in todo])
    yt = np.array([float(ends[k][0][1]) for k in todo])
    yb = np.array([float(ends[k][1][1]) for k in todo])
    step = max(1, round(scale))
    # coarse steps of 2 * step against matches widened by step (a 1-px line is never stepped over), then 1-px
    # steps, then half-px steps on more rows; the last stage's best line is the side
    stages = (
        (COARSE_SAMPLES, round(CORNER_REACH * scale), 2 * step, step),
        (COARSE_SAMPLES, step, 1.0, 0),
        (SIDE_SAMPLES, 1.0, 0.5, 0),
    )
    # the columns any stage may reach beyond the frame (each moves the ends by its spread at most), repeated beside
    # it as the one-side search clips them, and a row of no matches below it for the rows that pad short sides
    spreads = sum(stage[1] for stage in stages) + 1
    pad = int(
        np.ceil(max(0.0, spreads - min(xt.min(), xb.min()), max(xt.max(), xb.max()) + spreads - lines.shape[1] + 1))
    )
    for samples, spread, stride, reach in stages:
        rows, valid = _sampled_rows(first, count, samples)  # (N, K), rows -1 past a side's own
        t = (np.maximum(rows, first[:, None]) - yt[:, None]) / (yb - yt)[:, None]  # padding: on the line
        shifts = np.arange(-spread, spread + 0.25, stride)
        x_top = xt[:, None, None, None] + shifts[None, :, None, None]  # (N, S, 1, 1)
        x_bottom = xb[:, None, None, None] + shifts[None, None, :, None]  # (N, 1, S, 1)
        xs = x_top + (x_bottom - x_top) * t[:, None, None, :]  # (N, S, S, K)
        hits = lines.counts(colour, rows[:, None, None, :], xs, reach, pad)
        best = np.argmax(hits.reshape(len(todo), -1), axis=1)  # the first of equal counts, as one side's search
        i, j = np.divmod(best, shifts.size)
        xt, xb = xt + shifts[i], xb + shifts[j]
    xs = xs[np.arange(len(todo)), i, j]  # (N, K): the chosen lines
    offset = max(CONTROL_OFFSET, round(CONTROL_OFFSET * scale))
    rows = np.maximum(rows, 0)  # the padding's matches are cut off below
    on = lines.matches(colour, rows, xs)
    beside = [lines.matches(colour, rows, xs + d) for d in (-offset, offset)]
    scores = line_scores(on, beside, np.count_nonzero(valid, axis=1))
    for n, k in enumerate(todo):
        out[k] = None if scores[n] is None else (float(xt[n]), float(xb[n]), scores[n])
    return out


def _sampled_rows(first: np.ndarray, count: np.ndarray, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """``(N, K)`` rows sampled evenly along each side's ``count`` rows from row ``first`` (both ``(N,)`` ints), up
    to ``samples`` of each (the points ``np.linspace(0, count - 1, ...)`` rounds to, computed as it does), and
    which of them are a side's own; a side with fewer is padded with row -1."""
    taken = np.minimum(count, samples)
    k = np.arange(taken.max())[None, :]
    at = k * ((count - 1) / (taken - 1))[:, None]
    last = k == (taken - 1)[:, None]
    at[last] = np.broadcast_to((count - 1)[:, None], at.shape)[last]
    valid = k < taken[:, None]
    return np.where(valid, first[:, None] + at.round().astype(np.intp), -1), valid


def along_edge(lines: LineColours, edge: Edge, x0: float, x1: float) -> float:
    """Share of the edge's row between ``x0`` and ``x1`` in the edge's colour (best of its rows)."""
    xs = np.arange(int(np.ceil(x0)), int(np.floor(x1)) + 1)
    if xs.size == 0:
        return 0.0
    rows = {int(np.floor(edge.y)), int(np.ceil(edge.y))}
    return max(float(lines.matches(edge.colour, np.array(r), xs).mean()) for r in rows if 0 <= r < lines.shape[0])
