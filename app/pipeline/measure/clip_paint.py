"""The paint of a lossy clip without a colour bar, read from the clip's own coloured pixels.

Unmixing (:mod:`.paint_unmix`) needs the paint's colours, the bar's where one is on screen. Without a bar they
come from two kinds of pixels:

* **Cores** of coloured patches: pixels at least :data:`CORE_RADIUS` inside a patch of chromatic pixels keep
  their paint through the codec's chroma blur (about a pixel, :data:`~.paint_unmix.SIGMAS`).
* **Thin vessels**. A vessel narrower than a core's width has no core, and where its colour is not among the
  cores' it was not counted at all: in a frame with one wide red vessel, a thin dark-blue one (the other
  direction of flow, or slower flow nearer the map's dark end) lost every pixel. Its own pixels are faded by
  the blur, but a fade keeps the luma (coded at full resolution) and the chroma's direction and only shortens
  the chroma. Doppler maps run along the RGB cube's surface, so the colour on the surface at that luma and
  direction is the paint the vessel was drawn with, near enough. The ridge of each coloured patch (a pixel
  holding :data:`THIN_PEAK_SHARE` of the highest chroma around it and :data:`THIN_MIN_CHROMA` times the chroma
  threshold) whose colour no core colour explains gives its colour on the surface, grouped in cells of
  :data:`THIN_CELL_LEVELS`; a cell needs :data:`MIN_THIN_PX` ridge pixels.

On the design seeds of ``benchmarks/lossy_colour.py`` (777, JPEG stills at quality 75-95 without a bar, three
maps) the thin-vessel paint cut the vessels of at least 5 px that lost most of their pixels from 73 to 50
(3,501 to 1,675 px); on the reported seed from 68 to 39 (docs/benchmarks.md#lossy-colour).
"""

from __future__ import annotations

import cv2
import numpy as np

from app.pipeline.measure.colour_cube import YCBCR, saturation
from app.pipeline.measure.paint_unmix import SIGMAS as SIGMAS_UNMIXED
from app.pipeline.measure.paint_unmix import may_hold

__all__ = ["clip_paint", "on_the_surface"]

# Cores: a pixel at least CORE_RADIUS pixels inside a patch of chromatic pixels keeps its paint; radius 1
# takes in the blur's faded colours (on the design seeds it counted 5-20 % high). A core also keeps at least
# CORE_PEAK_SHARE of the highest chroma around it: at JPEG quality 75 the smear above the chroma threshold
# reaches more than two pixels out, and without this the quality-75 stills counted 7-13 % high in the median
# (3.7-5.9 % with it; the medians of video and JPEG DICOM moved by under 1.5 points, their 90th percentiles
# rose by up to 3). A colour cell (4 levels a channel) holding fewer than MIN_CORE_SHARE of the core pixels
# (and at least one) is quantisation noise; at most MAX_CORE_COLOURS cells, the most frequent, serve as the
# paint (a long clip holds more shades than a bar). A clip with fewer than MIN_CORE_PX core pixels has no
# paint (the saturation table counts it), and so does one whose core colours are mostly faded (median
# saturation below MIN_CORE_SATURATION): colour blended into the B-mode rather than painted over it, which
# unmixing does not model. The maps of benchmarks/lossy_colour.py keep a median of 0.81-1.0 through every
# codec; the blended overlays of the training generator's frames 0.45, and there nearly every speckle pixel
# matched one of their faint paints (a 25-fold slower count, benchmarks/pipeline.py).
CORE_RADIUS = 2
CORE_PEAK_SHARE = 0.8
MIN_CORE_PX = 40
MIN_CORE_SHARE = 0.001
MAX_CORE_COLOURS = 1024
MIN_CORE_SATURATION = 0.6
# Thin vessels: a ridge pixel holds at least THIN_PEAK_SHARE of the highest chroma in its 3 x 3 neighbourhood,
# and more than THIN_MIN_CHROMA times the chroma threshold: the codec's own ringing leaves ridges of colour just
# above the threshold (on a real GE power Doppler frame copied as JPEG at quality 75, cyan ridges of chroma
# 41-51 beside orange vessels), whose colour lengthened to the surface would be a paint the map never had.
# Their surface colours are grouped in cells THIN_CELL_LEVELS wide a channel (restoring the chroma multiplies
# its noise, up to 4-fold for a one-pixel line that kept a quarter of it); a cell holding fewer than MIN_THIN_PX
# of them is noise. At most THIN_SAMPLE ridge pixels of a clip are compared with the cores' colours, shared
# among its frames and evenly spaced in each. Chosen on the design seeds 777 and 778 (the 21 rows without a
# bar of each): mean 90th percentile of the count error 8.39 and 13.24 % with these values, 8.79 and 17.33 %
# without thin vessels; any ridge above the threshold (THIN_MIN_CHROMA 1) 8.48 and 13.36 % with the medians
# 0.4 and 0.05 points further off, 1.25 as 1.5 within 0.1 point; cells of 8 levels and 1 pixel, or 16 levels
# and 3 pixels, within 0.3 points of these. A share of the ridge pixels instead of a fixed count (0.1-0.3 %)
# did no better, nor did leaving out the ridges of patches that also hold a core colour.
THIN_PEAK_SHARE = 0.9
THIN_MIN_CHROMA = 1.5
THIN_CELL_LEVELS = 16
MIN_THIN_PX = 2
THIN_SAMPLE = 20_000


def clip_paint(
    frames: np.ndarray, spread: np.ndarray, where: np.ndarray, chroma_threshold: int, sampling: str | None
) -> np.ndarray | None:
    """The paint of a clip without a bar: ``(K, 3) uint8`` RGB colours of the cores of the coloured patches in
    ``frames (N, H, W, 3)`` (``spread (N, H, W)``: each pixel's max - min; ``where (H, W) bool``: where
    Doppler is counted) and of its thin vessels; None for a sampling that is not unmixed, too few core pixels
    or faded cores."""
    if sampling not in SIGMAS_UNMIXED:
        return None
    paint = _core_paint(frames, spread, where, chroma_threshold)
    if paint is None:
        return None
    if len(paint) < MAX_CORE_COLOURS:  # a clip whose cores fill the budget holds its shades in them
        paint = np.concatenate([paint, _thin_paint(frames, spread, where, chroma_threshold, paint)])[:MAX_CORE_COLOURS]
    return paint


def _core_paint(frames: np.ndarray, spread: np.ndarray, where: np.ndarray, chroma_threshold: int) -> np.ndarray | None:
    """``(K, 3) uint8``: the colours of the cores of the coloured patches, the most frequent first; None with
    too few core pixels or faded cores."""
    size = 2 * CORE_RADIUS + 1
    kernel = np.ones((size, size), np.uint8)
    cores = []
    for frame, s in zip(frames, spread, strict=True):  # s: (H, W) uint8
        core = cv2.erode(((s > chroma_threshold) & where).view(np.uint8), kernel, borderValue=0).view(bool)
        core &= s >= CORE_PEAK_SHARE * cv2.dilate(s, kernel)  # not a patch's faded fringe
        cores.append(frame[core])
    pixels = np.concatenate(cores) if cores else np.empty((0, 3), np.uint8)
    if len(pixels) < MIN_CORE_PX:
        return None
    paint = _cell_means(pixels, 4, max(1.0, MIN_CORE_SHARE * len(pixels)))[:MAX_CORE_COLOURS]
    if paint.size == 0 or np.median(saturation(paint)) < MIN_CORE_SATURATION:
        return None
    return paint


def _thin_paint(
    frames: np.ndarray, spread: np.ndarray, where: np.ndarray, chroma_threshold: int, paint: np.ndarray
) -> np.ndarray:
    """``(T, 3) uint8``: the surface colours of the coloured ridges that no colour of ``paint`` explains."""
    kernel = np.ones((3, 3), np.uint8)
    per_frame = max(1, THIN_SAMPLE // max(len(frames), 1))
    found = []
    for frame, s in zip(frames, spread, strict=True):
        ridge = (s > THIN_MIN_CHROMA * chroma_threshold) & where & (s >= THIN_PEAK_SHARE * cv2.dilate(s, kernel))
        pixels = frame[ridge]
        if len(pixels) > per_frame:
            pixels = pixels[np.linspace(0, len(pixels) - 1, per_frame).astype(np.intp)]
        found.append(pixels[~may_hold(pixels, paint)])
    pixels = np.concatenate(found)
    if len(pixels) == 0:
        return np.empty((0, 3), np.uint8)
    return _cell_means(on_the_surface(pixels), THIN_CELL_LEVELS, MIN_THIN_PX)


def on_the_surface(rgb: np.ndarray) -> np.ndarray:
    """``(M, 3) uint8``: each of ``rgb (M, 3)`` with its chroma lengthened, at its own luma and chroma direction,
    until a channel reaches 0 or 255 (saturation 1); grey stays grey."""
    rgb = np.asarray(rgb, dtype=np.float32)
    luma = (rgb @ YCBCR[0])[:, None]
    offset = rgb - luma  # the chroma, in RGB (its luma is 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(offset > 0, (255.0 - luma) / offset, np.where(offset < 0, -luma / offset, np.inf))
    gain = room.min(axis=1, keepdims=True)
    gain[~np.isfinite(gain)] = 0.0
    return np.clip(np.rint(luma + gain * offset), 0, 255).astype(np.uint8)


def _cell_means(pixels: np.ndarray, levels: int, min_count: float) -> np.ndarray:
    """The mean colour of each cell ``levels`` wide a channel holding at least ``min_count`` of ``pixels
    (M, 3) uint8``, the fullest first: ``(C, 3) uint8``."""
    shift = int(levels).bit_length() - 1
    cell = (pixels.astype(np.int64) >> shift) @ np.array([1 << 16, 1 << 8, 1])
    keys, inverse, counts = np.unique(cell, return_inverse=True, return_counts=True)
    sums = np.stack([np.bincount(inverse, pixels[:, k], len(keys)) for k in range(3)], axis=1)  # (cells, 3)
    keep = np.flatnonzero(counts >= min_count)
    keep = keep[np.argsort(-counts[keep], kind="stable")]
    return np.rint(sums[keep] / counts[keep, None]).astype(np.uint8)
