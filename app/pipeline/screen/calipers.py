"""Measurement calipers drawn in colour over the picture, so that their pixels are never counted as flow.

A sonographer measures a tendon's thickness with two crosses joined by a dotted line, drawn in one colour
(yellow, green, cyan) over the picture and kept in the exported still or frozen cine. Across a Doppler box
every dot is a small patch of saturated colour: the counter would count it as flow and each dot of five pixels
or more as a vessel.

A caliper is found from the dots alone, which no flow looks like:

* a dot is a local maximum of chroma that stands alone: most of a ring of RING_PX around it is dimmer or of
  another hue (flow's texture inside a vessel has its own colour all around);
* MIN_DOTS or more dots of one hue lie in a row at one step (MIN_STEP_PX to MAX_STEP_PX, each dot within
  STEP_TOLERANCE_PX of where the step puts it; up to MAX_MISSING dots in a row may be hidden under flow, and rows
  on one line a whole number of steps apart are one), with the chroma dipping between neighbours (flow is
  continuous), of one brightness and colour (a vessel's colour varies along it), and with nothing alike beside
  the row (a thin vessel has its own colour beside each peak);
* on a clip the dots are drawn on every frame looked at (flow changes, a caliper stays);
* a row of fewer than MIN_DOTS_WITHOUT_CROSS dots needs a cross at one end at least (a word's letters can
  stand in a row of alike dots).

The pixels left out are the dots (a disc of DOT_RADIUS_PX at every step of the row, and a line as wide from
the first dot to the last, for the codec's smear) and the cross found at each end ('+' or 'x', its centre up to
three steps beyond the last dot), only where a pixel's colour is the caliper's hue: flow of another hue under
it is still counted. What shows no dotted row is not found: a lone cross, a solid line, and a dotted line that a
lossy codec smeared into an even streak. A dotted Doppler box outline is a row of dots too: the screen parser
keeps the rows that lie along a box's border out (``parse._off_outlines``). Measured on the held-out family in
docs/benchmarks.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np

__all__ = ["Caliper", "find_calipers"]

SMOOTH_SIGMA = 0.8  # px: the chroma is smoothed a little so that a codec-smeared dot has one peak
MIN_DOT_CHROMA = 18.0  # |RGB - grey| of a dot's peak
RING_PX = 3
RING_UNLIKE = 6  # of 8 ring points, dimmer than RING_SHARE of the dot or of another hue
SAME_HUE = 0.9  # cosine between chroma directions: dots of one caliper
OTHER_HUE = 0.8  # below this cosine a pixel is of another hue
MIN_DOTS = 5
MIN_DOTS_WITHOUT_CROSS = 8
MIN_STEP_PX, MAX_STEP_PX = 3.0, 16.0
STEP_TOLERANCE_PX = 1.6
MAX_MISSING = 4  # dots in a row hidden (under a vessel of another hue) before the row ends; rows on one line
MAX_JOIN_STEPS = 8  # ... up to this many steps apart are joined, when the gap is a whole number of steps ...
JOIN_PHASE = 0.3  # ... within this share of a step
DIP_SHARE = 0.5  # chroma halfway between neighbouring dots at most this share of the dimmer dot ...
DIP_GAPS = 0.5  # ... on at least this share of the gaps
RING_SHARE = 0.8  # a ring point dimmer than this share of the dot is unlike it
STRENGTH_SPREAD = 0.35  # a steady dot's chroma lies within this share of the row's median ...
COLOUR_SPREAD = 30.0  # ... and its colour within this much of the median, per channel ...
STEADY_DOTS = 0.8  # ... and this share of the dots are steady
SIDE_OFFSETS_PX = (3, -3, 5, -5)
SIDE_SHARE = 0.5  # beside the row, chroma at most this share of the dot's ...
SIDE_DOTS = 0.6  # ... beside at least this share of the dots
STATIC_SHARE = 0.5  # on a clip, a dot keeps its hue and this share of its chroma on every frame ...
STATIC_DOTS = 0.7  # ... on this share of the dots at least
DOT_RADIUS_PX = 2
LEFT_HUE = 0.9  # a pixel of the caliper's area is left out when its own colour has the caliper's hue ...
MIN_LEFT_CHROMA = 10.0  # ... and at least this chroma (a grey pixel under the smear is tissue)
CROSS_HUE = 0.95  # a cross's arm: pixels of the caliper's hue ...
CROSS_MIN_ARM_PX = 3  # ... for at least this long on all four arms, ...
CROSS_GAP_PX = 4  # ... and nothing clearly of the hue (half the dots' chroma) this far out between the arms
CROSS_ARM_RATIO = 0.5  # ... the shortest at least this share of the longest (not a line of that hue)
BACK_COSINE = 0.87  # an arm within 30 degrees of the row's direction back to its dots
# More isolated colour peaks than this (or than this share of the picture's pixels) is colour noise, not a
# screen with calipers: the search stops there (it grows with the pairs of near peaks).
MAX_DOTS = 4000
CROP_MARGIN_PX = 2 * int(MAX_STEP_PX) + 8  # the search covers the colour and this much around it (crosses)
MAX_DOT_SHARE = 0.005


@dataclass(frozen=True, eq=False)
class Caliper:
    """One dotted caliper line. Points are ``(x, y)`` in frame pixels.

    Attributes:
        first, last: the centres of its first and last dot.
        dots: dots found (missing ones, hidden under flow, not included).
        colour: its colour, RGB.
        crosses: crosses found at its ends (0-2).
        pixels: ``(P, 2) int`` ``(y, x)`` of the pixels left out of the count.
    """

    first: tuple[float, float]
    last: tuple[float, float]
    dots: int
    colour: tuple[int, int, int]
    crosses: int
    pixels: np.ndarray

    def describe(self) -> dict[str, object]:
        """JSON-ready: the bounds of the pixels left out, the dots, crosses and pixels, the colour."""
        ys, xs = self.pixels[:, 0], self.pixels[:, 1]
        box = {"x0": int(xs.min()), "y0": int(ys.min()), "x1": int(xs.max()) + 1, "y1": int(ys.max()) + 1}
        return {
            "box": box,
            "dots": self.dots,
            "crosses": self.crosses,
            "pixels": int(self.pixels.shape[0]),
            "colour": list(self.colour),
        }


_MINUS_GREY = (np.eye(3) - 1.0 / 3.0).astype(np.float32)  # RGB -> RGB minus its mean


@dataclass(frozen=True, eq=False)
class _Chroma:
    """The chroma of a crop, smoothed: ``vector (h, w, 3)`` = RGB minus its grey, ``norm (h, w)``."""

    vector: np.ndarray
    norm: np.ndarray

    @classmethod
    def of(cls, rgb: np.ndarray) -> _Chroma:
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


def find_calipers(frames: np.ndarray, where: np.ndarray) -> tuple[Caliper, ...]:
    """Calipers on ``frames (N, H, W, 3) uint8 RGB`` (the first is searched, the others confirm), with dots
    where ``where (H, W) bool`` (the picture)."""
    first = frames[0]
    spread = cv2.subtract(
        cv2.max(cv2.max(first[..., 0], first[..., 1]), first[..., 2]),
        cv2.min(cv2.min(first[..., 0], first[..., 1]), first[..., 2]),
    )
    x, y, w, h = cv2.boundingRect(((spread >= MIN_DOT_CHROMA) & where).view(np.uint8))
    if w == 0:
        return ()
    x0, y0 = max(0, x - CROP_MARGIN_PX), max(0, y - CROP_MARGIN_PX)  # the work where the colour is
    x1, y1 = min(first.shape[1], x + w + CROP_MARGIN_PX), min(first.shape[0], y + h + CROP_MARGIN_PX)
    chroma = _Chroma.of(frames[0, y0:y1, x0:x1])
    points = _dots(chroma, where[y0:y1, x0:x1])
    if not MIN_DOTS <= len(points) <= min(MAX_DOTS, MAX_DOT_SHARE * np.count_nonzero(where)):
        return ()  # too few, or so many that the picture is colour noise (a damaged file), not marks on tissue
    found = []
    for row in _rows(points, chroma):
        if frames.shape[0] > 1 and not _static(frames[:, y0:y1, x0:x1], points[row]):
            continue
        caliper = _caliper(chroma, frames[0, y0:y1, x0:x1], points[row], (x0, y0))
        if caliper.pixels.size and (caliper.crosses or caliper.dots >= MIN_DOTS_WITHOUT_CROSS):  # letters?
            found.append(caliper)
    return tuple(found)


def _dots(chroma: _Chroma, where: np.ndarray) -> np.ndarray:
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


def _rows(points: np.ndarray, chroma: _Chroma) -> list[list[int]]:
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
    step = _step_length(a)
    if abs(step - _step_length(b)) > STEP_TOLERANCE_PX:
        return False
    unit = (a[-1] - a[0]) / np.linalg.norm(a[-1] - a[0])
    normal = np.array([-unit[1], unit[0]])
    if np.abs((b - a[0]) @ normal).max() > STEP_TOLERANCE_PX:
        return False
    along_a, along_b = (a - a[0]) @ unit, (b - a[0]) @ unit
    gap = max(along_b.min() - along_a.max(), along_a.min() - along_b.max()) / step
    return gap <= 0 or (gap <= MAX_JOIN_STEPS and abs(gap - round(gap)) <= JOIN_PHASE)  # overlapping, or in step


def _step_length(dots: np.ndarray) -> float:
    """The row's step: the mean of its gaps between neighbours (rounded positions make a slanted row's gaps
    alternate)."""
    gaps = np.linalg.norm(np.diff(dots, axis=0), axis=1)
    return float(gaps[np.abs(gaps - np.median(gaps)) <= STEP_TOLERANCE_PX].mean())


def _seeds(chroma: _Chroma, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(P,) bool``: which pairs of neighbouring peaks ``a``, ``b`` ``(P, 2)`` may start a row: the colour dips
    between them and nothing alike lies beside them (what :func:`_is_caliper` asks of most of a row, asked of
    one gap first)."""
    step = b - a
    normal = np.stack([-step[:, 1], step[:, 0]], axis=1) / np.hypot(*step.T)[:, None]
    weaker = np.minimum(chroma.norm[chroma.at(a)], chroma.norm[chroma.at(b)])
    halfway = (a + b) / 2
    between = np.max([chroma.norm[chroma.at(halfway + offset * normal)] for offset in (-1, 0, 1)], axis=0)
    beside = np.max(
        [chroma.norm[chroma.at(end + offset * normal)] for end in (a, b) for offset in SIDE_OFFSETS_PX], axis=0
    )
    return (between <= DIP_SHARE * weaker) & (beside <= SIDE_SHARE * weaker)


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


def _is_caliper(chroma: _Chroma, dots: np.ndarray, step: np.ndarray) -> bool:
    """Whether the row ``dots (n, 2)`` is drawn (dips between dots, one colour, nothing alike beside it)."""
    ys, xs = chroma.at(dots)
    strength = chroma.norm[ys, xs]
    gaps = np.linalg.norm(np.diff(dots, axis=0), axis=1)
    single = np.abs(gaps - np.median(gaps)) <= STEP_TOLERANCE_PX  # neighbours, no dot missing between
    if single.sum() < MIN_DOTS - 1:
        return False
    normal = np.array([-step[1], step[0]]) / np.hypot(*step)
    halfway = (dots[:-1] + dots[1:]) / 2  # and a pixel either side: a thin line wanders off the straight one
    between = np.max([chroma.norm[chroma.at(halfway + offset * normal)] for offset in (-1, 0, 1)], axis=0)
    dip = between / np.minimum(strength[:-1], strength[1:])
    if np.mean(dip[single] <= DIP_SHARE) < DIP_GAPS:
        return False
    colours = chroma.vector[ys, xs]
    middle = float(np.median(strength))  # the ends may be a cross's centre, brighter than a dot
    steady = np.abs(strength - middle) <= STRENGTH_SPREAD * middle
    steady &= np.abs(colours - np.median(colours, axis=0)).max(axis=1) <= COLOUR_SPREAD
    if steady.mean() < STEADY_DOTS:
        return False
    beside = np.max([chroma.norm[chroma.at(dots + offset * normal)] for offset in SIDE_OFFSETS_PX], axis=0)
    return bool(np.mean(beside <= SIDE_SHARE * strength) >= SIDE_DOTS)


def _static(frames: np.ndarray, dots: np.ndarray) -> bool:
    """Whether the dots stay on every frame of ``frames (N, h, w, 3)``: the colour of the 3x3 pixels around
    each keeps its hue and STATIC_SHARE of its chroma at least (on most dots: a codec smears a thin dot
    differently from frame to frame, and a vessel may pass under one)."""
    h, w = frames.shape[1:3]
    ys, xs = np.rint(dots[:, 1]).astype(np.intp), np.rint(dots[:, 0]).astype(np.intp)
    patch = np.zeros((frames.shape[0], len(dots), 3))
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            patch += frames[:, (ys + dy).clip(0, h - 1), (xs + dx).clip(0, w - 1)]
    vector = patch - patch.mean(axis=2, keepdims=True)  # (N, n, 3)
    size = np.linalg.norm(vector, axis=2) + 1e-6
    hue = (vector * vector[:1]).sum(axis=2) / (size * size[:1]) >= SAME_HUE
    same = hue & (size >= STATIC_SHARE * size[:1])
    return bool((same.mean(axis=1) >= STATIC_DOTS).all())


_PLUS = np.array([(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)])
_EX = np.array([(1.0, 1.0), (-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0)]) / np.sqrt(2.0)


def _caliper(chroma: _Chroma, rgb: np.ndarray, dots: np.ndarray, offset: tuple[int, int]) -> Caliper:
    """The caliper drawn with ``dots (n, 2)`` on the crop ``rgb (h, w, 3)`` at ``offset (x, y)`` in the frame."""
    ys, xs = chroma.at(dots)
    direction = chroma.vector[ys, xs].mean(axis=0)
    direction /= np.linalg.norm(direction)
    top = float(np.median(chroma.norm[ys, xs]))
    cosine = (chroma.vector @ direction) / (chroma.norm + 1e-6)
    bright = (chroma.norm >= 0.15 * top) & (chroma.norm <= 1.3 * top)
    area = np.zeros(chroma.norm.shape, np.uint8)
    steps = max(1, round(float(np.linalg.norm(dots[-1] - dots[0])) / _step_length(dots)))
    step = (dots[-1] - dots[0]) / steps
    for k in range(steps + 1):  # every dot, the ones hidden under flow too, and the codec's smear between them
        cv2.circle(area, _pixel(dots[0] + k * step), DOT_RADIUS_PX, 1, -1)
    cv2.line(area, _pixel(dots[0]), _pixel(dots[-1]), 1, 2 * DOT_RADIUS_PX + 1)
    hue = cosine >= CROSS_HUE
    arm_hue = cv2.dilate((hue & bright).view(np.uint8), np.ones((3, 3), np.uint8)) > 0
    solid = hue & (chroma.norm >= 0.5 * top)
    crosses = 0
    for end, sign in ((dots[0], -1.0), (dots[-1], 1.0)):
        cross = _cross(chroma, arm_hue, solid, end, sign * step)
        if cross is not None:
            crosses += 1
            centre, arms = cross
            for unit, length in arms:
                cv2.line(area, _pixel(centre), _pixel(centre + (length + 1) * unit), 1, 3)
    py, px = np.nonzero(area)
    own = rgb[py, px].astype(np.float32)
    own -= own.mean(axis=1, keepdims=True)  # each pixel's own colour, not smoothed: the caliper's, or flow's
    size = np.sqrt((own**2).sum(axis=1))
    keep = (size >= MIN_LEFT_CHROMA) & (own @ direction >= LEFT_HUE * size)
    py, px = py[keep], px[keep]
    colour = np.median(rgb[ys, xs], axis=0)
    x0, y0 = offset
    return Caliper(
        first=(float(dots[0, 0] + x0), float(dots[0, 1] + y0)),
        last=(float(dots[-1, 0] + x0), float(dots[-1, 1] + y0)),
        dots=len(dots),
        colour=(int(colour[0]), int(colour[1]), int(colour[2])),
        crosses=crosses,
        pixels=np.stack([py + y0, px + x0], axis=1).astype(np.int32),
    )


def _cross(
    chroma: _Chroma, arm_hue: np.ndarray, solid: np.ndarray, end: np.ndarray, step: np.ndarray
) -> tuple[np.ndarray, list[tuple[np.ndarray, int]]] | None:
    """The cross ('+' or 'x') beyond the row's ``end`` (its centre up to three steps on, within a pixel of the
    row's line: an arm's tip may pass for the last dot): its centre and its four arms ``(unit, length px)``, the
    one with the longest arms; None without one."""
    size = float(np.hypot(*step))
    unit_step, normal = step / size, np.array([-step[1], step[0]]) / size
    reach = np.arange(2, int(2 * size) + 1, dtype=np.float64)
    best: tuple[int, np.ndarray, list[tuple[np.ndarray, int]]] | None = None
    for along in np.arange(0.0, 3 * size + 0.5):
        for aside in (-1.0, 0.0, 1.0):
            centre = end + along * unit_step + aside * normal
            for pattern in (_PLUS, _EX):
                arms = []
                for unit in pattern:
                    run = int(np.argmin(np.append(arm_hue[chroma.at(centre + reach[:, None] * unit)], False)))
                    arms.append((unit, int(reach[run - 1]) if run else 0))  # pixels of the hue from the centre out
                if solid[chroma.at(centre + CROSS_GAP_PX * _gaps(pattern))].any():
                    continue  # a cross is open between its arms (a blob or a letter's strokes are not)
                # the arm pointing back along the row runs on into its dots: it is not compared
                lengths = [length for unit, length in arms if unit @ unit_step > -BACK_COSINE]
                total = sum(lengths)
                if min(lengths) < max(CROSS_MIN_ARM_PX, CROSS_ARM_RATIO * max(lengths)):
                    continue
                if best is None or total > best[0]:
                    best = (total, centre, arms)
    return None if best is None else (best[1], best[2])


def _gaps(pattern: np.ndarray) -> np.ndarray:
    """``(4, 2)``: unit vectors halfway between the arms of ``pattern``."""
    halfway = pattern[[0, 0, 1, 1]] + pattern[[2, 3, 2, 3]]
    return halfway / np.linalg.norm(halfway, axis=1, keepdims=True)


def _pixel(point: np.ndarray) -> tuple[int, int]:
    return round(float(point[0])), round(float(point[1]))
