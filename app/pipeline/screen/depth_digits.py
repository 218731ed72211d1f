"""Digits of a depth scale's labels, read by shape alone (holes, flat bars, which side is open): no OCR and
no font templates, so that any scanner's font reads (:mod:`.depth_scale`)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# --- digits --------------------------------------------------------------------------------------------------

_SIZE = 32  # px a glyph is scaled to (height) before its shape is measured


@dataclass(frozen=True)
class GlyphShape:
    """What tells digits apart in most fonts: holes, flat bars and which side opens above and below the middle."""

    holes: tuple[tuple[float, float, float], ...]  # (x, y, height) of each hole, as shares of the glyph, by y
    narrow: bool  # thin, or one upright stem through the middle rows (1)
    top_bar: bool
    bottom_bar: bool  # a flat bar along the bottom from the left edge (2)
    cross_bar: bool  # a full-width bar low in the glyph with only a stem on the right below it (4)
    foot_right: bool  # the lowest rows hold ink only on the right (4's stem)
    foot_left: bool  # the lowest rows hold a short stroke left of the right edge (7's stem)
    single: bool  # one stroke per row from a third down (7)
    upper_left_open: bool  # a row above the middle with no ink on its left
    upper_right_open: bool
    lower_left_open: bool
    lower_right_open: bool


def glyph_shape(crop: np.ndarray) -> GlyphShape | None:
    """The shape of a bright glyph on a dark ``crop`` (uint8 grey, the glyph's bounding box)."""
    h, w = crop.shape
    lo, hi = int(crop.min()), int(crop.max())
    if h < 5 or hi - lo < 30:
        return None
    native = (crop > (lo + hi) / 2).astype(np.uint8)
    rows_lit, cols_lit = np.flatnonzero(native.any(axis=1)), np.flatnonzero(native.any(axis=0))
    native = native[rows_lit[0] : rows_lit[-1] + 1, cols_lit[0] : cols_lit[-1] + 1]  # faint edges off
    h, w = native.shape
    if h < 5:
        return None
    holes = _holes(native)
    nw = max(3, round(_SIZE * w / h))
    if h <= _SIZE:
        ink = cv2.resize(native, (nw, _SIZE), interpolation=cv2.INTER_NEAREST)
    else:
        ink = (cv2.resize(native.astype(np.float32), (nw, _SIZE), interpolation=cv2.INTER_AREA) > 0.5).astype(np.uint8)
    scale = max(1, nw - 1)
    padded = np.zeros((_SIZE, nw + 2), np.int8)
    padded[:, 1:-1] = ink
    step = np.diff(padded, axis=1)
    row, start = np.nonzero(step == 1)
    stop = np.nonzero(step == -1)[1]  # runs of ink per row: [start, stop), in row order
    length = stop - start
    longest = np.zeros(_SIZE, int)
    np.maximum.at(longest, row, length)
    strokes = np.bincount(row, minlength=_SIZE)
    lit = strokes > 0
    first = np.full(_SIZE, 1.0)
    last = np.zeros(_SIZE)
    np.minimum.at(first, row, start / scale)
    np.maximum.at(last, row, (stop - 1) / scale)

    def rows(a: float, b: float) -> slice:
        return slice(round(a * _SIZE), max(round(a * _SIZE) + 1, round(b * _SIZE)))

    # the widest run of each middle row: a "1" is one upright stem there
    mid = rows(0.4, 0.75)
    widest = np.lexsort((-length, row))
    head = widest[np.r_[True, row[widest][1:] != row[widest][:-1]]]
    head = head[(row[head] >= mid.start) & (row[head] < mid.stop)]
    centres = (start[head] + stop[head] - 1) / 2 / scale
    stem = (
        head.size > 0
        and float((length[head] / nw).max()) <= 0.45
        and float(np.ptp(centres)) <= 0.15
        and 0.3 <= float(centres.mean()) <= 0.7
    )
    foot = rows(0.9, 1.0)
    foot_cols = np.flatnonzero(ink[foot].any(axis=0)) / scale
    up, down, bottom = rows(0.15, 0.38), rows(0.6, 0.85), rows(0.93, 1.0)
    return GlyphShape(
        holes=holes,
        narrow=w / h < 0.42 or stem,
        top_bar=longest[rows(0.0, 0.07)].max() / nw >= 0.65,
        bottom_bar=bool((longest[bottom] / nw >= 0.65).any() and first[bottom].min() <= 0.15),
        cross_bar=longest[rows(0.5, 0.8)].max() / nw >= 0.75 and bool(first[rows(0.85, 1.0)].min() >= 0.4),
        foot_right=bool(first[foot].min() >= 0.4),
        foot_left=foot_cols.size > 0 and foot_cols.max() <= 0.65 and float(np.ptp(foot_cols)) <= 0.45,
        single=bool(strokes[rows(0.3, 0.95)].max() <= 1),
        upper_left_open=bool((lit[up] & (first[up] >= 0.42)).any()),
        upper_right_open=bool((lit[up] & (last[up] <= 0.58)).any()),
        lower_left_open=bool((lit[down] & (first[down] >= 0.42)).any()),
        lower_right_open=bool((lit[down] & (last[down] <= 0.58)).any()),
    )


def _holes(native: np.ndarray) -> tuple[tuple[float, float, float], ...]:
    """``(x, y, height)`` of the holes of a binary glyph at its own size (small glyphs close their holes only
    through diagonal pixels, which scaling would open), as shares of the glyph, top first."""
    h, w = native.shape
    padded = cv2.copyMakeBorder(native, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    contours, hierarchy = cv2.findContours(padded, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    holes = []
    if hierarchy is None:
        return ()
    for contour, rel in zip(contours, hierarchy[0], strict=True):
        if rel[3] < 0:
            continue
        x, y, cw, ch = cv2.boundingRect(contour)
        fill = np.zeros((ch, cw), np.uint8)
        cv2.drawContours(fill, [contour], -1, 1, -1, offset=(-x, -y))
        if np.count_nonzero(fill & (padded[y : y + ch, x : x + cw] == 0)) < max(2, 0.015 * h * w):
            continue
        holes.append(((x + cw / 2 - 1) / w, (y + ch / 2 - 1) / h, ch / h))
    return tuple(sorted(holes, key=lambda t: t[1]))


def digit_scores(s: GlyphShape) -> np.ndarray:
    """``(10,)`` agreement (0..1) of shape ``s`` with each digit: the weighted share of that digit's traits it shows."""
    holes = s.holes
    n = len(holes)
    # two holes side by side, overlapping in height: a zero with a slash or a dot in it; stacked: an eight
    beside = n == 2 and (holes[0][1] + holes[0][2] / 2) - (holes[1][1] - holes[1][2] / 2) >= 0.3 * min(
        holes[0][2], holes[1][2]
    )
    zero = (n == 1 and 0.35 <= holes[0][1] <= 0.65 and holes[0][2] >= 0.55) or beside
    eight = n == 2 and not beside
    low = n == 1 and holes[0][1] > 0.55
    high = n == 1 and holes[0][1] < 0.45
    closed = not (s.upper_left_open or s.upper_right_open or s.lower_left_open or s.lower_right_open)
    wide = not s.narrow
    traits: list[list[tuple[bool, float]]] = [
        [(zero, 3), (closed, 1), (wide, 1), (not s.cross_bar, 2)],
        [(n == 0, 2), (s.narrow, 2), (not s.top_bar, 1)],
        [
            (n == 0, 2),
            (wide, 1),
            (s.bottom_bar, 1),
            (s.upper_left_open, 1),
            (s.lower_right_open, 1),
            (not s.foot_left, 1),
        ],
        [
            (n == 0, 2),
            (wide, 1),
            (s.upper_left_open, 1),
            (s.lower_left_open, 1),
            (not s.lower_right_open, 1),
            (not s.bottom_bar, 1),
            (not s.single, 1),
            (not s.foot_left, 1),
        ],
        [(n <= 1 and not low, 2), (s.cross_bar, 2), (s.foot_right, 1), (wide, 1)],
        [
            (n == 0, 2),
            (wide, 1),
            (s.top_bar, 1),
            (s.upper_right_open, 1),
            (s.lower_left_open, 1),
            (not s.upper_left_open, 1),
            (not s.foot_left, 1),
        ],
        [(n == 1, 2), (low, 1), (s.upper_right_open, 1), (wide, 1), (not s.cross_bar, 1)],
        [(n == 0, 2), (wide, 1), (s.top_bar, 1), (s.single, 1), (not s.bottom_bar, 1), (s.foot_left, 1)],
        [(eight, 3), (wide, 1)],
        [(n == 1, 2), (high, 1), (s.lower_left_open, 1), (wide, 1), (not s.cross_bar, 1)],
    ]
    return np.array([sum(w for ok, w in t if ok) / sum(w for _, w in t) for t in traits])
