"""The video plugin on clips made here with PyAV: containers, codecs, YUV matrices and ranges, frame
order and timing, streaming, limits and damaged files.

YUV clips are built from planes computed here with the BT.601 / BT.709 formulas (never with swscale),
so the decoder's conversion is checked against an independent reference.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, field

import av
import numpy as np
import pytest

from app.errors import DecodeError, InputTooLarge, NeovascError, NoFrames, UnsupportedInput
from app.pipeline.decode import Limits, decode, video, video_frames
from app.pipeline.decode.base import BatchBuffers
from app.pipeline.decode.video import VideoDecoder

LIMITS = Limits(max_bytes=1 << 28, max_frame_pixels=1920 * 1080, max_frames=10_000, max_total_pixels=10**9)
KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}  # ITU-R BT.601 / BT.709 luma weights
H273 = {"bt601": 6, "bt709": 1}  # ITU-T H.273 MatrixCoefficients (SMPTE 170M, BT.709)
RED, BLUE, YELLOW = (220, 40, 30), (30, 60, 220), (240, 220, 40)  # Doppler-like colours


def _has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


HEVC = pytest.mark.skipif(not _has_encoder("libx265"), reason="this PyAV build has no libx265 encoder")


def rgb_to_yuv(rgb: np.ndarray, matrix: str, full: bool) -> np.ndarray:
    """``(..., 3)`` RGB -> ``(..., 3)`` uint8 Y, Cb, Cr by the matrix's formula, limited or full range."""
    kr, kb = KR_KB[matrix]
    r, g, b = (rgb[..., i].astype(float) for i in range(3))
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb, cr = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    if not full:
        y, cb, cr = 16 + y * 219 / 255, cb * 224 / 255, cr * 224 / 255
    return np.clip(np.rint(np.stack([y, cb + 128, cr + 128], axis=-1)), 0, 255).astype(np.uint8)


def yuv_to_rgb(yuv: np.ndarray, matrix: str, full: bool) -> np.ndarray:
    """The exact inverse, as float (for comparisons)."""
    kr, kb = KR_KB[matrix]
    y, cb, cr = yuv[..., 0].astype(float), yuv[..., 1] - 128.0, yuv[..., 2] - 128.0
    if not full:
        y, cb, cr = (y - 16) * 255 / 219, cb * 255 / 224, cr * 255 / 224
    r, b = y + 2 * (1 - kr) * cr, y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255)


def yuv_frame(yuv: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    """A planar YUV frame from full-resolution Y, Cb, Cr (chroma subsampled by picking, as the planes ask)."""
    height, width = yuv.shape[:2]
    frame = av.VideoFrame(width, height, pix_fmt)
    for index, plane in enumerate(frame.planes):
        step_y, step_x = height // plane.height, width // plane.width
        values = yuv[::step_y, ::step_x, index]
        padded = np.zeros((plane.height, plane.line_size), np.uint8)
        padded[:, : plane.width] = values
        plane.update(padded)
    return frame


def write(frames: list[av.VideoFrame], fmt: str, codec: str, pix_fmt: str, **kw) -> bytes:
    """Encode frames into an in-memory file; ``colorspace`` / ``color_range`` tag the stream."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=kw.get("rate", 25), options=kw.get("options", {}))
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, pix_fmt
        for attribute in ("colorspace", "color_range"):
            if attribute in kw:
                setattr(stream.codec_context, attribute, kw[attribute])
        for index, frame in enumerate(frames):
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


def pattern(index: int, height: int = 48, width: int = 64) -> np.ndarray:
    """``(H, W, 3)`` RGB: 16-px bands of red, blue, yellow and a grey that brightens with the frame index."""
    rgb = np.zeros((height, width, 3), np.uint8)
    grey = 30 + (9 * index) % 216
    for band, colour in enumerate((RED, BLUE, YELLOW, (grey, grey, grey))):
        rgb[:, band * 16 : band * 16 + 16] = colour
    return rgb


def band_means(frame: np.ndarray) -> np.ndarray:
    """``(4, 3)`` mean RGB of each band's interior (away from edges that chroma subsampling blurs)."""
    return np.array([frame[4:-4, band * 16 + 4 : band * 16 + 12].reshape(-1, 3).mean(axis=0) for band in range(4)])


@dataclass(frozen=True)
class Case:
    """A clip to make: container, encoder, pixel format; what the decoder must report; colour tolerance."""

    fmt: str  # PyAV muxer
    codec: str
    pix_fmt: str
    expect: tuple[str, str, str | None, str | None]  # format, codec, yuv_matrix, yuv_range
    tolerance: float
    options: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)  # stream colour tags (H.273 codes)


X264 = {"crf": "8", "g": "5"}  # near-lossless, keyframe every 5 frames (B-frames on: x264's default)
BT709_LIMITED = {"colorspace": 1, "color_range": 1}
CASES = {
    "mp4-h264-bt709": Case("mp4", "libx264", "yuv420p", ("mp4", "h264", "bt709", "limited"), 4, X264, BT709_LIMITED),
    "mov-h264-untagged": Case("mov", "libx264", "yuv420p", ("mov", "h264", "bt601", "limited"), 4, X264),
    "mkv-h264-full": Case(
        "matroska", "libx264", "yuv420p", ("mkv", "h264", "bt601", "full"), 4, X264, {"colorspace": 6, "color_range": 2}
    ),
    "avi-mpeg4": Case("avi", "mpeg4", "yuv420p", ("avi", "mpeg4", "bt601", "limited"), 6, {"qscale": "2", "g": "5"}),
    "mp4-mpeg4-bframes": Case(
        "mp4", "mpeg4", "yuv420p", ("mp4", "mpeg4", "bt601", "limited"), 6, {"qscale": "2", "g": "5", "bf": "2"}
    ),
    "mkv-mpeg4": Case("matroska", "mpeg4", "yuv420p", ("mkv", "mpeg4", "bt601", "limited"), 6, {"qscale": "2"}),
    "avi-mjpeg": Case("avi", "mjpeg", "yuvj420p", ("avi", "mjpeg", "bt601", "full"), 6, {"qscale": "2"}),
    "mov-mjpeg-422": Case("mov", "mjpeg", "yuvj422p", ("mov", "mjpeg", "bt601", "full"), 6, {"qscale": "2"}),
    "mp4-hevc-bt709": Case(
        "mp4",
        "libx265",
        "yuv420p",
        ("mp4", "hevc", "bt709", "limited"),
        4,
        {"crf": "8", "x265-params": "log-level=none:keyint=5"},
        BT709_LIMITED,
    ),
    "webm-vp9": Case("webm", "libvpx-vp9", "yuv420p", ("webm", "vp9", "bt601", "limited"), 6, {"crf": "8", "g": "5"}),
}


def make_case(name: str, count: int = 12) -> tuple[bytes, list[np.ndarray]]:
    """The case's clip of ``count`` :func:`pattern` frames, its planes computed with the expected matrix and range."""
    case = CASES[name]
    _, _, matrix, yuv_range = case.expect
    rgbs = [pattern(i) for i in range(count)]
    frames = [yuv_frame(rgb_to_yuv(rgb, matrix, yuv_range == "full"), case.pix_fmt) for rgb in rgbs]
    return write(frames, case.fmt, case.codec, case.pix_fmt, options=case.options, **case.tags), rgbs


@pytest.mark.parametrize("name", [pytest.param(n, marks=HEVC) if "hevc" in n else n for n in CASES], ids=lambda n: n)
def test_containers_and_codecs(name):
    data, rgbs = make_case(name)
    clip = decode(data, LIMITS, name="clip.bin")
    fmt, codec, matrix, yuv_range = CASES[name].expect
    source = clip.source
    assert (source.format, source.codec, source.yuv_matrix, source.yuv_range) == (fmt, codec, matrix, yuv_range)
    assert (clip.num_frames, clip.height, clip.width) == (12, 48, 64)
    assert clip.fps == pytest.approx(25)
    assert clip.frame_times_ms == pytest.approx([40.0 * i for i in range(12)])
    frames = clip.frames
    assert frames.shape == (12, 48, 64, 3) and frames.dtype == np.uint8
    for frame, rgb in zip(frames, rgbs, strict=True):  # colours, and the order (the grey band's level)
        np.testing.assert_allclose(band_means(frame), band_means(rgb), atol=CASES[name].tolerance)
        grey = frame[4:-4, 52:60].astype(int)
        assert (grey.max(axis=-1) - grey.min(axis=-1)).max() <= CASES[name].tolerance, "grey must stay grey"


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
@pytest.mark.parametrize("full", [False, True], ids=["limited", "full"])
def test_yuv_conversion_matches_the_formula(rng, matrix, full):
    """Lossless H.264 (4:4:4) of random flat YUV blocks: the decoder's RGB is the formula's, within 3 levels."""
    blocks = rng.integers(16, 236, size=(6, 8, 3)).astype(np.uint8)
    blocks[0] = [(y, 128, 128) for y in np.linspace(16, 235, 8)]  # a grey ramp: Cb = Cr = 128
    yuv = np.kron(blocks, np.ones((8, 8, 1), np.uint8))
    tags = {"colorspace": H273[matrix], "color_range": 2 if full else 1}
    data = write([yuv_frame(yuv, "yuv444p")], "matroska", "libx264", "yuv444p", options={"qp": "0"}, **tags)
    clip = decode(data, LIMITS)
    assert (clip.source.yuv_matrix, clip.source.yuv_range) == (matrix, "full" if full else "limited")
    decoded = clip.read(0)[0].astype(float)
    assert np.abs(decoded - yuv_to_rgb(yuv, matrix, full)).max() <= 3
    grey = decoded[:8]
    assert (grey.max(axis=-1) == grey.min(axis=-1)).all(), "grey (Cb = Cr = 128) must give R = G = B exactly"


def test_matrix_tag_changes_the_colours():
    """The same YUV planes tagged BT.601 and BT.709: the tag is recorded and decides the colours."""
    yuv = rgb_to_yuv(pattern(0), "bt709", full=False)
    decoded = {}
    for matrix in ("bt601", "bt709"):
        data = write(
            [yuv_frame(yuv, "yuv444p")], "mp4", "libx264", "yuv444p", options={"qp": "0"}, colorspace=H273[matrix]
        )
        clip = decode(data, LIMITS)
        assert clip.source.yuv_matrix == matrix
        decoded[matrix] = band_means(clip.read(0)[0])
    np.testing.assert_allclose(decoded["bt709"], band_means(pattern(0)), atol=3)  # the right tag: the colours
    assert np.abs(decoded["bt601"] - decoded["bt709"])[:3].max() > 15  # the wrong one: shifted chroma


@pytest.mark.parametrize(("height", "width", "matrix"), [(48, 64, "bt601"), (576, 720, "bt601"), (720, 1280, "bt709")])
def test_untagged_streams_follow_the_resolution_rule(height, width, matrix):
    frame = yuv_frame(np.full((height, width, 3), 128, np.uint8), "yuv420p")
    data = write([frame], "avi", "mpeg4", "yuv420p")
    source = decode(data, LIMITS).source
    assert (source.yuv_matrix, source.yuv_range) == (matrix, "limited")


def test_ten_bit_video():
    rgbs = [pattern(i) for i in range(3)]
    frames = [
        av.VideoFrame.from_ndarray(x, "rgb24").reformat(
            format="yuv420p10le", dst_colorspace="itu709", dst_color_range="MPEG"
        )
        for x in rgbs
    ]
    clip = decode(write(frames, "matroska", "libx264", "yuv420p10le", options={"crf": "4"}, colorspace=1), LIMITS)
    assert (clip.source.colour, clip.source.bit_depth, clip.source.yuv_matrix) == ("yuv420p10le", 10, "bt709")
    for frame, rgb in zip(clip.frames, rgbs, strict=True):
        np.testing.assert_allclose(band_means(frame), band_means(rgb), atol=4)


def test_rgb_grey_and_palette_formats_are_exact(rng):
    rgbs = [pattern(i, 16, 64) for i in range(3)]
    for fmt, codec, pix_fmt in (("avi", "rawvideo", "bgr24"), ("mov", "qtrle", "rgb24"), ("mov", "png", "rgb24")):
        clip = decode(write([av.VideoFrame.from_ndarray(x, "rgb24") for x in rgbs], fmt, codec, pix_fmt), LIMITS)
        assert (clip.source.yuv_matrix, clip.source.yuv_range) == (None, None)
        np.testing.assert_array_equal(clip.frames, np.stack(rgbs))
    greys = [rng.integers(0, 256, (16, 24), dtype=np.uint8) for _ in range(3)]
    clip = decode(write([av.VideoFrame.from_ndarray(g, "gray") for g in greys], "matroska", "ffv1", "gray"), LIMITS)
    assert (clip.source.colour, clip.source.yuv_matrix) == ("gray", None)
    np.testing.assert_array_equal(clip.frames, np.repeat(np.stack(greys)[..., None], 3, axis=-1))
    palette = np.zeros((256, 4), np.uint8)  # A, R, G, B per entry (PyAV's order)
    palette[:, 0], palette[:, 1], palette[:, 2], palette[:, 3] = 255, np.arange(256), 255 - np.arange(256), 90
    index = rng.integers(0, 256, (8, 16), dtype=np.uint8)
    data = write([av.VideoFrame.from_ndarray((index, palette), "pal8")], "mov", "png", "pal8")
    clip = decode(data, LIMITS)
    assert clip.source.colour == "pal8"
    np.testing.assert_array_equal(clip.frames[0], palette[index][..., 1:])


@pytest.mark.parametrize(("pix_fmt", "height", "width"), [("yuv420p", 17, 33), ("yuv420p", 1, 1), ("yuv422p", 3, 5)])
@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
@pytest.mark.parametrize("full", [False, True], ids=["limited", "full"])
def test_subsampled_planes_convert_by_the_formula(rng, pix_fmt, height, width, matrix, full):
    """Lossless FFV1 of random subsampled planes, odd sizes: FFmpeg's padded planes are read in place and
    converted by the formula (rounded), each chroma sample covering its luma block; grey stays grey."""
    frame = av.VideoFrame(width, height, pix_fmt)
    for index, plane in enumerate(frame.planes):
        values = rng.integers(0, 256, (plane.height, plane.line_size), dtype=np.uint8)
        values[0] = 128 if index else values[0]  # first chroma row neutral: the luma rows it covers are grey
        plane.update(values)
    tags = {"colorspace": H273[matrix], "color_range": 2 if full else 1}
    clip = decode(write([frame], "matroska", "ffv1", pix_fmt, **tags), LIMITS)
    assert (clip.source.colour, clip.source.yuv_matrix) == (pix_fmt, matrix)
    y, cb, cr = (np.frombuffer(p, np.uint8).reshape(p.height, p.line_size) for p in frame.planes)
    rows = np.arange(height)[:, None] // (2 if pix_fmt == "yuv420p" else 1)
    cols = np.arange(width)[None, :] // 2
    decoded = clip.read(0)[0].astype(int)
    yuv = np.stack([y[:height, :width], cb[rows, cols], cr[rows, cols]], axis=-1)
    assert np.abs(decoded - yuv_to_rgb(yuv, matrix, full)).max() <= 0.5 + 1e-3
    grey = decoded[: 2 if pix_fmt == "yuv420p" else 1]
    assert (grey.max(axis=-1) == grey.min(axis=-1)).all()


def test_kernel_and_swscale_agree(monkeypatch):
    """The numba kernel and the swscale path it replaced (still used for other pixel formats)."""
    data, rgbs = make_case("mp4-h264-bt709")
    kernel = decode(data, LIMITS).frames.astype(int)
    monkeypatch.setattr(video_frames, "YUV_KERNEL", False)
    swscale = decode(data, LIMITS).frames.astype(int)
    assert np.abs(kernel - swscale).max() <= 2
    assert np.abs(kernel - np.stack(rgbs))[:, 4:-4, 4:-4].max() <= 1  # nearer the source than swscale's 2


@pytest.mark.parametrize(("height", "width", "count"), [(17, 33, 3), (2, 2, 1), (48, 64, 1)], ids=["odd", "2x2", "one"])
def test_edge_shapes(height, width, count):
    frames = [av.VideoFrame.from_ndarray(np.full((height, width, 3), 30 * i, np.uint8), "rgb24") for i in range(count)]
    frames = [f.reformat(format="yuv444p", dst_colorspace="itu601", dst_color_range="MPEG") for f in frames]
    clip = decode(write(frames, "matroska", "libx264", "yuv444p", options={"qp": "0"}), LIMITS)
    assert clip.frames.shape == (count, height, width, 3)
    assert np.abs(clip.frames[:, :, :, 0].astype(int) - (30 * np.arange(count))[:, None, None]).max() <= 2


@pytest.mark.parametrize("name", ["mp4-h264-bt709", "avi-mpeg4", "mp4-mpeg4-bframes", "webm-vp9"])
def test_batches_reader_and_seeking_agree(name):
    data, _ = make_case(name, count=23)
    clip = decode(data, LIMITS)
    assert not clip.random_access
    starts, batches = zip(*clip.batches(4), strict=True)
    assert starts == tuple(range(0, 23, 4)) and [b.shape[0] for b in batches] == [4] * 5 + [3]
    every = np.concatenate(batches)
    np.testing.assert_array_equal(every, clip.read(0, 23))
    for start, stop in ((1, 2), (7, 10), (12, 13), (16, 23), (22, 23)):  # keyframes every 5: seek, then decode on
        np.testing.assert_array_equal(clip.read(start, stop), every[start:stop])
    greys = every[:, 24, 52:60].mean(axis=(1, 2))  # the grey band: 9 levels a frame, so a swap shows
    np.testing.assert_allclose(greys, [pattern(i)[0, 56, 0] for i in range(23)], atol=CASES[name].tolerance)


def test_batch_memory_is_reused_only_once_nothing_holds_it():
    memory = BatchBuffers(keep=2)
    first = memory.take((4, 2, 3, 3))
    first[:], first_address = 1, first.__array_interface__["data"][0]
    view = first[1:3]
    del first
    second = memory.take((4, 2, 3, 3))  # a view of the first is alive: new memory
    assert not np.shares_memory(second, view) and (view == 1).all()
    del view, second
    third = memory.take((3, 2, 3, 3))  # nothing holds the first any more: it is lent again, cut to 3 frames
    assert third.shape == (3, 2, 3, 3) and third.flags.c_contiguous
    assert third.__array_interface__["data"][0] == first_address
    held = [memory.take((4, 2, 3, 3)) for _ in range(3)]  # all in use: fresh ones, only `keep` remembered
    assert len({h.__array_interface__["data"][0] for h in held}) == 3 and len(memory._buffers) == 2


def test_batches_kept_by_the_consumer_are_never_overwritten():
    data, _ = make_case("avi-mjpeg", count=30)
    clip = decode(data, LIMITS)
    kept = {start: batch if start % 8 == 0 else batch[1:].copy() for start, batch in clip.batches(4)}
    every = clip.read(0, 30)
    for start, batch in kept.items():
        np.testing.assert_array_equal(
            batch, every[start : start + 4] if start % 8 == 0 else every[start + 1 : start + 4]
        )


def test_frames_an_mp4_edit_list_hides_are_not_counted():
    """Remuxed with the first two frames before time zero: MP4 keeps them (as references) but they are not shown."""
    data, rgbs = make_case("mp4-h264-bt709", count=12)
    shifted = io.BytesIO()
    with av.open(io.BytesIO(data)) as source, av.open(shifted, "w", format="mp4") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(video=0):
            if packet.dts is not None:
                packet.pts, packet.dts, packet.stream = packet.pts - 1024, packet.dts - 1024, stream  # 2 frames
                target.mux(packet)
    clip = decode(shifted.getvalue(), LIMITS)
    assert clip.num_frames == 10 and clip.frame_times_ms[:2] == (0.0, 40.0)
    greys = clip.frames[:, 24, 52:60].mean(axis=(1, 2))
    np.testing.assert_allclose(greys, [rgb[0, 56, 0] for rgb in rgbs[2:]], atol=4)
    np.testing.assert_array_equal(clip.read(5, 7), clip.frames[5:7])


def test_stopping_early_ends_the_background_decoder():
    data, _ = make_case("avi-mjpeg", count=30)
    clip = decode(data, LIMITS)
    for start, batch in clip.batches(2):
        assert start == 0 and batch.shape[0] == 2
        break
    deadline = time.monotonic() + 5
    while any(t.name == "neovasc-decode" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(t.name == "neovasc-decode" for t in threading.enumerate())


@pytest.mark.parametrize(
    ("limits", "match"),
    [
        (Limits(1 << 28, 10**6, max_frames=9, max_total_pixels=10**9), "frames"),
        (Limits(1 << 28, 64 * 48 - 1, max_frames=100, max_total_pixels=10**9), "pixels"),
        (Limits(1 << 28, 10**6, max_frames=100, max_total_pixels=64 * 48 * 12 - 1), "pixels in all"),
        (Limits(1000, 10**6, max_frames=100, max_total_pixels=10**9), "bytes"),
    ],
    ids=["frames", "frame-pixels", "total-pixels", "bytes"],
)
@pytest.mark.parametrize("name", ["mp4-h264-bt709", "mkv-mpeg4"])  # MP4 states its frame count; MKV does not
def test_limits_refuse_before_decoding(monkeypatch, limits, match, name):
    data, _ = make_case(name)
    monkeypatch.setattr(video_frames, "_indexed", lambda *a, **k: pytest.fail("a frame was decoded"))
    with pytest.raises(InputTooLarge, match=match):
        decode(data, limits)


def test_a_header_declaring_too_many_frames_is_refused_from_the_header(monkeypatch):
    data = bytearray(make_case("avi-mjpeg")[0])
    length = data.find(b"strh") + 8 + 32  # AVIStreamHeader.dwLength: the stream's frame count
    data[length : length + 4] = (10**6).to_bytes(4, "little")
    monkeypatch.setattr(video, "_count_packets", lambda *a, **k: pytest.fail("packets were read"))
    with pytest.raises(InputTooLarge, match="1000000 frames"):
        decode(bytes(data), LIMITS)


def packet_spans(data: bytes) -> list[tuple[int, int]]:
    """``(byte offset, size)`` of each video packet in the file."""
    with av.open(io.BytesIO(data)) as container:
        return [(p.pos, p.size) for p in container.demux(video=0) if p.size]


@pytest.mark.parametrize("name", ["mp4-h264-bt709", "avi-mpeg4", "mkv-mpeg4", "mov-mjpeg-422", "webm-vp9"])
@pytest.mark.parametrize("packet", [0, 9, -2], ids=["in-first-frame", "in-frame-9", "in-second-last-frame"])
def test_files_cut_inside_a_frame_are_decode_errors(name, packet, tmp_path):
    data, _ = make_case(name, count=20)
    offset, size = packet_spans(data)[packet]
    path = tmp_path / "private-name.video"
    path.write_bytes(data[: offset + size // 2])
    with pytest.raises(DecodeError) as error:
        decode(path, LIMITS).frames  # noqa: B018 - decoding is the point
    assert "private-name" not in str(error.value) and str(tmp_path) not in str(error.value)


@pytest.mark.parametrize("name", ["mp4-h264-bt709", "avi-mpeg4", "mkv-mpeg4", "webm-vp9"])
def test_a_file_cut_inside_its_last_frame(name):
    """MP4 and AVI know their frame count: an error. Matroska streams can end anywhere: the complete frames."""
    data, _ = make_case(name, count=20)
    offset, size = packet_spans(data)[-1]
    damaged = data[: offset + size // 2]
    if CASES[name].fmt in ("matroska", "webm"):
        assert decode(damaged, LIMITS).frames.shape[0] == 19
    else:
        with pytest.raises(DecodeError):
            decode(damaged, LIMITS)


@pytest.mark.parametrize(("fmt", "codec", "pix_fmt"), [("matroska", "mpeg4", "yuv420p"), ("avi", "mjpeg", "yuvj420p")])
def test_a_video_without_frames_is_no_frames(fmt, codec, pix_fmt):
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        container.start_encoding()
    with pytest.raises(NoFrames):
        decode(buffer.getvalue(), LIMITS)


@pytest.mark.parametrize(
    "head", [b"\x00\x00\x00\x18ftypisom", b"RIFF\x00\x10\x00\x00AVI LIST", b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01"]
)
def test_random_bytes_behind_a_video_magic(rng, head):
    data = head + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    with pytest.raises(DecodeError):
        decode(data, LIMITS)


def test_not_a_supported_video():
    audio = io.BytesIO()
    with av.open(audio, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(UnsupportedInput, match="no video stream"):
        decode(audio.getvalue(), LIMITS)
    frames = [av.VideoFrame.from_ndarray(pattern(0), "rgb24").reformat(format="yuv422p")]
    with pytest.raises(UnsupportedInput, match="codec 'huffyuv'"):
        decode(write(frames, "avi", "huffyuv", "yuv422p"), LIMITS)
    frames = [yuv_frame(rgb_to_yuv(pattern(0), "bt709", False), "yuv420p")]
    with pytest.raises(UnsupportedInput, match="matrix code 9"):  # BT.2020: not converted with a wrong matrix
        decode(write(frames, "mp4", "libx264", "yuv420p", colorspace=9), LIMITS)


@pytest.mark.parametrize("name", ["mp4-h264-bt709", "avi-mpeg4", "mkv-h264-full", "avi-mjpeg", "webm-vp9"])
def test_corrupt_middles_give_frames_or_a_decode_error_quickly(rng, name):
    data, _ = make_case(name, count=20)
    for flips in (1, 8, 64):
        damaged = bytearray(data)
        for pos in rng.integers(len(data) // 3, 2 * len(data) // 3, size=flips):
            damaged[pos] ^= 1 << int(rng.integers(0, 8))
        started = time.monotonic()
        try:
            clip = decode(bytes(damaged), LIMITS)
            assert clip.frames.shape == (clip.num_frames, clip.height, clip.width, 3)
        except NeovascError:  # any named error (a flipped tag can make the stream unsupported)
            pass
        assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("head", "accepted"),
    [
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", True),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", True),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", True),
        (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00", False),
        (b"RIFF\x00\x00\x00\x00AVI LIST", True),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", False),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", True),
        (b"\x89PNG\r\n\x1a\n", False),
    ],
    ids=["mp4", "mov", "qt-atoms", "heic", "avi", "wav", "webm", "png"],
)
def test_sniffing(head, accepted):
    assert VideoDecoder().accepts(head) is accepted


def test_unknown_bytes_name_the_video_formats():
    with pytest.raises(UnsupportedInput, match="MP4, MOV, AVI or MKV"):
        decode(b"not a video at all", LIMITS)


@pytest.mark.parametrize(
    ("name", "sampling", "lossy"),
    [("mp4-h264-bt709", "4:2:0", True), ("mov-mjpeg-422", "4:2:2", True), ("avi-mpeg4", "4:2:0", True)],
)
def test_chroma_sampling_and_loss_are_reported(name, sampling, lossy):
    source = decode(make_case(name, 2)[0], LIMITS).source
    assert (source.chroma_subsampling, source.lossy) == (sampling, lossy)


@pytest.mark.parametrize(
    ("fmt", "codec", "pix_fmt", "sampling"),
    [
        ("matroska", "ffv1", "yuv420p", "4:2:0"),
        ("matroska", "ffv1", "yuv444p", "4:4:4"),
        ("mov", "png", "rgb24", "4:4:4"),
    ],
)
def test_lossless_codecs_may_still_subsample(fmt, codec, pix_fmt, sampling):
    frames = [av.VideoFrame.from_ndarray(pattern(i), format="rgb24").reformat(format=pix_fmt) for i in range(2)]
    source = decode(write(frames, fmt, codec, pix_fmt), LIMITS).source
    assert (source.chroma_subsampling, source.lossy) == (sampling, False)
