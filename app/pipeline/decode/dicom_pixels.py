"""Reading a DICOM file's header with pydicom and finding its pixel data in place, as views into the file.

pydicom parses the header only (up to the top-level Pixel Data element); the pixel data stay where they are
in the file's bytes: a whole read would copy them out of the buffer and splitting them into frames would copy
them again (3x the file in memory, ~0.3 s per 300 MB). Native data become ``memoryview`` slices; encapsulated
data are walked item by item (PS3.5 §7.5, A.4), every length checked against the bytes left, and mapped to
frames one fragment per frame, through the Extended or Basic Offset Table, or by pydicom's own splitter.
Nothing here reads or returns element values beyond what locating the pixel data needs.
"""

from __future__ import annotations

import io
import itertools
import logging
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.errors import DecodeError

from .dicom_deflate import check_inflated_size, deflated_start

_DEFLATED = "1.2.840.10008.1.2.1.99"
# (7FE0,0010) Pixel Data's tag as written in each byte order; the items of encapsulated data (PS3.5 §7.5, A.4)
_PIXEL_DATA = 0x7FE00010
_PIXEL_TAG = {b"\xe0\x7f\x10\x00": True, b"\x7f\xe0\x00\x10": False}  # tag bytes -> little endian
_ITEM, _SEQUENCE_DELIMITER = (0xFFFE, 0xE000), (0xFFFE, 0xE0DD)
_UNDEFINED_LENGTH = 0xFFFFFFFF
_ITEM_TAG = {True: struct.Struct("<HH"), False: struct.Struct(">HH")}  # by little endian: group, element
_ITEM_LENGTH = {True: struct.Struct("<L"), False: struct.Struct(">L")}

Fragment = memoryview | bytes  # encoded bytes of (part of) a frame: a view into the file where possible


def pydicom_module() -> Any:
    import pydicom  # deferred: importing pydicom costs ~0.1 s that stills never need

    # pydicom logs malformed elements with their values (dates, names): keep those out of our logs
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    return pydicom


@dataclass(frozen=True)
class PixelData:
    """The top-level (7FE0,0010) Pixel Data element's value, as a view into the bytes it was read from.

    ``value``: the value's bytes that the data hold: a defined length is cut at the end of the data (as pydicom
    reads it, so that a truncated native image is reported by its size); an undefined length (encapsulated) ends
    before its sequence delimiter. ``items``: for an undefined length, the values of its items (FFFE,E000) in
    order, the Basic Offset Table first. ``length``: the declared length. ``vr``: as read, None in implicit VR.
    """

    value: memoryview
    length: int
    vr: str | None
    little_endian: bool
    items: tuple[memoryview, ...] | None = None


def read_header(data: bytes, max_inflated: int | None = None) -> tuple[Any, PixelData | None]:
    """The dataset up to its top-level Pixel Data, and where that element's value lies in ``data``.

    pydicom stops at the top-level (7FE0,0010) only (one inside a sequence, such as an icon image, is read with
    its sequence) and leaves the stream at the element's tag; elements after the pixel data are not read (none
    of them describes the image). Deflated data (the whole dataset compressed) cannot be used in place: those
    are read whole, as before, once their inflated size is known to be at most ``max_inflated`` bytes.
    """
    from pydicom.filereader import read_partial

    pydicom_module()  # quiets pydicom's logger
    deflated_at = deflated_start(data)
    if deflated_at is not None and max_inflated is not None:
        check_inflated_size(data, deflated_at, max_inflated)  # pydicom would inflate it all at once, unbounded
    stream = io.BytesIO(data)  # shares ``data``'s buffer: BytesIO copies a bytes object only when written to
    found: list[tuple[str | None, int]] = []

    def at_pixel_data(tag: int, vr: str | None, length: int) -> bool:
        if tag != _PIXEL_DATA:
            return False
        found.append((vr, length))  # the element as pydicom's own parse saw it: VR (None if implicit), length
        return True

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about every malformed element it tolerates
            ds = read_partial(stream, stop_when=at_pixel_data, force=True)
            ds.file_meta  # noqa: B018 - force parsing of the file meta group
    except Exception as exc:  # pydicom raises many types on malformed data
        raise _unparsable(exc) from exc
    deflated = str(header_value(ds.file_meta, "TransferSyntaxUID", "")) == _DEFLATED
    if deflated or getattr(ds, "buffer", None) is not stream:  # read from an inflated copy: offsets not in ``data``
        return _read_whole(data)
    pixels = _locate(data, stream.tell(), *found[-1]) if found else None
    if found and pixels is None:
        return _read_whole(data)
    _forget_buffer(ds)
    return ds, pixels


def _forget_buffer(ds: Any) -> None:
    """Drop the dataset's reference to the stream it was read from.

    Nothing is read from it later (no element is deferred), and it holds the file's bytes: where only a copy for
    pydicom's decoders is used, the file can then be freed.
    """
    ds.buffer = None


def _unparsable(exc: Exception) -> DecodeError:
    return DecodeError("the DICOM data could not be parsed (truncated or corrupt file?): " + type(exc).__name__)


def _read_whole(data: bytes) -> tuple[Any, PixelData | None]:
    """The whole dataset through pydicom, the pixel data copied into it (deflated data need this)."""
    pydicom = pydicom_module()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
            ds.file_meta  # noqa: B018 - force parsing of the file meta group
    except Exception as exc:
        raise _unparsable(exc) from exc
    _forget_buffer(ds)  # for deflated data, the inflated copy
    if "PixelData" not in ds:
        return ds, None
    try:
        element = ds["PixelData"]
        value = element.value
    except Exception as exc:
        raise DecodeError("the DICOM pixel data could not be read (truncated file?)") from exc
    if not isinstance(value, bytes):
        raise DecodeError("the DICOM pixel data could not be read (truncated file?)")
    length = _UNDEFINED_LENGTH if element.is_undefined_length else len(value)
    little = getattr(ds, "original_encoding", (False, True))[1] is not False
    return ds, PixelData(memoryview(value), length, element.VR, little)


def _locate(data: bytes, at: int, vr: str | None, length: int) -> PixelData | None:
    """The Pixel Data element whose tag starts at ``data[at]`` (None: no such tag there, read the file whole)."""
    little = _PIXEL_TAG.get(data[at : at + 4])
    if little is None:
        return None
    from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

    # explicit VR OB/OW (and UN): tag, VR, 2 reserved bytes, 4-byte length; implicit VR: tag, 4-byte length
    start = at + (12 if vr in EXPLICIT_VR_LENGTH_32 else 8)
    if start > len(data):
        raise DecodeError("the DICOM pixel data element is cut off in its header (truncated file?)")
    view = memoryview(data)
    if length != _UNDEFINED_LENGTH:
        return PixelData(view[start : start + length], length, vr, little)  # a slice stops at the end of the data
    items, end = _walk_items(view, start, len(data), little, delimited=True)
    return PixelData(view[start:end], length, vr, little, tuple(items))


def _walk_items(
    view: memoryview, start: int, stop: int, little: bool, *, delimited: bool
) -> tuple[list[memoryview], int]:
    """The values of the items (FFFE,E000) in ``view[start:stop]``, and where they end.

    Each item's 4-byte length is checked against the bytes left before anything is sliced. ``delimited``: the
    items must end at a sequence delimiter (FFFE,E0DD), as an undefined length does; otherwise they may also
    end at ``stop`` (the value of a defined length).
    """
    tag, size = _ITEM_TAG[little], _ITEM_LENGTH[little]
    items: list[memoryview] = []
    at = start
    while True:
        if at == stop and not delimited:
            return items, at
        if at + 4 <= stop and tag.unpack_from(view, at) == _SEQUENCE_DELIMITER:
            return items, at  # its zero length may be cut off: pydicom reads such a file too
        if at + 8 > stop:
            raise DecodeError(
                f"the DICOM pixel data ends after {len(items)} item(s) without a sequence delimiter (truncated file?)"
            )
        if tag.unpack_from(view, at) != _ITEM:
            raise DecodeError(
                f"the DICOM pixel data fragments could not be read: a data element stands where item {len(items)} "
                "should be (corrupt file, or a wrong transfer syntax?)"
            )
        (length,) = size.unpack_from(view, at + 4)
        if length > stop - at - 8:  # an undefined length (0xFFFFFFFF) is not allowed here and fails this too
            raise DecodeError(
                f"the DICOM pixel data item {len(items)} declares {length} bytes but {stop - at - 8} remain "
                "(truncated file?)"
            )
        items.append(view[at + 8 : at + 8 + length])
        at += 8 + length


def header_value(ds: Any, keyword: str, default: Any = None) -> Any:
    """A header value, or ``default`` when absent or unreadable (a corrupt element must not crash)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # values are converted on first access; the warnings quote them
            value = ds.get(keyword, default)
    except Exception:
        return default
    return default if value is None or value == "" else value


def header_int(ds: Any, keyword: str, default: int | None = None) -> int | None:
    """A header value as an integer, or ``default`` when absent or not a number."""
    value = header_value(ds, keyword, default)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return default


def attach_pixel_data(ds: Any, pixels: PixelData) -> None:
    """Put the pixel data into ``ds`` for pydicom's decoders: one copy, made only for the codecs that need it.

    The element goes in raw, as pydicom's reader would have left it, so that pydicom resolves its VR (OB or OW
    in implicit VR) and undefined length exactly as on a whole read.
    """
    if "PixelData" in ds:  # read whole (deflated data)
        return
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    tag = Tag(_PIXEL_DATA)
    # pydicom's decoders take bytes (an encapsulated memoryview would be taken for a file object)
    implicit = pixels.vr is None
    ds[tag] = RawDataElement(tag, pixels.vr, pixels.length, bytes(pixels.value), 0, implicit, pixels.little_endian)


def encoded_frames(ds: Any, pixels: PixelData, frames: int) -> list[tuple[Fragment, ...]]:
    """Each frame's fragments, as views into the encapsulated pixel data (nothing decoded or copied).

    One fragment per frame when the counts match (RLE requires it, PS3.5 A.4.2; JPEG writers nearly always do
    it) or all of them for one frame; otherwise the Extended or the Basic Offset Table says where each frame
    starts; failing both, pydicom's frame splitter (which looks for JPEG end markers) runs on a copy.
    """
    items = pixels.items
    if items is None:  # a defined length, which encapsulated data should not have: its items end with the value
        items = tuple(_walk_items(pixels.value, 0, len(pixels.value), pixels.little_endian, delimited=False)[0])
    if not items:
        raise DecodeError("the DICOM pixel data fragments could not be read: not even a Basic Offset Table item")
    fragments = items[1:]
    if len(fragments) == frames:
        return [(fragment,) for fragment in fragments]
    if frames == 1 and fragments:
        return [tuple(fragments)]
    offsets = _extended_offsets(ds, pixels.little_endian) or _offsets(items[0], 4, pixels.little_endian)
    split = _split_at(fragments, offsets, frames)
    return split if split is not None else _pydicom_frames(pixels, frames)


def _offsets(table: Fragment, size: int, little: bool) -> list[int]:
    """An offset table's ``size``-byte unsigned entries (none when its length is not a multiple of ``size``)."""
    if len(table) % size:
        return []
    return np.frombuffer(table, dtype=f"{'<' if little else '>'}u{size}").tolist()


def _extended_offsets(ds: Any, little: bool) -> list[int]:
    """(7FE0,0001) Extended Offset Table: 8-byte offsets of each frame's first item (PS3.3 C.7.6.3.1.8)."""
    table = header_value(ds, "ExtendedOffsetTable")
    return _offsets(table, 8, little) if isinstance(table, bytes) else []


def _split_at(fragments: Sequence[Fragment], offsets: list[int], frames: int) -> list[tuple[Fragment, ...]] | None:
    """_Fragments grouped into frames at ``offsets`` (bytes from the first fragment's item tag to each frame's).

    None unless there is one offset per frame, the first is 0 and each lands, in increasing order, on an item.
    """
    if len(offsets) != frames or not offsets or offsets[0] != 0:
        return None
    starts, at = {}, 0
    for index, fragment in enumerate(fragments):
        starts[at] = index
        at += 8 + len(fragment)  # the item's tag and length, then its value
    bounds = [starts.get(offset) for offset in offsets]
    if None in bounds or any(b <= a for a, b in itertools.pairwise(bounds)):
        return None
    ends = [*bounds[1:], len(fragments)]
    return [tuple(fragments[a:b]) for a, b in zip(bounds, ends, strict=True)]


def _pydicom_frames(pixels: PixelData, frames: int) -> list[tuple[Fragment, ...]]:
    """Frames as pydicom's generator splits them (its heuristics for tables missing or wrong), from a copy."""
    from pydicom.encaps import generate_frames

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            encoded = list(generate_frames(bytes(pixels.value), number_of_frames=frames))
    except Exception as exc:
        raise DecodeError(f"the DICOM pixel data fragments could not be read: {type(exc).__name__}") from exc
    if len(encoded) < frames:
        raise DecodeError(f"the DICOM pixel data holds {len(encoded)} frames, the header declares {frames}")
    return [(frame,) for frame in encoded]


def joined(parts: tuple[Fragment, ...]) -> Fragment:
    """One frame's encoded bytes: the fragment itself (a view), or several joined (a copy of one frame)."""
    return parts[0] if len(parts) == 1 else b"".join(parts)
