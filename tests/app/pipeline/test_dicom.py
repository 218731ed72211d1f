"""The DICOM plugin on datasets built here with known pixels: every colour model, layout and byte order."""

from __future__ import annotations

import io

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
from app.pipeline.calibration import calibrate
from app.pipeline.decode import Limits, UltrasoundRegion, decode

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
