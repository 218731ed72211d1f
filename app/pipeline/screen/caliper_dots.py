"""The dots of coloured measurement calipers: peaks of chroma standing alone, in straight rows at one step.

Used by :mod:`.calipers`. No flow looks like such a row:

* a dot is a local maximum of the smoothed chroma that stands alone: most of a ring of RING_PX around it is
  dimmer or of another hue (flow's texture inside a vessel has its own colour all around);
* MIN_DOTS or more dots of one hue lie in a row at one step (MIN_STEP_PX to MAX_STEP_PX, each dot within
  STEP_TOLERANCE_PX of where the step puts it; up to MAX_MISSING dots in a row may be hidden under flow, and rows
  on one line a whole number of steps apart are one), with the chroma dipping between neighbours (flow is
  continuous), of one brightness and colour (a vessel's colour varies along it), and with nothing alike beside
  the row (a thin vessel has its own colour beside each peak).

Rows are grown from pairs of neighbouring dots, the shortest step first (a row at twice the step skips every
other dot); pairs are screened for the dip and the sides before a row is grown, and a row is grown once.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np

__all__ = ["MAX_STEP_PX", "MIN_DOTS", "SAME_HUE", "Chroma", "find_dots", "find_rows", "step_length"]

SMOOTH_SIGMA = 0.8  # px: the chroma is smoothed a little so that a codec-smeared dot has one peak
MIN_DOT_CHROMA = 18.0  # |RGB - grey| of a dot's peak
RING_PX = 3
RING_UNLIKE = 6  # of 8 ring points, dimmer than RING_SHARE of the dot or of another hue
RING_SHARE = 0.8  # a ring point dimmer than this share of the dot is unlike it
SAME_HUE = 0.9  # cosine between chroma directions: dots of one caliper
OTHER_HUE = 0.8  # below this cosine a pixel is of another hue
MIN_DOTS = 5
MIN_STEP_PX, MAX_STEP_PX = 3.0, 16.0
STEP_TOLERANCE_PX = 1.6
MAX_MISSING = 4  # dots in a row hidden (under a vessel of another hue) before the row ends; rows on one line
MAX_JOIN_STEPS = 8  # ... up to this many steps apart are joined, when the gap is a whole number of steps ...
JOIN_PHASE = 0.3  # ... within this share of a step
DIP_SHARE = 0.5  # chroma halfway between neighbouring dots at most this share of the dimmer dot ...
DIP_GAPS = 0.5  # ... on at least this share of the gaps
STRENGTH_SPREAD = 0.35  # a steady dot's chroma lies within this share of the row's median ...
COLOUR_SPREAD = 30.0  # ... and its colour within this much of the median, per channel ...
STEADY_DOTS = 0.8  # ... and this share of the dots are steady
SIDE_OFFSETS_PX = (3, -3, 5, -5)
SIDE_SHARE = 0.5  # beside the row, chroma at most this share of the dot's ...
SIDE_DOTS = 0.6  # ... beside at least this share of the dots


_MINUS_GREY = (np.eye(3) - 1.0 / 3.0).astype(np.float32)  # RGB -> RGB minus its mean


@dataclass(frozen=True, eq=False)
class Chroma:
    """The chroma of a crop, smoothed: ``vector (h, w, 3)`` = RGB minus its grey, ``norm (h, w)``."""

    vector: np.ndarray
    norm: np.ndarray

    @classmethod
    def of(cls, rgb: np.ndarray) -> Chroma:
        vector = cv2.GaussianBlur(cv2.transform(rgb.astype(np.float32), _MINUS_GREY), (0, 0), SMOOTH_SIGMA)
        norm = cv2.sqrt(cv2.transform(cv2.multiply(vector, vector), np.ones((1, 3), np.float32)))
        return cls(vector, norm)  # OpenCV: ~8x numpy's time at 1080p

    def cosine(self, ys: np.ndarray, xs: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """Cosine between the chroma at ``(ys, xs)`` and unit ``direction (3,)`` (or ``(n, 3)``)."""
        return (self.vector[ys, xs] * direction).sum(axis=-1) / (self.norm[ys, xs] + 1e-6)

    def at(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(ys, xs)`` of ``points (..., 2) (x, y)``, rounded and clipped to the crop."""
        h, w = self.norm.shape
        q = np.rint(points).astype(np.intp)
        return q[..., 1].clip(0, h - 1), q[..., 0].clip(0, w - 1)


def find_dots(chroma: Chroma, where: np.ndarray) -> np.ndarray:
    """``(n, 2) float (x, y)``: peaks of chroma that stand alone."""
    c = chroma.norm
    peak = (c >= cv2.dilate(c, np.ones((3, 3), np.uint8))) & (c >= MIN_DOT_CHROMA) & where
    ys, xs = np.nonzero(peak)
    strength = c[ys, xs]
    direction = chroma.vector[ys, xs] / strength[:, None]
    unlike = np.zeros(xs.size, np.int32)
    for angle in np.arange(8) * (np.pi / 4):
        ring = np.stack([xs + RING_PX * np.cos(angle), ys + RING_PX * np.sin(angle)], axis=1)
        ry, rx = chroma.at(ring)
        unlike += (c[ry, rx] <= RING_SHARE * strength) | (chroma.cosine(ry, rx, direction) < OTHER_HUE)
    keep = unlike >= RING_UNLIKE
    return np.stack([xs[keep], ys[keep]], axis=1).astype(np.float64)


class _Grid:
    """The dots (whole-pixel peaks) by position, for finding a dot's neighbours by looking around it."""

    def __init__(self, points: np.ndarray, shape: tuple[int, int]) -> None:
        self.points = points
        self.index = np.full(shape, -1, np.int32)
        self.index[points[:, 1].astype(np.intp), points[:, 0].astype(np.intp)] = np.arange(len(points))

    def near(self, p: np.ndarray, radius: float) -> np.ndarray:
        """Indices of the dots within ``radius`` of ``p (x, y)``."""
        h, w = self.index.shape
        r = int(np.ceil(radius))
        x, y = round(float(p[0])), round(float(p[1]))
        window = self.index[max(0, y - r) : min(h, y + r + 1), max(0, x - r) : min(w, x + r + 1)]
        found = window[window >= 0]
        return found[np.hypot(*(self.points[found] - p).T) <= radius]


def find_rows(points: np.ndarray, chroma: Chroma) -> list[list[int]]:
    """Rows of dots that make a caliper, each ordered along the row; rows on one line joined."""
    grid = _Grid(points, chroma.norm.shape)
    ys, xs = chroma.at(points)
    direction = chroma.vector[ys, xs] / chroma.norm[ys, xs, None]
    first, second = [], []
    for i in range(len(points)):
        near = grid.near(points[i], MAX_STEP_PX)
        near = near[(near > i) & (direction[near] @ direction[i] >= SAME_HUE)]
        first += [i] * len(near)
        second += near.tolist()
    first, second = np.array(first, np.intp), np.array(second, np.intp)
    distance = np.hypot(*(points[second] - points[first]).T)
    keep = (distance >= MIN_STEP_PX) & _seeds(chroma, points[first], points[second])
    order = np.argsort(distance[keep], kind="stable")
    pairs = zip(first[keep][order].tolist(), second[keep][order].tolist(), strict=True)
    used = np.zeros(len(points), dtype=bool)
    tried: set[tuple[int, int]] = set()  # neighbours in a row grown already: the same row again
    rows = []
    for i, j in pairs:  # the shortest step first: a row at twice the step skips every other dot
        step = points[j] - points[i]
        if used[i] or used[j] or (i, j) in tried or not _third(grid, direction, i, j, step):
            continue
        row = _grow(grid, direction, used, i, j, step)
        tried.update((min(a, b), max(a, b)) for a, b in pairwise(row))
        if len(row) >= MIN_DOTS and _is_caliper(chroma, points[row], step):
            rows.append(row)
            used[row] = True
    return _joined(rows, points, direction)


def _joined(rows: list[list[int]], points: np.ndarray, direction: np.ndarray) -> list[list[int]]:
    """``rows`` with the rows of one caliper as one: of one hue, on one line at one step, overlapping or a whole
    number of steps apart (up to MAX_JOIN_STEPS: the dots between them hidden under a vessel of another hue)."""
    rows = list(rows)
    k = 0
    while k < len(rows):
        for m in range(k + 1, len(rows)):
            first, other = points[rows[k]], points[rows[m]]
            if direction[rows[k][0]] @ direction[rows[m][0]] >= SAME_HUE and _one_line(first, other):
                unit = first[-1] - first[0]
                joined = rows[k] + rows[m]
                rows[k] = [joined[o] for o in np.argsort((points[joined] - first[0]) @ unit)]
                del rows[m]
                break
        else:
            k += 1
    return rows


def _one_line(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether rows ``a (n, 2)`` and ``b (m, 2)`` continue one another."""
    step = step_length(a)
    if abs(step - step_length(b)) > STEP_TOLERANCE_PX:
        return False
    unit = (a[-1] - a[0]) / np.linalg.norm(a[-1] - a[0])
    normal = np.array([-unit[1], unit[0]])
    if np.abs((b - a[0]) @ normal).max() > STEP_TOLERANCE_PX:
        return False
    along_a, along_b = (a - a[0]) @ unit, (b - a[0]) @ unit
    gap = max(along_b.min() - along_a.max(), along_a.min() - along_b.max()) / step
    return gap <= 0 or (gap <= MAX_JOIN_STEPS and abs(gap - round(gap)) <= JOIN_PHASE)  # overlapping, or in step


def step_length(dots: np.ndarray) -> float:
    """The row's step: the mean of its gaps between neighbours (rounded positions make a slanted row's gaps
    alternate)."""
    gaps, single = _neighbour_gaps(dots)
    return float(gaps[single].mean())


def _neighbour_gaps(dots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The row's gaps ``(n - 1,)`` and which of them join neighbours (no dot missing between: near the median)."""
    gaps = np.linalg.norm(np.diff(dots, axis=0), axis=1)
    return gaps, np.abs(gaps - np.median(gaps)) <= STEP_TOLERANCE_PX


def _between(chroma: Chroma, a: np.ndarray, b: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """The chroma halfway between ``a`` and ``b`` ``(P, 2)``, the most of it there and a pixel either side along
    ``normal``: a thin line wanders off the straight one."""
    halfway = (a + b) / 2
    return np.max([chroma.norm[chroma.at(halfway + offset * normal)] for offset in (-1, 0, 1)], axis=0)


def _beside(chroma: Chroma, points: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """The most chroma SIDE_OFFSETS_PX beside each of ``points (P, 2)`` along ``normal``."""
    return np.max([chroma.norm[chroma.at(points + offset * normal)] for offset in SIDE_OFFSETS_PX], axis=0)


def _seeds(chroma: Chroma, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(P,) bool``: which pairs of neighbouring peaks ``a``, ``b`` ``(P, 2)`` may start a row: the colour dips
    between them and nothing alike lies beside them (what :func:`_is_caliper` asks of most of a row, asked of
    one gap first)."""
    step = b - a
    normal = np.stack([-step[:, 1], step[:, 0]], axis=1) / np.hypot(*step.T)[:, None]
    weaker = np.minimum(chroma.norm[chroma.at(a)], chroma.norm[chroma.at(b)])
    beside = np.maximum(_beside(chroma, a, normal), _beside(chroma, b, normal))
    return (_between(chroma, a, b, normal) <= DIP_SHARE * weaker) & (beside <= SIDE_SHARE * weaker)


def _third(grid: _Grid, direction: np.ndarray, i: int, j: int, step: np.ndarray) -> bool:
    """Whether a dot of the hue of ``i`` lies one ``step`` before ``i`` or after ``j`` (most pairs of peaks have
    none: the row is not grown for them)."""
    for expected in (grid.points[j] + step, grid.points[i] - step):
        near = grid.near(expected, STEP_TOLERANCE_PX)
        if (direction[near] @ direction[i] >= SAME_HUE).any():
            return True
    return False


def _grow(grid: _Grid, direction: np.ndarray, used: np.ndarray, i: int, j: int, step: np.ndarray) -> list[int]:
    """The row through dots ``i`` and ``j``: dots of their hue (not ``used`` by another row) one ``step`` further
    on either side, past at most MAX_MISSING missing dots at a time; ordered along ``step``."""
    row = [i, j]
    for sign, end in ((1.0, j), (-1.0, i)):
        here, missed = grid.points[end], 0
        while missed <= MAX_MISSING:
            expected = here + sign * step
            near = [
                k
                for k in grid.near(expected, STEP_TOLERANCE_PX)
                if not used[k] and k not in row and direction[k] @ direction[i] >= SAME_HUE
            ]
            if not near:
                here, missed = expected, missed + 1
                continue
            k = min(near, key=lambda k: float(np.hypot(*(grid.points[k] - expected))))
            row.append(k)
            here, missed = grid.points[k], 0
    along = (grid.points[row] - grid.points[i]) @ step
    return [row[o] for o in np.argsort(along)]


def _is_caliper(chroma: Chroma, dots: np.ndarray, step: np.ndarray) -> bool:
    """Whether the row ``dots (n, 2)`` is drawn (dips between dots, one colour, nothing alike beside it)."""
    ys, xs = chroma.at(dots)
    strength = chroma.norm[ys, xs]
    _, single = _neighbour_gaps(dots)
    if single.sum() < MIN_DOTS - 1:
        return False
    normal = np.array([-step[1], step[0]]) / np.hypot(*step)
    dip = _between(chroma, dots[:-1], dots[1:], normal) / np.minimum(strength[:-1], strength[1:])
    if np.mean(dip[single] <= DIP_SHARE) < DIP_GAPS:
        return False
    colours = chroma.vector[ys, xs]
    middle = float(np.median(strength))  # the ends may be a cross's centre, brighter than a dot
    steady = np.abs(strength - middle) <= STRENGTH_SPREAD * middle
    steady &= np.abs(colours - np.median(colours, axis=0)).max(axis=1) <= COLOUR_SPREAD
    if steady.mean() < STEADY_DOTS:
        return False
    return bool(np.mean(_beside(chroma, dots, normal) <= SIDE_SHARE * strength) >= SIDE_DOTS)
