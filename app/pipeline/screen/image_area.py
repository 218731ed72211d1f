"""The ultrasound image area: where the B-mode picture (fan or rectangle) lies among text, legends and traces.

B-mode speckle changes from pixel to pixel almost everywhere, while text, icons, legends and panels are
flat fills with sharp edges: on blocks of the frame, the share of pixels that differ from their right
neighbour separates the two (lossy codecs add noise, so blocks must also be mostly non-black). An
opening wider than a line of text keeps the picture and drops text and thin traces; the convex hull of
what remains fills the dark parts of the picture (fluid, heart chambers) and its bounding box is the area.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from app.pipeline.geometry import Rect
from app.pipeline.screen.planes import Planes

WORKING_SIZE = 640  # px along the longer side at which blocks are measured
BLOCK = 4  # px of the working size
MIN_CHANGING = 0.5  # share of pixels differing from their right neighbour in a block of picture
MIN_LIT = 0.6  # share of pixels at or above LIT_LEVEL in a block of picture
LIT_LEVEL = 10  # grey level
MIN_STEP = 0  # grey levels between neighbours that count as a change
OPENING = 5  # blocks; wider than a line of text (~3 blocks at 480x640) so text falls away
MIN_PART_SHARE = 0.25  # picture parts (e.g. split by a black chamber) at least this share of the largest
MAX_BAND_ASPECT = 6  # a part this many times longer than wide is a header, footer or side panel
BAND_WIDTH = 0.75  # rows spanning this share of the width at the top or bottom edge may be a header / footer
NARROWER = 0.8  # ... when every picture row past them spans less than this share of the band
MAX_BAND_SHARE = 0.2  # ... and they take at most this share of the height


@dataclass(frozen=True, eq=False)
class ImageArea:
    """The picture's bounding box (half-open) and convex hull ``(P, 2) int32`` (x, y) in frame pixels."""

    bbox: Rect
    hull: np.ndarray

    def mask(self, height: int, width: int) -> np.ndarray:
        """``(height, width) uint8`` 0/255 inside the hull."""
        out = np.zeros((height, width), dtype=np.uint8)
        cv2.fillPoly(out, [self.hull.reshape(-1, 1, 2)], 255)
        return out


def find_image_area(planes: Planes) -> ImageArea | None:
    """The B-mode picture on the reference frame, or None when nothing on it looks like one."""
    height, width = planes.shape
    value = planes.value
    scale = max(1.0, max(height, width) / WORKING_SIZE)  # large screens are upscaled: compare at one size
    if scale > 1.0:
        value = cv2.resize(value, (round(width / scale), round(height / scale)), interpolation=cv2.INTER_AREA)
    rows, cols = value.shape[0] // BLOCK, value.shape[1] // BLOCK
    if rows < OPENING or cols < OPENING:
        return None
    value = value[: rows * BLOCK, : cols * BLOCK]
    changing = cv2.threshold(cv2.absdiff(value[:, 1:], value[:, :-1]), MIN_STEP, 255, cv2.THRESH_BINARY)[1]
    changing = cv2.copyMakeBorder(changing, 0, 0, 0, 1, cv2.BORDER_REPLICATE)
    lit = cv2.threshold(value, LIT_LEVEL - 1, 255, cv2.THRESH_BINARY)[1]
    changing = cv2.resize(changing, (cols, rows), interpolation=cv2.INTER_AREA)  # (rows, cols) share x 255
    lit = cv2.resize(lit, (cols, rows), interpolation=cv2.INTER_AREA)
    picture = ((changing >= MIN_CHANGING * 255) & (lit >= MIN_LIT * 255)).astype(np.uint8)
    picture = cv2.morphologyEx(picture, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (OPENING,) * 2))
    _drop_edge_bands(picture)
    contours = [c for c in cv2.findContours(picture, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0] if not _band(c)]
    if not contours:
        return None
    areas = [cv2.contourArea(c) + len(c) for c in contours]  # + perimeter: one-block-wide parts count too
    parts = [c for c, a in zip(contours, areas, strict=True) if a >= MIN_PART_SHARE * max(areas)]
    hull = cv2.convexHull(np.concatenate(parts))[:, 0, :].astype(np.float64)  # (P, 2) block corners
    # block (i, j) covers working pixels [j * BLOCK, (j + 1) * BLOCK): put the far edges at the block's end
    hull = (hull + (hull > hull.mean(axis=0))) * BLOCK * scale
    hull = np.clip(np.rint(hull), 0, [width, height]).astype(np.int32)
    x0, y0 = hull.min(axis=0)
    x1, y1 = hull.max(axis=0)
    return ImageArea((int(x0), int(y0), int(x1), int(y1)), np.clip(hull, 0, [width - 1, height - 1]))


def _band(contour: np.ndarray) -> bool:
    _, _, w, h = cv2.boundingRect(contour)
    return max(w, h) >= MAX_BAND_ASPECT * min(w, h)


def _drop_edge_bands(picture: np.ndarray) -> None:
    """Clear a header or footer band: full-width rows at the top or bottom edge above narrower picture rows.

    Text panels across the top or bottom of a screen can touch the picture and survive the opening; a
    picture that fills the whole width (a cropped screenshot) has no narrower rows and keeps everything.
    """
    rows, cols = picture.shape
    filled = np.flatnonzero(picture.any(axis=1))
    if filled.size == 0:
        return
    span = np.zeros(rows)
    lit_rows = picture[filled].astype(bool)
    span[filled] = cols - np.argmax(lit_rows[:, ::-1], axis=1) - np.argmax(lit_rows, axis=1)
    wide = span >= BAND_WIDTH * cols
    limit = int(MAX_BAND_SHARE * rows)
    for order in (np.arange(rows), np.arange(rows)[::-1]):
        run = 0
        while run < rows and (not picture[order[run]].any() or wide[order[run]]) and run <= limit:
            run += 1
        band, rest = order[:run], order[run:]
        if run <= limit and wide[band].any() and span[rest].max(initial=0) < NARROWER * span[band].max():
            picture[band] = 0


# The fan of a curved or phased-array probe: its straight sides meet at the apex, which the colour box shares.
FAN_ROWS = (0.15, 0.7)  # part of the picture's height whose rows lie on the fan's straight sides
FAN_SEARCH = 2  # blocks either side of the hull's edge where the picture's first lit pixel is looked for
MIN_FAN_SPREAD = 0.2  # difference of the two sides' slopes (dx/dy) that makes a fan; a linear picture has ~0
MAX_APEX_ABOVE = 1.5  # the apex lies at most this many picture heights above the picture's top


@dataclass(frozen=True)
class Fan:
    """A fan-shaped picture: the ``apex (x, y)`` where its straight sides meet and the ``sides``' directions from
    it (radians from the +x axis toward +y, i.e. down the screen; right side first)."""

    apex: tuple[float, float]
    sides: tuple[float, float]


def find_fan(planes: Planes, area: ImageArea) -> Fan | None:
    """The fan of a curved or phased-array picture, or None for a picture with parallel sides.

    The sides are traced row by row: the first and last lit pixel near the hull's edge, fitted with lines that
    drop outliers (dark speckle at the edge, text beside it).
    """
    height, width = planes.shape
    _, y0, _, y1 = area.bbox
    hull = area.mask(height, width)
    rows = np.arange(int(y0 + FAN_ROWS[0] * (y1 - y0)), int(y0 + FAN_ROWS[1] * (y1 - y0)), 2)
    scale = max(1.0, max(height, width) / WORKING_SIZE)
    reach = int(FAN_SEARCH * BLOCK * scale)
    lit = cv2.threshold(cv2.blur(planes.value, (3, 1)), LIT_LEVEL - 1, 255, cv2.THRESH_BINARY)[1] > 0
    inside = hull[rows] > 0  # (R, W)
    rows = rows[inside.any(axis=1)]
    inside = inside[inside.any(axis=1)]
    edges = (np.argmax(inside, axis=1), width - 1 - np.argmax(inside[:, ::-1], axis=1))  # the hull's first, last
    offsets = np.arange(-reach, reach + 1)
    lines = []
    for side, edge in enumerate(edges):
        xs = np.clip(edge[:, None] + offsets[None, :], 0, width - 1)  # (R, 2 * reach + 1)
        hits = lit[rows[:, None], xs]
        found = hits.any(axis=1)
        pick = np.argmax(hits, axis=1) if side == 0 else hits.shape[1] - 1 - np.argmax(hits[:, ::-1], axis=1)
        if np.count_nonzero(found) < 8:
            return None
        lines.append(_fit_line(rows[found].astype(np.float64), xs[found, pick[found]].astype(np.float64)))
    (a_left, b_left), (a_right, b_right) = lines
    if b_right - b_left < MIN_FAN_SPREAD:
        return None
    apex_y = (a_right - a_left) / (b_left - b_right)
    if not y0 - MAX_APEX_ABOVE * (y1 - y0) <= apex_y <= y0 + 0.1 * (y1 - y0):
        return None
    apex = (float(a_left + b_left * apex_y), float(apex_y))
    return Fan(apex, (float(np.arctan2(1.0, b_right)), float(np.arctan2(1.0, b_left))))


def _fit_line(t: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """``s = a + b * t`` by least squares, refitted on the points within 2 px of the first fit's median error."""
    b, a = np.polyfit(t, s, 1)
    for _ in range(3):
        residual = np.abs(s - (a + b * t))
        keep = residual <= max(2.0, 2.0 * float(np.median(residual)))
        if keep.sum() < 4:
            break
        b, a = np.polyfit(t[keep], s[keep], 1)
    return float(a), float(b)
