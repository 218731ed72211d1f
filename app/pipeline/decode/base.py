"""Types shared by the decoder plugins: the decoded ``Clip``, input limits and the plugin protocol."""

from __future__ import annotations

import contextlib
import math
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from app.errors import InputTooLarge
from app.pipeline.geometry import Rect, area, contains


@dataclass(frozen=True)
class Calibration:
    """Physical pixel size. Non-square pixels are kept as they are."""

    mm_per_px_x: float
    mm_per_px_y: float
    source: str


@dataclass(frozen=True)
class SourceInfo:
    """Facts about how the input was encoded. Never holds patient identifiers.

    Attributes:
        format: "png", "jpeg", "bmp", "tiff", "dicom", "mp4", "avi", ..., or "array".
        colour: colour model as stored: "RGB", "RGBA", "grey", "YBR_FULL_422", "PALETTE COLOR", "yuv420p", ...
        bit_depth: bits per sample as stored.
        vendor: the scanner maker when the file names it.
        codec: compression ("uncompressed", "rle", "jpeg-baseline", "jpeg-ls", "jpeg2000", "h264", ...).
        transfer_syntax: the DICOM transfer syntax UID (a public standard constant, not an identifier).
        sop_class: the DICOM storage class name ("Ultrasound Multi-frame Image Storage", ...).
        yuv_matrix / yuv_range: the YUV -> RGB conversion applied to video ("bt601" | "bt709", "limited" | "full").
        chroma_subsampling: how the colour was sampled as stored: "4:4:4" (every pixel its own colour),
            "4:2:2", "4:2:0", "4:1:1" or "4:4:0"; None for grey or palette data, or when unknown.
        lossy: whether the pixels went through lossy compression (this file's codec, or one before it that the
            file records); None when unknown.
    """

    format: str
    colour: str
    bit_depth: int = 8
    vendor: str | None = None
    codec: str | None = None
    transfer_syntax: str | None = None
    sop_class: str | None = None
    yuv_matrix: str | None = None
    yuv_range: str | None = None
    chroma_subsampling: str | None = None
    lossy: bool | None = None


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of a DICOM Sequence of Ultrasound Regions, in pixels of the frame.

    Attributes:
        bbox: half-open ``(x0, y0, x1, y1)``.
        spatial_format: RegionSpatialFormat (1 2D tissue, 2 M-mode, 3 spectral, 4 waveform, ...).
        data_type: RegionDataType (1 tissue, 2 colour flow, 3 PW spectral, ..., 0x0E colour bar).
        units_x / units_y: PhysicalUnitsX/YDirection (3 = cm, 4 = seconds, ...).
        delta_x / delta_y: PhysicalDeltaX/Y, physical units per pixel as stored.
    """

    bbox: Rect
    spatial_format: int
    data_type: int
    units_x: int
    units_y: int
    delta_x: float
    delta_y: float

    @property
    def area(self) -> int:
        return area(self.bbox)

    def contains(self, box: Rect) -> bool:
        return contains(self.bbox, box)


# (start, stop) -> (stop - start, H, W, 3) uint8 RGB
FrameReader = Callable[[int, int], np.ndarray]
# batch size -> (B, H, W, 3) uint8 RGB batches, in order, covering every frame once
FrameStream = Callable[[int], Iterator[np.ndarray]]

PREFETCH_BATCHES = 2


@dataclass(frozen=True, eq=False)
class Clip:
    """A decoded input: frames that are read on demand, and what the file says about them.

    Frames are ``uint8`` RGB ``(H, W, 3)``. A clip may hold them in memory (stills, arrays) or decode
    them as they are asked for (DICOM frame by frame, video by stream), so a long clip is never held
    whole unless a caller asks for :attr:`frames`.

    Attributes:
        name: base name for reports (no directories).
        source: how the input was encoded.
        num_frames, height, width: geometry, known from headers before any pixel is decoded.
        fps: frames per second, when the format states it.
        calibration: mm per pixel, when the format states it reliably.
        regions: DICOM ultrasound regions (pixel coordinates), when present.
        frame_times_ms: the time of each frame from the first, when the format states it.
        header: a DICOM input's dataset without its pixel data, kept for the DICOM outputs (SR, SC) only;
            it holds patient data and is never reported or logged.
    """

    name: str
    source: SourceInfo
    num_frames: int
    height: int
    width: int
    reader: FrameReader = field(repr=False)
    stream: FrameStream | None = field(default=None, repr=False)
    fps: float | None = None
    calibration: Calibration | None = None
    regions: tuple[UltrasoundRegion, ...] = ()
    frame_times_ms: tuple[float, ...] | None = field(default=None, repr=False)
    header: Any = field(default=None, repr=False)

    @classmethod
    def in_memory(cls, frames: np.ndarray, name: str, source: SourceInfo, **facts) -> Clip:
        """A clip over frames already decoded: ``(N, H, W, 3) uint8`` RGB."""
        frames = np.ascontiguousarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
            raise ValueError(f"frames must be non-empty (N, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
        n, h, w, _ = frames.shape
        return cls(name=name, source=source, num_frames=n, height=h, width=w, reader=lambda a, b: frames[a:b], **facts)

    @property
    def random_access(self) -> bool:
        """Whether :meth:`read` is cheap for any frame (False: frames come from a sequential stream)."""
        return self.stream is None

    def read(self, start: int, stop: int | None = None) -> np.ndarray:
        """Frames ``start`` to ``stop`` (default: one frame) as ``(K, H, W, 3) uint8``."""
        stop = start + 1 if stop is None else stop
        if not 0 <= start < stop <= self.num_frames:
            raise IndexError(f"frames {start}:{stop} out of range for a clip of {self.num_frames}")
        return self.reader(start, stop)

    def batches(self, size: int, prefetch: int = PREFETCH_BATCHES) -> Iterator[tuple[int, np.ndarray]]:
        """``(first index, (B, H, W, 3) uint8)`` batches in order, decoded ahead on a background thread.

        At most ``prefetch`` decoded batches wait in memory, so decoding overlaps with analysis
        while memory stays bounded by ``(prefetch + 2) * size`` frames.
        """
        size = max(1, int(size))
        if self.num_frames <= size:  # one batch: nothing to overlap
            yield 0, self.read(0, self.num_frames)
            return
        source = self.stream(size) if self.stream is not None else self._ranges(size)
        start = 0
        for batch in prefetched(source, prefetch):
            yield start, batch
            start += batch.shape[0]

    def _ranges(self, size: int) -> Iterator[np.ndarray]:
        for start in range(0, self.num_frames, size):
            yield self.reader(start, min(start + size, self.num_frames))

    @cached_property
    def frames(self) -> np.ndarray:
        """Every frame, ``(N, H, W, 3) uint8`` (decodes and holds the whole clip: prefer :meth:`batches`)."""
        if self.num_frames == 1 or self.stream is None:
            return np.ascontiguousarray(self.reader(0, self.num_frames))
        return np.concatenate([batch for _, batch in self.batches(64)], axis=0)


_DONE = object()


def prefetched(source: Iterator[np.ndarray], depth: int) -> Iterator[np.ndarray]:
    """Run ``source`` on a daemon thread, ``depth`` items ahead of the consumer.

    Exceptions raised by the producer are re-raised in the consumer; a consumer that stops early
    stops the producer at its next item.
    """
    if depth < 1:
        yield from source
        return
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="neovasc-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                items.get_nowait()
        thread.join(timeout=5)


def _unheld_refcount() -> int:
    """What ``sys.getrefcount`` reports for a list item nothing else holds (2 on CPython 3.11: the list's
    reference and the argument's; measured rather than assumed, as interpreters differ)."""
    items = [object()]
    return sys.getrefcount(items[0])


_UNHELD = _unheld_refcount()


class BatchBuffers:
    """Memory for ``uint8`` batch arrays, lent again once nothing holds an array made from it.

    Fresh memory is dear here: malloc maps every array over 32 MB anew, and first touching it (page
    faults, zeroing) measured 0.7-5 ms a 1080p frame on the 2-core VM, as much as decoding the frame,
    while OpenCV's frame-sized buffers come back from malloc's heap already touched. One instance
    serves every stream of a process (video keeps one), so the next clip reuses it too. A buffer is
    lent again only when its reference count shows no batch or view of it left anywhere; at most
    ``keep`` buffers are remembered, which bounds what stays allocated between clips.
    """

    def __init__(self, keep: int = PREFETCH_BATCHES + 2):
        self.keep = keep
        self._buffers: list[np.ndarray] = []  # flat uint8 owners, least recently lent first
        self._lock = threading.Lock()  # streams on several threads: a free buffer is lent once

    def take(self, shape: tuple[int, ...]) -> np.ndarray:
        """A C-contiguous ``uint8`` array of ``shape``, contents undefined."""
        size = math.prod(shape)
        with self._lock:
            for i in range(len(self._buffers)):
                # every batch or view made from a buffer holds a reference to it (numpy views keep their owner)
                if self._buffers[i].size >= size and sys.getrefcount(self._buffers[i]) == _UNHELD:
                    buffer = self._buffers.pop(i)
                    break
            else:
                buffer = np.empty(size, np.uint8)
            self._buffers.append(buffer)
            del self._buffers[: -self.keep]  # forgotten ones are freed by their last holder
            return buffer[:size].reshape(shape)


def sampling_step(num_frames: int, every: int, max_frames: int | None) -> int:
    """The sampling step: every ``every``-th frame, widened so that at most ``max_frames`` are measured."""
    step = max(1, every)
    if max_frames is not None and max_frames >= 1:
        step = max(step, math.ceil(num_frames / max_frames))
    return step


DEFAULT_MAX_DECODED_BYTES = 512 << 20  # NEOVASC_MAX_DECODED_BYTES


@dataclass(frozen=True)
class Limits:
    """Bounds checked from headers before any pixel data is decoded.

    ``max_frames`` bounds the frames a clip holds (each one is decoded, however small); ``max_total_pixels``
    bounds the pixels of the frames that are measured, so a long clip sampled with ``every`` /
    ``max_measured`` (the request's ``max_frames``) passes where the whole clip would not.
    ``max_decoded_bytes`` bounds what one decompression step may produce (an inflated DICOM dataset, a
    still's decoded samples), checked before or while inflating, never after.
    """

    max_bytes: int
    max_frame_pixels: int
    max_frames: int
    max_total_pixels: int
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES
    every: int = 1
    max_measured: int | None = None

    def measured(self, frames: int) -> int:
        """How many of ``frames`` frames the analysis measures with this sampling."""
        return len(range(0, frames, sampling_step(frames, self.every, self.max_measured)))

    def check_bytes(self, size: int) -> None:
        if size > self.max_bytes:
            raise InputTooLarge(
                f"input is {size} bytes, above the limit of {self.max_bytes} bytes "
                "(raise NEOVASC_MAX_UPLOAD_BYTES to accept it)"
            )

    def check_decoded_bytes(self, size: int, what: str) -> None:
        """Refuse ``what`` (e.g. "the inflated DICOM data") when decoding it takes more than the budget."""
        if size > self.max_decoded_bytes:
            raise InputTooLarge(
                f"{what} would take {size} bytes or more decoded, above the limit of {self.max_decoded_bytes} "
                "(NEOVASC_MAX_DECODED_BYTES); a small file that inflates this much is refused unread"
            )

    def check_geometry(self, frames: int, height: int, width: int) -> None:
        if height * width > self.max_frame_pixels:
            raise InputTooLarge(
                f"frame is {width}x{height} = {width * height} pixels, above the limit of "
                f"{self.max_frame_pixels} (NEOVASC_MAX_FRAME_PIXELS)"
            )
        if frames > self.max_frames:
            raise InputTooLarge(f"input has {frames} frames, above the limit of {self.max_frames} (NEOVASC_MAX_FRAMES)")
        measured = self.measured(frames)
        if measured * height * width > self.max_total_pixels:
            which = "" if measured == frames else f" in the {measured} of its {frames} frames measured"
            raise InputTooLarge(
                f"input holds {measured * height * width} pixels in all{which}, above the limit of "
                f"{self.max_total_pixels} (NEOVASC_MAX_TOTAL_PIXELS); sample the clip (every, max_frames)"
            )


class Decoder(Protocol):
    """A format plugin. ``accepts`` sniffs the first bytes; ``decode`` raises named errors only."""

    name: str

    def unavailable_reason(self) -> str | None:
        """None when the plugin's optional dependencies are importable, else why not."""

    def accepts(self, head: bytes) -> bool:
        """Whether ``head`` (the first 512 bytes or fewer) looks like this plugin's format."""

    def decode(self, data: bytes, name: str, limits: Limits) -> Clip:
        """Decode a whole input held in memory."""
