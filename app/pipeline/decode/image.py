"""Still images: PNG, JPEG, BMP, TIFF (grey, RGB, RGBA, 16-bit), through OpenCV.

The size is read from the header with Pillow (which parses headers lazily) before OpenCV decodes
any pixel, so a small file that claims a huge image is refused before allocation. Pillow's format
classes are called directly, not through ``Image.open``: its decompression-bomb guard would refuse
a large header before our limits are checked, with a message that names none of them.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np
from PIL import BmpImagePlugin, ImageFile, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from app.errors import DecodeError, UnsupportedInput

from .base import Clip, Limits, SourceInfo

_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"BM": "bmp",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
}


# Our format name -> Pillow's reader of its header (the factory Image.open would pick, without its size guard;
# the JPEG one turns a multi-picture JPEG into an MPO with its page count).
_READERS: dict[str, Callable[[io.BytesIO], ImageFile.ImageFile]] = {
    "png": PngImagePlugin.PngImageFile,
    "jpeg": JpegImagePlugin.jpeg_factory,
    "bmp": BmpImagePlugin.BmpImageFile,
    "tiff": TiffImagePlugin.TiffImageFile,
}


def _sniff(head: bytes) -> str | None:
    return next((fmt for magic, fmt in _MAGIC.items() if head.startswith(magic)), None)


class ImageDecoder:
    name = "image"

    def unavailable_reason(self) -> str | None:
        return None  # OpenCV and Pillow are core dependencies

    def accepts(self, head: bytes) -> bool:
        return _sniff(head) is not None

    def decode(self, data: bytes, name: str, limits: Limits) -> Clip:
        fmt = _sniff(data[:16]) or "image"
        width, height, pages, compression, samples = _probe(data, fmt)
        limits.check_geometry(1, height, width)
        # OpenCV's decoded array, then the RGB copy made from it: both exist at once
        limits.check_decoded_bytes(width * height * (samples + 3), f"the {width}x{height} {fmt} image")
        if pages > 1:
            raise UnsupportedInput(f"a {fmt} with {pages} pages; one image per file is read")
        if fmt == "png" and data.rfind(b"IEND") < 0:  # cut short: named here, before libpng prints to stderr
            raise DecodeError("the PNG data ends before its last chunk (IEND): truncated file?")
        array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if array is None or array.size == 0:
            raise DecodeError(f"the {fmt.upper()} data could not be decoded (truncated or corrupt file?)")
        if array.shape[:2] != (height, width):
            raise DecodeError(
                f"{fmt} header says {width}x{height} but the pixels decode as {array.shape[1]}x{array.shape[0]}"
            )
        rgb, colour, depth = to_rgb8(array)
        sampling, lossy = _coding(data, fmt, compression)
        source = SourceInfo(
            format=fmt,
            colour=colour,
            bit_depth=depth,
            chroma_subsampling=None if colour == "grey" else sampling,
            lossy=lossy,
        )
        return Clip.in_memory(rgb[None], name, source)


def _probe(data: bytes, fmt: str) -> tuple[int, int, int, str | None, int]:
    """(width, height, pages, compression as Pillow names it, bytes per decoded pixel) from the header alone.

    No pixel is decoded or allocated here: the caller checks the size against the limits first."""
    try:
        with _READERS[fmt](io.BytesIO(data)) as image:
            width, height = image.size
            pages = getattr(image, "n_frames", 1)
            compression = image.info.get("compression")
            samples = _pixel_bytes(data, fmt, image.mode, len(image.getbands()))
    except Exception as exc:  # Pillow raises many types for malformed headers
        raise DecodeError(f"the {fmt.upper()} header could not be read (truncated or corrupt file?)") from exc
    if width < 1 or height < 1:
        raise DecodeError(f"{fmt} header declares an empty image ({width}x{height})")
    return width, height, pages, compression if isinstance(compression, str) else None, samples


# PNG IHDR colour type (ISO/IEC 15948 §11.2.2) -> samples per pixel as OpenCV decodes it (palette expands to
# BGR or BGRA, grey + alpha to BGRA)
_PNG_SAMPLES = {0: 1, 2: 3, 3: 4, 4: 4, 6: 4}
_WIDE_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}  # Pillow modes of more than 8 bits per sample


def _pixel_bytes(data: bytes, fmt: str, mode: str, bands: int) -> int:
    """Bytes per pixel of OpenCV's decoded array, from the header: a PNG's IHDR bit depth and colour type
    (Pillow reports 16-bit RGB as 8-bit), else Pillow's mode."""
    if fmt == "png" and len(data) >= 26 and data[12:16] == b"IHDR":
        depth, colour_type = data[24], data[25]
        return _PNG_SAMPLES.get(colour_type, 4) * (2 if depth == 16 else 1)
    return max(bands, 3 if mode == "P" else 1) * (2 if mode in _WIDE_MODES else 1)


# TIFF compressions (as Pillow names them) that drop information; the others (none, LZW, deflate, PackBits) keep it.
_LOSSY_TIFF = {"jpeg", "tiff_jpeg", "webp"}


def _coding(data: bytes, fmt: str, compression: str | None) -> tuple[str | None, bool | None]:
    """``(chroma sampling, lossy)`` of a still as stored; PNG and BMP keep every pixel's colour."""
    if fmt == "jpeg":
        coding = jpeg_coding(data)
        return coding if coding is not None else (None, True)
    if fmt in ("png", "bmp"):
        return "4:4:4", False
    if fmt == "tiff":
        lossy = compression in _LOSSY_TIFF
        return (None if lossy else "4:4:4"), lossy  # a JPEG-compressed TIFF may subsample; not read here
    return None, None


# JPEG start-of-frame markers (ITU-T T.81 table B.1): the DCT processes are lossy, the lossless ones are not.
_SOF_LOSSY = {0xC0, 0xC1, 0xC2, 0xC5, 0xC6, 0xC9, 0xCA, 0xCD, 0xCE}
_SOF_LOSSLESS = {0xC3, 0xC7, 0xCB, 0xCF}
_NO_LENGTH = {0x01, *range(0xD0, 0xD9)}  # TEM, RST0-7, SOI: markers without a length field
_SOS = 0xDA
# (luma sampling factor / chroma sampling factor) horizontally and vertically -> J:a:b notation.
_SAMPLING = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (4, 1): "4:1:1", (1, 2): "4:4:0"}


def jpeg_coding(data: bytes | memoryview) -> tuple[str | None, bool] | None:
    """``(chroma sampling, lossy)`` from a JPEG stream's start-of-frame segment (T.81 B.2.2); None without one.

    Sampling is read from the components' factors: the first component (luma) against the others; None for
    one component (grey) or sampling outside the usual five.
    """
    view = memoryview(data)
    i = 2 if bytes(view[:2]) == b"\xff\xd8" else None
    while i is not None and i + 4 <= len(view):
        if view[i] != 0xFF:
            return None
        marker = view[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _NO_LENGTH:
            i += 2
            continue
        if marker == _SOS:
            return None
        length = (view[i + 2] << 8) | view[i + 3]
        if marker in _SOF_LOSSY or marker in _SOF_LOSSLESS:
            segment = view[i + 4 : i + 2 + length]
            if len(segment) < 6:
                return None
            sampling = [segment[7 + 3 * c] for c in range(segment[5]) if 8 + 3 * c < len(segment)]  # Hi << 4 | Vi
            factors = [(byte >> 4, byte & 0x0F) for byte in sampling]
            return _sampling(factors), marker in _SOF_LOSSY
        i += 2 + length
    return None


def _sampling(factors: list[tuple[int, int]]) -> str | None:
    if len(factors) != 3 or 0 in (f for pair in factors for f in pair):
        return None
    (hy, vy), chroma = factors[0], factors[1:]
    if chroma[0] != chroma[1] or hy % chroma[0][0] or vy % chroma[0][1]:
        return None
    return _SAMPLING.get((hy // chroma[0][0], vy // chroma[0][1]))


def to_rgb8(array: np.ndarray) -> tuple[np.ndarray, str, int]:
    """An OpenCV image (grey, BGR or BGRA; uint8 or uint16) -> ``(H, W, 3) uint8 RGB``, colour model, bits."""
    if array.dtype == np.uint16:
        array, depth = (array >> 8).astype(np.uint8), 16  # keep the 8 most significant bits
    elif array.dtype == np.uint8:
        depth = 8
    else:
        raise UnsupportedInput(f"pixel type {array.dtype} is not supported; expected 8- or 16-bit integers")
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        return cv2.cvtColor(array.reshape(array.shape[:2]), cv2.COLOR_GRAY2RGB), "grey", depth
    if array.ndim == 3 and array.shape[2] == 3:
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB), "RGB", depth
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2RGB), "RGBA", depth  # alpha dropped
    raise UnsupportedInput(f"image with shape {array.shape} is not grey, RGB or RGBA")
