"""The DICOM plugin on datasets built here with known pixels: every colour model, layout and byte order."""

from __future__ import annotations

import io
import tracemalloc

import cv2
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    MPEG4HP41,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    RLELossless,
    generate_uid,
)

from app.errors import DecodeError, InputTooLarge, NoFrames, NotAnImage, UnsupportedTransferSyntax
from app.pipeline.decode import Limits, UltrasoundRegion, decode, dicom_frames, dicom_pixels
from app.pipeline.screen.calibration import calibrate

LIMITS = Limits(max_bytes=1 << 30, max_frame_pixels=4096 * 4096, max_frames=10_000, max_total_pixels=2 * 10**9)
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
RNG = np.random.default_rng(7)


def _dataset(pixels: bytes, rows: int, cols: int, *, ts=ExplicitVRLittleEndian, frames: int = 1, **elements) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_MULTIFRAME if frames > 1 else US_IMAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ts
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    for key, value in elements.items():
        setattr(ds, key, value)
    ds.PixelData = pixels
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True, little_endian=ts != ExplicitVRBigEndian, implicit_vr=False)
    return buffer.getvalue()


def _rgb(frames: int = 1, rows: int = 6, cols: int = 5) -> np.ndarray:
    return RNG.integers(0, 256, (frames, rows, cols, 3), dtype=np.uint8)


def test_rgb_interleaved_and_planar():
    rgb = _rgb(2)
    clip = decode(_dataset(rgb.tobytes(), 6, 5, frames=2), LIMITS)
    np.testing.assert_array_equal(clip.frames, rgb)
    planar = np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))  # per frame: all R, all G, all B
    clip = decode(_dataset(planar.tobytes(), 6, 5, frames=2, PlanarConfiguration=1), LIMITS)
    np.testing.assert_array_equal(clip.frames, rgb)
    assert clip.num_frames == 2 and clip.source.format == "dicom" and clip.source.codec == "uncompressed"


def test_big_endian_16_bit_samples_keep_their_high_byte():
    rgb16 = RNG.integers(0, 65536, (1, 4, 3, 3), dtype=np.uint16)
    data = _dataset(
        rgb16.astype(">u2").tobytes(), 4, 3, ts=ExplicitVRBigEndian, BitsAllocated=16, BitsStored=16, HighBit=15
    )
    clip = decode(data, LIMITS)
    np.testing.assert_array_equal(clip.frames, (rgb16 >> 8).astype(np.uint8))
    assert clip.source.bit_depth == 16


def test_ybr_full_is_converted_not_read_as_rgb():
    """Grey in YBR_FULL is Cb = Cr = 128: read as RGB it would look coloured (the Issue19 trap)."""
    ybr = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    ybr[..., 0] = np.arange(16, dtype=np.uint8).reshape(4, 4) * 16
    ybr[..., 1:] = 128
    clip = decode(_dataset(ybr.tobytes(), 4, 4, PhotometricInterpretation="YBR_FULL"), LIMITS)
    frame = clip.frames[0].astype(int)
    assert (frame.max(-1) - frame.min(-1)).max() <= 1  # grey stays grey
    np.testing.assert_allclose(frame[..., 0], ybr[0, ..., 0], atol=1)
    assert clip.source.colour == "YBR_FULL"


def test_palette_colour_with_16_bit_lut_is_brought_to_8_bits():
    indices = np.array([[0, 1, 2, 3]], dtype=np.uint8)
    red = [0, 65535, 0, 32768]
    green = [0, 0, 65535, 32768]
    blue = [0, 0, 0, 65280]
    data = _dataset(
        indices.tobytes(),
        1,
        4,
        SamplesPerPixel=1,
        PhotometricInterpretation="PALETTE COLOR",
        RedPaletteColorLookupTableDescriptor=[4, 0, 16],
        GreenPaletteColorLookupTableDescriptor=[4, 0, 16],
        BluePaletteColorLookupTableDescriptor=[4, 0, 16],
        RedPaletteColorLookupTableData=np.array(red, "<u2").tobytes(),
        GreenPaletteColorLookupTableData=np.array(green, "<u2").tobytes(),
        BluePaletteColorLookupTableData=np.array(blue, "<u2").tobytes(),
    )
    clip = decode(data, LIMITS)
    expected = np.array([[[0, 0, 0], [255, 0, 0], [0, 255, 0], [128, 128, 255]]], dtype=np.uint8)
    np.testing.assert_array_equal(clip.frames[0], expected)


@pytest.mark.parametrize("colour", ["MONOCHROME1", "MONOCHROME2"])
def test_monochrome(colour):
    grey = RNG.integers(0, 256, (1, 3, 5), dtype=np.uint8)
    clip = decode(_dataset(grey.tobytes(), 3, 5, SamplesPerPixel=1, PhotometricInterpretation=colour), LIMITS)
    want = 255 - grey[0] if colour == "MONOCHROME1" else grey[0]
    for channel in range(3):
        np.testing.assert_array_equal(clip.frames[0, ..., channel], want)


def test_rle_compressed_frames():
    from pydicom import dcmread

    rgb = _rgb(3, 8, 7)
    ds = dcmread(io.BytesIO(_dataset(rgb.tobytes(), 8, 7, frames=3)))
    ds.compress(RLELossless, encoding_plugin="pydicom")
    buffer = io.BytesIO()
    ds.save_as(buffer)
    clip = decode(buffer.getvalue(), LIMITS)
    assert clip.source.codec == "rle"
    np.testing.assert_array_equal(clip.frames, rgb)
    np.testing.assert_array_equal(clip.read(2)[0], rgb[2])  # random access to one frame


def test_jpeg_baseline_frames_decode_one_by_one_as_rgb():
    rgb = np.full((2, 32, 32, 3), 90, dtype=np.uint8)  # grey
    rgb[0, :16, :16] = (200, 30, 30)  # Doppler-like red
    rgb[1, :16, 16:] = (30, 30, 200)  # blue
    encoded = [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 98])[1] for f in rgb]
    data = _dataset(
        encapsulate([e.tobytes() for e in encoded]),
        32,
        32,
        ts=JPEGBaseline8Bit,
        frames=2,
        PhotometricInterpretation="YBR_FULL_422",
        FrameTime=40.0,
    )
    clip = decode(data, LIMITS)
    got = clip.frames.astype(int)
    # block interiors, away from the chroma-subsampled edges: JPEG loss only, no colour-model error
    assert np.abs(got[0, 2:14, 2:14] - (200, 30, 30)).max() <= 6
    assert np.abs(got[1, 2:14, 18:30] - (30, 30, 200)).max() <= 6
    grey = got[:, 20:30, 2:14]
    assert np.abs(grey - 90).max() <= 3 and (grey.max(-1) - grey.min(-1)).max() <= 3
    assert clip.fps == pytest.approx(25.0) and clip.frame_times_ms == (0.0, 40.0)
    assert (clip.source.chroma_subsampling, clip.source.lossy) == ("4:2:0", True)  # OpenCV's default sampling


def test_chroma_sampling_and_loss_come_from_the_stream_and_the_header():
    rgb = np.full((16, 16, 3), 90, dtype=np.uint8)
    rgb[:8, :8] = (200, 30, 30)
    params = [cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422]
    jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)[1].tobytes()
    data = _dataset(encapsulate([jpeg]), 16, 16, ts=JPEGBaseline8Bit, PhotometricInterpretation="YBR_FULL_422")
    assert (decode(data, LIMITS).source.chroma_subsampling, decode(data, LIMITS).source.lossy) == ("4:2:2", True)
    native = decode(_dataset(_rgb().tobytes(), 6, 5), LIMITS).source
    assert (native.chroma_subsampling, native.lossy) == ("4:4:4", False)
    once_lossy = decode(_dataset(_rgb().tobytes(), 6, 5, LossyImageCompression="01"), LIMITS).source
    assert once_lossy.lossy is True  # decompressed from a lossy codec before it was stored


def test_frame_rate_from_frame_time_vector_and_cine_rate():
    rgb = _rgb(3).tobytes()
    clip = decode(_dataset(rgb, 6, 5, frames=3, FrameTimeVector=[0, 20, 30]), LIMITS)
    assert clip.frame_times_ms == (0.0, 20.0, 50.0) and clip.fps == pytest.approx(40.0)
    clip = decode(_dataset(rgb, 6, 5, frames=3, CineRate=15), LIMITS)
    assert clip.fps == pytest.approx(15.0)
    assert decode(_dataset(rgb, 6, 5, frames=3), LIMITS).fps is None


def test_batches_stream_frames_in_order():
    rgb = _rgb(7)
    clip = decode(_dataset(rgb.tobytes(), 6, 5, frames=7), LIMITS)
    got = list(clip.batches(3))
    assert [start for start, _ in got] == [0, 3, 6]
    np.testing.assert_array_equal(np.concatenate([b for _, b in got]), rgb)


def test_limits_are_checked_from_the_header_before_decoding():
    data = _dataset(_rgb(2).tobytes(), 6, 5, frames=2)
    with pytest.raises(InputTooLarge, match="NEOVASC_MAX_FRAMES"):
        decode(data, Limits(max_bytes=1 << 30, max_frame_pixels=10**6, max_frames=1, max_total_pixels=10**9))
    with pytest.raises(InputTooLarge, match="NEOVASC_MAX_FRAME_PIXELS"):
        decode(data, Limits(max_bytes=1 << 30, max_frame_pixels=29, max_frames=10, max_total_pixels=10**9))
    # a header claiming a billion frames over a few bytes of pixel data: refused, nothing allocated
    with pytest.raises(InputTooLarge):
        decode(_dataset(b"\0" * 90, 6, 5, NumberOfFrames=10**9), LIMITS)


def test_truncated_zero_frames_and_unsupported_syntaxes():
    data = _dataset(_rgb(2).tobytes(), 6, 5, frames=2)
    with pytest.raises(DecodeError, match="truncated"):
        decode(data[:-50], LIMITS)
    with pytest.raises(NoFrames):
        decode(_dataset(_rgb(1).tobytes(), 6, 5, NumberOfFrames=0), LIMITS)
    with pytest.raises(UnsupportedTransferSyntax, match="pylibjpeg-libjpeg"):
        decode(_dataset(encapsulate([b"\xff\xd8\xff\xd9"]), 6, 5, ts=JPEGLosslessSV1), LIMITS)
    with pytest.raises(UnsupportedTransferSyntax, match="MP4"):
        decode(_dataset(encapsulate([b"\0" * 16]), 6, 5, ts=MPEG4HP41), LIMITS)


def test_structured_report_is_not_an_image():
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    with pytest.raises(NotAnImage, match="Basic Text SR"):
        decode(buffer.getvalue(), LIMITS)


def _region(bbox, units=(3, 3), delta=(0.01, 0.02), data_type=1) -> UltrasoundRegion:
    return UltrasoundRegion(
        bbox=bbox, spatial_format=1, data_type=data_type, units_x=units[0], units_y=units[1],
        delta_x=delta[0], delta_y=delta[1],
    )  # fmt: skip


def test_regions_are_read_in_pixels_with_inclusive_maxima():
    item = Dataset()
    item.RegionSpatialFormat, item.RegionDataType, item.RegionFlags = 1, 1, 0
    item.RegionLocationMinX0, item.RegionLocationMinY0 = 1, 2
    item.RegionLocationMaxX1, item.RegionLocationMaxY1 = 3, 4
    item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = 3
    item.PhysicalDeltaX, item.PhysicalDeltaY = 0.0286, 0.0229
    clip = decode(_dataset(_rgb(1).tobytes(), 6, 5, SequenceOfUltrasoundRegions=Sequence([item])), LIMITS)
    (region,) = clip.regions
    assert region.bbox == (1, 2, 4, 5) and region.data_type == 1
    calibration, why = calibrate(clip.regions, (1, 2, 3, 4))
    assert why is None
    assert calibration.mm_per_px_x == pytest.approx(0.286) and calibration.mm_per_px_y == pytest.approx(0.229)


def test_calibration_only_from_the_region_holding_the_area_in_cm():
    tissue = _region((0, 0, 100, 80))
    inner = _region((10, 10, 50, 50), delta=(0.005, 0.005))
    ecg = _region((0, 80, 100, 100), units=(4, 0))  # seconds across: an ECG or spectral strip
    cal, _ = calibrate([tissue, inner, ecg], (20, 20, 30, 30))
    assert cal.mm_per_px_x == pytest.approx(0.05)  # the smallest region holding the area
    cal, _ = calibrate([tissue, inner, ecg], (20, 20, 70, 30))
    assert cal.mm_per_px_x == pytest.approx(0.1)
    assert calibrate([tissue, ecg], (10, 85, 20, 90))[0] is None  # the area lies in the ECG strip
    assert calibrate([tissue], (90, 70, 110, 90))[0] is None  # the area crosses the region's edge
    assert calibrate([], (0, 0, 1, 1)) == (None, "the input states no physical pixel size")


# --- pixel data read in place: the element located in the file's bytes, items walked there ---------------


def _items(*values: bytes) -> bytes:
    """Encapsulated pixel data written by hand: one item per value, the first the Basic Offset Table."""
    return b"".join(b"\xfe\xff\x00\xe0" + len(value).to_bytes(4, "little") + value for value in values)


def _jpeg(frame: np.ndarray) -> bytes:
    """A JPEG of an RGB frame, padded to an even length as a DICOM item must be."""
    encoded = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
    return encoded.tobytes() + b"\0" * (encoded.size % 2)


def _rle(rgb: np.ndarray, **elements) -> bytes:
    from pydicom import dcmread

    ds = dcmread(io.BytesIO(_dataset(rgb.tobytes(), rgb.shape[1], rgb.shape[2], frames=len(rgb), **elements)))
    ds.compress(RLELossless, encoding_plugin="pydicom")
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


def _rewritten(data: bytes, *, implicit_vr: bool, meta: bool = True) -> bytes:
    """``data`` (explicit VR little endian) written again in implicit VR, or as a bare dataset (no preamble or
    file meta)."""
    from pydicom import dcmread
    from pydicom.uid import ImplicitVRLittleEndian

    ds = dcmread(io.BytesIO(data))
    buffer = io.BytesIO()
    if meta:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit_vr else ExplicitVRLittleEndian
        ds.save_as(buffer, enforce_file_format=True, implicit_vr=implicit_vr, little_endian=True)
    else:
        del ds.file_meta
        ds.preamble = None
        ds.save_as(buffer, implicit_vr=implicit_vr, little_endian=True)
    return buffer.getvalue()


def _jpeg_clip(pixel_data: bytes, frames: int, **elements) -> bytes:
    return _dataset(
        pixel_data, 32, 32, ts=JPEGBaseline8Bit, frames=frames, PhotometricInterpretation="YBR_FULL_422", **elements
    )


def _coloured(frames: int) -> np.ndarray:
    rgb = np.full((frames, 32, 32, 3), 90, dtype=np.uint8)
    for i in range(frames):
        rgb[i, 8 * i : 8 * i + 8, :16] = (200, 30, 30)
    return rgb


def test_native_frames_are_views_of_the_input_bytes():
    rgb = _rgb(3)
    data = _dataset(rgb.tobytes(), 6, 5, frames=3)
    ds, pixels = dicom_pixels.read_header(data)
    decode_frame = dicom_frames.frame_decoder(ds, pixels, ExplicitVRLittleEndian, "uncompressed", 3, "RGB", 8)
    whole = np.frombuffer(data, np.uint8)
    for index in range(3):
        frame = decode_frame(index)
        assert np.shares_memory(frame, whole), index  # no copy of the pixel data
        np.testing.assert_array_equal(frame, rgb[index])


def test_rle_fragments_are_views_of_the_input_bytes():
    data = _rle(_rgb(3, 8, 7))
    ds, pixels = dicom_pixels.read_header(data)
    encoded = dicom_pixels.encoded_frames(ds, pixels, 3)
    whole = np.frombuffer(data, np.uint8)
    assert [len(parts) for parts in encoded] == [1, 1, 1]
    assert all(np.shares_memory(np.frombuffer(parts[0], np.uint8), whole) for parts in encoded)


@pytest.mark.parametrize("kind", ["native", "rle"])
def test_decoding_does_not_copy_the_file(kind):
    """Opening a clip (header checks and its first frame) allocates a small fraction of the file's size."""
    rgb = _rgb(24, 120, 160)
    data = _rle(rgb) if kind == "rle" else _dataset(rgb.tobytes(), 120, 160, frames=24)
    tracemalloc.start()
    try:
        clip = decode(data, LIMITS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(data) // 4, f"peak {peak} for a file of {len(data)} bytes"
    np.testing.assert_array_equal(clip.frames, rgb)


@pytest.mark.parametrize("kind", ["native", "rle"])
def test_elements_after_the_pixel_data_are_left_out_of_it(kind):
    rgb = _rgb(2)
    padding = {"DataSetTrailingPadding": b"\x7f\xe0\x00\x10" * 16}  # (FFFC,FFFC), even holding the tag's bytes
    data = _rle(rgb, **padding) if kind == "rle" else _dataset(rgb.tobytes(), 6, 5, frames=2, **padding)
    assert data.endswith(padding["DataSetTrailingPadding"])
    np.testing.assert_array_equal(decode(data, LIMITS).frames, rgb)


def test_pixel_data_inside_a_sequence_is_not_taken_for_the_image():
    icon = Dataset()
    icon.Rows, icon.Columns, icon.SamplesPerPixel, icon.PhotometricInterpretation = 2, 2, 1, "MONOCHROME2"
    icon.BitsAllocated, icon.BitsStored, icon.HighBit, icon.PixelRepresentation = 8, 8, 7, 0
    icon.PixelData = b"\xff" * 4
    rgb = _rgb(2)
    data = _dataset(rgb.tobytes(), 6, 5, frames=2, IconImageSequence=Sequence([icon]))
    assert data.find(b"\xe0\x7f\x10\x00") < data.rfind(b"\xe0\x7f\x10\x00")  # the icon's comes first
    np.testing.assert_array_equal(decode(data, LIMITS).frames, rgb)


@pytest.mark.parametrize("planar", [0, 1])
def test_big_endian_native_8_bit_frames(planar):
    rgb = _rgb(3)
    stored = np.ascontiguousarray(rgb.transpose(0, 3, 1, 2)) if planar else rgb
    data = _dataset(stored.tobytes(), 6, 5, ts=ExplicitVRBigEndian, frames=3, PlanarConfiguration=planar)
    np.testing.assert_array_equal(decode(data, LIMITS).frames, rgb)


def test_big_endian_32_bit_samples_go_through_pydicom():
    grey = RNG.integers(0, 2**32, (2, 3, 4), dtype=np.uint32)
    data = _dataset(
        grey.astype(">u4").tobytes(), 3, 4, ts=ExplicitVRBigEndian, frames=2, SamplesPerPixel=1,
        PhotometricInterpretation="MONOCHROME2", BitsAllocated=32, BitsStored=32, HighBit=31,
    )  # fmt: skip
    np.testing.assert_array_equal(decode(data, LIMITS).frames[..., 0], (grey >> 24).astype(np.uint8))


@pytest.mark.parametrize("meta", [True, False], ids=["file-meta", "bare-dataset"])
@pytest.mark.parametrize("implicit_vr", [True, False], ids=["implicit", "explicit"])
def test_implicit_vr_and_datasets_without_preamble(implicit_vr, meta):
    rgb = _rgb(2)
    data = _rewritten(_dataset(rgb.tobytes(), 6, 5, frames=2), implicit_vr=implicit_vr, meta=meta)
    assert (data[128:132] == b"DICM") == meta
    clip = decode(data, LIMITS)
    np.testing.assert_array_equal(clip.frames, rgb)
    assert clip.source.transfer_syntax == ("1.2.840.10008.1.2" if implicit_vr else "1.2.840.10008.1.2.1")


@pytest.mark.parametrize("implicit_vr", [True, False], ids=["implicit", "explicit"])
def test_one_bit_samples_go_through_pydicom_in_either_vr(implicit_vr):
    bits = RNG.integers(0, 2, (1, 4, 8), dtype=np.uint8)
    data = _dataset(
        np.packbits(bits.ravel(), bitorder="little").tobytes(), 4, 8, SamplesPerPixel=1,
        PhotometricInterpretation="MONOCHROME2", BitsAllocated=1, BitsStored=1, HighBit=0,
    )  # fmt: skip
    clip = decode(_rewritten(data, implicit_vr=implicit_vr), LIMITS)
    np.testing.assert_array_equal(clip.frames[..., 0], bits)


def test_jpeg_fragments_split_by_the_basic_offset_table(monkeypatch):
    rgb = _coloured(3)
    encoded = [_jpeg(frame) for frame in rgb]
    whole = decode(_jpeg_clip(encapsulate(encoded), 3), LIMITS).frames
    monkeypatch.setattr(dicom_pixels, "_pydicom_frames", lambda *_: pytest.fail("the offset table was not used"))
    split = decode(_jpeg_clip(encapsulate(encoded, fragments_per_frame=2), 3), LIMITS).frames
    np.testing.assert_array_equal(split, whole)
    for index in range(3):  # each frame in its place: its red stripe where it was drawn
        assert split[index, 8 * index + 2 : 8 * index + 6, 2:14, 0].min() > 150


def test_jpeg_fragments_split_by_the_extended_offset_table(monkeypatch):
    rgb = _coloured(2)
    encoded = [_jpeg(frame) for frame in rgb]
    parts = [(e[:100], e[100:]) for e in encoded]
    first = 8 + len(parts[0][0]) + 8 + len(parts[0][1])
    data = _jpeg_clip(
        _items(b"", *parts[0], *parts[1]),
        2,
        ExtendedOffsetTable=np.array([0, first], "<u8").tobytes(),
        ExtendedOffsetTableLengths=np.array([len(e) for e in encoded], "<u8").tobytes(),
    )
    monkeypatch.setattr(dicom_pixels, "_pydicom_frames", lambda *_: pytest.fail("the offset table was not used"))
    np.testing.assert_array_equal(
        decode(data, LIMITS).frames, decode(_jpeg_clip(encapsulate(encoded), 2), LIMITS).frames
    )


def test_jpeg_fragments_without_offsets_are_split_by_pydicom():
    rgb = _coloured(2)
    encoded = [_jpeg(frame) for frame in rgb]
    expected = decode(_jpeg_clip(encapsulate(encoded), 2), LIMITS).frames
    no_table = _items(b"", encoded[0][:100], encoded[0][100:], encoded[1][:50], encoded[1][50:])
    np.testing.assert_array_equal(decode(_jpeg_clip(no_table, 2), LIMITS).frames, expected)
    # a Basic Offset Table that points between items is left to pydicom, which cuts the frame there: refused
    bad_table = _items(np.array([0, 12], "<u4").tobytes(), encoded[0][:100], encoded[0][100:], encoded[1])
    with pytest.raises(DecodeError, match="JPEG frame 0 decoded as nothing"):
        decode(_jpeg_clip(bad_table, 2), LIMITS)


def test_truncated_or_damaged_items_are_named_errors():
    rgb = _rgb(2, 8, 7)
    data = _rle(rgb)
    assert data.endswith(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")  # the sequence delimiter ends the file
    np.testing.assert_array_equal(decode(data[:-3], LIMITS).frames, rgb)  # its length cut: read as pydicom does
    with pytest.raises(DecodeError, match="without a sequence delimiter"):
        decode(data[:-8], LIMITS)
    with pytest.raises(DecodeError, match=r"item 2 declares \d+ bytes but \d+ remain"):
        decode(data[:-20], LIMITS)
    last = data.rfind(b"\xfe\xff\x00\xe0")
    for length in (len(data), 0xFFFFFFFF):  # past the end of the file; an undefined length
        damaged = data[: last + 4] + length.to_bytes(4, "little") + data[last + 8 :]
        with pytest.raises(DecodeError, match=f"declares {length} bytes"):
            decode(damaged, LIMITS)
    at = data.rfind(b"\xe0\x7f\x10\x00")
    for cut in (2, 6, 10, 12):  # inside the element's tag, VR, reserved bytes, length; before its first item
        with pytest.raises(DecodeError, match="truncated"):
            decode(data[: at + cut], LIMITS)
    garbage = data[:last] + b"\x08\x00\x16\x00" + data[last + 4 :]  # an element tag where an item should be
    with pytest.raises(DecodeError, match="where item 2 should be"):
        decode(garbage, LIMITS)


def test_deflated_data_are_read_whole():
    from pydicom import dcmread
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    rgb = _rgb(2)
    ds = dcmread(io.BytesIO(_dataset(rgb.tobytes(), 6, 5, frames=2)))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    clip = decode(buffer.getvalue(), LIMITS)
    assert clip.source.codec == "deflate"
    np.testing.assert_array_equal(clip.frames, rgb)
