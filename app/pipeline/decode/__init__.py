"""Decoding: bytes, a path or an array -> :class:`Clip`. One plugin per format, tried in order."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    "Purpose",
    "Source",
    "SourceInfo",
    "UltrasoundRegion",
    "decode",
]


# What to send instead, by what the bytes are for. Messages name no file: a file name may hold a patient's name.
_ACCEPTED = {
    "input": "Send a DICOM file, a PNG, JPEG, BMP or TIFF image, or an MP4, MOV, AVI or MKV/WebM video",
    "mask": "Send the mask as a lossless PNG, BMP or TIFF image the size of the input (non-zero pixels: the region)",
}
Purpose = Literal["input", "mask"]


def decode(source: Source, limits: Limits, name: str | None = None, *, purpose: Purpose = "input") -> Clip:
    """Decode an input.

    Args:
        source: a path, the file's bytes, an already decoded ``(H, W, 3)`` / ``(N, H, W, 3)`` uint8 RGB
            array (or ``(H, W)`` grey), or a :class:`Clip` (returned as it is).
        limits: size limits checked before pixel data is decoded.
        name: the name to report; default: the path's base name, else "input". Error messages never quote it.
        purpose: ``"mask"`` for a region-of-interest mask image: errors then call it the mask and ask for an
            image, not a clip.
    """
    if isinstance(source, Clip):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source, name or "array", limits)
    if isinstance(source, str | Path):
        path = Path(source)
        data = _read_file(path, limits, purpose)
        name = name or path.name
    else:
        data = bytes(source)
        limits.check_bytes(len(data))
    return _decode_bytes(data, Path(name or "input").name, limits, purpose)


def _read_file(path: Path, limits: Limits, purpose: Purpose) -> bytes:
    if not path.is_file():
        raise InputNotFound(f"no such file: the {purpose} path does not exist or is not a file")
    limits.check_bytes(path.stat().st_size)
    return path.read_bytes()


def _decode_bytes(data: bytes, name: str, limits: Limits, purpose: Purpose) -> Clip:
    if not data:
        raise EmptyInput(f"the {purpose} is empty (0 bytes)")
    head = data[:512]
    reasons = []
    for plugin in DECODERS:
        missing = plugin.unavailable_reason()
        if missing is not None:
            reasons.append(f"{plugin.name}: unavailable ({missing})")
        elif plugin.accepts(head):
            return plugin.decode(data, name, limits) if purpose == "input" else _mask_image(plugin, data, name, limits)
        else:
            reasons.append(f"{plugin.name}: not its format")
    kind = "a DICOM file" if data[128:132] == b"DICM" else "in an unrecognised format"
    raise UnsupportedInput(f"the {purpose} is {kind}; readers tried: {'; '.join(reasons)}. {_ACCEPTED[purpose]}")


def _mask_image(plugin: Decoder, data: bytes, name: str, limits: Limits) -> Clip:
    """A region mask: one image whose pixels are exact. A lossy codec's ringing would widen the region unseen."""
    if plugin.name == "video":
        raise UnsupportedInput(f"the mask is a video. {_ACCEPTED['mask']}")
    try:
        clip = plugin.decode(data, name, limits)
    except UnsupportedInput as exc:
        raise UnsupportedInput(f"{exc.message}. {_ACCEPTED['mask']}") from exc
    if clip.num_frames != 1:
        raise UnsupportedInput(f"the mask holds {clip.num_frames} frames. {_ACCEPTED['mask']}")
    if clip.source.lossy:
        raise UnsupportedInput(
            f"the mask was saved with lossy compression ({clip.source.format}), which blurs its edges into "
            f"the pixels around them. {_ACCEPTED['mask']}"
        )
    return clip


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
