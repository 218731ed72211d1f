"""Still-image decoding: formats, colour models, bit depths, limits and named errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.errors import DecodeError, EmptyInput, InputNotFound, InputTooLarge, UnsupportedInput
from app.pipeline.decode import Limits, decode

LIMITS = Limits(max_bytes=10**7, max_frame_pixels=10**6, max_frames=10, max_total_pixels=10**7)


def _encode(ext: str, image: np.ndarray, *params) -> bytes:
    ok, data = cv2.imencode(ext, image, list(params))
    assert ok
    return data.tobytes()


@pytest.fixture
def bgr(rng) -> np.ndarray:
    return rng.integers(0, 256, size=(9, 13, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tiff"], ids=["png", "bmp", "tiff"])
def test_lossless_formats_are_exact_and_rgb(bgr, ext):
    clip = decode(_encode(ext, bgr), LIMITS, name="a" + ext)
    assert clip.frames.shape == (1, 9, 13, 3) and clip.frames.dtype == np.uint8
    np.testing.assert_array_equal(clip.frames[0], bgr[:, :, ::-1])  # BGR on disk order -> RGB
    assert clip.source.format == ext.strip(".").replace("tiff", "tiff")


def test_jpeg_is_close():
    ramp = np.linspace(0, 255, 16 * 24, dtype=np.uint8).reshape(16, 24)
    bgr = np.stack([ramp, ramp[::-1], np.full_like(ramp, 90)], axis=-1)  # smooth: JPEG keeps it closely
    clip = decode(_encode(".jpg", bgr, cv2.IMWRITE_JPEG_QUALITY, 95), LIMITS)
    assert clip.source.format == "jpeg"
    assert np.abs(clip.frames[0].astype(int) - bgr[:, :, ::-1]).mean() < 3


def test_grey_rgba_and_16_bit(rng):
    grey = rng.integers(0, 256, size=(5, 7), dtype=np.uint8)
    clip = decode(_encode(".png", grey), LIMITS)
    assert clip.source.colour == "grey"
    np.testing.assert_array_equal(clip.frames[0, :, :, 1], grey)
    bgra = rng.integers(0, 256, size=(5, 7, 4), dtype=np.uint8)
    clip = decode(_encode(".png", bgra), LIMITS)
    assert clip.source.colour == "RGBA"
    np.testing.assert_array_equal(clip.frames[0], bgra[:, :, 2::-1])
    deep = rng.integers(0, 65536, size=(5, 7), dtype=np.uint16)
    clip = decode(_encode(".png", deep), LIMITS)
    assert clip.source.bit_depth == 16
    np.testing.assert_array_equal(clip.frames[0, :, :, 0], (deep >> 8).astype(np.uint8))


def test_path_and_name(tmp_path, bgr):
    path = tmp_path / "sub" / "frame.png"
    path.parent.mkdir()
    path.write_bytes(_encode(".png", bgr))
    assert decode(path, LIMITS).name == "frame.png"
    assert decode(path.read_bytes(), LIMITS, name="../../etc/x.png").name == "x.png"


def test_arrays(rng):
    rgb = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    assert decode(rgb, LIMITS).frames.shape == (1, 4, 6, 3)
    assert decode(rgb[:, :, 0], LIMITS).source.colour == "grey"
    assert decode(np.stack([rgb, rgb]), LIMITS).frames.shape == (2, 4, 6, 3)
    with pytest.raises(UnsupportedInput, match="dtype"):
        decode(rgb.astype(np.float32), LIMITS)
    with pytest.raises(UnsupportedInput, match="shape"):
        decode(np.zeros((2, 2, 2, 2, 3), np.uint8), LIMITS)


def test_errors(tmp_path, bgr):
    png = _encode(".png", bgr)
    with pytest.raises(InputNotFound):
        decode(tmp_path / "missing.png", LIMITS)
    with pytest.raises(EmptyInput):
        decode(b"", LIMITS)
    with pytest.raises(UnsupportedInput, match="unrecognised format"):
        decode(b"hello world", LIMITS)
    with pytest.raises(DecodeError, match="DICOM"):
        decode(b"\0" * 128 + b"DICM" + b"\0" * 64, LIMITS)
    with pytest.raises(DecodeError):
        decode(png[:40], LIMITS)  # header only: pixels truncated
    with pytest.raises(InputTooLarge, match="bytes"):
        decode(png, Limits(max_bytes=10, max_frame_pixels=10**6, max_frames=10, max_total_pixels=10**7))


PATIENT_FILE = "DOE^JANE_MRN999.dcm"  # clinical archives name files after their patients


def test_messages_never_quote_the_file_name(tmp_path):
    """The caller knows which file it sent; a message that repeated the name would copy the patient's name."""
    text = tmp_path / PATIENT_FILE
    text.write_text("tendon report\n")
    (tmp_path / "empty").mkdir()
    empty = tmp_path / "empty" / PATIENT_FILE
    empty.write_bytes(b"")
    attempts = [
        (UnsupportedInput, lambda: decode(text, LIMITS)),
        (UnsupportedInput, lambda: decode(b"tendon report", LIMITS, name=PATIENT_FILE)),
        (InputNotFound, lambda: decode(tmp_path / "missing" / PATIENT_FILE, LIMITS)),
        (EmptyInput, lambda: decode(empty, LIMITS)),
    ]
    for error, attempt in attempts:
        with pytest.raises(error) as caught:
            attempt()
        assert "DOE" not in caught.value.message and "MRN999" not in caught.value.message
        assert str(tmp_path) not in caught.value.message


def test_an_unrecognised_input_is_told_what_is_read_dicom_included():
    with pytest.raises(UnsupportedInput) as caught:
        decode(b"tendon report\n", LIMITS, name="report.dcm")
    assert caught.value.message.startswith("the input is in an unrecognised format")
    assert "Send a DICOM file, a PNG" in caught.value.message and "MP4" in caught.value.message


MASK_ADVICE = "Send the mask as a lossless PNG, BMP or TIFF image the size of the input (non-zero pixels: the region)"


def test_an_unrecognised_mask_is_asked_for_as_an_image():
    with pytest.raises(UnsupportedInput) as caught:
        decode(b"tendon report\n", LIMITS, name="roi-mask", purpose="mask")
    message = caught.value.message
    assert message.startswith("the mask is in an unrecognised format")
    assert message.endswith(MASK_ADVICE)
    assert "MP4" not in message  # a clip is no mask


def test_huge_declared_size_is_refused_before_decoding():
    """A PNG header that claims 100000 x 100000 pixels is refused from the header alone."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
    with pytest.raises(InputTooLarge, match=r"100000x100000 .* \(NEOVASC_MAX_FRAME_PIXELS\)"):
        decode(bomb, LIMITS)


@pytest.mark.parametrize(
    ("factor", "sampling"),
    [
        (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420, "4:2:0"),
        (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422, "4:2:2"),
        (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444, "4:4:4"),
        (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_411, "4:1:1"),
    ],
    ids=["420", "422", "444", "411"],
)
def test_jpeg_sampling_and_loss_come_from_the_frame_header(bgr, factor, sampling):
    clip = decode(_encode(".jpg", bgr, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, factor), LIMITS)
    assert (clip.source.chroma_subsampling, clip.source.lossy) == (sampling, True)


def test_lossless_stills_keep_every_colour(bgr, rng):
    for ext in (".png", ".bmp", ".tiff"):
        source = decode(_encode(ext, bgr), LIMITS).source
        assert (source.chroma_subsampling, source.lossy) == ("4:4:4", False), ext
    grey = decode(_encode(".png", rng.integers(0, 256, size=(5, 7), dtype=np.uint8)), LIMITS).source
    assert (grey.chroma_subsampling, grey.lossy) == (None, False)
    grey_jpeg = decode(_encode(".jpg", rng.integers(0, 256, size=(8, 8), dtype=np.uint8)), LIMITS).source
    assert (grey_jpeg.chroma_subsampling, grey_jpeg.lossy) == (None, True)


def test_jpeg_frame_header_parsing():
    from app.pipeline.decode.image import jpeg_coding

    assert jpeg_coding(b"not a jpeg") is None
    assert jpeg_coding(b"\xff\xd8\xff\xda\x00\x02") is None  # scan data before any frame header
    lossless = b"\xff\xd8\xff\xc3\x00\x11\x08\x00\x10\x00\x10\x03\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    assert jpeg_coding(lossless) == ("4:4:4", False)


def test_a_truncated_png_is_named_without_the_library_writing_to_stderr(rng, capfd):
    """A PNG cut short is a decode_error of its own, found before libpng prints to the process's stderr (it
    does for a picture stored in several data chunks, as any real one is)."""
    png = _encode(".png", rng.integers(0, 256, (300, 300, 3), dtype=np.uint8))
    with pytest.raises(DecodeError, match="IEND"):
        decode(png[: len(png) // 2], LIMITS)
    assert "libpng" not in capfd.readouterr().err
