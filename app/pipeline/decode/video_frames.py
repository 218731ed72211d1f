"""Decoding passes over a video that :mod:`.video` has probed: frames in order or from a seek, into RGB.

Each pass opens its own container and closes it when done or abandoned; :mod:`.video`'s docstring says how
seeking, streaming and the YUV -> RGB conversion work.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from app.errors import DecodeError, NoFrames

from . import yuv
from .base import BatchBuffers, prefetched

try:
    import av
    from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

    _AV_ERRORS: tuple[type[BaseException], ...] = (av.FFmpegError, OSError, EOFError, ValueError, IndexError)
    AV_IMPORT_ERROR: str | None = None  # why videos cannot be read, when they cannot
except ImportError as exc:  # av is a core dependency; a broken install must not take still images down
    av = None
    AV_IMPORT_ERROR = f"PyAV could not be imported ({type(exc).__name__}); pip install av"
    _AV_ERRORS = ()

# Our format name -> the FFmpeg demuxer forced for it (no format guessing on untrusted bytes).
DEMUXERS = {"mp4": "mov", "mov": "mov", "avi": "avi", "mkv": "matroska", "webm": "matroska"}
_MKV_CLUSTER = b"\x1f\x43\xb6\x75"  # Matroska Cluster element ID: where frames live
YUV_KERNEL = True  # False: swscale converts every pixel format (the reference; benchmarks/decode_video.py)
DECODE_AHEAD = 2  # decoded frames queued between the decoding and the converting thread
_BATCH_MEMORY = BatchBuffers()  # batch memory of every video stream of the process


@dataclass(frozen=True)
class Layout:
    """What each decoding pass needs: the bytes, where the video is and how to turn it into RGB."""

    data: bytes
    fmt: str  # "mp4", "mov", "avi", "mkv", "webm"
    stream_index: int
    num_frames: int
    height: int
    width: int
    pix_fmt: str
    matrix: str | None  # "bt601" | "bt709"; None: not a YUV pixel format
    range: str | None  # "limited" | "full"; None with matrix
    max_pixels: int
    index_of_pts: dict[int, int] | None  # presentation timestamp -> frame index, when usable for seeking
    sorted_pts: tuple[int, ...]  # frame timestamps in order (for seeking), empty when unusable
    seek_margin: int  # largest pts - dts: indexes that hold decode times make a seek land this much late
    reorder_depth: int  # frames the decoder holds back to reorder (found by FFmpeg's probe decoding)


@contextlib.contextmanager
def av_errors(fmt: str, what: str) -> Iterator[None]:
    """Re-raise PyAV/FFmpeg failures as :class:`DecodeError` (FFmpeg's reason, never a file name)."""
    try:
        yield
    except _AV_ERRORS as exc:
        raise _decode_error(fmt, what, exc) from exc


def _decode_error(fmt: str, what: str, exc: BaseException) -> DecodeError:
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return DecodeError(f"the {fmt} video could not be {what}: {reason} (truncated or corrupt file?)")


def open_container(data: bytes, fmt: str, options: dict[str, str] | None = None):
    """Open the bytes with the demuxer forced (no guessing on untrusted input); ``options`` go to the decoders
    FFmpeg runs while probing. Metadata text is never read, so bad text encodings are not fatal."""
    try:
        return av.open(io.BytesIO(data), "r", format=DEMUXERS[fmt], options=options, metadata_errors="replace")
    except _AV_ERRORS as exc:
        if fmt in ("mkv", "webm") and isinstance(exc, EOFError) and _MKV_CLUSTER not in data:
            raise NoFrames(f"the {fmt} file ends before its first frame") from exc
        raise _decode_error(fmt, "opened", exc) from exc


def read_frames(layout: Layout, start: int, stop: int) -> np.ndarray:
    """Frames ``start`` to ``stop`` as ``(stop - start, H, W, 3) uint8`` RGB."""
    out = np.empty((stop - start, layout.height, layout.width, 3), dtype=np.uint8)
    to_rgb = _ToRGB(layout)
    with contextlib.closing(_frames(layout, start)) as frames:
        for i in range(stop - start):
            to_rgb(next(frames), start + i, out[i])
    return out


def frame_batches(layout: Layout, size: int) -> Iterator[np.ndarray]:
    """``(B, H, W, 3) uint8`` RGB batches of every frame in order (the last one may be shorter)."""
    to_rgb = _ToRGB(layout)
    with contextlib.closing(prefetched(_frames(layout, 0), DECODE_AHEAD)) as frames:
        for start in range(0, layout.num_frames, size):
            batch = _BATCH_MEMORY.take((min(size, layout.num_frames - start), layout.height, layout.width, 3))
            for i in range(batch.shape[0]):
                to_rgb(next(frames), start + i, batch[i])
            yield batch


def _frames(layout: Layout, start: int) -> Iterator[av.VideoFrame]:
    """Decoded frames ``start`` .. ``num_frames - 1``, in order; DecodeError if any is missing."""
    index = start
    if start > 0 and layout.index_of_pts is not None:
        index = yield from _run(layout, _indexed(layout, start, seek=True), start)
    if index < layout.num_frames:
        index = yield from _run(layout, _indexed(layout, 0, seek=False), index)
    if index < layout.num_frames:
        raise DecodeError(
            f"only {index} of the {layout.num_frames} frames of the {layout.fmt} video could be decoded "
            "(corrupt or truncated data)"
        )


def _run(layout: Layout, frames: Iterator[tuple[int, av.VideoFrame]], start: int):
    """Yield frames ``start``, ``start + 1``, ... from ``(index, frame)`` pairs; return the first index missed."""
    expected = start
    try:
        for index, frame in frames:
            if index < expected:
                continue
            if index != expected:
                break
            yield frame
            expected += 1
            if expected == layout.num_frames:
                break
    finally:
        frames.close()  # closes the container now, also when the consumer stopped early
    return expected


def _indexed(layout: Layout, start: int, seek: bool) -> Iterator[tuple[int, av.VideoFrame]]:
    """``(index, frame)`` in presentation order, from the first frame or from the keyframe before ``start``.

    After a seek, frames are identified by their timestamps; the pass ends at the first timestamp the
    demuxer did not announce, and the caller carries on from the start of the file. FFmpeg's probing
    decodes nothing (39 ms of H.264 1080p an open): what it would learn is in the layout.
    """
    with av_errors(layout.fmt, "decoded"), open_container(layout.data, layout.fmt, {"skip_frame": "all"}) as container:
        stream = container.streams[layout.stream_index]
        ctx = stream.codec_context
        ctx.reorder_depth = layout.reorder_depth  # else H.264 without VUI reorder limits can come out of order
        ctx.thread_type = "AUTO"  # frame + slice threads, as many as FFmpeg sees cores
        ctx.options = {"max_pixels": str(layout.max_pixels)}  # a mid-stream size change cannot allocate more
        target = layout.sorted_pts[start] - layout.seek_margin if seek else None
        if target is not None and target > layout.sorted_pts[0]:  # else: the first keyframe is the one
            try:
                container.seek(target, stream=stream, backward=True)
            except _AV_ERRORS:
                return  # not seekable after all: the caller decodes from the start
        for count, frame in enumerate(_decode_all(container, stream)):
            index = layout.index_of_pts.get(frame.pts) if seek else count
            if index is None:
                return
            yield index, frame


def _decode_all(container, stream) -> Iterator[av.VideoFrame]:
    for packet in container.demux(stream):
        if packet.size == 0:  # an empty AVI chunk ("repeat the last frame") or the end marker: never a flush
            continue
        yield from packet.decode()
    yield from stream.codec_context.decode(None)  # frames still in the decoder (B-frame reordering, threads)


class _ToRGB:
    """Decoded frames into ``(H, W, 3) uint8`` RGB slots: the :mod:`.yuv` kernel, else swscale (one context a pass)."""

    def __init__(self, layout: Layout):
        self.layout, self.reformatter = layout, VideoReformatter()
        kernel = YUV_KERNEL and layout.pix_fmt in yuv.SUBSAMPLING and yuv.unavailable_reason() is None
        self.coeffs = yuv.coefficients(layout.matrix, layout.range) if kernel and layout.matrix else None
        self.swscale = {"format": "rgb24", "threads": 1}  # the decoder's threads already use every core
        if layout.matrix is not None:  # else RGB, grey or palette: swscale copies or expands exactly
            matrix = Colorspace.ITU709 if layout.matrix == "bt709" else Colorspace.ITU601
            source = ColorRange.JPEG if layout.range == "full" else ColorRange.MPEG
            self.swscale |= {"src_colorspace": matrix, "dst_colorspace": matrix, "src_color_range": source}
            self.swscale["dst_color_range"] = ColorRange.JPEG  # RGB is always full range

    def __call__(self, frame: av.VideoFrame, index: int, out: np.ndarray) -> None:
        layout = self.layout
        if (frame.height, frame.width) != (layout.height, layout.width) or frame.format.name != layout.pix_fmt:
            raise DecodeError(
                f"video frame {index} is {frame.width}x{frame.height} {frame.format.name}, but the stream is "
                f"{layout.width}x{layout.height} {layout.pix_fmt} (corrupt data or a mid-stream change)"
            )
        if self.coeffs is not None:  # the planes as (rows, line size) views of FFmpeg's buffers: no copy
            planes = tuple(np.frombuffer(p, np.uint8).reshape(p.height, p.line_size) for p in frame.planes[:3])
            yuv.yuv_to_rgb(planes, layout.pix_fmt, self.coeffs, out)
        else:
            out[...] = self.reformatter.reformat(frame, **self.swscale).to_ndarray()
