"""Deflated DICOM (Deflated Explicit VR Little Endian, PS3.5 §A.5): the inflated size, measured before pydicom
inflates.

pydicom inflates a deflated dataset in one ``zlib.decompress`` call, so a 1 MB file can ask for gigabytes
before any header value is seen (deflate reaches about 1000:1). Here the file meta group is walked by hand
to find the transfer syntax, and the deflated stream is inflated once in bounded chunks whose output is
counted and dropped: past the budget the file is refused, having held one chunk at a time.
"""

from __future__ import annotations

import struct
import zlib

from app.errors import DecodeError, InputTooLarge

DEFLATED_SYNTAX = b"1.2.840.10008.1.2.1.99"
_CHUNK = 1 << 20  # bytes of input, and at most of output, per inflation step
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"}  # 4-byte length (§7.1.2)
_TRANSFER_SYNTAX_TAG = (0x0002, 0x0010)


def deflated_start(data: bytes) -> int | None:
    """Where the deflated dataset starts, when the file meta group names the deflated transfer syntax; else None.

    The meta group is explicit VR little endian (PS3.10 §7.1), after a 128-byte preamble and ``DICM`` (or at
    the start of a file without them); it ends at the first element outside group 0002.
    """
    at = 132 if data[128:132] == b"DICM" else 0
    syntax = None
    while at + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, at)
        if group != 0x0002:
            break
        vr = bytes(data[at + 4 : at + 6])
        if vr in _LONG_VRS:
            if at + 12 > len(data):
                return None
            (length,) = struct.unpack_from("<L", data, at + 8)
            value_at = at + 12
        else:
            (length,) = struct.unpack_from("<H", data, at + 6)
            value_at = at + 8
        if (group, element) == _TRANSFER_SYNTAX_TAG:
            syntax = bytes(data[value_at : value_at + length]).rstrip(b"\0 ")
        at = value_at + length
    return at if syntax == DEFLATED_SYNTAX and at <= len(data) else None


def check_inflated_size(data: bytes, start: int, max_bytes: int) -> int:
    """The inflated size of ``data[start:]`` (raw deflate, no zlib header); InputTooLarge past ``max_bytes``.

    Inflates ``_CHUNK`` bytes of output at a time (``decompressobj`` with ``max_length``) and keeps none of it.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    view = memoryview(data)
    at, total = start, 0
    try:
        while not inflater.eof:
            if inflater.unconsumed_tail:
                out = inflater.decompress(inflater.unconsumed_tail, _CHUNK)
            elif at < len(view):
                out = inflater.decompress(view[at : at + _CHUNK], _CHUNK)
                at += _CHUNK
            else:
                out = inflater.flush()
                total += len(out)
                break
            total += len(out)
            if total > max_bytes:
                raise InputTooLarge(
                    f"the deflated DICOM data inflate to more than {max_bytes} bytes from {len(data)} "
                    "(NEOVASC_MAX_DECODED_BYTES); refused before inflating them"
                )
    except zlib.error as exc:
        raise DecodeError("the deflated DICOM data could not be inflated (corrupt or truncated file?)") from exc
    if total > max_bytes:
        raise InputTooLarge(f"the deflated DICOM data inflate to {total} bytes, above {max_bytes}")
    return total
