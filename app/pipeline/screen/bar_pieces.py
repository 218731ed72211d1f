"""The pieces a colour bar is made of: solid, smooth, graded patches of saturated colour on the screen
(``colour_bar.find_colour_bars`` joins them across a baseline and reads the bar). A grey-scale bar drawn
against a colour bar is cut off a piece, and so are the lines of stray colour a lossy codec joins to a bar's
sides."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from app.pipeline.geometry import Rect
from app.pipeline.screen.planes import Planes

MIN_PIECE_SHORT = 3  # px across a bar
MIN_PIECE_LONG = 8  # px along one part of a bar
MIN_PIECE_ASPECT = 1.5  # a piece this much longer than wide changes along its length; squarer ones by their ramp
SATURATION_LINES = 24  # lines along a piece whose saturation is read to cut a grey-scale bar off it
MIN_CUT_SHARE = 0.4  # share of a piece's width left after a grey-scale bar is cut off (bars are of a width)
MIN_SOLID = 0.75  # share of a piece's bounding box that is colour
MIN_SOLID_UNCUT = 0.4  # ... before a grey-scale bar drawn against it is cut off (the two make an L of colour)
# Lines along a strip's sides with less colour than this share are cut off first: a lossy codec smears a bar's
# chroma into the panel beside it, a few lines of stray colour joined to the bar's patch.
MAX_FRINGE_SHARE = 0.3
FRINGE_SLACK = 2  # lines of a codec's blend at a bar's sides that a cut may leave out and still reach the side
MAX_FRINGE_LINES = 8  # ... the stray colour reaches at most this many lines beside a bar (a codec's 8 x 8 blocks)
MIN_SIDE_LINE_SHARE = 0.6  # ... and a bar's side is sharp: its outermost line past the fringe is mostly colour
MAX_STEP = 8  # median change between neighbouring pixels (per channel): bars are smooth, flow is speckled
MIN_RAMP = 40  # range of the median brightness along a piece; flat buttons, chips and panels have none
RAMP_END_LINES, RAMP_END_SHARE = 2, 0.05  # lines left out at each end of the piece for its ramp (codec blur)
# Median chroma / brightness along a bar: colour maps are saturated (>= 0.8 over most of their length, only
# the near-white ends are pale); grey-scale bars are 0 and tinted ones (Mindray's bluish map) about 0.2.
MIN_BAR_SATURATION = 0.45


@dataclass(frozen=True)
class Piece:
    rect: Rect
    vertical: bool  # the colours change along y


def find_piece(planes: Planes, rect: Rect) -> Piece | None:
    """A solid, smooth, graded patch of colour: part of a bar, or None. A strip that is none as found is looked
    at again without the lines of stray colour a codec leaves along its sides (:func:`_without_fringe`)."""
    piece = _solid_piece(planes, rect)
    x0, y0, x1, y1 = rect
    if piece is None and max(x1 - x0, y1 - y0) >= MIN_PIECE_ASPECT * min(x1 - x0, y1 - y0):
        trimmed = _without_fringe(planes.colour, rect, vertical=y1 - y0 > x1 - x0)
        if trimmed is not None and trimmed != rect:
            piece = _solid_piece(planes, trimmed)
    return piece


def _solid_piece(planes: Planes, rect: Rect) -> Piece | None:
    """:func:`find_piece` of ``rect`` as it is.

    A tinted grey-scale bar drawn against the colour bar is one patch of "colour" with it (an L where only its
    bright end passes the chroma rule, a strip beside it where the tint is strong): the patch is cut across to
    the lines that are mostly colour, then to the saturated ones.
    """
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    colour = planes.colour[y0:y1, x0:x1]
    solid = cv2.countNonZero(colour) >= MIN_SOLID * w * h
    elongated = max(w, h) >= MIN_PIECE_ASPECT * min(w, h)
    if not solid and (not elongated or cv2.countNonZero(colour) < MIN_SOLID_UNCUT * w * h):
        return None
    if elongated:
        vertical = h > w  # a strip changes along its length (a codec's smear across it can be large)
    else:
        rgb = planes.frame[y0:y1, x0:x1].astype(np.int16)
        vertical = bool(np.ptp(rgb.mean(axis=1), axis=0).max() >= np.ptp(rgb.mean(axis=0), axis=0).max())
    if not solid:
        occupied = cv2.reduce(colour, 0 if vertical else 1, cv2.REDUCE_AVG).ravel() >= MIN_SOLID * 255
        rect = _widest(occupied, rect, vertical)
        if rect is None:
            return None
    x0, y0, x1, y1 = rect
    rgb = planes.frame[y0:y1, x0:x1].astype(np.int16)
    if not _smooth(rgb, vertical):
        return None
    if elongated:
        lines = rgb if vertical else rgb.transpose(1, 0, 2)  # (along, across, 3)
        lines = lines[:: max(1, lines.shape[0] // SATURATION_LINES)]
        value = lines.max(axis=2)
        saturated = np.median((value - lines.min(axis=2)) / np.maximum(value, 1), axis=0) >= MIN_BAR_SATURATION
        rect = _widest(saturated, rect, vertical)
        if rect is None:
            return None
        x0, y0, x1, y1 = rect
        rgb = planes.frame[y0:y1, x0:x1].astype(np.int16)
    # a colour map runs from its dark baseline to bright: the median brightness of each line across (a button's or
    # chip's text is a minority of each line, and it whitens the fill's other channels more than its brightest),
    # without the lines at the ends, which a codec blends with the screen around
    profile = np.median(rgb.max(axis=2), axis=1 if vertical else 0)
    end = max(RAMP_END_LINES, round(RAMP_END_SHARE * profile.shape[0]))
    ramp = np.ptp(profile[end:-end] if profile.shape[0] > 3 * end else profile)
    return Piece(rect, vertical) if ramp >= MIN_RAMP else None


def _without_fringe(colour: np.ndarray, rect: Rect, vertical: bool) -> Rect | None:
    """``rect`` without the lines along its sides (columns of a ``vertical`` strip) where under MAX_FRINGE_SHARE of
    the pixels are colour (``colour (H, W)`` 0/255), or None when more than MAX_FRINGE_LINES such lines lie on a
    side or the lines left do not start sharply (a patch of flow, not a bar with a codec's fringe), or fewer than
    MIN_PIECE_SHORT lines are left."""
    x0, y0, x1, y1 = rect
    share = cv2.reduce(colour[y0:y1, x0:x1], 0 if vertical else 1, cv2.REDUCE_AVG).ravel()
    full = np.flatnonzero(share >= MAX_FRINGE_SHARE * 255)
    if full.size == 0 or full[-1] + 1 - full[0] < MIN_PIECE_SHORT:
        return None
    first, last = int(full[0]), int(full[-1]) + 1
    if first > MAX_FRINGE_LINES or share.size - last > MAX_FRINGE_LINES:
        return None
    if min(share[first], share[last - 1]) < MIN_SIDE_LINE_SHARE * 255:
        return None  # colour fading out over many lines: a blurred patch of flow
    return (x0 + first, y0, x0 + last, y1) if vertical else (x0, y0 + first, x1, y0 + last)


def _widest(keep: np.ndarray, rect: Rect, vertical: bool) -> Rect | None:
    """``rect`` cut across the bar to the widest run of lines where ``keep`` (one per line across) holds, or None
    unless that run reaches one side (within FRINGE_SLACK lines) and keeps most of the width (a grey-scale bar
    lies beside the colour bar; a cut through the middle of a patch is flow, not a legend)."""
    edges = np.diff(np.concatenate([[0], keep.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if starts.size == 0:
        return None
    widest = int(np.argmax(stops - starts))
    first, last = int(starts[widest]), int(stops[widest])  # half-open, across the bar
    if last - first < max(MIN_PIECE_SHORT, MIN_CUT_SHARE * keep.size):
        return None
    if first > FRINGE_SLACK and last < keep.size - FRINGE_SLACK:
        return None
    x0, y0, x1, y1 = rect
    return (x0 + first, y0, x0 + last, y1) if vertical else (x0, y0 + first, x1, y0 + last)


def _smooth(rgb: np.ndarray, vertical: bool) -> bool:
    """Median step <= MAX_STEP along both axes, i.e. at least half the steps small (a mean is cheaper). The lines
    along the piece's two sides are left out when it is 5 or more wide: a codec blends them with the screen
    beside, and on a narrow bar they would be a large share of the steps across."""
    across = 1 if vertical else 0
    if rgb.shape[across] >= 5:
        rgb = rgb[:, 1:-1] if vertical else rgb[1:-1]
    return all(rgb.shape[axis] < 2 or np.mean(np.abs(np.diff(rgb, axis=axis)) > MAX_STEP) <= 0.5 for axis in (0, 1))
