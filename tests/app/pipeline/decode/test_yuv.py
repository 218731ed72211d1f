"""The YUV -> RGB kernel against the exact BT.601 / BT.709 formula, written here independently of it.

Every matrix, range and chroma subsampling the kernel converts, on awkward shapes (1x1, 2x2, odd
sizes, padded rows); grey must come out exactly grey.
"""

from __future__ import annotations

import av
import numpy as np
import pytest

from app.pipeline.decode import yuv

KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}  # ITU-R BT.601 / BT.709 luma weights


def ffmpeg_shifts(pix_fmt: str) -> tuple[int, int]:
    """log2 of the chroma step (x, y), from FFmpeg's own description of the pixel format."""
    luma, chroma = av.VideoFormat(pix_fmt, 64, 64).components[:2]
    return (luma.width // chroma.width).bit_length() - 1, (luma.height // chroma.height).bit_length() - 1


SHIFTS = {name: ffmpeg_shifts(name) for name in yuv.SUBSAMPLING}
SHAPES = [(1, 1), (2, 2), (17, 33), (5, 2), (2, 7), (48, 64)]  # (H, W)


def exact_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, matrix: str, full: bool) -> np.ndarray:
    """``(H, W, 3)`` float RGB of full-resolution Y, Cb, Cr: ITU-R BT.601 / BT.709 solved for R, G, B, clipped."""
    kr, kb = KR_KB[matrix]
    y, cb, cr = y.astype(float), cb - 128.0, cr - 128.0
    if not full:  # studio swing: Y 16..235, Cb/Cr 16..240
        y, cb, cr = (y - 16) * 255 / 219, cb * 255 / 224, cr * 255 / 224
    r, b = y + 2 * (1 - kr) * cr, y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255)


def planes(rng, height: int, width: int, pix_fmt: str, pad: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random Y, Cb, Cr planes for the format (chroma rounded up, as FFmpeg sizes it), rows padded by ``pad``."""
    sx, sy = SHIFTS[pix_fmt]
    ch, cw = -(-height // (1 << sy)), -(-width // (1 << sx))
    return tuple(rng.integers(0, 256, (h, w + pad), dtype=np.uint8) for h, w in ((height, width), (ch, cw), (ch, cw)))


def upsampled(plane: np.ndarray, height: int, width: int, pix_fmt: str) -> np.ndarray:
    """A chroma plane repeated over the luma samples it covers, ``(H, W)``."""
    sx, sy = SHIFTS[pix_fmt]
    return plane[np.arange(height)[:, None] >> sy, np.arange(width)[None, :] >> sx]


def convert(yuv_planes: tuple[np.ndarray, ...], height: int, width: int, pix_fmt: str, matrix: str, yuv_range: str):
    out = np.empty((height, width, 3), np.uint8)
    yuv.yuv_to_rgb(yuv_planes, pix_fmt, yuv.coefficients(matrix, yuv_range), out)
    return out


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("pix_fmt", SHIFTS)
@pytest.mark.parametrize("yuv_range", ["limited", "full"])
@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
def test_kernel_is_the_rounded_formula(rng, matrix, yuv_range, pix_fmt, shape):
    height, width = shape
    y, cb, cr = planes(rng, height, width, pix_fmt, pad=5)
    out = convert((y, cb, cr), height, width, pix_fmt, matrix, yuv_range)
    full_cb, full_cr = (upsampled(p, height, width, pix_fmt) for p in (cb, cr))
    exact = exact_rgb(y[:, :width], full_cb, full_cr, matrix, yuv_range == "full")
    assert np.abs(out - exact).max() <= 0.5 + 1e-3  # rounded to nearest: float32 error is ~1e-5 of a level


@pytest.mark.parametrize("yuv_range", ["limited", "full"])
@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
def test_grey_is_exactly_grey(matrix, yuv_range):
    """Every luma level with Cb = Cr = 128: R = G = B, and the formula's level."""
    y = np.arange(256, dtype=np.uint8).reshape(16, 16)
    neutral = np.full((8, 8), 128, np.uint8)
    out = convert((y, neutral, neutral), 16, 16, "yuv420p", matrix, yuv_range).astype(int)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    level = y.astype(float) if yuv_range == "full" else (y - 16.0) * 255 / 219
    assert np.abs(out[..., 0] - np.clip(level, 0, 255)).max() <= 0.5 + 1e-3


@pytest.mark.parametrize("pix_fmt", yuv.SUBSAMPLING)
def test_formats_are_8_bit_planar_yuv_with_ffmpegs_subsampling(pix_fmt):
    fmt = av.VideoFormat(pix_fmt, 64, 64)
    assert fmt.is_planar and not fmt.is_rgb and len(fmt.components) == 3
    assert all(c.bits == 8 for c in fmt.components)
    assert (
        yuv.SUBSAMPLING[pix_fmt]
        == ffmpeg_shifts(pix_fmt)
        == {"420": (1, 1), "422": (1, 0), "440": (0, 1), "444": (0, 0)}[pix_fmt[-4:-1]]
    )


def test_full_range_bt601_is_jfif():
    """ITU-T T.871 (JFIF) constants: R = Y + 1.402 Cr', G = Y - 0.344136 Cb' - 0.714136 Cr', B = Y + 1.772 Cb'."""
    scale, offset, rv, gu, gv, bu = yuv.coefficients("bt601", "full")
    assert (scale, offset) == (1.0, 0.5)
    np.testing.assert_allclose([rv, gu, gv, bu], [1.402, 0.344136, 0.714136, 1.772], atol=2e-6)


def test_writes_only_its_batch_slot(rng):
    y, cb, cr = planes(rng, 9, 11, "yuv420p", pad=3)
    batch = np.full((3, 9, 11, 3), 7, np.uint8)
    yuv.yuv_to_rgb((y, cb, cr), "yuv420p", yuv.coefficients("bt709", "limited"), batch[1])
    assert (batch[0] == 7).all() and (batch[2] == 7).all()
    np.testing.assert_array_equal(batch[1], convert((y, cb, cr), 9, 11, "yuv420p", "bt709", "limited"))


def test_padding_bytes_are_not_read(rng):
    """FFmpeg pads rows to its line size: what lies past the width must not change the picture."""
    y, cb, cr = planes(rng, 6, 10, "yuv420p", pad=6)
    first = convert((y, cb, cr), 6, 10, "yuv420p", "bt601", "limited")
    for plane, width in ((y, 10), (cb, 5), (cr, 5)):
        plane[:, width:] = 255 - plane[:, width:]
    np.testing.assert_array_equal(convert((y, cb, cr), 6, 10, "yuv420p", "bt601", "limited"), first)


def test_planes_that_do_not_cover_the_frame_are_refused(rng):
    y, cb, cr = planes(rng, 8, 8, "yuv420p")
    coeffs = yuv.coefficients("bt601", "full")
    with pytest.raises(ValueError, match="do not cover"):
        yuv.yuv_to_rgb((y, cb[:3], cr), "yuv420p", coeffs, np.empty((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="do not cover"):
        yuv.yuv_to_rgb((y, cb, cr), "yuv420p", coeffs, np.empty((8, 16, 3), np.uint8)[:, ::2])
    with pytest.raises(ValueError, match="'limited' or 'full'"):
        yuv.coefficients("bt601", "studio")
