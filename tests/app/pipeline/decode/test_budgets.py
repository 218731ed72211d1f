"""Decompression budgets: sizes checked before inflating or decoding, and the total-pixel limit on sampled frames."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, generate_uid

from app.errors import DecodeError, InputTooLarge
from app.pipeline.decode import Limits, decode
from app.pipeline.decode.dicom_deflate import check_inflated_size, deflated_start

LIMITS = Limits(max_bytes=1 << 30, max_frame_pixels=4096 * 4096, max_frames=10_000, max_total_pixels=2 * 10**9)


def _deflated_dicom(pixels: bytes, rows: int, cols: int, frames: int) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, frames
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.PixelData = pixels
    plain = io.BytesIO()
    ds.save_as(plain, enforce_file_format=True)
    ds = dcmread(io.BytesIO(plain.getvalue()))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_a_deflate_bomb_is_refused_while_inflating_with_bounded_memory():
    """64 MB of zeros deflate to ~64 KB; with a 16 MB budget the file is refused holding about one chunk."""
    rows, cols, frames = 1024, 1024, 21  # 66 MB of RGB zeros
    data = _deflated_dicom(bytes(rows * cols * 3 * frames), rows, cols, frames)
    assert len(data) < 200_000
    limits = Limits(**{**LIMITS.__dict__, "max_decoded_bytes": 16 << 20})
    tracemalloc.start()
    try:
        with pytest.raises(InputTooLarge, match="NEOVASC_MAX_DECODED_BYTES"):
            decode(data, limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # pydicom's own inflation would have taken 66 MB at once


def test_a_deflated_file_within_the_budget_decodes():
    rgb = np.arange(2 * 6 * 5 * 3, dtype=np.uint8).reshape(2, 6, 5, 3)
    data = _deflated_dicom(rgb.tobytes(), 6, 5, 2)
    start = deflated_start(data)
    assert start is not None and check_inflated_size(data, start, 1 << 20) > rgb.size
    np.testing.assert_array_equal(decode(data, LIMITS).frames, rgb)


def test_only_the_deflated_syntax_is_measured_and_corrupt_streams_are_decode_errors():
    rgb = np.zeros((1, 4, 4, 3), np.uint8)
    data = _deflated_dicom(rgb.tobytes(), 4, 4, 1)
    start = deflated_start(data)
    assert start is not None
    assert deflated_start(data.replace(b"1.2.840.10008.1.2.1.99", b"1.2.840.10008.1.2.1\0\0\0")) is None
    with pytest.raises(DecodeError, match="could not be inflated"):
        check_inflated_size(data[:start] + b"\xff" * 64, start, 1 << 20)


def _png_header_only(width: int, height: int, depth: int, colour_type: int) -> bytes:
    """A PNG that declares a size and holds one tiny IDAT: decoding would allocate the declared size."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("depth", "colour_type", "per_pixel"), [(8, 2, 3), (16, 6, 8), (8, 0, 1)], ids=["rgb8", "rgba16", "grey8"]
)
def test_a_png_is_sized_from_its_header_before_decoding(depth, colour_type, per_pixel):
    width = height = 1000
    budget = width * height * (per_pixel + 3)  # decoded array plus its RGB copy
    data = _png_header_only(width, height, depth, colour_type)
    with pytest.raises(InputTooLarge, match=f"{budget} bytes"):
        decode(data, Limits(**{**LIMITS.__dict__, "max_decoded_bytes": budget - 1}))


def test_a_png_within_the_budget_decodes():
    ok, png = cv2.imencode(".png", np.full((20, 30, 3), 200, np.uint8))
    assert ok
    limits = Limits(**{**LIMITS.__dict__, "max_decoded_bytes": 20 * 30 * 6})
    assert decode(png.tobytes(), limits).frames.shape == (1, 20, 30, 3)


@pytest.mark.parametrize(
    ("every", "max_measured", "passes"),
    [(1, None, False), (2, None, True), (1, 50, True), (1, 100, False)],
    ids=["all", "every-2", "max-50", "max-100"],
)
def test_the_total_pixel_limit_counts_the_frames_measured(every, max_measured, passes):
    limits = Limits(1 << 30, 10**6, 1000, max_total_pixels=100 * 50 * 100, every=every, max_measured=max_measured)
    if passes:
        limits.check_geometry(100, 100, 100)
    else:
        with pytest.raises(InputTooLarge, match="NEOVASC_MAX_TOTAL_PIXELS"):
            limits.check_geometry(100, 100, 100)


def test_frames_held_are_capped_however_they_are_sampled():
    limits = Limits(1 << 30, 10**6, max_frames=99, max_total_pixels=10**9, every=10)
    with pytest.raises(InputTooLarge, match="NEOVASC_MAX_FRAMES"):
        limits.check_geometry(100, 1, 1)


def _bmp_header_only(width: int, height: int) -> bytes:
    """A 24-bit BMP whose BITMAPINFOHEADER declares a size, followed by a few bytes of pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + 16, 0, 0, 14 + len(info)) + info + bytes(16)


def _tiff_header_only(width: int, height: int) -> bytes:
    """A little-endian grey 8-bit TIFF whose first IFD declares a size, with one strip of 16 bytes."""
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 0), (277, 3, 1),
            (278, 4, height), (279, 4, 16)]  # fmt: skip
    ifd_size = 2 + 12 * len(tags) + 4
    tags[5] = (273, 4, 8 + ifd_size)  # the strip follows the IFD
    entries = b"".join(struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in tags)
    ifd = struct.pack("<H", len(tags)) + entries
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + bytes(16)


def _jpeg_header_only(width: int, height: int) -> bytes:
    """A small baseline JPEG whose start-of-frame segment is rewritten to declare another size."""
    ok, jpeg = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    assert ok
    data = bytearray(jpeg.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


HEADERS = {"png": lambda w, h: _png_header_only(w, h, 8, 2), "bmp": _bmp_header_only, "tiff": _tiff_header_only,
           "jpeg": _jpeg_header_only}  # fmt: skip


@pytest.mark.parametrize("fmt", HEADERS)
def test_a_huge_still_header_names_the_frame_pixel_limit_unallocated(fmt):
    """65000 x 65000 (a JPEG's largest) is far beyond Pillow's own decompression-bomb guard, which named no limit."""
    side = 65_000
    tracemalloc.start()
    try:
        with pytest.raises(InputTooLarge, match=rf"{side}x{side} = {side * side} pixels.*NEOVASC_MAX_FRAME_PIXELS"):
            decode(HEADERS[fmt](side, side), LIMITS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


@pytest.mark.parametrize("fmt", HEADERS)
def test_a_raised_frame_pixel_limit_reaches_the_decoded_bytes_limit(fmt):
    """10000 x 10000 passes NEOVASC_MAX_FRAME_PIXELS raised to 10^9 (Pillow alone would refuse it, naming no
    limit): the next limit, on the decoded bytes, is the one named."""
    raised = {"max_frame_pixels": 10**9, "max_total_pixels": 10**10, "max_decoded_bytes": 1 << 28}
    with pytest.raises(InputTooLarge, match=r"10000x10000 .*NEOVASC_MAX_DECODED_BYTES"):
        decode(HEADERS[fmt](10_000, 10_000), Limits(**{**LIMITS.__dict__, **raised}))
