"""The fit of :mod:`.paint_unmix` over the pixels that may hold paint only (numba).

The pixels that may hold paint are few, a fraction of a percent of a Doppler box to a few percent, but
scattered over it (chroma noise on speckle with a paint's luma), so a dense fit over their bounding box blurs
the whole box 32 times a frame (44 ms for an 800x600 screen's box). Here the blur is scattered from those
pixels and gathered back to them, so the work follows their number: :func:`held_pixels` finds them in one
pass over the box, :func:`fit` runs the projected-gradient steps. The Gaussian is separable, and each blur
runs as a pass along the rows and one down the columns over the cells it reaches (18 taps a cell for 4:2:0
chroma instead of 81: a third of the time of one 2-D pass on the same frames, with the same pixels painted).
Out-of-box neighbours are left out where the dense fit reflects the border; elsewhere the two agree to float
rounding (``tests/app/pipeline/measure/test_paint_unmix.py``).
"""

from __future__ import annotations

import math

import numpy as np

from app.pipeline.measure.colour_cube import YCBCR
from cuda_ops.jit import IMPORT_ERROR, cached_njit

__all__ = ["IMPORT_ERROR", "fit", "greyed_tints", "held_pixels"]

# BT.601 chroma weights, as numba constants
_CB = tuple(float(w) for w in YCBCR[1])
_CR = tuple(float(w) for w in YCBCR[2])


@cached_njit()
def _chroma(pixel):
    r, g, b = np.float32(pixel[0]), np.float32(pixel[1]), np.float32(pixel[2])
    cb = np.float32(_CB[0]) * r + np.float32(_CB[1]) * g + np.float32(_CB[2]) * b
    cr = np.float32(_CR[0]) * r + np.float32(_CR[1]) * g + np.float32(_CR[2]) * b
    return cb, cr


@cached_njit()
def held_pixels(crop, paint, bits):  # pragma: no cover - compiled; tests compare it with the dense fit
    """``(ys, xs, paint_cb, paint_cr, grey_rms)``: the pixels of ``crop (H, W, 3) uint8`` whose table cell holds
    paint (``paint (S**3, 2) float32``), that paint, and the RMS chroma of the other pixels (0 when none)."""
    h, w = crop.shape[0], crop.shape[1]
    shift = 8 - bits
    ys = np.empty(h * w, np.int32)
    xs = np.empty(h * w, np.int32)
    pb = np.empty(h * w, np.float32)
    pr = np.empty(h * w, np.float32)
    n = 0
    grey_sum = 0.0
    grey_n = 0
    for y in range(h):
        for x in range(w):
            p = crop[y, x]
            cell = ((np.int64(p[0]) >> shift) << (2 * bits)) | ((np.int64(p[1]) >> shift) << bits)
            cell |= np.int64(p[2]) >> shift
            b, r = paint[cell, 0], paint[cell, 1]
            if b != 0.0 or r != 0.0:
                ys[n], xs[n], pb[n], pr[n] = y, x, b, r
                n += 1
            else:
                cb, cr = _chroma(p)
                grey_sum += cb * cb + cr * cr
                grey_n += 1
    rms = math.sqrt(grey_sum / grey_n) if grey_n else 0.0
    return ys[:n].copy(), xs[:n].copy(), pb[:n].copy(), pr[:n].copy(), rms


@cached_njit()
def _footprint(ys, xs, ry, rx, scratch):  # pragma: no cover - compiled
    """The cells the blur of the held pixels ``(ys, xs)`` reaches: ``(y1, x1)`` along their rows (``rx`` px either
    side), then ``(y2, x2)`` over the whole kernel (``ry`` rows either side of those), each cell once, in the
    crop; ``scratch`` marks them in channels 0 and 1 meanwhile and is left zero."""
    h, w = scratch.shape[0], scratch.shape[1]
    n = ys.size
    y1 = np.empty(n * (2 * rx + 1), np.int32)
    x1 = np.empty(n * (2 * rx + 1), np.int32)
    m1 = 0
    for i in range(n):
        y = ys[i]
        for x in range(max(xs[i] - rx, 0), min(xs[i] + rx + 1, w)):
            if scratch[y, x, 0] == 0.0:
                scratch[y, x, 0] = 1.0
                y1[m1], x1[m1] = y, x
                m1 += 1
    y2 = np.empty(m1 * (2 * ry + 1), np.int32)
    x2 = np.empty(m1 * (2 * ry + 1), np.int32)
    m2 = 0
    for j in range(m1):
        x = x1[j]
        scratch[y1[j], x, 0] = 0.0
        for y in range(max(y1[j] - ry, 0), min(y1[j] + ry + 1, h)):
            if scratch[y, x, 1] == 0.0:
                scratch[y, x, 1] = 1.0
                y2[m2], x2[m2] = y, x
                m2 += 1
    for j in range(m2):
        scratch[y2[j], x2[j], 1] = 0.0
    return y1[:m1], x1[:m1], y2[:m2], x2[:m2]


@cached_njit()
def fit(crop, ys, xs, pb, pr, alpha, ky, kx, noise, iterations, scratch):  # pragma: no cover - compiled
    """Projected-gradient steps of the paint fit, ``alpha (n,) float32`` updated in place.

    The blur is the outer product of ``ky (2ry+1,)`` down and ``kx (2rx+1,)`` across (float32), applied as two
    passes: scattered along the rows from each held pixel, then down the columns from the cells that reached
    (and gathered back the same way), a pass of ``2rx + 1`` and one of ``2ry + 1`` taps a cell instead of
    their product. ``noise``: residual chroma shorter than this is not fitted; ``scratch (H, W, 4) float32``:
    zeros (channels 0-1 the row pass, 2-3 the blurred paint and then the residual; left zero)."""
    h, w = crop.shape[0], crop.shape[1]
    ry, rx = ky.size // 2, kx.size // 2
    n = ys.size
    y1, x1, y2, x2 = _footprint(ys, xs, ry, rx, scratch)
    cb2 = np.empty(y2.size, np.float32)  # the decoded chroma where the blur reaches: fixed over the steps
    cr2 = np.empty(y2.size, np.float32)
    for j in range(y2.size):
        cb2[j], cr2[j] = _chroma(crop[y2[j], x2[j]])
    norm = np.empty(n, np.float32)
    step = np.empty(n, np.float32)
    for i in range(n):
        norm[i] = max(pb[i] * pb[i] + pr[i] * pr[i], np.float32(1.0))
    for _ in range(iterations):
        for i in range(n):  # the paint, blurred along the rows
            a = alpha[i]
            if a == 0.0:
                continue
            sb, sr, y = a * pb[i], a * pr[i], ys[i]
            for x in range(max(xs[i] - rx, 0), min(xs[i] + rx + 1, w)):
                k = kx[x - xs[i] + rx]
                scratch[y, x, 0] += k * sb
                scratch[y, x, 1] += k * sr
        for j in range(y1.size):  # ... then down the columns (the row pass cleared as it is read)
            y, x = y1[j], x1[j]
            tb, tr = scratch[y, x, 0], scratch[y, x, 1]
            if tb == 0.0 and tr == 0.0:
                continue
            scratch[y, x, 0], scratch[y, x, 1] = 0.0, 0.0
            for yy in range(max(y - ry, 0), min(y + ry + 1, h)):
                k = ky[yy - y + ry]
                scratch[yy, x, 2] += k * tb
                scratch[yy, x, 3] += k * tr
        for j in range(y2.size):  # the chroma it leaves unexplained
            y, x = y2[j], x2[j]
            rb, rr = cb2[j] - scratch[y, x, 2], cr2[j] - scratch[y, x, 3]
            if noise > 0.0:
                length = math.sqrt(rb * rb + rr * rr)
                keep = max(length - noise, 0.0) / max(length, 1e-6)
                rb, rr = rb * keep, rr * keep
            scratch[y, x, 2], scratch[y, x, 3] = rb, rr
        for j in range(y1.size):  # blurred back: down the columns into the row cells ...
            y, x = y1[j], x1[j]
            gb, gr = np.float32(0.0), np.float32(0.0)
            for yy in range(max(y - ry, 0), min(y + ry + 1, h)):
                k = ky[yy - y + ry]
                gb += k * scratch[yy, x, 2]
                gr += k * scratch[yy, x, 3]
            scratch[y, x, 0], scratch[y, x, 1] = gb, gr
        for i in range(n):  # ... then along the rows to each held pixel, read along its paint
            gb, gr, y = np.float32(0.0), np.float32(0.0), ys[i]
            for x in range(max(xs[i] - rx, 0), min(xs[i] + rx + 1, w)):
                k = kx[x - xs[i] + rx]
                gb += k * scratch[y, x, 0]
                gr += k * scratch[y, x, 1]
            step[i] = (gb * pb[i] + gr * pr[i]) / norm[i]
        for j in range(y1.size):  # the work planes back to zero where they were written
            scratch[y1[j], x1[j], 0], scratch[y1[j], x1[j], 1] = 0.0, 0.0
        for j in range(y2.size):
            scratch[y2[j], x2[j], 2], scratch[y2[j], x2[j], 3] = 0.0, 0.0
        for i in range(n):
            alpha[i] = min(max(alpha[i] + step[i], np.float32(0.0)), np.float32(1.0))


@cached_njit()
def greyed_tints(crop, threshold):  # pragma: no cover - compiled; tests check the repainted frames
    """Sets every pixel of ``crop (H, W, 3) uint8`` whose chroma (max - min) is above ``threshold`` to its luma
    (BT.601 in 14-bit fixed point, rounded), in place: what the chroma rule would count is gone."""
    for y in range(crop.shape[0]):
        for x in range(crop.shape[1]):
            r, g, b = np.int32(crop[y, x, 0]), np.int32(crop[y, x, 1]), np.int32(crop[y, x, 2])
            if max(r, g, b) - min(r, g, b) > threshold:
                grey = np.uint8((r * 4899 + g * 9617 + b * 1868 + 8192) >> 14)
                crop[y, x, 0] = grey
                crop[y, x, 1] = grey
                crop[y, x, 2] = grey
