"""Pixel size from the depth scale drawn beside the B-mode picture (screenshots and clips hold no pixel size).

What is read: a column of tick marks beside the picture's left or right edge (outside it or just inside it),
often with depths written next to some ticks. Why this way: the ticks' geometry looks alike in every
vendor's style and needs no font, while no OCR may be used; so the ticks give the spacing and the labels
only say how many centimetres one tick step is.

1. Ticks: small bright marks (a white top-hat along y keeps what is no taller than a tick; on the picture a
   mark must also be nearly white) in bands from a quarter of the frame's width outside the picture's left
   and right edges to a few px inside them, grouped into columns by a shared end or centre. Their centres
   must fit a regular lattice ``y = a + k p``: at least ``MIN_TICKS`` nodes, most nodes between the first
   and the last filled, within about half a pixel, explaining most marks of the column, ticks of at most
   two kinds, darker between the ticks than on them. ``p``, fitted by least squares over every tick, is the
   tick spacing in px.
2. Centimetres per tick step ``c``: from the labels when at least two are read. Labels are glyphs beside
   the column at every ``r``-th node; they are read by shape alone (holes, flat bars, which side opens above
   and below the middle) against the few evenly stepping integer sequences that could be written there,
   and ``c = label step / r`` must be 0.1, 0.2, 0.25, 0.5 or 1 cm. Otherwise from the tick lengths: longer
   ticks on every second node with shorter ones between read as 1 cm with 0.5 cm between, as on every such
   scale we have seen (our gallery and a real Mindray DC-8 screen). Labels that say otherwise, or that are
   read clearly but do not step evenly, refuse the scale.
3. ``mm/px = 10 c / p`` along y. x gets the same size: scan converters draw the picture with square pixels
   (every real DICOM here whose ultrasound region holds a linear or convex picture states equal sizes);
   a picture stretched after scan conversion would be wrong in x, and nothing on the screen can tell.

Limits (refused, never guessed): uniform ticks or longer ticks every 4, 5 or 10 nodes without readable
labels; labels with decimals; fewer than four ticks, or four drawn on the picture; dots along a sector's
slanted edge; a scale in a panel away from the picture's rows. The digit reader was checked on OpenCV's
Hershey faces, DejaVu, Noto, Nimbus and URW fonts (glyphs from about 10 px tall, also after JPEG and H.264)
and on the real screens in docs/grading.md, not on every vendor's font: where no reading clearly wins, the
labels count as unread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from app.pipeline.geometry import Rect
from app.pipeline.screen.depth_digits import digit_scores, glyph_shape

SOURCE = "screen_depth_scale"
MIN_TICKS = 4  # lattice nodes holding a tick (three intervals at least: a 1.5-2 cm picture ticked every 0.5 cm)
ABOVE = 0.5  # the bands start this share of the picture's height above it
LABEL_ON_DARK = 0.8  # share of the pixels around a label's glyph that must be the screen's dark background
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
REACH = 0.25  # the bands reach this share of the frame's width beyond the picture's edges
INSIDE = 0.06  # the bands reach this share of the picture's width inside its edges (ticks drawn on the picture)
MARK_CONTRAST = 40  # grey levels a tick stands above what lies just above and below it
DARK = 32  # luma below which what lies above and below a mark is the screen's dark background (black, or the
# dark blue or grey panel of some interfaces: their brightest channel may read 40-60, their luma 20-30)
ON_PICTURE_LEVEL = 220  # grey level of a tick drawn on the picture (speckle beside it is mostly darker)
TEXT_LEVEL = 64  # grey level above which label text is looked for (labels stand on the dark screen)
MIN_PERIOD = 5.0  # px between ticks at least
CM_PER_TICK = (0.1, 0.2, 0.25, 0.5, 1.0)  # tick steps a label reading may give
LABEL_STEPS = (1, 2, 5, 10)  # cm between consecutive labels that are tried
MAX_FIRST_LABEL = 30  # the first label's value is tried from 0 up to this many label steps
MIN_DIGIT_LIKE = 0.7  # a glyph counts toward a label when it agrees this much with some digit
MIN_READ_SCORE = 0.8  # mean agreement of the glyphs with the sequence read
MIN_READ_MARGIN = 0.08  # ... ahead of any sequence that gives another tick step
MIN_GLYPH_SCORE = 0.5  # and every glyph agrees at least this much with the digit it is read as
SAME = 0.02  # two scales that read within this relative difference agree


@dataclass(frozen=True)
class DepthScale:
    """The depth scale's reading: ``mm_per_px`` (square pixels), or None with ``why_not``; ``evidence`` either way.

    ``evidence`` holds what was seen: ``side``, ``tick_spacing_px``, ``ticks`` (nodes with a tick),
    ``first_tick_y`` (frame row of the first node), ``tick_spread_px``, ``major_every``, ``label_every``
    (nodes), ``labels`` (values read), ``cm_per_tick`` and ``rule`` (``"labels"`` or ``"tick_lengths"``: what
    gave the centimetres per tick).
    """

    mm_per_px: float | None
    why_not: str | None
    evidence: dict[str, float | int | str | list] = field(default_factory=dict)
    veto: bool = False  # the scale was seen and contradicts itself: no other column may stand in for it


def read_depth_scale(frames: np.ndarray, image_area: Rect) -> DepthScale:
    """The depth scale beside ``image_area`` on ``frames`` ``(N, H, W, 3) uint8`` RGB (up to 3 frames are used)."""
    height, width = frames.shape[1:3]
    x0, y0, x1, y1 = max(0, image_area[0]), max(0, image_area[1]), min(width, image_area[2]), min(height, image_area[3])
    if x1 - x0 < 16 or y1 - y0 < 16:
        return DepthScale(None, "there is no picture to find a depth scale beside")
    inside = max(2, round(INSIDE * (x1 - x0)))
    # the scale starts at the picture's top row, which the picture found may lie below: a gel stand-off or a dark
    # near field shows no speckle
    top = max(0, y0 - max(4, round(0.02 * height)) - round(ABOVE * (y1 - y0)))
    decisions = []
    reach = round(REACH * width)
    for side, b0, b1 in (
        ("left", max(0, x0 - reach), min(width, x0 + inside)),
        ("right", max(0, x1 - inside), min(width, x1 + reach)),
    ):
        if b1 - b0 < 3:
            continue
        band = _Band(side, b0, top, *_planes(frames[:, top:, b0:b1]), height)
        decisions += [_decide(band, column) for column in band.columns(y1 - y0)]
    if not decisions:
        return DepthScale(None, "no regular column of tick marks was found beside the picture")
    decisions.sort(key=lambda d: -int(d.evidence["ticks"]))
    if decisions[0].veto:
        return decisions[0]
    read = [d for d in decisions if d.mm_per_px is not None]
    if not read:
        return decisions[0]
    for other in read[1:]:
        if abs(other.mm_per_px / read[0].mm_per_px - 1) > SAME:
            return DepthScale(None, "two depth scales beside the picture disagree", read[0].evidence, veto=True)
    return read[0]


# --- ticks ---------------------------------------------------------------------------------------------------


def _planes(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
class _Lattice:
    a: float  # y of node 0 (band px)
    p: float  # spacing, px
    k: np.ndarray  # node of each tick (int, from 0)
    index: np.ndarray  # which marks of the column are ticks
    spread: float  # rms distance from the lattice, px


@dataclass(frozen=True)
class _Column:
    marks: np.ndarray  # (M, 4) x0, y0, x1, y1 in band px, by centre y
    lattice: _Lattice
    members: np.ndarray  # their indices among the band's marks

    @property
    def ticks(self) -> np.ndarray:
        return self.marks[self.lattice.index]


class _Band:
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
        if len(marks) > BUSY:  # a textured band (speckle, noise): only marks on the dark background can be ticks
            marks = marks[plain[cy, cx] > 0] if np.count_nonzero(plain[cy, cx]) <= BUSY else marks[:0]
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
        self._lattices: dict[tuple[int, ...], _Lattice | None] = {}

    def columns(self, picture_height: int) -> list[_Column]:
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
        found: dict[tuple[int, ...], _Column] = {}
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

    def _column(self, members: np.ndarray, aligned: np.ndarray, picture_height: int) -> _Column | None:
        group = self.marks[members]
        order = np.argsort(group[:, 1] + group[:, 3], kind="stable")
        group, members = group[order], members[order]
        key = tuple(members)
        if key not in self._lattices:  # seeds along x0, x1 and centre often gather the same marks
            y = (group[:, 1] + group[:, 3] - 1) / 2
            self._lattices[key] = _fit(y, picture_height, self.height, 2 * self.thick + 3)
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
        return _Column(group, lattice, members)

    def _between(self, ticks: np.ndarray, lattice: _Lattice) -> float:
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


def _fit(y: np.ndarray, picture_height: int, frame_height: int | None = None, shortest: float = 0) -> _Lattice | None:
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
    return _Lattice(a + k0 * p, p, nodes - k0, on, spread)


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


# --- deciding ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Label:
    y: float  # centre, band px
    node: int  # lattice node it stands at (after the labels' common offset)
    glyphs: tuple[tuple[int, int, int, int], ...]  # left to right, band px


def _decide(band: _Band, column: _Column) -> DepthScale:
    lat = column.lattice
    evidence: dict[str, float | int | str | list] = {
        "side": band.side,
        "tick_spacing_px": round(lat.p, 3),
        "ticks": len(np.unique(lat.k)),
        "first_tick_y": round(band.y0 + lat.a, 1),
        "tick_spread_px": round(lat.spread, 3),
    }
    major = _major_every(column.ticks, lat.k)
    if major:
        evidence["major_every"] = major
    c_ticks = 0.5 if major == 2 else None
    labels = _labels(band, column)
    if labels:
        evidence["label_every"] = int(np.min(np.diff([lab.node for lab in labels])))
        values, c_labels, clear = _read(band, labels)
        evidence["labels"] = values
        if c_labels is not None:
            if c_ticks is not None and not math.isclose(c_labels, c_ticks):
                why = (
                    f"the depth scale's ticks and labels disagree: its tick lengths give {c_ticks:g} cm a tick, "
                    f"its labels {values} give {c_labels:g} cm"
                )
                return DepthScale(None, why, evidence, veto=True)
            return _scale(c_labels, lat.p, "labels", evidence)
        if clear:
            return DepthScale(None, f"the depth scale's labels {values} do not step evenly", evidence, veto=True)
    if c_ticks is not None:
        return _scale(c_ticks, lat.p, "tick_lengths", evidence)
    if labels:
        return DepthScale(None, "the depth scale's labels could not be read to tell how many cm a tick is", evidence)
    return DepthScale(None, "the depth scale has no labels or tick lengths that tell how many cm a tick is", evidence)


def _scale(cm_per_tick: float, p: float, rule: str, evidence: dict) -> DepthScale:
    return DepthScale(10.0 * cm_per_tick / p, None, {**evidence, "cm_per_tick": cm_per_tick, "rule": rule})


def _major_every(ticks: np.ndarray, k: np.ndarray) -> int | None:
    """Every how many nodes a longer tick stands, when the ticks come in two lengths in a regular pattern."""
    length = ticks[:, 2] - ticks[:, 0]
    nodes = np.unique(k)
    per_node = np.array([length[k == n].max() for n in nodes])
    lo, hi = float(per_node.min()), float(per_node.max())
    if hi < 1.6 * lo or hi - lo < 2:
        return None
    cut = math.sqrt(lo * hi)
    long, short = nodes[per_node >= cut], nodes[per_node < cut]
    if len(long) < 2 or len(short) < 2:
        return None
    every = int(np.min(np.diff(long)))
    phase = int(long[0]) % every
    if every < 2 or np.any((long - phase) % every) or np.any((short - phase) % every == 0):
        return None
    return every


def _labels(band: _Band, column: _Column) -> list[_Label]:
    """Labels: groups of one or two digit-like glyphs beside the column that stand at lattice nodes.

    On each side of the column, the largest set of groups that share one offset from the nodes (within a
    fifth of the spacing), a regular node interval and one edge toward the ticks (aligned within a quarter
    of their height) is kept; the side with more wins. Other text, icons and focus markers fall out.
    """
    lat, glyphs = column.lattice, band.glyphs
    if len(glyphs) < 2:
        return []
    tx0, tx1 = column.ticks[:, 0].min(), column.ticks[:, 2].max()
    gh = glyphs[:, 3] - glyphs[:, 1]
    cy = (glyphs[:, 1] + glyphs[:, 3]) / 2
    gap = np.maximum(tx0 - glyphs[:, 2], glyphs[:, 0] - tx1)
    near = (gap >= 0) & (gap <= 2 * gh) & (cy >= lat.a - 0.5 * lat.p) & (cy <= lat.a + (lat.k.max() + 1) * lat.p)
    best: list[_Label] = []
    for left in (True, False):
        chosen = [
            g
            for g in _group(glyphs[near & ((glyphs[:, 2] <= tx0) if left else (glyphs[:, 0] >= tx1))])
            if len(g) <= 2 and all(_digit_like(band, b) for b in g)
        ]
        if len(chosen) < 2:
            continue
        ys = np.array([(g[:, 1].min() + g[:, 3].max()) / 2 for g in chosen])
        edge = np.array([g[:, 2].max() if left else g[:, 0].min() for g in chosen])
        size = np.array([g[:, 3].max() - g[:, 1].min() for g in chosen])
        u = (ys - lat.a) / lat.p
        for j in range(len(chosen)):
            on = (np.abs((u - u[j] + 0.5) % 1 - 0.5) < 0.2) & (np.abs(edge - edge[j]) <= np.maximum(2, 0.25 * size))
            idx = np.flatnonzero(on)
            nodes = np.rint(u[idx] - u[j]).astype(int)
            if len(set(nodes)) != len(nodes):
                continue
            steps = {abs(int(d)) for d in np.diff(np.sort(nodes))} - {0}
            for every in sorted(steps):
                regular = idx[nodes % every == 0]
                if len(regular) > len(best):
                    shift = u[j] - round(u[j])
                    best = [_Label(float(ys[i]), round(u[i] - shift), _tuples(chosen[i])) for i in regular]
    return sorted(best, key=lambda lab: lab.y) if len(best) >= 2 else []


def _tuples(group: np.ndarray) -> tuple[tuple[int, int, int, int], ...]:
    return tuple((int(g[0]), int(g[1]), int(g[2]), int(g[3])) for g in group)


def _digit_like(band: _Band, box: np.ndarray) -> bool:
    """Whether the glyph in ``box`` reads as a digit and stands on the screen's dark background: speckle on the
    picture beside a column can take a digit's shape, and a scale's numbers are not written over the picture."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = band.luma.shape
    wy0, wy1, wx0, wx1 = max(0, y0 - 1), min(h, y1 + 1), max(0, x0 - 1), min(w, x1 + 1)
    window = band.luma[wy0:wy1, wx0:wx1]
    inner = np.zeros(window.shape, bool)
    inner[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0] = True
    ring = window[~inner]  # the pixels around the glyph's box
    if ring.size and np.count_nonzero(ring <= DARK) < LABEL_ON_DARK * ring.size:
        return False
    scores = band.digit_scores((x0, y0, x1, y1))
    return scores is not None and float(scores.max()) >= MIN_DIGIT_LIKE


def _group(glyphs: np.ndarray) -> list[np.ndarray]:
    """Glyphs side by side on one line, as groups (each ``(G, 4)`` sorted left to right)."""
    order = np.lexsort((glyphs[:, 0], (glyphs[:, 1] + glyphs[:, 3]) / 2))
    groups: list[list[np.ndarray]] = []
    for i in order:
        g = glyphs[i]
        h = g[3] - g[1]
        for grp in groups:
            last = grp[-1]
            overlap = min(g[3], last[3]) - max(g[1], last[1])
            beside = 0 <= g[0] - last[2] <= 0.8 * max(h, last[3] - last[1])
            if overlap >= 0.5 * min(h, last[3] - last[1]) and beside:
                grp.append(g)
                break
        else:
            groups.append([g])
    return [np.array(sorted(grp, key=lambda t: t[0])) for grp in groups]


def _read(band: _Band, labels: list[_Label]) -> tuple[list[int], float | None, bool]:
    """``(values, cm per tick or None, clear)``: the evenly stepping integers the labels read as, best.

    Each hypothesis (a label step from ``LABEL_STEPS`` and a first value) writes a number at each label; it
    fits when every label has as many glyphs as the number has digits and every glyph agrees at least
    ``MIN_GLYPH_SCORE`` with its digit (and none matches another digit fully while agreeing less than 0.8
    with its own), and it scores the glyphs' mean agreement. The best must score
    ``MIN_READ_SCORE`` and lead every fitting hypothesis that gives another tick step by ``MIN_READ_MARGIN``.
    Otherwise the values are the glyphs read one by one, with no step; ``clear`` says whether each of those
    glyphs matched one digit fully and no other closely (so labels that do not step evenly refuse the scale).
    """
    scores = [[band.digit_scores(b) for b in lab.glyphs] for lab in labels]
    alone = [int("".join(str(int(np.argmax(s))) for s in per)) for per in scores]
    clear = all(float(s.max()) >= 0.99 and float(np.sort(s)[-2]) <= 0.8 for per in scores for s in per)
    nodes = [lab.node for lab in labels]
    every = int(np.min(np.diff(nodes)))
    results: list[tuple[float, float, list[int]]] = []
    for step in LABEL_STEPS:
        cm = step / every
        if not any(math.isclose(cm, c) for c in CM_PER_TICK):
            continue
        for first in range(MAX_FIRST_LABEL + 1):
            exact = [first * step + (n - nodes[0]) * cm for n in nodes]
            if any(not math.isclose(v, round(v)) for v in exact):
                continue
            agree: list[float] = []
            for v, per in zip(exact, scores, strict=True):
                digits = str(round(v))
                if len(digits) != len(per):
                    break
                agree += [float(s[int(d)]) for d, s in zip(digits, per, strict=True)]
                contradicted = any(
                    float(s.max()) >= 0.99 and float(s[int(d)]) < 0.8 for d, s in zip(digits, per, strict=True)
                )
                if contradicted:  # a glyph plainly another digit
                    break
            else:
                if min(agree) >= MIN_GLYPH_SCORE:
                    results.append((float(np.mean(agree)), cm, [round(v) for v in exact]))
    if not results:
        return alone, None, clear
    results.sort(key=lambda r: -r[0])
    score, cm, values = results[0]
    rivals = [r[0] for r in results if not math.isclose(r[1], cm)]
    if score < MIN_READ_SCORE or (rivals and score - max(rivals) < MIN_READ_MARGIN):
        return alone, None, False
    return values, cm, True
