"""Planar 8-bit YUV -> RGB with an explicit matrix and range: the coefficients and a fused numba kernel.

The reference is the ITU-R BT.601 / BT.709 formula (the tests write it out); the kernel gives it rounded
to nearest, reading FFmpeg's planes in place and writing straight into the batch (faster than swscale
plus a copy; ``benchmarks/decode_video.py`` compares them). Why it is shaped this way:

* The chroma terms are computed once per chroma sample and added to the 2x2 (2x1, 1x2) luma samples
  it covers, as swscale repeats chroma; a per-pixel chroma lookup would stop LLVM's vectoriser.
* float32 arithmetic (8 AVX2 lanes; numba widens integers to int64, which AVX2 cannot multiply in
  lanes), clamped as int32.
* Grey is exact: the chroma terms are products with ``Cb - 128`` and ``Cr - 128``, 0.0 at 128.
* One thread: ``video.py`` overlaps decoding and conversion on two threads, and a parallel kernel
  beside FFmpeg's own frame threads slowed the whole decode.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
    from numba import njit
except ImportError as exc:  # numba is a declared dependency; without it video falls back to swscale
    numba = None
    _IMPORT_ERROR: str | None = f"numba cannot be imported ({type(exc).__name__}); pip install numba"
else:
    _IMPORT_ERROR = None

# ITU-R BT.601 / BT.709 luma weights (Kr, Kb); Kg = 1 - Kr - Kb.
KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
# 8-bit planar pixel formats the kernel converts -> (log2 horizontal, log2 vertical) chroma subsampling.
SUBSAMPLING = {
    "yuv420p": (1, 1),
    "yuvj420p": (1, 1),
    "yuv422p": (1, 0),
    "yuvj422p": (1, 0),
    "yuv440p": (0, 1),
    "yuvj440p": (0, 1),
    "yuv444p": (0, 0),
    "yuvj444p": (0, 0),
}
# Limited ("studio") range, ITU-R BT.601/BT.709: Y in 16..235, Cb and Cr in 16..240 around 128.
_Y_BLACK, _Y_SPAN, _C_SPAN = 16, 219, 224


def unavailable_reason() -> str | None:
    """Why the kernel cannot run here (video then uses swscale), or ``None``."""
    return _IMPORT_ERROR


def coefficients(matrix: str, yuv_range: str) -> np.ndarray:
    """``(6,) float32``: luma scale, luma offset (with the +0.5 of rounding), Cr->R, Cb->G, Cr->G, Cb->B.

    ``R = Y * scale + offset + Cr' * c_rv``, ``G = ... - Cb' * c_gu - Cr' * c_gv``, ``B = ... + Cb' * c_bu``,
    ``Cb' = Cb - 128``, ``Cr' = Cr - 128``, then floored: the ITU-R BT.601 / BT.709 encoding equations solved
    for R, G, B (limited range first stretched from 16..235 / 16..240 to 0..255).
    """
    kr, kb = KR_KB[matrix]
    kg = 1 - kr - kb
    y_scale, c_scale, y_black = 1.0, 1.0, 0
    if yuv_range == "limited":
        y_scale, c_scale, y_black = 255 / _Y_SPAN, 255 / _C_SPAN, _Y_BLACK
    elif yuv_range != "full":
        raise ValueError(f"yuv_range must be 'limited' or 'full', got {yuv_range!r}")
    rv, bu = 2 * (1 - kr), 2 * (1 - kb)
    gu, gv = bu * kb / kg, rv * kr / kg
    chroma = [c * c_scale for c in (rv, gu, gv, bu)]
    return np.array([y_scale, 0.5 - y_black * y_scale, *chroma], np.float32)


def _njit(**options):
    """``njit`` cached on disk where numba finds a writable place; compiled per process otherwise."""

    def decorate(fn):
        if numba is None:
            return fn
        try:
            return njit(cache=True, nogil=True, fastmath=False, **options)(fn)
        except RuntimeError:  # no writable cache location (read-only install without NUMBA_CACHE_DIR)
            return njit(cache=False, nogil=True, fastmath=False, **options)(fn)

    return decorate


@_njit()  # LLVM inlines it; numba's inline="always" only made compiling slower (2.3 s against 1.7 s)
def _to_byte(x):
    """``x`` (float32, the +0.5 of rounding included) floored and clamped to 0..255 (truncation toward zero
    only differs below 0, which clamps to 0 either way). Clamping as int32 measured 20 % faster than as float."""
    return np.uint8(min(max(np.int32(x), 0), 255))


@_njit()
def _chroma_terms(u_row, v_row, coeffs, terms):
    """``terms (3, CW) float32``: the R, G and B chroma terms of one chroma row (0.0 where Cb = Cr = 128)."""
    c_rv, c_gu, c_gv, c_bu = coeffs[2], coeffs[3], coeffs[4], coeffs[5]
    t_r, t_g, t_b = terms[0], terms[1], terms[2]
    for c in range(t_r.shape[0]):
        du = np.float32(u_row[c]) - np.float32(128.0)
        dv = np.float32(v_row[c]) - np.float32(128.0)
        t_r[c] = c_rv * dv
        t_g[c] = -(c_gu * du + c_gv * dv)
        t_b[c] = c_bu * du


@_njit()
def _row_pairs(y_row, terms, coeffs, out_row):
    """One RGB row ``(W * 3,)`` whose pixel pairs share a chroma sample (horizontal subsampling)."""
    scale, offset = coeffs[0], coeffs[1]
    t_r, t_g, t_b = terms[0], terms[1], terms[2]
    width = out_row.shape[0] // 3
    for c in range(width >> 1):
        y0 = np.float32(y_row[2 * c]) * scale + offset
        y1 = np.float32(y_row[2 * c + 1]) * scale + offset
        out_row[6 * c] = _to_byte(y0 + t_r[c])
        out_row[6 * c + 1] = _to_byte(y0 + t_g[c])
        out_row[6 * c + 2] = _to_byte(y0 + t_b[c])
        out_row[6 * c + 3] = _to_byte(y1 + t_r[c])
        out_row[6 * c + 4] = _to_byte(y1 + t_g[c])
        out_row[6 * c + 5] = _to_byte(y1 + t_b[c])
    if width & 1:  # odd width: the last pixel has a chroma sample of its own
        last, c = width - 1, width >> 1
        y0 = np.float32(y_row[last]) * scale + offset
        out_row[3 * last] = _to_byte(y0 + t_r[c])
        out_row[3 * last + 1] = _to_byte(y0 + t_g[c])
        out_row[3 * last + 2] = _to_byte(y0 + t_b[c])


@_njit()
def _row_single(y_row, terms, coeffs, out_row):
    """One RGB row ``(W * 3,)`` with a chroma sample per pixel (no horizontal subsampling)."""
    scale, offset = coeffs[0], coeffs[1]
    t_r, t_g, t_b = terms[0], terms[1], terms[2]
    for col in range(out_row.shape[0] // 3):
        y0 = np.float32(y_row[col]) * scale + offset
        out_row[3 * col] = _to_byte(y0 + t_r[col])
        out_row[3 * col + 1] = _to_byte(y0 + t_g[col])
        out_row[3 * col + 2] = _to_byte(y0 + t_b[col])


@_njit()
def _convert(y, u, v, coeffs, shift_x, shift_y, out):
    """``out (H, W, 3) uint8`` RGB from planes ``y (>=H, >=W)``, ``u``/``v (>=ceil(H/2^sy), >=ceil(W/2^sx))``."""
    height, width = out.shape[0], out.shape[1]
    terms = np.empty((3, (width + shift_x) >> shift_x), np.float32)  # (3, CW): stays in L1
    for cr in range((height + shift_y) >> shift_y):
        _chroma_terms(u[cr], v[cr], coeffs, terms)
        for row in range(cr << shift_y, min((cr + 1) << shift_y, height)):
            out_row = out[row].reshape(width * 3)  # (W * 3,) R, G, B, R, ...
            if shift_x:
                _row_pairs(y[row], terms, coeffs, out_row)
            else:
                _row_single(y[row], terms, coeffs, out_row)


def yuv_to_rgb(
    planes: tuple[np.ndarray, np.ndarray, np.ndarray],
    pix_fmt: str,
    coeffs: np.ndarray,
    out: np.ndarray,
) -> None:
    """Convert one frame into ``out``, a C-contiguous ``(H, W, 3) uint8`` RGB array (a batch slot).

    Args:
        planes: Y, Cb, Cr as 2-D ``uint8`` arrays, rows possibly padded (FFmpeg's line size): Y at least
            ``(H, W)``, chroma at least ``(ceil(H / 2^sy), ceil(W / 2^sx))`` for ``pix_fmt``'s subsampling.
        pix_fmt: a key of :data:`SUBSAMPLING` (FFmpeg's pixel format name).
        coeffs: from :func:`coefficients`.
    """
    shift_x, shift_y = SUBSAMPLING[pix_fmt]
    height, width = out.shape[:2]
    y, u, v = planes
    chroma = ((height + shift_y) >> shift_y, (width + shift_x) >> shift_x)
    if not (
        out.dtype == np.uint8
        and out.flags.c_contiguous
        and out.shape[2:] == (3,)
        and all(p.dtype == np.uint8 and p.ndim == 2 and p.strides[1] == 1 for p in planes)
        and y.shape[0] >= height
        and y.shape[1] >= width
        and all(p.shape[0] >= chroma[0] and p.shape[1] >= chroma[1] for p in (u, v))
    ):
        raise ValueError(
            f"planes {[p.shape for p in planes]} do not cover a {width}x{height} {pix_fmt} frame "
            f"into a C-contiguous (H, W, 3) uint8 array (got {out.shape} {out.dtype})"
        )
    _convert(y, u, v, coeffs, shift_x, shift_y, out)
