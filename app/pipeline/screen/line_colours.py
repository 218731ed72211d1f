"""Where a frame holds a drawn line's colour, and how clearly the pixels along a supposed line show one: the
matching that the straight and the sector outline searches (``straight_outlines``, ``sector_outlines``) share."""

from __future__ import annotations

import cv2
import numpy as np

# Max channel difference from the line's colour of a pixel on it: anti-aliasing blends a slanted line with the
# speckle beside it, and 4:2:0 codecs move a thin coloured line's chroma by up to ~45 levels (less along rows).
MATCH_TOLERANCE = 48
# ... for a grey line, which codecs keep to within ~20 levels: a wider band would take in half the grey speckle.
GREY_TOLERANCE = 28
GREY_CHROMA = 24  # chroma up to which a colour counts as grey
# ... for a line drawn at one exact level in a lossless frame (``LineColours(rgb, EXACT_TOLERANCE)``): a grey line
# only a little brighter than the tissue it crosses stands out from the speckle by its exact level alone.
EXACT_TOLERANCE = 8
MIN_SIDE_SHARE = 0.5  # share of a side's pixels in the line's colour (flow and codecs take some of the rest)
MIN_SIDE_CONTRAST = 0.25  # ... above the share CONTROL_OFFSET px beside it
CONTROL_OFFSET = 3  # px at 640
LINE_PARTS = 4  # parts of a side checked each on its own (a quarter of a side missing is no side)
MIN_PART_SHARE = 0.35  # share of each part in the line's colour (a codec brightens a thin line over bright tissue)
# Middle parts that may lead what lies beside them by less than MIN_SIDE_CONTRAST: where a grey side crosses tissue
# as bright as the line (a tendon, a fat septum), the speckle beside it matches the line's colour as often as the
# line does. The line's colour must still be there (MIN_PART_SHARE), and both end parts must show the line clearly:
# a side that runs on past its corner into speckle fails an end part.
MAX_HIDDEN_PARTS = 1


def colour_tolerance(colour) -> int:
    """How far (max channel difference) a pixel of a line of ``colour`` may stray from it."""
    return MATCH_TOLERANCE if int(max(colour)) - int(min(colour)) > GREY_CHROMA else GREY_TOLERANCE


class LineColours:
    """Where a frame holds a line's colour: one match plane per colour asked for, made once. A wide plane also
    holds the ``reach`` pixels either side of a match on its row, for searches in steps of 2 * reach that must
    not step over a 1-px line. ``tolerance``: the max channel difference of a match for every colour (else
    :func:`colour_tolerance`'s)."""

    def __init__(self, rgb: np.ndarray, tolerance: int | None = None) -> None:
        self.rgb = rgb
        self.shape = rgb.shape[:2]
        self.tolerance = tolerance
        self._planes: dict[tuple, np.ndarray] = {}

    def _plane(self, key: tuple[int, ...], reach: int) -> np.ndarray:
        plane = self._planes.get((*key, reach))
        if plane is None:
            if reach:
                kernel = np.ones((1, 2 * reach + 1), np.uint8)
                plane = cv2.dilate(self._plane(key, 0).view(np.uint8), kernel).view(bool)
            else:
                tolerance = self.tolerance if self.tolerance is not None else colour_tolerance(key)
                low = tuple(float(max(0, c - tolerance)) for c in key)
                high = tuple(float(min(255, c + tolerance)) for c in key)
                plane = cv2.inRange(self.rgb, low, high).view(bool)  # 0/255 bytes: nonzero is True
            self._planes[(*key, reach)] = plane
        return plane

    def matches(self, colour: np.ndarray, ys: np.ndarray, xs: np.ndarray, reach: int = 0) -> np.ndarray:
        """``bool`` like ``xs``: a pixel within ``reach`` px of ``(ys, xs)`` on its row (clipped to the frame) is
        within the colour's tolerance of ``colour``."""
        plane = self._plane(tuple(int(c) for c in colour), reach)
        width = self.shape[1]
        # one gather from the flat plane at y * width + x; rounding and clipping in place (these calls run
        # over up to a million points in the lean search, so every pass over them counts)
        at = np.rint(xs)
        np.clip(at, 0, width - 1, out=at)
        index = at.astype(np.intp)
        index += np.asarray(ys, dtype=np.intp) * width
        return plane.reshape(-1).take(index)

    def counts(self, colour: np.ndarray, ys: np.ndarray, xs: np.ndarray, reach: int, pad: int) -> np.ndarray:
        """``np.count_nonzero(matches(colour, ys, xs, reach), axis=-1)``, with ``xs`` at most ``pad`` px beyond the
        frame's sides and rows ``ys`` of -1 counted as no match: one gather from a plane with ``pad`` columns
        repeated on each side and a row of no matches, with no clipping pass."""
        key = (*(int(c) for c in colour), reach, "padded", pad)
        plane = self._planes.get(key)
        if plane is None:
            plane = cv2.copyMakeBorder(self._plane(key[:3], reach).view(np.uint8), 0, 0, pad, pad, cv2.BORDER_REPLICATE)
            plane = cv2.copyMakeBorder(plane, 0, 1, 0, 0, cv2.BORDER_CONSTANT, value=0)
            self._planes[key] = plane
        stride = plane.shape[1]
        ys = np.asarray(ys, dtype=np.intp)
        index = np.rint(xs).astype(np.intp)
        index += np.where(ys < 0, self.shape[0], ys) * stride + pad
        return np.count_nonzero(plane.reshape(-1).take(index), axis=-1)

    def shifted_matches(
        self, colour: np.ndarray, ys: np.ndarray, start: float, offsets: np.ndarray, step: int, count: int, reach: int
    ) -> np.ndarray:
        """``(count, L) float``: for each of ``count`` positions ``start + i * step`` (``step`` an even number of
        px) and each of the L rows of ``offsets (L, K)``, the share of the K points ``(ys[k], position +
        offsets[l, k])`` that ``matches`` would find in the colour. The same as ``matches(...).mean(-1)`` over
        the (count, L, K) points, in two passes over them instead of six: the rounding is done once for the
        (L, K) offsets (an even shift keeps round-half-to-even's ties), and the frame's edge columns are
        repeated beside it where ``matches`` would clip."""
        plane = self._plane(tuple(int(c) for c in colour), reach).view(np.uint8)
        width = self.shape[1]
        base = np.rint(start + offsets)  # (L, K)
        shifts = step * np.arange(count)  # (P,)
        low = int(min(base.min() + min(0, shifts[-1]), 0))
        high = int(max(base.max() + max(0, shifts[-1]) - (width - 1), 0))
        if low or high:
            plane = cv2.copyMakeBorder(plane, 0, 0, -low, high, cv2.BORDER_REPLICATE)
        stride = width - low + high
        index = (base.astype(np.intp) - low) + np.asarray(ys, dtype=np.intp) * stride  # (L, K)
        points = plane.reshape(-1).take(index[None] + shifts[:, None, None])  # (P, L, K) uint8 0/255
        return np.count_nonzero(points, axis=2) / offsets.shape[1]


def line_score(on: np.ndarray, beside: list[np.ndarray]) -> float | None:
    """How clearly the matches ``on`` a supposed line (in order along it) show a line, or None when they do not:
    enough of them, in each of LINE_PARTS parts of it, and clearly more than ``beside`` it in both end parts and in
    all middle parts but MAX_HIDDEN_PARTS (a side that runs on past its corner into speckle fails an end part). The
    score is the least lead of the parts that show the line clearly."""
    return line_scores(on[None], [b[None] for b in beside], np.array([on.size]))[0]


def line_scores(on: np.ndarray, beside: list[np.ndarray], sizes: np.ndarray) -> list[float | None]:
    """:func:`line_score` of each row of ``on (N, K)`` (and of ``beside``, each ``(N, K)``), the first ``sizes[n]``
    matches of row ``n`` being its line's."""
    sizes = np.asarray(sizes, dtype=np.intp)
    rows = np.arange(sizes.size)[:, None]
    # the parts' bounds as np.linspace(0, size, LINE_PARTS + 1).round() has them
    bounds = np.arange(LINE_PARTS + 1)[None, :] * (sizes / LINE_PARTS)[:, None]
    bounds[:, -1] = sizes
    bounds = bounds.round().astype(np.intp)
    lo, hi = bounds[:, :-1], bounds[:, 1:]

    def shares(matched: np.ndarray) -> np.ndarray:  # (N, LINE_PARTS): each part's share, from one running count
        counts = np.zeros((matched.shape[0], matched.shape[1] + 1), dtype=np.int64)
        np.cumsum(matched, axis=1, out=counts[:, 1:])
        return (counts[rows, hi] - counts[rows, lo]) / np.maximum(hi - lo, 1)  # an empty part fails below

    share = shares(on)
    lead = share - np.maximum.reduce([shares(b) for b in beside])
    clear = lead >= MIN_SIDE_CONTRAST  # (N, LINE_PARTS)
    total = np.count_nonzero(on & (np.arange(on.shape[1])[None, :] < sizes[:, None]), axis=1)
    fails = (total < MIN_SIDE_SHARE * sizes) | np.any(hi <= lo, axis=1) | np.any(share < MIN_PART_SHARE, axis=1)
    fails |= ~clear[:, 0] | ~clear[:, -1] | (np.count_nonzero(~clear[:, 1:-1], axis=1) > MAX_HIDDEN_PARTS)
    least = np.where(clear, lead, np.inf).min(axis=1).tolist()
    return [None if fail else float(value) for fail, value in zip(fails.tolist(), least, strict=True)]
