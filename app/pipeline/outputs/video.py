"""The overlay video of a clip: an MP4 written frame by frame (H.264, else MPEG-4 Part 2)."""

from __future__ import annotations

import contextlib
import io
import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from app.pipeline.outputs.files import new_file_beside
from app.pipeline.outputs.overlay import check_frame

VIDEO_CODECS = ("libx264", "mpeg4")  # in order of preference for codec="auto"
DEFAULT_FPS = 10.0  # when the clip states no frame rate


def _pick_codec(codec: str) -> str:
    """``auto``: the first encoder of :data:`VIDEO_CODECS` this PyAV build has; a named one must exist."""
    names = VIDEO_CODECS if codec == "auto" else (codec,)
    if codec != "auto" and codec not in VIDEO_CODECS:
        raise ValueError(f"unknown video codec {codec!r}; known: auto, {', '.join(VIDEO_CODECS)}")
    for name in names:
        try:
            av.Codec(name, "w")
        except (ValueError, av.FFmpegError):  # UnknownCodecError is a ValueError: no such encoder built in
            continue
        return name
    raise ValueError(f"no video encoder available: tried {', '.join(names)}; install PyAV wheels with libx264")


class OverlayVideo:
    """An MP4 written frame by frame: H.264 (``libx264``, yuv420p, BT.709), else MPEG-4 Part 2.

    ``target``: a path (written under a temporary name beside it and renamed on a clean close, so a
    failure never leaves a half-written file; ``moov`` up front for streaming) or an ``io.BytesIO``
    (written from its current position; truncated back to it on failure). ``width``, ``height``: the
    frames' size; odd sizes are padded to even ones (the last row or column repeated), as yuv420p
    needs. ``fps`` ``None`` or ``<= 0``: :data:`DEFAULT_FPS`. ``codec``: ``auto`` or one of
    :data:`VIDEO_CODECS`; the one used is in ``.codec``. ``crf``, ``preset``: libx264's quality and
    speed. Use as a context manager: leaving the ``with`` block flushes, or discards on an error.
    """

    def __init__(
        self,
        target: Path | io.BytesIO,
        width: int,
        height: int,
        fps: float | None,
        *,
        codec: str = "auto",
        crf: int = 23,
        preset: str = "fast",
    ) -> None:
        if int(width) != width or int(height) != height or width < 1 or height < 1:
            raise ValueError(f"video size must be positive whole pixels, got {width}x{height}")
        self.width, self.height = int(width), int(height)
        self.fps = float(fps) if fps is not None and fps > 0 else DEFAULT_FPS
        self.codec = _pick_codec(codec)
        self.frames_written = 0
        self._padded = np.zeros((self.height + self.height % 2, self.width + self.width % 2, 3), np.uint8)
        self._container: av.container.OutputContainer | None = None
        self._buffer: io.BytesIO | None = None
        self._temp: Path | None = None
        try:
            self._open(target)
            self._stream = self._add_stream(crf, preset)
        except BaseException:
            self._discard()
            raise

    def _open(self, target: Path | io.BytesIO) -> None:
        """Open the MP4 muxer on the buffer, or on a temporary file beside the target path."""
        if isinstance(target, io.BytesIO):
            self._buffer, self._start = target, target.tell()
            self._container = av.open(target, mode="w", format="mp4")
            return
        if not isinstance(target, str | os.PathLike):
            raise TypeError(f"target must be a path or an io.BytesIO, got {type(target).__name__}")
        self._path = Path(target)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._temp = new_file_beside(self._path)
        # faststart puts the index first, so browsers play while loading; it re-reads the file by name,
        # which is why a buffer goes without it
        self._container = av.open(str(self._temp), mode="w", format="mp4", options={"movflags": "faststart"})

    def _add_stream(self, crf: int, preset: str) -> av.VideoStream:
        rate = Fraction(self.fps).limit_denominator(1001)  # 29.97 -> 2997/100, exact for whole rates
        stream = self._container.add_stream(self.codec, rate=rate)
        stream.height, stream.width = self._padded.shape[:2]
        stream.pix_fmt = "yuv420p"
        context = stream.codec_context
        context.time_base = 1 / rate
        # tag what write() converts with (BT.709, limited range): untagged, players guess per size
        context.colorspace = context.color_primaries = context.color_trc = 1  # AVCOL_*_BT709
        context.color_range = 1  # AVCOL_RANGE_MPEG
        if self.codec == "libx264":
            stream.options = {"crf": str(crf), "preset": preset}
        else:  # mpeg4 has no CRF; ~0.2 bit per pixel keeps a flat Doppler map and speckle readable
            context.bit_rate = max(400_000, int(0.2 * stream.width * stream.height * self.fps))
        return stream

    def write(self, frame: np.ndarray) -> None:
        """Append one ``(height, width, 3) uint8 RGB`` frame."""
        if self._container is None:
            raise ValueError("the overlay video is already closed")
        if check_frame(frame) != (self.height, self.width):
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, the video {self.width}x{self.height}")
        if self._padded.shape[:2] != frame.shape[:2]:
            # repeat the last row/column: a black pad would halve the colour of the edge pixels that
            # share a 2x2 chroma sample with it
            self._padded[: self.height, : self.width] = frame
            self._padded[self.height :, : self.width] = frame[-1:]
            self._padded[:, self.width :] = self._padded[:, self.width - 1 : self.width]
            frame = self._padded
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        picture = picture.reformat(format="yuv420p", dst_colorspace="ITU709")
        picture.pts = self.frames_written
        for packet in self._stream.encode(picture):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (renamed into place) or buffer. Idempotent."""
        if self._container is None:
            return
        if self.frames_written == 0:
            self._discard()  # an MP4 without frames has no video track a player could open
            raise ValueError("an overlay video needs at least one frame; none was written")
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            self._container = None
            if self._temp is not None:
                os.replace(self._temp, self._path)
                self._temp = None
        except BaseException:
            self._discard()
            raise

    def _discard(self) -> None:
        """Drop everything written: the temporary file, or the buffer back to where it was."""
        if self._container is None and self._temp is None:
            return  # finished (a closed video stays) or already discarded
        if self._container is not None:
            with contextlib.suppress(Exception):  # already failing: the first error is the one to report
                self._container.close()
            self._container = None
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None
        if self._buffer is not None:
            self._buffer.seek(self._start)
            self._buffer.truncate()

    def __enter__(self) -> OverlayVideo:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._discard()
