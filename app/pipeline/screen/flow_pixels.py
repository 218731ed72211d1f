"""Which colour on a screen is Doppler flow: the colour on the picture, without the legends, coloured text, marks
and (with a legend on screen) colours foreign to it. Used by the screen parser to hold outlines to the flow and to
read the mode of a screen without a legend."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from app.pipeline.screen.calipers import Caliper, caliper_pixels
from app.pipeline.screen.colour_bar import ColourBar
from app.pipeline.screen.planes import GREEN_HUES, Planes, hue, in_hues

__all__ = ["BAR_MARGIN", "flow_mask", "without_legends"]

# A coloured component inside the image area is text (not flow) when it has at least this many pixels, almost
# nothing of it survives an erosion (strokes 1-2 px wide) and its colour is one: the mean spread of its inked
# pixels within UNIFORM_SPREAD. Inked: chroma at least INK_SHARE of the piece's highest; the edges of anti-aliased
# text over speckle are blends with the grey behind them, of every level.
TEXT_MIN_PX = 8
TEXT_CORE_SHARE = 0.1
UNIFORM_SPREAD = 16
INK_SHARE = 0.75
# Bolder text is known as a line of glyphs: at least LINE_GLYPHS pieces, each of one colour (the mean spread of
# its ink within GLYPH_SPREAD: a codec's smear around small glyphs) and all of one colour (inks within
# GLYPH_COLOUR levels a channel), GLYPH_MIN_H px tall or more, heights within GLYPH_HEIGHT_RATIO of each other,
# their tops or their bottoms level within GLYPH_ALIGN of the height (2 px at least), each at most a glyph's
# height from the next, and no glyph taller than GLYPH_MAX_SHARE of the screen. Flow pieces are often of one
# colour each, but not in such rows.
LINE_GLYPHS = 3
GLYPH_SPREAD = 24
GLYPH_COLOUR = 24
GLYPH_MIN_H = 6
GLYPH_MAX_SHARE = 0.05
GLYPH_HEIGHT_RATIO = 1.6
GLYPH_ALIGN = 0.15
MAX_GLYPHS = 400  # candidate pieces beyond which a picture is full of colour (flow or noise), not labelled
# With a legend on screen, flow colours lie near the legend's colours (judged pixel by pixel, at 2**FOREIGN_BITS
# levels a channel: codecs move thin flow's colours by more than that).
MAX_BAR_DISTANCE = 80
FOREIGN_BITS = 2
LEGEND_LEVEL = 64  # legend colours at least this bright are compared (flow is painted brighter than its baseline)
BAR_MARGIN = 2  # px excluded around a colour bar (codec smear)


def without_legends(mask: np.ndarray, bars: list[ColourBar]) -> np.ndarray:
    """``mask (H, W)`` (or an ``(H, W, 3)`` frame) with the colour bars and BAR_MARGIN px around them cleared, in
    place; returned."""
    for bar in bars:
        x0, y0, x1, y1 = bar.bbox
        mask[max(0, y0 - BAR_MARGIN) : y1 + BAR_MARGIN, max(0, x0 - BAR_MARGIN) : x1 + BAR_MARGIN] = 0
    return mask


def flow_mask(
    planes: Planes, inside: np.ndarray, bars: list[ColourBar], calipers: Sequence[Caliper] = ()
) -> np.ndarray:
    """``(H, W) bool``: colour seen on any sampled frame that can be flow (not legend, text, marks or the pixels of
    ``calipers``)."""
    mask = without_legends(cv2.bitwise_and(planes.colour_any, inside), bars)
    mask[caliper_pixels(calipers, *mask.shape)] = 0
    flow = np.zeros(mask.shape, dtype=bool)
    x, y, w, h = cv2.boundingRect(mask)  # work where the colour is
    if w and h:
        crop = mask[y : y + h, x : x + w]
        marks = _marks(crop, planes.frame[y : y + h, x : x + w], bars, GLYPH_MAX_SHARE * planes.shape[0])
        flow[y : y + h, x : x + w] = (crop > 0) & ~marks
    return flow


def _marks(mask: np.ndarray, rgb: np.ndarray, bars: list[ColourBar], glyph_max_h: float) -> np.ndarray:
    """``(h, w) bool``: pieces of ``mask`` that are text or marks: one-colour strokes or lines of glyphs (at most
    ``glyph_max_h`` px tall), or colours foreign to the legend (green without one)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    ys, xs = np.nonzero(mask)
    label = labels[ys, xs]
    colours = rgb[ys, xs].astype(np.float64)  # (P, 3)
    size = np.maximum(np.bincount(label, minlength=count), 1).astype(np.float64)
    ink, ink_spread = _ink(colours, label, count)
    # nothing beyond the crop survives: a stroke along its border (the colour's bounds) erodes as anywhere else
    eroded = cv2.erode(mask, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    survives = np.bincount(labels[eroded > 0], minlength=count)
    big = size >= TEXT_MIN_PX
    strokes = big & (ink_spread <= UNIFORM_SPREAD) & (survives <= TEXT_CORE_SHARE * size)
    glyphs = big & (ink_spread <= GLYPH_SPREAD) & (stats[:, cv2.CC_STAT_HEIGHT] <= glyph_max_h)
    text = strokes | _glyph_lines(stats, ink, glyphs)
    if bars:  # pixel by pixel: a coloured box outline touching the flow is one piece with it
        text[0] = True  # the background
        drop = text[labels]
        legend = np.concatenate([b.colours for b in bars])
        legend = legend[legend.max(axis=1) >= LEGEND_LEVEL]  # the dark baseline is near every dark smear
        foreign = _foreign(rgb[ys, xs], legend)
        drop[ys, xs] |= foreign
        # what is left of a mostly foreign piece in scraps (a mark's codec smear) goes with it
        mostly = np.bincount(label, weights=foreign, minlength=count) >= 0.5 * size
        left = ((mask > 0) & ~drop).view(np.uint8)
        pieces, scraps = cv2.connectedComponents(left, connectivity=8)
        small = np.bincount(scraps.ravel(), minlength=pieces) < TEXT_MIN_PX
        drop |= small[scraps] & mostly[labels] & (left > 0)
        return drop
    foreign = in_hues(hue(np.clip(np.rint(ink), 0, 255).astype(np.uint8)), GREEN_HUES)
    drop = text | foreign
    drop[0] = True  # the background
    return drop[labels]


def _ink(colours: np.ndarray, label: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``(count, 3)`` mean colour and ``(count,)`` mean spread of each piece's inked pixels (chroma at least
    INK_SHARE of the piece's highest), from ``colours (P, 3)`` of the pixels labelled ``label (P,)``."""
    chroma = colours.max(axis=1) - colours.min(axis=1)
    highest = np.zeros(count)
    np.maximum.at(highest, label, chroma)
    inked = (chroma >= INK_SHARE * highest[label]).astype(np.float64)
    n = np.maximum(np.bincount(label, weights=inked, minlength=count), 1.0)
    sums = np.stack([np.bincount(label, weights=colours[:, c] * inked, minlength=count) for c in range(3)], 1)
    mean = sums / n[:, None]
    deviation = np.abs(colours - mean[label]).max(axis=1) * inked
    return mean, np.bincount(label, weights=deviation, minlength=count) / n


def _glyph_lines(stats: np.ndarray, ink: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """``(count,) bool``: the ``candidate`` pieces that stand in a line of glyphs (see LINE_GLYPHS), from
    ``stats`` of ``cv2.connectedComponentsWithStats`` and the pieces' inked colours ``ink``."""
    found = np.zeros(len(stats), dtype=bool)
    index = np.flatnonzero(candidate & (stats[:, cv2.CC_STAT_HEIGHT] >= GLYPH_MIN_H))
    index = index[index > 0]  # not the background
    if not LINE_GLYPHS <= index.size <= MAX_GLYPHS:  # the pairs below grow as the square of the count
        return found
    x, y = stats[index, cv2.CC_STAT_LEFT], stats[index, cv2.CC_STAT_TOP]
    w, h = stats[index, cv2.CC_STAT_WIDTH], stats[index, cv2.CC_STAT_HEIGHT]
    taller = np.maximum(h[:, None], h[None, :])
    align = np.maximum(2, GLYPH_ALIGN * taller)
    level = (np.abs(y[:, None] - y[None, :]) <= align) | (np.abs((y + h)[:, None] - (y + h)[None, :]) <= align)
    gap = np.maximum(x[:, None], x[None, :]) - np.minimum((x + w)[:, None], (x + w)[None, :])
    linked = (
        level
        & (gap <= taller)
        & (taller <= GLYPH_HEIGHT_RATIO * np.minimum(h[:, None], h[None, :]))
        & (np.abs(ink[index][:, None] - ink[index][None, :]).max(axis=2) <= GLYPH_COLOUR)
    )
    member = np.arange(index.size)  # each piece takes the lowest number linked to it, until none changes
    while True:
        lowest = np.where(linked, member[None, :], member[:, None]).min(axis=1)
        if np.array_equal(lowest, member):
            break
        member = lowest
    found[index] = np.bincount(member, minlength=index.size)[member] >= LINE_GLYPHS
    return found


def _foreign(colours: np.ndarray, legend: np.ndarray) -> np.ndarray:
    """``(P,) bool``: which of ``colours (P, 3)`` lie further than MAX_BAR_DISTANCE from every ``legend`` colour.

    Worked out once per colour at the legend table's resolution (flow holds a few hundred such colours).
    """
    bits = 8 - FOREIGN_BITS  # bits of a cell index per channel
    cells = colours.astype(np.int32) >> FOREIGN_BITS
    key = (cells[:, 0] << (2 * bits)) | (cells[:, 1] << bits) | cells[:, 2]
    seen = np.zeros(1 << (3 * bits), dtype=bool)
    seen[key] = True
    unique = np.flatnonzero(seen)  # the cells present, without sorting every pixel
    mask = (1 << bits) - 1
    parts = [(unique >> (2 * bits)) & mask, (unique >> bits) & mask, unique & mask]
    centres = np.stack(parts, axis=1) * (1 << FOREIGN_BITS) + (1 << FOREIGN_BITS) / 2
    legend = legend.astype(np.float64)
    # squared distances as |c|^2 + |l|^2 - 2 c.l: one matrix product instead of a (cells, legend, 3) array
    d2 = (centres**2).sum(1)[:, None] + (legend**2).sum(1)[None, :] - 2.0 * (centres @ legend.T)
    d2 = d2.min(axis=1)
    far = np.zeros(seen.size, dtype=bool)
    far[unique] = d2 > MAX_BAR_DISTANCE**2
    return far[key]
