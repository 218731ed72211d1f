"""The overlay video: decodes back to the frames written, codecs, padding, file and buffer hygiene."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import av
import numpy as np
import pytest

from app.pipeline.outputs.video import DEFAULT_FPS, OverlayVideo

PATCHES = {(0, 255, 0): (slice(0, 24), slice(0, 32)), (200, 30, 40): (slice(24, None), slice(32, None))}


def _patched(height: int, width: int, shade: int) -> np.ndarray:
    frame = np.full((height, width, 3), shade, np.uint8)
    for colour, (rows, cols) in PATCHES.items():
        frame[rows, cols] = colour
    return frame


def _decode(data: bytes | Path) -> tuple[list[np.ndarray], float]:
    source = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    with av.open(source) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return frames, float(stream.average_rate or 0)


@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
@pytest.mark.parametrize(("height", "width"), [(48, 64), (47, 63), (49, 64)], ids=str)
def test_video_decodes_to_the_frames_written(codec, height, width):
    buffer = io.BytesIO()
    with OverlayVideo(buffer, width, height, 12.5, codec=codec) as video:
        for shade in range(60, 60 + 7 * 10, 10):
            video.write(_patched(height, width, shade))
    assert video.codec == codec and video.frames_written == 7
    frames, rate = _decode(buffer.getvalue())
    assert len(frames) == 7 and rate == pytest.approx(12.5)
    assert frames[0].shape == (height + height % 2, width + width % 2, 3)
    for colour, (rows, cols) in PATCHES.items():  # the centre of each flat patch, away from its edges
        centre = frames[3][rows, cols][4:-4, 4:-4].reshape(-1, 3).astype(int)
        assert np.abs(centre - colour).max() <= 12, (colour, centre.mean(axis=0))
    if height % 2:  # the padding row repeats the last one
        assert np.abs(frames[3][-1].astype(int) - frames[3][-2]).max() <= 12


@pytest.mark.parametrize("fps", [None, 0, -3.0], ids=["none", "zero", "negative"])
def test_video_without_a_frame_rate_plays_at_the_default(fps):
    buffer = io.BytesIO()
    with OverlayVideo(buffer, 32, 32, fps) as video:
        video.write(np.zeros((32, 32, 3), np.uint8))
    assert video.fps == DEFAULT_FPS
    assert _decode(buffer.getvalue())[1] == pytest.approx(DEFAULT_FPS)


def test_video_to_a_path_leaves_only_the_file(tmp_path):
    target = tmp_path / "out" / "clip.mp4"
    with OverlayVideo(target, 40, 30, 25) as video:
        for shade in (50, 100, 150):
            video.write(_patched(30, 40, shade))
    assert [p.name for p in target.parent.iterdir()] == ["clip.mp4"]
    assert len(_decode(target)[0]) == 3


def test_video_error_in_the_block_leaves_no_file_and_keeps_an_old_one(tmp_path):
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"previous result")
    with pytest.raises(RuntimeError, match="boom"), OverlayVideo(target, 40, 30, 25) as video:
        video.write(_patched(30, 40, 80))
        assert len(list(tmp_path.iterdir())) == 2  # the temporary file beside the target
        raise RuntimeError("boom")
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
    assert target.read_bytes() == b"previous result"


def test_video_error_truncates_the_buffer_back():
    buffer = io.BytesIO()
    buffer.write(b"prefix")
    with pytest.raises(ValueError, match="40x30"), OverlayVideo(buffer, 40, 30, 25, codec="mpeg4") as video:
        for shade in range(40, 200, 20):  # mpeg4 has no look-ahead: packets reach the buffer at once
            video.write(_patched(30, 40, shade))
        assert len(buffer.getvalue()) > 200
        video.write(np.zeros((31, 40, 3), np.uint8))  # the wrong size
    assert buffer.getvalue() == b"prefix"


def test_video_without_frames_is_refused_and_left_unwritten(tmp_path):
    target = tmp_path / "clip.mp4"
    with pytest.raises(ValueError, match="at least one frame"), OverlayVideo(target, 32, 32, 10):
        pass
    assert list(tmp_path.iterdir()) == []


def test_video_refuses_writes_after_close_and_unknown_codecs():
    video = OverlayVideo(io.BytesIO(), 16, 16, 10)
    video.write(np.zeros((16, 16, 3), np.uint8))
    video.close()
    video.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        video.write(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="known: auto, libx264, mpeg4"):
        OverlayVideo(io.BytesIO(), 16, 16, 10, codec="vp9")
    with pytest.raises(ValueError, match="positive"):
        OverlayVideo(io.BytesIO(), 0, 16, 10)
    with pytest.raises(TypeError, match=r"path or an io\.BytesIO"):
        OverlayVideo(b"not a target", 16, 16, 10)  # type: ignore[arg-type]


def test_video_closed_inside_the_block_survives_a_later_error():
    buffer = io.BytesIO()
    with pytest.raises(RuntimeError, match="later"), OverlayVideo(buffer, 32, 32, 10) as video:
        video.write(_patched(32, 32, 90))
        video.close()
        raise RuntimeError("later")
    assert len(_decode(buffer.getvalue())[0]) == 1


def _without_libx264(monkeypatch):
    real = av.Codec

    def codec(name, mode="r"):
        if name == "libx264":
            raise av.codec.codec.UnknownCodecError(name)
        return real(name, mode)

    monkeypatch.setattr(av, "Codec", codec)


def test_auto_codec_falls_back_to_mpeg4_without_libx264(monkeypatch):
    _without_libx264(monkeypatch)
    buffer = io.BytesIO()
    with OverlayVideo(buffer, 32, 32, 10) as video:
        video.write(np.zeros((32, 32, 3), np.uint8))
    assert video.codec == "mpeg4"
    with av.open(io.BytesIO(buffer.getvalue())) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"


def test_requested_codec_that_is_missing_raises(monkeypatch):
    _without_libx264(monkeypatch)
    with pytest.raises(ValueError, match="no video encoder available: tried libx264"):
        OverlayVideo(io.BytesIO(), 32, 32, 10, codec="libx264")


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=oct)
def test_video_file_mode_follows_the_umask(tmp_path, umask):
    """Like the PNG and DICOM outputs: a temporary file's 0600 must not survive the rename."""
    previous = os.umask(umask)
    try:
        with OverlayVideo(tmp_path / "clip.mp4", 40, 30, 25) as video:
            video.write(_patched(30, 40, 80))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "clip.mp4").stat().st_mode) == 0o666 & ~umask
