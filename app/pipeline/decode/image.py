"""Still images: PNG, JPEG, BMP, TIFF (grey, RGB, RGBA, 16-bit), through OpenCV.

The size is read from the header with Pillow (which parses headers lazily) before OpenCV decodes
any pixel, so a small file that claims a huge image is refused before allocation.
"""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
from PIL import Image

from app.errors import DecodeError, InputTooLarge, UnsupportedInput

from .base import Clip, Limits, SourceInfo

_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"BM": "bmp",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
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
        width, height, pages = _probe(data, fmt)
        limits.check_geometry(1, height, width)
        if pages > 1:
            raise UnsupportedInput(f"{fmt} with {pages} pages; send one image per file, or a video")
        array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if array is None or array.size == 0:
            raise DecodeError(f"the {fmt.upper()} data could not be decoded (truncated or corrupt file?)")
        if array.shape[:2] != (height, width):
            raise DecodeError(
                f"{fmt} header says {width}x{height} but the pixels decode as {array.shape[1]}x{array.shape[0]}"
            )
        rgb, colour, depth = to_rgb8(array)
        return Clip.in_memory(rgb[None], name, SourceInfo(format=fmt, colour=colour, bit_depth=depth))


def _probe(data: bytes, fmt: str) -> tuple[int, int, int]:
    """(width, height, pages) from the header alone."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                pages = getattr(image, "n_frames", 1)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputTooLarge(f"{fmt} header declares an image too large to decode safely") from exc
    except Exception as exc:  # Pillow raises many types for malformed headers
        raise DecodeError(f"the {fmt.upper()} header could not be read (truncated or corrupt file?)") from exc
    if width < 1 or height < 1:
        raise DecodeError(f"{fmt} header declares an empty image ({width}x{height})")
    return width, height, pages


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
