"""DICOM frames to ``(H, W, 3) uint8`` RGB, one at a time: the frame decoder :mod:`.dicom` picks by codec
and colour model (its docstring lists which way each goes)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from app.errors import DecodeError

from .dicom_pixels import Fragment, PixelData, attach_pixel_data, encoded_frames, header_int, joined

# Transfer syntaxes whose frames go to OpenCV when stored as YCbCr.
JPEG_8BIT = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}
_YBR_JPEG = {"YBR_FULL_422", "YBR_FULL"}


def frame_decoder(
    ds: Any, pixels: PixelData, ts: str, codec: str | None, frames: int, colour: str, stored: int
) -> Callable[[int], np.ndarray]:
    """``index -> (H, W, 3) uint8 RGB`` for this dataset (native 8-bit RGB frames are views into ``pixels``).

    ``ts`` and ``codec``: the transfer syntax UID and its codec's name (``uncompressed``, ``rle``, ...).
    """
    rows, cols = int(ds.Rows), int(ds.Columns)
    if ts in JPEG_8BIT and colour in _YBR_JPEG and stored <= 8:
        return _jpeg_frames(encoded_frames(ds, pixels, frames), rows, cols)
    to_rgb = _colour_mapper(ds, colour, stored)
    raw_frame = None
    if codec in ("uncompressed", "deflate") and colour != "YBR_FULL_422":
        raw_frame = _native_frames(ds, pixels.value, ts, rows, cols)
    elif codec == "rle":
        raw_frame = _rle_frames(ds, pixels, frames, rows, cols)
    if raw_frame is not None:  # samples as stored: YBR_FULL is converted here
        ybr = colour == "YBR_FULL"

        def decode_raw(index: int) -> np.ndarray:
            array = to_rgb(raw_frame(index))
            return cv2.cvtColor(array[..., [0, 2, 1]], cv2.COLOR_YCrCb2RGB) if ybr else array

        return decode_raw

    attach_pixel_data(ds, pixels)

    def decode(index: int) -> np.ndarray:
        raw = colour == "PALETTE COLOR"  # palette indices are mapped here, not by pydicom
        array = _pydicom_frame(ds, index, raw)
        if array.shape[:2] != (rows, cols):
            raise DecodeError(f"DICOM frame {index} decoded as {array.shape[:2]}, header says {(rows, cols)}")
        return to_rgb(array)

    return decode


def _native_frames(ds: Any, buffer: memoryview, ts: str, rows: int, cols: int) -> Callable[[int], np.ndarray] | None:
    """Frames of uncompressed 8- or 16-bit data as views into ``buffer`` (None: let pydicom do it).

    ``buffer`` holds every frame (checked by the decoder before); frames are ``(H, W)`` or
    ``(H, W, 3)`` arrays of the stored dtype and byte order, read-only views unless planar data must be
    interleaved.
    """
    # read as the decoder read them
    samples, allocated = header_int(ds, "SamplesPerPixel", 1), header_int(ds, "BitsAllocated", 8)
    if allocated not in (8, 16):
        return None
    signed = header_int(ds, "PixelRepresentation", 0) == 1
    order = ">" if ts == "1.2.840.10008.1.2.2" else "<"
    dtype = np.dtype(f"{order}{'i' if signed else 'u'}{allocated // 8}")
    planar = samples == 3 and header_int(ds, "PlanarConfiguration", 0) == 1
    per_frame = rows * cols * samples

    def frame(index: int) -> np.ndarray:
        array = np.frombuffer(buffer, dtype=dtype, count=per_frame, offset=index * per_frame * dtype.itemsize)
        if samples == 1:
            return array.reshape(rows, cols)
        if planar:
            return _interleave(array.reshape(3, rows, cols))
        return array.reshape(rows, cols, 3)

    return frame


def _rle_frames(ds: Any, pixels: PixelData, frames: int, rows: int, cols: int) -> Callable[[int], np.ndarray] | None:
    """Frames of 8-bit RLE data through pylibjpeg-rle, fragments located once (None: let pydicom do it)."""
    samples = header_int(ds, "SamplesPerPixel", 1)
    if header_int(ds, "BitsAllocated", 8) != 8:  # as the decoder read it: an unreadable value is taken as the default
        return None
    try:
        from rle.utils import decode_pixel_data
    except ImportError:
        return None
    encoded = encoded_frames(ds, pixels, frames)

    def frame(index: int) -> np.ndarray:
        # the codec takes bytes only (memoryview, bytearray and ndarray raise TypeError): one frame's copy, freed
        # when the frame is decoded
        source = bytes(joined(encoded[index]))
        try:
            data = decode_pixel_data(
                source, version=2, rows=rows, columns=cols, samples_per_pixel=samples, bits_allocated=8
            )
        except Exception as exc:  # the codec raises ValueError and others on corrupt segments
            raise DecodeError(f"DICOM RLE frame {index} could not be decoded: {type(exc).__name__}") from exc
        if len(data) != rows * cols * samples:
            raise DecodeError(f"DICOM RLE frame {index} decoded to {len(data)} bytes, expected {rows * cols * samples}")
        planes = np.frombuffer(data, dtype=np.uint8).reshape(samples, rows, cols)  # RLE stores one plane per sample
        return planes[0] if samples == 1 else _interleave(planes)

    return frame


def _interleave(planes: np.ndarray) -> np.ndarray:
    """``(3, H, W)`` planes -> ``(H, W, 3)`` (OpenCV's merge is ~4x faster than a numpy transpose copy)."""
    if planes.dtype.isnative:
        return cv2.merge(list(planes))
    return np.ascontiguousarray(planes.transpose(1, 2, 0))


def _pydicom_frame(ds: Any, index: int, raw: bool) -> np.ndarray:
    from pydicom.pixels import pixel_array

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pixel_array(ds, index=index, raw=raw)
    except MemoryError as exc:
        raise DecodeError("the DICOM frame needs more memory than is available") from exc
    except Exception as exc:  # decoder plugins raise many types on corrupt data
        raise DecodeError(
            f"DICOM frame {index} could not be decoded (corrupt or truncated pixel data): {type(exc).__name__}"
        ) from exc


def _jpeg_frames(encoded: list[tuple[Fragment, ...]], rows: int, cols: int) -> Callable[[int], np.ndarray]:
    def decode(index: int) -> np.ndarray:
        source = np.frombuffer(joined(encoded[index]), dtype=np.uint8)  # a view: OpenCV reads it in place
        bgr = cv2.imdecode(source, cv2.IMREAD_COLOR) if source.size else None  # imdecode raises on 0 bytes
        if bgr is None or bgr.shape[:2] != (rows, cols):
            got = "nothing" if bgr is None else f"{bgr.shape[1]}x{bgr.shape[0]}"
            raise DecodeError(f"DICOM JPEG frame {index} decoded as {got}, header says {cols}x{rows}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    return decode


def _colour_mapper(ds: Any, colour: str, stored: int) -> Callable[[np.ndarray], np.ndarray]:
    """Decoded samples -> ``(H, W, 3) uint8 RGB``."""
    if colour == "PALETTE COLOR":
        table = _palette(ds, stored)

        def palette(array: np.ndarray) -> np.ndarray:
            return table[np.clip(array, 0, table.shape[0] - 1)]

        return palette
    signed = header_int(ds, "PixelRepresentation", 0) == 1
    shift = max(0, stored - 8)

    def to_uint8(array: np.ndarray) -> np.ndarray:
        if array.dtype == np.uint8:
            return array
        values = array.astype(np.int64)
        if signed:
            values += 1 << (stored - 1)
        return np.clip(values >> shift, 0, 255).astype(np.uint8)

    if colour in ("MONOCHROME1", "MONOCHROME2"):

        def grey(array: np.ndarray) -> np.ndarray:
            level = to_uint8(array.reshape(array.shape[:2]))
            if colour == "MONOCHROME1":
                level = 255 - level
            return np.repeat(level[..., None], 3, axis=-1)

        return grey

    def rgb(array: np.ndarray) -> np.ndarray:
        if array.ndim != 3 or array.shape[2] != 3:
            raise DecodeError(f"DICOM {colour} frame decoded with shape {array.shape}")
        return np.ascontiguousarray(to_uint8(array))

    return rgb


def _palette(ds: Any, stored: int) -> np.ndarray:
    """The palette as a ``(2**bits, 3) uint8`` table (16-bit entries keep their 8 high bits)."""
    from pydicom.pixels import apply_color_lut

    bits = min(max(stored, 1), 16)
    indices = np.arange(1 << bits, dtype=np.uint16 if bits > 8 else np.uint8)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = np.asarray(apply_color_lut(indices, ds))
    except Exception as exc:
        raise DecodeError(f"the DICOM palette colour lookup table could not be read: {type(exc).__name__}") from exc
    if table.ndim != 2 or table.shape[1] != 3:
        raise DecodeError(f"the DICOM palette has shape {table.shape}, expected (entries, 3)")
    if table.dtype != np.uint8:
        table = (table.astype(np.uint32) >> 8).astype(np.uint8) if table.max() > 255 else table.astype(np.uint8)
    return table
