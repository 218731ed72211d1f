"""Decoding: bytes, a path or an array -> :class:`Clip`. One plugin per format, tried in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.errors import DecodeError, EmptyInput, InputNotFound, UnsupportedInput

from .base import Calibration, Clip, Decoder, Limits, SourceInfo, UltrasoundRegion
from .dicom import DicomDecoder
from .image import ImageDecoder
from .video import VideoDecoder

DECODERS: list[Decoder] = [DicomDecoder(), ImageDecoder(), VideoDecoder()]

Source = str | Path | bytes | bytearray | memoryview | np.ndarray | Clip

__all__ = [
    "DECODERS",
    "Calibration",
    "Clip",
    "Decoder",
    "Limits",
    "Source",
    "SourceInfo",
    "UltrasoundRegion",
    "decode",
]


def decode(source: Source, limits: Limits, name: str | None = None) -> Clip:
    """Decode an input.

    Args:
        source: a path, the file's bytes, an already decoded ``(H, W, 3)`` / ``(N, H, W, 3)`` uint8 RGB
            array (or ``(H, W)`` grey), or a :class:`Clip` (returned as it is).
        limits: size limits checked before pixel data is decoded.
        name: the name to report; default: the path's base name, else "input".
    """
    if isinstance(source, Clip):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source, name or "array", limits)
    if isinstance(source, str | Path):
        path = Path(source)
        data = _read_file(path, limits)
        name = name or path.name
    else:
        data = bytes(source)
        limits.check_bytes(len(data))
    return _decode_bytes(data, Path(name or "input").name, limits)


def _read_file(path: Path, limits: Limits) -> bytes:
    if not path.is_file():
        raise InputNotFound(f"no such file: {path.name}")
    limits.check_bytes(path.stat().st_size)
    return path.read_bytes()


def _decode_bytes(data: bytes, name: str, limits: Limits) -> Clip:
    if not data:
        raise EmptyInput("the input is empty (0 bytes)")
    head = data[:512]
    reasons = []
    for plugin in DECODERS:
        missing = plugin.unavailable_reason()
        if missing is not None:
            reasons.append(f"{plugin.name}: unavailable ({missing})")
        elif plugin.accepts(head):
            return plugin.decode(data, name, limits)
        else:
            reasons.append(f"{plugin.name}: not its format")
    kind = "a DICOM file" if data[128:132] == b"DICM" else "an unrecognised format"
    raise UnsupportedInput(
        f"{name!r} is {kind}; readers tried: {'; '.join(reasons)}. Send a PNG, JPEG, BMP or TIFF image, "
        "or an MP4, MOV, AVI or MKV/WebM video"
    )


def _from_array(array: np.ndarray, name: str, limits: Limits) -> Clip:
    if array.dtype != np.uint8:
        raise UnsupportedInput(f"array of dtype {array.dtype}; expected uint8 RGB")
    colour = "RGB"
    if array.ndim == 2:  # grey still
        frames, colour = np.repeat(array[None, :, :, None], 3, axis=-1), "grey"
    elif array.ndim in (3, 4) and array.shape[-1] in (3, 4):  # RGB or RGBA, one frame or many
        frames = array[..., :3] if array.ndim == 4 else array[None, ..., :3]
    else:
        raise UnsupportedInput(f"array of shape {array.shape}; expected (H, W, 3) or (N, H, W, 3) RGB")
    if 0 in frames.shape:
        raise DecodeError(f"array of shape {array.shape} holds no pixels")
    limits.check_geometry(*frames.shape[:3])
    source = SourceInfo(format="array", colour=colour)
    return Clip.in_memory(frames, name, source)
