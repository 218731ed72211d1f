"""The tick marks of a depth scale: the bands beside the picture, the marks in them, and the regular lattice a
column of them fits (``depth_scale`` decides from them, with the labels, how many mm a pixel is).

Marks are small bright shapes (a white top-hat along y keeps what is no taller than a tick); what lies above and
below a mark must be the screen's dark background, told by its luma, unless the mark is nearly white (a tick
drawn on the picture). Columns are marks sharing an end or a centre; their centres must fit ``y = a + k p``
(``fit``), with checks on fill, spread, span, likeness and darkness between the ticks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from app.pipeline.screen.depth_digits import digit_scores, glyph_shape

__all__ = ["DARK", "MIN_TICKS", "Band", "Column", "Lattice", "fit", "planes"]

MIN_TICKS = 4  # lattice nodes holding a tick (three intervals at least: a 1.5-2 cm picture ticked every 0.5 cm)
OFF_PICTURE_BELOW = 5  # a column of fewer ticks than this must stand on the dark background, not on the speckle
EXPLAINED = 0.5  # share of the column's marks within the lattice's rows that must lie on it
MIN_FILL = 0.7  # share of the lattice nodes between the first and the last tick that hold one
MAX_NODE_GAP = 2  # nodes from one tick to the next at most (one empty node between) at a column's ends
MAX_SPREAD = 0.5  # rms px the ticks lie off the lattice (rows rounded to whole px: ~0.3), plus 0.5 % of the spacing
TOLERANCE = 1.2  # px a tick may lie off its node (or 3 % of the spacing)
BETWEEN = 0.5  # grey level between the ticks, in their columns, at most this share of the ticks' (noise is even)
BUSY = 600  # marks in a band beyond which only those on the dark background are kept (texture, not a scale)
MAX_COLUMN = 80  # marks in a column beyond which it is texture, not a scale (80 ticks: 1 mm over 8 cm)
DOMINANT = 0.6  # share of the bright marks in a column's box that must be its ticks
ALIKE = 0.8  # share of the ticks that must be of one thickness and of one of two lengths
MIN_SPAN = 0.35  # the ticks span at least this share of the picture's height
MARK_CONTRAST = 40  # grey levels a tick stands above what lies just above and below it
DARK = 32  # luma below which what lies above and below a mark is the screen's dark background (black, or the
# dark blue or grey panel of some interfaces: their brightest channel may read 40-60, their luma 20-30)
ON_DARK_RING = 0.8  # share of the pixels around a shape that must be the dark background for it to stand on it
ON_PICTURE_LEVEL = 220  # grey level of a tick drawn on the picture (speckle beside it is mostly darker)
TEXT_LEVEL = 64  # grey level above which label text is looked for (labels stand on the dark screen)
MIN_PERIOD = 5.0  # px between ticks at least


def planes(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(h, w) uint8`` max(R, G, B) and luma (BT.601) of the median of the first, middle and last of ``frames``
    (speckle moving under ticks drawn on the picture falls away; a still's one frame is taken as it is).

    The median is taken on the colour frames seen as ``(h, 3 w)`` planes (OpenCV's min and max are several
    times faster there than per channel), then the brightest channel and the luma once.
    """
    n, h, w = frames.shape[:3]
    picked = [np.ascontiguousarray(frames[i]).reshape(h, 3 * w) for i in sorted({0, n // 2, n - 1})]
    if len(picked) == 3:  # median of three: max(min(a, b), min(max(a, b), c))
        a, b, c = picked
        median = cv2.max(cv2.min(a, b), cv2.min(cv2.max(a, b), c))
    else:
        median = picked[0]
    rgb = median.reshape(h, w, 3)
    r, g, b = cv2.split(rgb)
    return cv2.max(cv2.max(r, g), b), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _boxes(mask: np.ndarray) -> np.ndarray:
    """``(K, 4) float`` half-open x0, y0, x1, y1 of the 8-connected pieces of ``mask``: outer contours (much
    faster than connected-component statistics on mostly empty planes), boxed all at once."""
    contours = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
    if not contours:
        return np.zeros((0, 4))
    points = np.concatenate(contours).reshape(-1, 2)
    starts = np.zeros(len(contours), np.intp)
    np.cumsum([len(c) for c in contours[:-1]], out=starts[1:])
    boxes = np.empty((len(contours), 4))
    boxes[:, 0] = np.minimum.reduceat(points[:, 0], starts)
    boxes[:, 1] = np.minimum.reduceat(points[:, 1], starts)
    boxes[:, 2] = np.maximum.reduceat(points[:, 0], starts) + 1
    boxes[:, 3] = np.maximum.reduceat(points[:, 1], starts) + 1
    return boxes


@dataclass(frozen=True)
class Lattice:
    a: float  # y of node 0 (band px)
    p: float  # spacing, px
    k: np.ndarray  # node of each tick (int, from 0)
    index: np.ndarray  # which marks of the column are ticks
    spread: float  # rms distance from the lattice, px


@dataclass(frozen=True)
class Column:
    marks: np.ndarray  # (M, 4) x0, y0, x1, y1 in band px, by centre y
    lattice: Lattice
    members: np.ndarray  # their indices among the band's marks

    @property
    def ticks(self) -> np.ndarray:
        return self.marks[self.lattice.index]


class Band:
    """One side of the picture: its brightness plane, tick marks and glyphs (band px; ``x0``, ``y0`` place it)."""

    def __init__(self, side: str, x0: int, y0: int, value: np.ndarray, luma: np.ndarray, height: int) -> None:
        self.side, self.x0, self.y0, self.value, self.luma = side, x0, y0, value, luma
        thick = max(3, round(height / 200))  # the thickest tick looked for
        self.thick, self.height = thick, height
        text_max = max(28, round(0.06 * height))  # the tallest label glyph looked for
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (1, 2 * thick + 1))
        tophat = cv2.morphologyEx(value, cv2.MORPH_TOPHAT, kernel)
        mask = cv2.threshold(tophat, MARK_CONTRAST, 255, cv2.THRESH_BINARY)[1]
        # on the picture (what lies above and below is not dark) a tick must also be bright to be told from speckle
        below = cv2.morphologyEx(luma, cv2.MORPH_OPEN, kernel)  # what lies above and below, as bright as it looks
        plain = cv2.threshold(below, DARK, 255, cv2.THRESH_BINARY_INV)[1]
        mask &= plain | cv2.threshold(value, ON_PICTURE_LEVEL - 1, 255, cv2.THRESH_BINARY)[1]
        marks = _boxes(mask)
        bright = _boxes(cv2.threshold(value, TEXT_LEVEL, 255, cv2.THRESH_BINARY)[1])
        bh = bright[:, 3] - bright[:, 1]
        tall = bright[(bh > thick + 2) & (bh <= text_max)]  # text-sized: glyphs, icons, a digit with its tick
        self.glyphs = tall[(tall[:, 2] - tall[:, 0]) <= 2 * (tall[:, 3] - tall[:, 1])]
        mh, mw = marks[:, 3] - marks[:, 1], marks[:, 2] - marks[:, 0]
        longest = max(24, round(0.03 * height))
        cut = marks[:, 2] >= value.shape[1] if side == "left" else marks[:, 0] <= 0  # runs on into the picture
        keep = (mh <= thick + 2) & (mw <= longest) & (mh * mw >= 2) & ~cut
        marks = marks[keep]
        cx, cy = ((marks[:, 0] + marks[:, 2] - 1) // 2).astype(int), ((marks[:, 1] + marks[:, 3] - 1) // 2).astype(int)
        self.busy = False  # so many marks on the dark background that the band holds texture (thumbnails, a panel)
        if len(marks) > BUSY:  # a textured band (speckle, noise): only marks on the dark background can be ticks
            self.busy = np.count_nonzero(plain[cy, cx]) > BUSY
            marks = marks[:0] if self.busy else marks[plain[cy, cx] > 0]
        if len(marks) and len(tall):  # a mark inside a text-sized shape is part of it (a stroke of a glyph)
            cx, cy = (marks[:, 0] + marks[:, 2]) / 2, (marks[:, 1] + marks[:, 3]) / 2
            within = (
                (cx[:, None] >= tall[None, :, 0])
                & (cx[:, None] < tall[None, :, 2])
                & (cy[:, None] >= tall[None, :, 1])
                & (cy[:, None] < tall[None, :, 3])
            )
            marks = marks[~within.any(axis=1)]
        self.marks = marks
        cx, cy = ((marks[:, 0] + marks[:, 2] - 1) // 2).astype(int), ((marks[:, 1] + marks[:, 3] - 1) // 2).astype(int)
        nearby = cv2.dilate(value, np.ones((3, 3), np.uint8))  # the brightest pixel around each mark's centre
        self.peaks = nearby[cy, cx].astype(float)
        self.on_dark = plain[cy, cx] > 0  # (M,) whether each mark stands on the screen's dark background
        self._scores: dict[tuple[int, int, int, int], np.ndarray | None] = {}
        self._lattices: dict[tuple[int, ...], Lattice | None] = {}

    def columns(self, picture_height: int) -> list[Column]:
        """Columns of marks whose centres fit a lattice.

        A scale's ticks share an end (long and short ticks start at one x) or a centre (dots): marks aligned so
        within 1.5 px seed a column, and the marks overlapping its x range join it when the lattice then holds
        more nodes (short ticks centred elsewhere). Speckle grains line up on no edge.
        """
        marks = self.marks
        if len(marks) < MIN_TICKS:
            return []
        keys = (marks[:, 0], marks[:, 2], (marks[:, 0] + marks[:, 2]) / 2)
        seeds: set[tuple[int, ...]] = set()
        for key in keys:
            for value in np.unique(key):
                members = np.flatnonzero(np.abs(key - value) <= 1.5)
                if MIN_TICKS <= len(members) <= MAX_COLUMN:
                    seeds.add(tuple(members))
        found: dict[tuple[int, ...], Column] = {}
        for seed in seeds:
            aligned = np.array(seed)
            column = self._column(aligned, aligned, picture_height)
            if column is None:
                continue
            lo, hi = marks[aligned, 0].min() - 1, marks[aligned, 2].max() + 1
            wider = np.flatnonzero((marks[:, 2] > lo) & (marks[:, 0] < hi))
            if len(aligned) < len(wider) <= MAX_COLUMN:
                more = self._column(wider, aligned, picture_height)
                if more is not None and len(np.unique(more.lattice.k)) > len(np.unique(column.lattice.k)):
                    column = more
            found[tuple(sorted(column.members[column.lattice.index]))] = column
        return list(found.values())

    def _column(self, members: np.ndarray, aligned: np.ndarray, picture_height: int) -> Column | None:
        group = self.marks[members]
        order = np.argsort(group[:, 1] + group[:, 3], kind="stable")
        group, members = group[order], members[order]
        key = tuple(members)
        if key not in self._lattices:  # seeds along x0, x1 and centre often gather the same marks
            y = (group[:, 1] + group[:, 3] - 1) / 2
            self._lattices[key] = fit(y, picture_height, self.height, 2 * self.thick + 3)
        lattice = self._lattices[key]
        if lattice is None or not _alike(group[lattice.index]):
            return None
        ticks = members[lattice.index]
        if len(np.unique(lattice.k)) < OFF_PICTURE_BELOW and not self.on_dark[ticks].all():
            return None  # so few marks in a row may be bright speckle by chance
        level = float(np.median(self.peaks[ticks]))
        if self._between(group[lattice.index], lattice) > BETWEEN * level:
            return None
        # the ticks are most of the marks aligned with them that are as bright: speckle grains that fall on a
        # lattice by chance have brighter company along the picture's edge
        company = np.union1d(aligned, ticks)
        bright = company[self.peaks[company] >= 0.8 * level]
        if len(ticks) < DOMINANT * len(bright):
            return None
        return Column(group, lattice, members)

    def _between(self, ticks: np.ndarray, lattice: Lattice) -> float:
        """Median grey level between the ticks, in their columns (rows more than a tick's thickness off a node)."""
        x0, x1 = int(ticks[:, 0].min()), int(ticks[:, 2].max())
        y0 = max(0, int(lattice.a - lattice.p / 2))
        y1 = min(self.value.shape[0], int(lattice.a + (lattice.k.max() + 0.5) * lattice.p))
        offset = (np.arange(y0, y1) - lattice.a) / lattice.p
        off_node = np.abs(offset - np.rint(offset)) * lattice.p > self.thick + 1
        between = self.value[y0:y1, x0:x1][off_node]
        return float(np.median(between)) if between.size else math.inf

    def digit_scores(self, box: tuple[int, int, int, int]) -> np.ndarray | None:
        """``(10,)`` agreement of the glyph in ``box`` (band px) with each digit; None when it is no glyph."""
        if box not in self._scores:
            x0, y0, x1, y1 = box
            shape = glyph_shape(self.value[y0:y1, x0:x1])
            self._scores[box] = None if shape is None else digit_scores(shape)
        return self._scores[box]

    def stands_on_dark(self, box: tuple[int, int, int, int]) -> bool:
        """Whether the shape in ``box`` (band px) stands on the screen's dark background: at least ON_DARK_RING of
        the pixels around its box darker than DARK."""
        x0, y0, x1, y1 = box
        h, w = self.luma.shape
        wy0, wy1, wx0, wx1 = max(0, y0 - 1), min(h, y1 + 1), max(0, x0 - 1), min(w, x1 + 1)
        window = self.luma[wy0:wy1, wx0:wx1]
        inner = np.zeros(window.shape, bool)
        inner[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0] = True
        ring = window[~inner]
        return not ring.size or np.count_nonzero(ring <= DARK) >= ON_DARK_RING * ring.size


def _alike(ticks: np.ndarray) -> bool:
    """Whether ``ticks`` are drawn alike: at most two kinds (long and short), each of one thickness (within
    1 px) and one length (within 1.5 px or 15 %), hold most of them. Speckle grains on a lattice differ."""
    h = ticks[:, 3] - ticks[:, 1]
    w = ticks[:, 2] - ticks[:, 0]
    near = (np.abs(h[:, None] - h[None, :]) <= 1) & (
        np.abs(w[:, None] - w[None, :]) <= np.maximum(1.5, 0.15 * w[None, :])
    )
    first = near[:, int(np.argmax(near.sum(axis=0)))]
    rest = near & ~first[:, None]
    second = rest[:, int(np.argmax(rest.sum(axis=0)))] if rest.any() else first
    return np.count_nonzero(first | second) >= ALIKE * len(ticks)


def fit(y: np.ndarray, picture_height: int, frame_height: int | None = None, shortest: float = 0) -> Lattice | None:
    """The regular lattice most of ``y`` (sorted centres) lie on, or None.

    Spacings from ``shortest``, ``MIN_PERIOD`` and 1.5 % of the frame's height up to half the picture's
    height; the ticks must span ``MIN_SPAN`` of the picture and 15 % of the frame.

    Every spacing between near neighbours is tried with every mark as anchor; the lattice with the most
    filled nodes (then the highest fill) wins, so half the true spacing (every other node empty) and twice it
    (half the ticks off) both lose. Then least squares over the ticks, three times.
    """
    n = len(y)
    if n < MIN_TICKS:
        return None
    diffs = np.concatenate([y[j:] - y[:-j] for j in (1, 2, 3) if j < n])
    frame_height = frame_height or picture_height
    shortest = max(shortest, MIN_PERIOD, 0.015 * frame_height)
    # room for MIN_TICKS nodes; a tick drawn on a whole row is up to a pixel off its node, so the centres of exactly
    # MIN_TICKS ticks may span a little less than MIN_TICKS - 1 spacings
    # (half the picture: the four ticks of a shallow picture found a fifth short where its deep rows are dark)
    longest = min(picture_height / 2, (y[-1] - y[0] + 2 * TOLERANCE) / (MIN_TICKS - 1))
    candidates = np.unique(np.round(diffs[(diffs >= shortest) & (diffs <= longest)] * 2) / 2).astype(np.float32)
    if candidates.size == 0:
        return None
    rel = (y[:, None] - y[None, :]).astype(np.float32)
    m = rel[None] / candidates[:, None, None]  # (P, n, n): nodes from each anchor
    k = np.rint(m)
    near = np.abs(m - k) * candidates[:, None, None] < np.maximum(TOLERANCE, 0.03 * candidates)[:, None, None]
    anchor = near.sum(axis=1).argmax(axis=1)  # (P,): the anchor with the most marks on its lattice
    rows = np.arange(len(candidates))
    kk = np.where(near[rows, :, anchor], k[rows, :, anchor], np.nan)  # (P, n) nodes of the marks on it
    kk.sort(axis=1)
    valid = ~np.isnan(kk)
    distinct = valid[:, :1].sum(axis=1) + (valid[:, 1:] & (np.diff(kk, axis=1) != 0)).sum(axis=1)
    extent = np.nanmax(kk, axis=1) - np.nanmin(kk, axis=1) + 1
    fill = distinct / extent
    ok = (distinct >= MIN_TICKS) & (fill >= MIN_FILL)
    if not ok.any():
        return None
    best = np.flatnonzero(ok)[np.lexsort((-candidates[ok], fill[ok], distinct[ok]))[-1]]  # most nodes, fullest, finest
    best = (float(candidates[best]), float(y[anchor[best]]))
    p, a = best
    for _ in range(3):
        on = _nearest(y, a, p)
        if len(on) < MIN_TICKS:
            return None
        p, a = _line(np.rint((y[on] - a) / p), y[on])
    on = _nearest(y, a, p)
    nodes = np.rint((y[on] - a) / p).astype(int)
    on, nodes = _main_run(on, nodes)
    spread = float(np.sqrt(np.mean((y[on] - a - nodes * p) ** 2)))
    k0 = int(nodes.min())
    span = (y >= a + (k0 - 0.5) * p) & (y <= a + (nodes.max() + 0.5) * p)
    if (
        len(on) < MIN_TICKS
        or len(on) < EXPLAINED * np.count_nonzero(span)  # a lattice through a crowd of marks is chance
        or spread > MAX_SPREAD + 0.005 * p
        or (nodes.max() - k0) * p < max(MIN_SPAN * picture_height, 0.15 * frame_height)
    ):
        return None
    return Lattice(a + k0 * p, p, nodes - k0, on, spread)


def _main_run(on: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The marks ``on`` (with their ``nodes``) without those at either end that stand more than MAX_NODE_GAP nodes
    from the next: a scale's column runs on to its ends, and a mark past such a break (text in a status strip
    below the picture) is no tick of it. Breaks inside the column (ticks hidden under a label) stay."""
    filled = np.unique(nodes)
    first, last = 0, len(filled) - 1
    while first < last and filled[first + 1] - filled[first] > MAX_NODE_GAP:
        first += 1
    while last > first and filled[last] - filled[last - 1] > MAX_NODE_GAP:
        last -= 1
    keep = (nodes >= filled[first]) & (nodes <= filled[last])
    return on[keep], nodes[keep]


def _line(k: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``(slope, intercept)`` of ``y`` over ``k``."""
    km, ym = k.mean(), y.mean()
    slope = float(((k - km) * (y - ym)).sum() / ((k - km) ** 2).sum())
    return slope, float(ym - slope * km)


def _nearest(y: np.ndarray, a: float, p: float) -> np.ndarray:
    """Indices of the marks on the lattice ``a + k p``: within tolerance of a node, the nearest one per node."""
    k = np.rint((y - a) / p)
    off = np.abs(y - a - k * p)
    on = np.flatnonzero(off < max(TOLERANCE, 0.03 * p))
    on = on[np.lexsort((off[on], k[on]))]  # by node, nearest first
    return np.sort(on[np.r_[True, k[on][1:] != k[on][:-1]]]) if len(on) else on
