"""The colour bar (legend): found on the screen, excluded from counting, read into a colour -> value map.

A colour bar is a solid strip of saturated colours that change smoothly along its length and not (1-D
maps) or only in a few steps (2-D velocity x variance maps) across it. Colour-flow bars show flow toward
the probe at one end and away from it at the other, with black or near-black at the baseline; GE draws
its power legend the same way, one hue ramp mirrored about a black baseline
(docs/references.md#doppler-screens). Where the baseline cuts the saturated part in two, the halves are joined again.

What is not a legend: a header banner (one fill colour along its length under its text, or a gradient
across most of the screen), coloured text, and the grey-scale bar of the B-mode map, which some scanners
tint (Mindray's is bluish: its bright end is "colour" by the chroma rule) but which stays pale. The kind
comes from the hues along the bar: warm at one end and cool at the other is a velocity map, whichever end
is on top; one hue family is a power map.

Values follow the bar's own geometry: velocity bars give a signed fraction of the scale, +1 at the top
(right) end, -1 at the bottom (left) end and 0 at the baseline — the ends carry the labelled +/- limits
whatever the colours (an inverted map keeps "+" on top); power bars give a level from 0 at the dark
baseline to 1 at the bright end(s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from app.pipeline.geometry import Rect, contains
from app.pipeline.screen.bar_pieces import MIN_BAR_SATURATION, MIN_PIECE_LONG, MIN_PIECE_SHORT, Piece, find_piece
from app.pipeline.screen.planes import COOL_HUES, WARM_HUES, Planes, hue, in_hues
from cuda_ops import DopplerLUT, table_lut
from cuda_ops.lut import DEFAULT_TABLE_BITS

BarKind = Literal["velocity", "power"]
Orientation = Literal["vertical", "horizontal"]

MIN_BAR_LONG = 24  # px along a whole bar
MIN_BAR_SHARE = 0.08  # ... and at least this share of the frame's height (width for a horizontal bar)
MIN_BAR_ASPECT = 2.0  # length / width of a whole bar
MIN_BAR_RANGE = 100  # grey levels a whole bar's colours span in some channel (a full ramp, dark to bright)
MAX_GAP_SHARE = 0.5  # a baseline gap is at most this share of the shorter half
ACROSS_SLACK = 0.15  # joined halves line up across the bar within this share of its width (codec smear)
BASELINE_SLACK = 8  # grey levels above the darkest row that still belong to the baseline band
MAX_ACROSS_1D = 24  # grey levels of spread across a row that still make the bar one-dimensional
MIN_SIDE_SHARE = 0.1  # a side shorter than this share of the bar is no side (a one-ramp power bar)
# A bar spans at most this share of the frame along it: real legends take a third or less of the height (a
# quarter of the width lying down); strips longer than half the screen are header banners and panels.
MAX_BAR_LENGTH_SHARE = 0.5
HUE_LEVEL = 64  # brightness from which a bar position's hue is read (the baseline band is darker)
HUE_CHROMA = 48  # chroma from which a bar position's hue is read (near-white ends are paler)
MAX_HUE_OVERLAP = 0.1  # share of one hue family's positions allowed on the other family's side of a velocity bar
_EXTEND_SHARE = 0.2  # the ends are followed past the saturated part by at most this share of the length


@dataclass(frozen=True, eq=False)
class ColourBar:
    """A parsed colour bar.

    Attributes:
        bbox: half-open ``(x0, y0, x1, y1)`` of the bar (labels and grey-scale bars beside it excluded).
        colours: ``(K, 3) uint8`` RGB, the distinct colours of the bar ordered along it (top or left first).
        values: ``(K,) float32``: signed velocity fraction in -1..1 (velocity) or power level in 0..1 (power).
        kind: "velocity" (colour flow) or "power".
        orientation: the axis the values change along.
        baseline: pixel coordinate along that axis (y or x) where the value is 0.
        source: "pixels", or "dicom_region" when a colour-bar region (RegionDataType 0x0E) placed it.
    """

    bbox: Rect
    colours: np.ndarray
    values: np.ndarray
    kind: BarKind
    orientation: Orientation
    baseline: float
    source: Literal["pixels", "dicom_region"] = "pixels"

    def value_of(self, colours: np.ndarray) -> np.ndarray:
        """Value of the nearest bar colour (Euclidean RGB) for each of ``colours (M, 3)`` -> ``(M,) float32``."""
        query = np.asarray(colours, dtype=np.float32).reshape(-1, 3)
        bar = self.colours.astype(np.float32)
        d2 = (query**2).sum(1)[:, None] - 2.0 * query @ bar.T + (bar**2).sum(1)[None, :]  # (M, K)
        return self.values[np.argmin(d2, axis=1)]

    def lut(self, chroma_threshold: int, bits: int = DEFAULT_TABLE_BITS) -> DopplerLUT:
        """A table LUT: Doppler by the chroma rule at each cell centre, value of the nearest bar colour.

        ``is_doppler`` is exactly ``max - min > chroma_threshold`` evaluated on the cell centres, so reading
        a bar changes what a pixel is worth, never whether it is counted (up to the table's resolution).
        """
        size = 1 << bits
        centres = ((np.arange(size) << (8 - bits)) + ((1 << (8 - bits)) >> 1)).astype(np.float32)
        r, g, b = np.meshgrid(centres, centres, centres, indexing="ij")
        chroma = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
        nearest = _nearest_on_grid(centres, self.colours.astype(np.float32))  # (S, S, S) index into colours
        return table_lut(chroma > chroma_threshold, self.values[nearest])

    def describe(self) -> dict[str, object]:
        x0, y0, x1, y1 = self.bbox
        return {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "kind": self.kind, "source": self.source}


def _nearest_on_grid(centres: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Index of the nearest of ``colours (K, 3)`` for every cell of the ``centres^3`` grid, ``(S, S, S) int``.

    One pass over the grid per colour with separable squared distances: ~0.5 ms per colour at 64^3, and
    K stays small because colours are deduplicated at the table's own resolution.
    """
    size = centres.size
    best = np.full((size, size, size), np.inf, dtype=np.float32)
    index = np.zeros(best.shape, dtype=np.int32)
    d2 = np.empty_like(best)
    closer = np.empty(best.shape, dtype=bool)
    squares = (centres[None, None, :] - colours[:, :, None]) ** 2  # (K, 3, S)
    for k in range(colours.shape[0]):
        np.add(squares[k, 0][:, None, None], squares[k, 1][None, :, None], out=d2)
        d2 += squares[k, 2][None, None, :]
        np.less(d2, best, out=closer)
        np.copyto(best, d2, where=closer)
        np.copyto(index, k, where=closer)
    return index


# --- finding ---------------------------------------------------------------------------------------------------


def find_colour_bars(planes: Planes, within: Rect | None = None) -> list[ColourBar]:
    """Colour bars on the reference frame (only inside ``within`` when given), longest first."""
    pieces = []
    for contour in planes.colour_contours:
        x, y, w, h = cv2.boundingRect(contour)
        if within is not None and not contains(within, (x, y, x + w, y + h)):
            continue
        if min(w, h) >= MIN_PIECE_SHORT and max(w, h) >= MIN_PIECE_LONG:
            piece = find_piece(planes, (x, y, x + w, y + h))
            if piece is not None:
                pieces.append(piece)
    joined = _join(pieces)
    joined = [(r, v) for r, v in joined if not any(o != r and contains(o, r) for o, _ in joined)]
    bars = []
    for rect, vertical in joined:
        long, short = (rect[3] - rect[1], rect[2] - rect[0]) if vertical else (rect[2] - rect[0], rect[3] - rect[1])
        size = planes.shape[0] if vertical else planes.shape[1]
        if long < max(MIN_BAR_LONG, MIN_BAR_SHARE * size) or long < MIN_BAR_ASPECT * short:
            continue
        if long > MAX_BAR_LENGTH_SHARE * size:
            continue  # a header banner or a panel
        rect = _extend(planes, rect, vertical)
        if _legend_like(_profile(_along(planes, rect, vertical)[0])):
            bars.append(read_bar(planes, rect, vertical))
    bars.sort(key=lambda b: -max(b.bbox[2] - b.bbox[0], b.bbox[3] - b.bbox[1]))
    return bars


def bar_from_region(planes: Planes, rect: Rect) -> ColourBar:
    """The colour bar inside a DICOM colour-bar region; the whole region when no bar is seen in it."""
    found = find_colour_bars(planes, within=rect)
    bar = found[0] if found else read_bar(planes, rect, vertical=rect[3] - rect[1] >= rect[2] - rect[0])
    return ColourBar(bar.bbox, bar.colours, bar.values, bar.kind, bar.orientation, bar.baseline, "dicom_region")


def _join(pieces: list[Piece]) -> list[tuple[Rect, bool]]:
    """Join pieces that continue one another along their axis across a short gap (the baseline)."""
    pieces = sorted(pieces, key=lambda p: (p.rect[1], p.rect[0]) if p.vertical else (p.rect[0], p.rect[1]))
    joined: list[tuple[Rect, bool]] = []
    used = [False] * len(pieces)
    for i, piece in enumerate(pieces):
        if used[i]:
            continue
        rect = piece.rect
        for j in range(i + 1, len(pieces)):
            other = pieces[j].rect
            if not used[j] and pieces[j].vertical == piece.vertical and _continues(rect, other, piece.vertical):
                rect = (min(rect[0], other[0]), min(rect[1], other[1]), max(rect[2], other[2]), max(rect[3], other[3]))
                used[j] = True
        joined.append((rect, piece.vertical))
    return joined


def _continues(a: Rect, b: Rect, vertical: bool) -> bool:
    """Whether ``b`` follows ``a`` along the axis with the same cross-section and a short gap."""
    across, along = ((0, 2), (1, 3)) if vertical else ((1, 3), (0, 2))
    slack = max(2, ACROSS_SLACK * (a[across[1]] - a[across[0]]))
    if abs(a[across[0]] - b[across[0]]) > slack or abs(a[across[1]] - b[across[1]]) > slack:
        return False
    gap = b[along[0]] - a[along[1]]
    shorter = min(a[along[1]] - a[along[0]], b[along[1]] - b[along[0]])
    return 0 <= gap <= max(4, MAX_GAP_SHARE * shorter)


def _extend(planes: Planes, rect: Rect, vertical: bool) -> Rect:
    """Follow the bar's ends past the saturated part while rows stay uniform, bright and continuous.

    The extreme ends of many maps are near-white (cyan or yellow fading to white), below the chroma threshold.
    """
    frame = planes.frame if vertical else planes.frame.transpose(1, 0, 2)
    x0, y0, x1, y1 = rect if vertical else (rect[1], rect[0], rect[3], rect[2])
    limit = int(_EXTEND_SHARE * (y1 - y0))
    ends = [y0, y1]
    for direction in (-1, 1):
        last = frame[y0 if direction < 0 else y1 - 1, x0:x1].astype(np.int16)
        for _ in range(limit):
            y = ends[0] - 1 if direction < 0 else ends[1]
            if not 0 <= y < frame.shape[0]:
                break
            row = frame[y, x0:x1].astype(np.int16)
            uniform = np.ptp(row, axis=0).max() <= 16
            if not (uniform and row.max() >= 64 and np.abs(row.mean(0) - last.mean(0)).max() <= 48):
                break
            ends[0 if direction < 0 else 1] += direction
            last = row
    return (x0, ends[0], x1, ends[1]) if vertical else (ends[0], x0, ends[1], x1)


# --- reading ---------------------------------------------------------------------------------------------------


def _along(planes: Planes, rect: Rect, vertical: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(rgb (L, W, 3), chroma (L, W))`` of the bar at ``rect``, the top (right) end first, edge columns cut."""
    x0, y0, x1, y1 = rect
    rgb, chroma = planes.frame[y0:y1, x0:x1], planes.chroma[y0:y1, x0:x1]
    if not vertical:  # the right end first, as the top end of a vertical bar
        rgb, chroma = rgb.transpose(1, 0, 2)[::-1], chroma.T[::-1]
    if rgb.shape[1] >= 5:  # edge columns carry the codec's smear from the background
        rgb, chroma = rgb[:, 1:-1], chroma[:, 1:-1]
    return rgb, chroma


def _profile(rgb: np.ndarray) -> np.ndarray:
    """``(L, 3) int16``: the median colour of each position along the bar, over its middle half across."""
    width = rgb.shape[1]
    centre = rgb[:, width // 4 : max(width // 4 + 1, width - width // 4)]
    return np.median(centre, axis=1).astype(np.int16)


def _legend_like(profile: np.ndarray) -> bool:
    """Whether a bar's colours read as a Doppler legend: a full, saturated ramp along it.

    Text on a banner is a minority of each position, so the medians of a banner are its fill: no ramp.
    """
    if profile.shape[0] == 0 or np.ptp(profile, axis=0).max() < MIN_BAR_RANGE:
        return False
    value = profile.max(axis=1)
    lit = value >= HUE_LEVEL
    if not lit.any():
        return False
    saturation = (value - profile.min(axis=1))[lit] / value[lit]
    return float(np.median(saturation)) >= MIN_BAR_SATURATION


def read_bar(planes: Planes, rect: Rect, vertical: bool) -> ColourBar:
    """Read the colours of the bar at ``rect`` into values (see the module docstring for the convention)."""
    x0, y0, x1, y1 = rect
    rgb, _ = _along(planes, rect, vertical)
    length = rgb.shape[0]
    profile = _profile(rgb)
    brightness = rgb.max(axis=2).mean(axis=1)  # (L,)
    kind, base = _kind(profile, brightness)
    position = np.arange(length, dtype=np.float64)
    top_span, bottom_span = base, length - 1 - base
    above = (base - position) / max(top_span, 1e-9)
    signed = np.where(position <= base, above, -(position - base) / max(bottom_span, 1e-9))
    values = signed if kind == "velocity" else np.abs(signed)
    if min(top_span, bottom_span) < MIN_SIDE_SHARE * length:  # one ramp: 0 at the dark end
        values = np.abs(position - base) / max(top_span, bottom_span, 1e-9)
    colours, value_of_colour = _distinct(rgb, values)
    along = y0 + base if vertical else x1 - 1 - base
    return ColourBar(
        bbox=(int(x0), int(y0), int(x1), int(y1)),
        colours=colours,
        values=value_of_colour,
        kind=kind,
        orientation="vertical" if vertical else "horizontal",
        baseline=float(along),
    )


def _baseline(brightness: np.ndarray, lo: int = 0, hi: int | None = None) -> float:
    """Centre of the darkest band along the bar (between positions ``lo`` and ``hi`` inclusive when given)."""
    hi = brightness.size - 1 if hi is None else hi
    darkest = lo + int(np.argmin(brightness[lo : hi + 1]))
    band = brightness <= brightness[darkest] + BASELINE_SLACK
    first = last = darkest
    while first > 0 and band[first - 1]:
        first -= 1
    while last < brightness.size - 1 and band[last + 1]:
        last += 1
    return 0.5 * (first + last)


def _kind(profile: np.ndarray, brightness: np.ndarray) -> tuple[BarKind, float]:
    """The bar's kind and baseline position: velocity when warm hues hold one end and cool hues the other.

    The baseline of a velocity bar is the darkest band between the two families (an end of the map may be
    darker than its baseline); of a power bar, the darkest band anywhere (an end, or the middle of a
    mirrored ramp).
    """
    length = profile.shape[0]
    value = profile.max(axis=1)
    readable = np.flatnonzero((value >= HUE_LEVEL) & (value - profile.min(axis=1) >= HUE_CHROMA))
    h = hue(np.clip(profile[readable], 0, 255).astype(np.uint8))
    warm, cool = readable[in_hues(h, WARM_HUES)], readable[in_hues(h, COOL_HUES)]
    if min(warm.size, cool.size) >= MIN_SIDE_SHARE * length:
        first, second = (warm, cool) if np.median(warm) < np.median(cool) else (cool, warm)
        split = 0.5 * (np.median(first) + np.median(second))
        astray = np.count_nonzero(first > split) + np.count_nonzero(second < split)
        if astray <= MAX_HUE_OVERLAP * (first.size + second.size):
            inner_first = int(np.percentile(first, 90))
            inner_second = int(np.percentile(second, 10))
            lo, hi = min(inner_first, inner_second), max(inner_first, inner_second)
            return "velocity", _baseline(brightness, lo, hi)
    return "power", _baseline(brightness)


def _distinct(rgb: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct colours of the bar ``rgb (L, W, 3)`` with the mean value of each, in order of first appearance.

    A 1-D bar (rows uniform across it) is read one median colour per row, so codec noise does not multiply
    the colours; a 2-D map keeps every pixel. Colours are merged at the 6-bit table resolution.
    """
    width = rgb.shape[1]
    centre = rgb[:, width // 4 : width - width // 4].astype(np.int16)  # away from the smeared edges
    across = np.ptp(centre, axis=1).max(axis=1)  # (L,) spread of each row
    if np.median(across) <= MAX_ACROSS_1D:
        rgb = np.median(rgb, axis=1, keepdims=True)
    colours = np.rint(rgb).reshape(-1, 3).astype(np.int32)
    value = np.repeat(values, rgb.shape[1])
    position = np.repeat(np.arange(rgb.shape[0]), rgb.shape[1])
    key = ((colours[:, 0] >> 2) << 12) | ((colours[:, 1] >> 2) << 6) | (colours[:, 2] >> 2)
    _, inverse = np.unique(key, return_inverse=True)
    counts = np.bincount(inverse).astype(np.float64)
    mean_value = np.bincount(inverse, weights=value) / counts
    mean_colour = np.stack([np.bincount(inverse, weights=colours[:, c]) / counts for c in range(3)], axis=1)
    first = np.full(counts.size, rgb.shape[0], dtype=np.int64)
    np.minimum.at(first, inverse, position)
    order = np.argsort(first, kind="stable")
    return np.rint(mean_colour[order]).astype(np.uint8), mean_value[order].astype(np.float32)
