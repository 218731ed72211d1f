"""Lossy colour with a colour bar on screen: the painted pixels found by undoing the codec's chroma blur.

A codec that subsamples chroma (4:2:0 in JPEG stills and H.264, 4:2:2 in JPEG DICOM) stores one colour for
every two or four pixels and the decoder spreads it again: the decoded chroma is, near enough, the painted
chroma blurred by a small kernel, with quantisation noise on top. Luma keeps every pixel. A per-pixel table
(:func:`~app.pipeline.measure.colour_rule.bar_lut`) can only ask whether a pixel kept half of its paint's
chroma, which loses thin vessels and single painted pixels (they keep a quarter) and counts dark speckle
beside a vessel that the smear tints into one of the bar's dark colours.

Here the question is asked of the whole neighbourhood at once. Each pixel may be painted with one colour only,
the bar colour its own luma and chroma direction point to (:func:`paint_table`: a painted pixel keeps its
paint's luma, so the luma says which of the bar's colours it would be). How much of that paint each pixel
holds, ``alpha`` in 0..1, is the non-negative least-squares fit of the blurred paint to the decoded chroma
(:func:`unmix`: projected gradient steps from the per-pixel ratio). Chroma that the codec moved out of a
vessel is given back to the pixels that can explain it, those with the paint's luma, rather than to the grey
speckle it landed on. Then each connected group of pixels with paint keeps as many painted pixels as its
paint adds up to, those with the most (:func:`painted`), and the counted frame shows them in their bar colour
and every other pixel the chroma rule would count grey (:class:`Unmixer`), so that every counting backend
counts the same pixels. The fit runs over the pixels that may hold paint only (:mod:`.unmix_kernel`).

The blur is a Gaussian of :data:`SIGMA` pixels along each subsampled axis (:data:`SIGMAS`); the codec's own
kernel depends on the encoder and the decoder, and this one was chosen on frames made as in
``benchmarks/lossy_colour.py`` with other seeds (1.1-1.4 were within a point of each other). Only the
samplings measured there are unmixed; others keep the per-pixel table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from app.pipeline.measure import unmix_kernel
from app.pipeline.measure.colour_cube import YCBCR, cell_indices, cells
from app.pipeline.screen.planes import value_chroma

# The codec's chroma blur along each subsampled axis: Gaussian sigma, pixels.
SIGMA = 1.2
# Chroma sampling -> (sigma across, sigma down); samplings not listed are not unmixed.
SIGMAS: dict[str, tuple[float, float]] = {"4:2:0": (SIGMA, SIGMA), "4:2:2": (SIGMA, 0.0)}
# Projected-gradient steps: 8 counted within half a point of 15 and 30 on the frames of other seeds.
ITERATIONS = 8
# A pixel may hold paint when, for a bar colour, its luma lies within LUMA_TOLERANCE of that colour's, its
# chroma vector within HUE_TOLERANCE of that colour's direction, and it keeps at least MIN_SHARE of that
# colour's chroma along it (less is quantisation noise on grey speckle). Of several such colours, the one
# with the least distance from its direction plus LUMA_WEIGHT x luma difference is its paint.
LUMA_TOLERANCE = 20.0
HUE_TOLERANCE = 24.0
MIN_SHARE = 0.12
LUMA_WEIGHT = 0.5
# Residual chroma shorter than this many times the RMS chroma of the pixels that cannot hold paint is noise
# (quantisation ringing around vessels at JPEG quality 75), not fitted; 0 fits it all. On the frames of other
# seeds (whole-box fit, 4-sigma kernel) 2 met the count targets on 13 of 42 codec rows against 11 with 0, and
# 3 moved the 90th percentiles up.
NOISE_SHRINK = 2.0
# A pixel holding less paint than this belongs to no painted group (a group's pixels touch, 8-connected).
MIN_ALPHA = 0.05
# The bar is taken for the paint's reference when at least this share of the coloured pixels of its hues (chroma
# above the threshold, direction within HUE_ANGLE degrees of a bar colour's) where Doppler is counted may hold one
# of its colours at their own luma: 0.97-1.0 on the lossy benchmark's frames, every codec and seed, and still with
# the paint blended 70:30 with the grey under it; 0.43 for a bar read wrong (half of a thin velocity bar, dulled
# by the codec, from benchmarks/pipeline.py's JPEG DICOM copy of a models.training.synth screen), which counted
# none of the blue vessels. Pixels of other hues (calipers, text) say nothing about the bar.
MIN_PAINT_SHARE = 0.5
HUE_ANGLE = 15.0
# Fewer coloured pixels of the bar's hues than this say nothing either way: the bar is taken. At most
# SHARE_SAMPLE of them are looked at (evenly spaced).
MIN_COLOURED_PX = 50
SHARE_SAMPLE = 20_000
# The B-mode's own tint. Some grey maps are tinted (bluish, sepia) and a lossy codec keeps the tint; a tinted pixel
# may then lie along a pale paint's direction and hold a little of it, and :func:`painted` adds those littles up
# over the whole picture into whole pixels of paint. The tint is read per band of TINT_BAND luma levels from the
# pixels the chroma rule does not count (the median Cb and Cr of a band holding at least TINT_MIN_PX of them,
# interpolated between bands) and taken off those pixels before the fit. Under TINT_FLOOR at every luma it is none.
TINT_BAND = 16
TINT_MIN_PX = 200
TINT_FLOOR = 1.5
TINT_SAMPLE = 20_000  # pixels read, evenly spaced


@dataclass(frozen=True, eq=False)
class PaintTable:
    """The bar colour a pixel of each colour cell would be painted with (``bits`` per channel)."""

    chroma: np.ndarray  # (S, S, S, 2) float32 Cb, Cr of that bar colour; (0, 0) where the cell holds no paint
    rgb: np.ndarray  # (S, S, S, 3) uint8 that bar colour
    bits: int


def paint_table(colours: np.ndarray, chroma_threshold: int, bits: int = 6) -> PaintTable | None:
    """The paint of every cell of the RGB cube for the bar colours ``colours (K, 3)``; None when none of them
    carries colour above ``chroma_threshold`` (max - min). Cached for the last few bars (stills of one
    scanner show the same bar)."""
    refs = np.unique(np.asarray(colours, dtype=np.uint8).reshape(-1, 3), axis=0)
    refs = refs[refs.max(axis=1).astype(np.int16) - refs.min(axis=1) > chroma_threshold]
    if refs.shape[0] == 0:
        return None
    return _paint_table(refs.tobytes(), bits)


@lru_cache(maxsize=8)
def _paint_table(refs_bytes: bytes, bits: int) -> PaintTable:
    refs = np.frombuffer(refs_bytes, dtype=np.uint8).reshape(-1, 3)
    cube = cells(bits)
    order, ycc_sorted = cube.order, cube.ycc
    best = np.full(order.size, np.inf, dtype=np.float32)
    paint = np.full(order.size, -1, dtype=np.int64)
    for k, (luma, cb, cr) in enumerate(refs.astype(np.float32) @ YCBCR.T):
        lo, hi = np.searchsorted(ycc_sorted[:, 0], [luma - LUMA_TOLERANCE, luma + LUMA_TOLERANCE + 1e-3])
        ycc = ycc_sorted[lo:hi]
        along, across = _along_across(ycc[:, 1], ycc[:, 2], cb, cr)
        score = np.where(_on_direction(along, across, cb, cr), across, np.inf)
        score += LUMA_WEIGHT * np.abs(ycc[:, 0] - luma)
        better = score < best[lo:hi]
        best[lo:hi][better] = score[better]
        paint[lo:hi][better] = k
    held = paint >= 0
    size = 1 << bits
    chroma = np.zeros((order.size, 2), dtype=np.float32)
    rgb = np.zeros((order.size, 3), dtype=np.uint8)
    chroma[order[held]] = refs[paint[held]].astype(np.float32) @ YCBCR[1:].T
    rgb[order[held]] = refs[paint[held]]
    return PaintTable(chroma.reshape(size, size, size, 2), rgb.reshape(size, size, size, 3), bits)


def may_hold(pixels: np.ndarray, colours: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """``(M,) bool``: which of ``pixels (M, 3) uint8`` RGB some of ``colours (K, 3)`` may paint, by the paint
    table's own test (luma within LUMA_TOLERANCE, chroma along that colour's direction within HUE_TOLERANCE and
    at least MIN_SHARE of it), for each pixel's own colour rather than its cell's centre; ``chunk`` pixels at a
    time."""
    ref = np.asarray(colours, dtype=np.float32) @ YCBCR.T  # (K, 3)
    out = np.zeros(len(pixels), dtype=bool)
    for start in range(0, len(pixels), chunk):
        ycc = pixels[start : start + chunk].astype(np.float32) @ YCBCR.T  # (C, 3)
        along, across = _along_across(ycc[:, None, 1], ycc[:, None, 2], ref[None, :, 1], ref[None, :, 2])
        near = np.abs(ycc[:, None, 0] - ref[None, :, 0]) <= LUMA_TOLERANCE
        out[start : start + chunk] = (near & _on_direction(along, across, ref[None, :, 1], ref[None, :, 2])).any(1)
    return out


def _along_across(cb, cr, ref_cb, ref_cr) -> tuple[np.ndarray, np.ndarray]:
    """The chroma ``(cb, cr)`` along a paint's chroma direction ``(ref_cb, ref_cr)`` and its distance from it."""
    length = np.maximum(np.hypot(ref_cb, ref_cr), 1e-3)
    return (cb * ref_cb + cr * ref_cr) / length, np.abs(cb * ref_cr - cr * ref_cb) / length


def _on_direction(along, across, ref_cb, ref_cr) -> np.ndarray:
    """Chroma that may be the paint's faded: along its direction, at least MIN_SHARE of it, within HUE_TOLERANCE."""
    return (along >= MIN_SHARE * np.hypot(ref_cb, ref_cr)) & (across <= HUE_TOLERANCE)


def paint_share(table: PaintTable, colours: np.ndarray, pixels: np.ndarray) -> float | None:
    """The share of ``pixels (M, 3) uint8`` RGB (the coloured ones) of the hues of the bar ``colours (K, 3)``
    whose cell may hold one of the table's paints; None for fewer than :data:`MIN_COLOURED_PX` of those hues."""
    pixels = pixels[:: max(1, -(-pixels.shape[0] // SHARE_SAMPLE))]
    chroma = pixels.astype(np.float32) @ YCBCR[1:].T  # (M, 2)
    refs = np.asarray(colours, dtype=np.float32).reshape(-1, 3) @ YCBCR[1:].T
    refs = refs[np.hypot(refs[:, 0], refs[:, 1]) > 0]
    if refs.shape[0] == 0:
        return None
    units = refs / np.hypot(refs[:, :1], refs[:, 1:])
    cosine = (chroma @ units.T).max(axis=1) / np.maximum(np.hypot(chroma[:, 0], chroma[:, 1]), 1e-6)
    of_bar = pixels[cosine >= math.cos(math.radians(HUE_ANGLE))]
    if of_bar.shape[0] < MIN_COLOURED_PX:
        return None
    held = table.chroma.reshape(-1, 2)[cell_indices(of_bar, table.bits)]
    return float(np.count_nonzero(held.any(axis=1))) / of_bar.shape[0]


def _kernel_sizes(sigma: tuple[float, float]) -> tuple[int, int]:
    """Taps across and down of the blur (1 along an axis that is not blurred)."""
    return tuple(2 * math.ceil(3 * sd) + 1 if sd > 0 else 1 for sd in sigma)  # 3 sigma: 99.7 % of it


def blur_kernels(sigma: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """``(down, across)`` taps, 1-D float32: the Gaussian is their outer product, as the dense fit's two passes."""
    across, down = _kernel_sizes(sigma)
    kx = cv2.getGaussianKernel(across, sigma[0], cv2.CV_32F) if sigma[0] > 0 else np.ones((1, 1), np.float32)
    ky = cv2.getGaussianKernel(down, sigma[1], cv2.CV_32F) if sigma[1] > 0 else np.ones((1, 1), np.float32)
    return np.ascontiguousarray(ky.ravel()), np.ascontiguousarray(kx.ravel())


def _blur(plane: np.ndarray, sigma: tuple[float, float]) -> np.ndarray:
    return cv2.GaussianBlur(plane, _kernel_sizes(sigma), sigmaX=sigma[0], sigmaY=sigma[1])


def unmix(
    crop: np.ndarray,
    table: PaintTable,
    sigma: tuple[float, float],
    iterations: int = ITERATIONS,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """``(H, W) float32``: how much of its paint (:func:`paint_table`) each pixel of ``crop (H, W, 3) uint8``
    RGB holds, 0..1. The fit runs over the pixels that may hold paint only (:mod:`.unmix_kernel`), or over
    the whole crop (:func:`unmix_dense`, the reference) without numba. ``scratch``: ``(H, W, 4) float32``
    zeros to work in (left zero, so a clip's frames can share one), else allocated here."""
    if unmix_kernel.IMPORT_ERROR is not None:
        return unmix_dense(crop, table, sigma, iterations)
    crop = np.ascontiguousarray(crop)
    ys, xs, pb, pr, grey_rms = unmix_kernel.held_pixels(crop, table.chroma.reshape(-1, 2), table.bits)
    alpha = np.zeros(crop.shape[:2], dtype=np.float32)
    if ys.size == 0:
        return alpha
    held = crop[ys, xs].astype(np.float32)
    a = np.clip(((held @ YCBCR[1]) * pb + (held @ YCBCR[2]) * pr) / np.maximum(pb * pb + pr * pr, 1.0), 0.0, 1.0)
    a = a.astype(np.float32)
    if scratch is None:
        scratch = np.zeros((*crop.shape[:2], 4), dtype=np.float32)
    unmix_kernel.fit(crop, ys, xs, pb, pr, a, *blur_kernels(sigma), NOISE_SHRINK * grey_rms, iterations, scratch)
    alpha[ys, xs] = a
    return alpha


def unmix_dense(
    crop: np.ndarray, table: PaintTable, sigma: tuple[float, float], iterations: int = ITERATIONS
) -> np.ndarray:
    """:func:`unmix` over the whole crop with OpenCV's blur: the reference the sparse fit is tested against."""
    index = cell_indices(crop, table.bits)
    flat = table.chroma.reshape(-1, 2)
    pb, pr = flat[index, 0], flat[index, 1]
    mask = ((pb != 0) | (pr != 0)).astype(np.float32)
    pixels = crop.astype(np.float32)
    cb, cr = pixels @ YCBCR[1], pixels @ YCBCR[2]
    grey = mask == 0
    noise = NOISE_SHRINK * float(np.sqrt((cb[grey] ** 2 + cr[grey] ** 2).mean())) if grey.any() else 0.0
    norm = np.maximum(pb * pb + pr * pr, 1.0)  # a held paint's chroma is above the chroma threshold
    pb_n, pr_n = pb / norm, pr / norm
    a = np.clip(cb * pb_n + cr * pr_n, 0.0, 1.0) * mask  # the per-pixel ratio: where the fit starts
    for _ in range(iterations):
        rest_b = cb - _blur(a * pb, sigma)
        rest_r = cr - _blur(a * pr, sigma)
        if noise > 0:  # chroma left within the codec's noise level is not fitted
            length = np.sqrt(rest_b * rest_b + rest_r * rest_r)
            keep = np.maximum(length - noise, 0.0) / np.maximum(length, 1e-6)
            rest_b *= keep
            rest_r *= keep
        a += _blur(rest_b, sigma) * pb_n + _blur(rest_r, sigma) * pr_n
        np.clip(a, 0.0, 1.0, out=a)
        a *= mask
    return a.astype(np.float32)


def _grey_tints(crop: np.ndarray, chroma_threshold: int) -> None:
    """Every pixel of ``crop`` (a view, changed in place) that the chroma rule would count set to its luma."""
    if unmix_kernel.IMPORT_ERROR is None:
        unmix_kernel.greyed_tints(crop, chroma_threshold)
        return
    tinted = crop.max(axis=-1).astype(np.int16) - crop.min(axis=-1) > chroma_threshold
    crop[tinted] = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)[tinted][:, None]


def painted(alpha: np.ndarray) -> np.ndarray:
    """``(H, W) bool``: in each 8-connected group of pixels holding at least :data:`MIN_ALPHA` paint, the
    ``round(sum of alpha)`` pixels holding the most (ties in raster order)."""
    out = np.zeros(alpha.shape, dtype=bool)
    groups, labels = cv2.connectedComponents((alpha >= MIN_ALPHA).astype(np.uint8), connectivity=8)
    if groups <= 1:
        return out
    where = np.flatnonzero(labels.ravel())
    group, share = labels.ravel()[where], alpha.ravel()[where]
    order = np.lexsort((-share, group))  # by group, most paint first
    where, group, share = where[order], group[order], share[order]
    keep = np.rint(np.bincount(group, weights=share, minlength=groups)).astype(np.int64)
    rank = np.arange(group.size) - np.searchsorted(group, group)
    out.ravel()[where[rank < keep[group]]] = True
    return out


def picture_tint(frames: np.ndarray, where: np.ndarray, chroma_threshold: int) -> np.ndarray | None:
    """``(2, 256, 3) uint8``: the B-mode's tint at each luma as RGB offsets, the positive parts (row 0) and the
    negative ones (row 1), read from ``frames (N, H, W, 3) uint8`` RGB where ``where (H, W) bool``; None when the
    picture is grey."""
    step = max(1, math.isqrt(-(-frames.shape[0] * int(np.count_nonzero(where)) // TINT_SAMPLE)))
    pixels = frames[:, ::step, ::step][:, where[::step, ::step]].reshape(-1, 3)  # up to about TINT_SAMPLE
    grey = pixels[pixels.max(axis=1).astype(np.int16) - pixels.min(axis=1) <= chroma_threshold]
    ycc = grey.astype(np.float32) @ YCBCR.T
    bands = np.minimum(ycc[:, 0] // TINT_BAND, 255 // TINT_BAND).astype(np.intp)
    centres, tints = [], []
    for band in np.flatnonzero(np.bincount(bands, minlength=256 // TINT_BAND) >= TINT_MIN_PX):
        centres.append((band + 0.5) * TINT_BAND)
        tints.append(np.median(ycc[bands == band, 1:], axis=0))
    if not tints or np.abs(tints).max() < TINT_FLOOR:
        return None
    tints = np.asarray(tints, dtype=np.float32)
    luma = np.arange(256, dtype=np.float32)
    cb, cr = (np.interp(luma, centres, tints[:, k]) for k in (0, 1))
    rgb = np.rint(np.stack([1.402 * cr, -0.344136 * cb - 0.714136 * cr, 1.772 * cb], axis=1))  # (256, 3)
    return np.stack([np.clip(rgb, 0, 255), np.clip(-rgb, 0, 255)]).astype(np.uint8)


def _untinted(crop: np.ndarray, tint: np.ndarray, chroma_threshold: int) -> np.ndarray:
    """A copy of ``crop (H, W, 3) uint8`` RGB with the tint (:func:`picture_tint`) taken off the pixels the chroma
    rule does not count; the others keep their colour. OpenCV's saturating arithmetic and look-up tables: a few
    milliseconds for a full-HD box."""
    crop = np.ascontiguousarray(crop)
    luma = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    up, down = (cv2.merge([cv2.LUT(luma, tint[k, :, c]) for c in range(3)]) for k in (0, 1))
    grey = cv2.compare(value_chroma(crop)[1], chroma_threshold, cv2.CMP_LE)
    out = crop.copy()
    cv2.copyTo(cv2.add(cv2.subtract(crop, up), down), grey, out)
    return out


@dataclass(frozen=True, eq=False)
class Unmixer:
    """Repaints the counted part of a clip's frames: the pixels found painted in their bar colour, every other
    pixel grey (its luma), so that the chroma rule counts exactly the painted pixels."""

    table: PaintTable
    sigma: tuple[float, float]
    window: tuple[slice, slice]  # rows and columns holding every pixel where Doppler is counted
    chroma_threshold: int  # what the chroma rule counts: chroma (max - min) above it
    tint: np.ndarray | None = None  # (2, 256, 3) uint8: the B-mode's tint at each luma (:func:`picture_tint`)
    _scratch: dict = field(default_factory=dict, repr=False)  # the fit's zeroed work plane, by shape
    _copies: dict = field(default_factory=dict, repr=False)  # the repainted batch, by shape (the latest only)

    def repainted(self, frames: np.ndarray) -> np.ndarray:
        """A copy of ``frames (B, H, W, 3) uint8`` RGB with the window repainted: the painted pixels in their
        bar colour, every other pixel the chroma rule would count grey (its luma). The copy is a buffer this
        Unmixer reuses (valid until its next call): a fresh batch-sized array a batch costs more in page
        faults than the copy itself."""
        out = self._copies.get(frames.shape)
        if out is None:
            self._copies.clear()
            out = self._copies.setdefault(frames.shape, np.empty_like(frames))
        np.copyto(out, frames)
        colours = self.table.rgb.reshape(-1, 3)
        shape = (self.window[0].stop - self.window[0].start, self.window[1].stop - self.window[1].start, 4)
        scratch = self._scratch.get(shape)
        if scratch is None:  # one per clip: the fit leaves it zero
            scratch = self._scratch.setdefault(shape, np.zeros(shape, dtype=np.float32))
        for frame in out:
            crop = frame[self.window]
            fit = crop if self.tint is None else _untinted(crop, self.tint, self.chroma_threshold)
            chosen = painted(unmix(fit, self.table, self.sigma, scratch=scratch))
            hit = cell_indices(fit[chosen], self.table.bits)
            _grey_tints(crop, self.chroma_threshold)
            crop[chosen] = colours[hit]
        return out


def unmixer(
    colours: np.ndarray,
    sampling: str | None,
    where: np.ndarray,
    chroma_threshold: int,
    bits: int = 6,
    tint: np.ndarray | None = None,
) -> Unmixer | None:
    """The unmixing of a clip whose bar shows ``colours (K, 3) uint8`` and whose chroma was sampled as
    ``sampling``, over the bounding box of ``where (H, W) bool``, with the B-mode's ``tint`` (:func:`picture_tint`)
    taken off before the fit; None when the sampling is not one of :data:`SIGMAS`, nothing is counted, or no bar
    colour carries colour."""
    sigma = SIGMAS.get(sampling or "")
    if sigma is None or not where.any():
        return None
    table = paint_table(colours, chroma_threshold, bits)
    if table is None:
        return None
    rows, cols = np.flatnonzero(where.any(axis=1)), np.flatnonzero(where.any(axis=0))
    window = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    return Unmixer(table, sigma, window, chroma_threshold, tint)
