"""Measurement calipers drawn in colour over the picture, so that their pixels are never counted as flow.

A sonographer measures a tendon's thickness with two crosses joined by a dotted line, drawn in one colour
(yellow, green, cyan) over the picture and kept in the exported still or frozen cine. Across a Doppler box
every dot is a small patch of saturated colour: the counter would count it as flow and each dot of five pixels
or more as a vessel.

A caliper is found from its dots, which no flow looks like (:mod:`.caliper_dots`: peaks of chroma standing
alone, MIN_DOTS or more of one hue in a straight row at one step, the colour dipping between them, nothing
alike beside them). Then:

* on a clip the dots are drawn on every frame looked at (flow changes, a caliper stays);
* a row of fewer than MIN_DOTS_WITHOUT_CROSS dots needs a cross at one end at least (a word's letters can
  stand in a row of alike dots).

The pixels left out are the dots (a disc of DOT_RADIUS_PX at every step of the row, and a line as wide from
the first dot to the last, for the codec's smear) and the cross found at each end ('+' or 'x', its centre up to
three steps beyond the last dot), only where a pixel's colour is the caliper's hue: flow of another hue under
it is still counted. What shows no dotted row is not found: a lone cross, a solid line, and a dotted line that a
lossy codec smeared into an even streak. A dotted Doppler box outline is a row of dots too: the screen parser
keeps the rows that lie along a box's border out (:func:`off_borders`). Measured on the held-out family in
docs/benchmarks.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from app.pipeline.screen.caliper_dots import (
    MAX_STEP_PX,
    MIN_DOT_CHROMA,
    MIN_DOTS,
    SAME_HUE,
    Chroma,
    find_dots,
    find_rows,
    step_length,
)
from app.pipeline.screen.planes import value_chroma

__all__ = ["Caliper", "caliper_pixels", "find_calipers", "off_borders"]

MIN_DOTS_WITHOUT_CROSS = 8
# A dotted box outline is no caliper: a row of dots with this share of its pixels within BORDER_BAND px of a box's
# border is the outline.
BORDER_BAND = 3
BORDER_SHARE = 0.5
STATIC_SHARE = 0.5  # on a clip, a dot keeps its hue and this share of its chroma on every frame ...
STATIC_DOTS = 0.7  # ... on this share of the dots at least
DOT_RADIUS_PX = 2
LEFT_HUE = 0.9  # a pixel of the caliper's area is left out when its own colour has the caliper's hue ...
MIN_LEFT_CHROMA = 10.0  # ... and at least this chroma (a grey pixel under the smear is tissue)
CROSS_HUE = 0.95  # a cross's arm: pixels of the caliper's hue, their chroma within ARM_CHROMA of the dots' ...
ARM_CHROMA = (0.15, 1.3)
CROSS_MIN_ARM_PX = 3  # ... for at least this long on all four arms, ...
CROSS_GAP_PX = 4  # ... and nothing clearly of the hue (CROSS_GAP_SHARE of the dots' chroma) this far out
CROSS_GAP_SHARE = 0.5  # between the arms ...
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


def caliper_pixels(calipers: tuple[Caliper, ...] | list[Caliper], height: int, width: int) -> np.ndarray:
    """``(height, width) bool``: the pixels of ``calipers`` (those left out of the count)."""
    out = np.zeros((height, width), dtype=bool)
    for caliper in calipers:
        ys, xs = caliper.pixels[:, 0], caliper.pixels[:, 1]
        inside = (ys < height) & (xs < width)
        out[ys[inside], xs[inside]] = True
    return out


def off_borders(calipers: tuple[Caliper, ...], interior: np.ndarray) -> tuple[Caliper, ...]:
    """The calipers that are not a dotted box outline: most of a caliper's pixels lie off the border of
    ``interior (H, W) bool`` (the Doppler boxes' interiors), BORDER_BAND px either side of it."""
    x, y, w, h = cv2.boundingRect(interior.view(np.uint8))
    if not calipers or w == 0:
        return calipers
    pad = BORDER_BAND + 1
    inner = np.ascontiguousarray(interior[: y + h + pad, : x + w + pad], dtype=np.uint8)  # the work near the boxes
    kernel = np.ones((2 * BORDER_BAND + 1, 2 * BORDER_BAND + 1), np.uint8)
    border = cv2.dilate(inner, kernel) > cv2.erode(inner, kernel)
    kept = []
    for caliper in calipers:
        ys, xs = caliper.pixels[:, 0], caliper.pixels[:, 1]
        inside = (ys < border.shape[0]) & (xs < border.shape[1])
        if border[ys[inside], xs[inside]].sum() < BORDER_SHARE * len(ys):
            kept.append(caliper)
    return tuple(kept)


def find_calipers(frames: np.ndarray, where: np.ndarray, spread: np.ndarray | None = None) -> tuple[Caliper, ...]:
    """Calipers on ``frames (N, H, W, 3) uint8 RGB`` (the first is searched, the others confirm), with dots
    where ``where (H, W) bool`` (the picture). ``spread``: the first frame's ``max - min`` (``Planes.chroma``),
    when the caller has it."""
    first = frames[0]
    if spread is None:
        spread = value_chroma(first)[1]
    x, y, w, h = cv2.boundingRect(((spread >= MIN_DOT_CHROMA) & where).view(np.uint8))
    if w == 0:
        return ()
    x0, y0 = max(0, x - CROP_MARGIN_PX), max(0, y - CROP_MARGIN_PX)  # the work where the colour is
    x1, y1 = min(first.shape[1], x + w + CROP_MARGIN_PX), min(first.shape[0], y + h + CROP_MARGIN_PX)
    chroma = Chroma.of(frames[0, y0:y1, x0:x1])
    points = find_dots(chroma, where[y0:y1, x0:x1])
    if not MIN_DOTS <= len(points) <= min(MAX_DOTS, MAX_DOT_SHARE * np.count_nonzero(where)):
        return ()  # too few, or so many that the picture is colour noise (a damaged file), not marks on tissue
    found = []
    for row in find_rows(points, chroma):
        if frames.shape[0] > 1 and not _static(frames[:, y0:y1, x0:x1], points[row]):
            continue
        caliper = _caliper(chroma, frames[0, y0:y1, x0:x1], points[row], (x0, y0))
        if caliper.pixels.size and (caliper.crosses or caliper.dots >= MIN_DOTS_WITHOUT_CROSS):  # letters?
            found.append(caliper)
    return tuple(found)


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


def _caliper(chroma: Chroma, rgb: np.ndarray, dots: np.ndarray, offset: tuple[int, int]) -> Caliper:
    """The caliper drawn with ``dots (n, 2)`` on the crop ``rgb (h, w, 3)`` at ``offset (x, y)`` in the frame."""
    ys, xs = chroma.at(dots)
    direction = chroma.vector[ys, xs].mean(axis=0)
    direction /= np.linalg.norm(direction)
    top = float(np.median(chroma.norm[ys, xs]))
    cosine = (chroma.vector @ direction) / (chroma.norm + 1e-6)
    bright = (chroma.norm >= ARM_CHROMA[0] * top) & (chroma.norm <= ARM_CHROMA[1] * top)
    area = np.zeros(chroma.norm.shape, np.uint8)
    steps = max(1, round(float(np.linalg.norm(dots[-1] - dots[0])) / step_length(dots)))
    step = (dots[-1] - dots[0]) / steps
    for k in range(steps + 1):  # every dot, the ones hidden under flow too, and the codec's smear between them
        cv2.circle(area, _pixel(dots[0] + k * step), DOT_RADIUS_PX, 1, -1)
    cv2.line(area, _pixel(dots[0]), _pixel(dots[-1]), 1, 2 * DOT_RADIUS_PX + 1)
    hue = cosine >= CROSS_HUE
    arm_hue = cv2.dilate((hue & bright).view(np.uint8), np.ones((3, 3), np.uint8)) > 0
    solid = hue & (chroma.norm >= CROSS_GAP_SHARE * top)
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
    chroma: Chroma, arm_hue: np.ndarray, solid: np.ndarray, end: np.ndarray, step: np.ndarray
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
