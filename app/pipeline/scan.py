"""One pass over a clip, batch by batch: screen (first batch), regions, labels, counts, frame candidates.

Only a few frames are kept (the best candidates for selection), so memory does not grow with the clip's
length; decoding runs ahead on a background thread (``Clip.batches``). Frames may be sampled (every
``step``-th), and the measured frames keep their original indices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

import cuda_ops
from app.config import Settings

from .calibration import calibrate
from .decode import Calibration, Clip
from .decode.base import prefetched
from .labels import LABEL_BOX_REST, LABEL_TENDON, Band, label_frames
from .roi import RoiSpec
from .screen import Screen, find_screen

BATCH_BYTES = 64 << 20  # pixels decoded and counted per batch
SCREEN_FRAMES = 8  # frames of the first batch that screen parsing looks at
CANDIDATES = 4  # frames kept in memory as candidates for selection


class Segmenter(Protocol):
    """What the pipeline needs from a tendon model (``models.TendonSegmenter``)."""

    name: str
    sha256: str

    def predict(self, frames: np.ndarray, *, area: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """``(N, H, W, 3) uint8 RGB`` -> ``(N, H, W) bool`` tendon masks, found inside ``area`` (x0, y0, x1, y1)."""


@dataclass(frozen=True)
class Batch:
    """One counted batch, handed to an observer (the overlay video): arrays for ``indices``."""

    indices: np.ndarray  # (B,) original frame indices
    frames: np.ndarray  # (B, H, W, 3) uint8 RGB
    roi: np.ndarray  # (B|1, H, W) bool
    band: np.ndarray  # (B|1, H, W) bool
    labels: np.ndarray  # (B|1, H, W) uint8
    counts: cuda_ops.FrameCounts
    lut: cuda_ops.DopplerLUT  # the colour rule the counts used
    fps: float | None  # the clip's frame rate
    in_box: np.ndarray  # (H, W) bool, where Doppler is counted


def batch_frames(height: int, width: int) -> int:
    """Frames per batch: about 64 MB of pixels, between 1 and 64 frames."""
    return max(1, min(64, BATCH_BYTES // max(1, height * width * 3)))


def frame_step(num_frames: int, every: int, max_frames: int | None) -> int:
    """The sampling step: every ``every``-th frame, widened so that at most ``max_frames`` are measured."""
    step = max(1, every)
    if max_frames is not None and max_frames >= 1:
        step = max(step, math.ceil(num_frames / max_frames))
    return step


class Scan:
    """Counts every sampled frame of ``clip``; afterwards ``counts``, ``indices`` and the kept candidates."""

    def __init__(
        self,
        clip: Clip,
        roi_spec: RoiSpec | None,
        segmenter: Segmenter | None,
        settings: Settings,
        *,
        backend: str,
        device: str,
        step: int,
        timer,
        observer: Callable[[Batch], None] | None = None,
    ) -> None:
        self.clip, self.roi_spec, self.segmenter, self.settings = clip, roi_spec, segmenter, settings
        self.backend, self.target, self.step, self.timer, self.observer = backend, device, step, timer, observer
        self.lut = cuda_ops.chroma_lut(settings.chroma_threshold)
        self.screen: Screen | None = None
        self.calibration: Calibration | None = None
        self.why_uncalibrated: str | None = None
        self.band: Band | None = None
        self.keep: np.ndarray | None = None  # (H, W) bool: image area, colour bars excluded
        self.in_box: np.ndarray | None = None  # (H, W) bool: where Doppler is counted
        self._static: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # user ROI: roi, band, labels
        self.parts: list[cuda_ops.FrameCounts] = []
        self.index_parts: list[np.ndarray] = []
        self.candidates: dict[int, tuple[float, np.ndarray, np.ndarray]] = {}  # index -> (cf, frame, roi)
        self.fallback: str | None = None
        self.counted_backend = self.counted_device = ""

    def run(self) -> None:
        batches = self._batches(batch_frames(self.clip.height, self.clip.width))
        while True:
            with self.timer.step("decode"):
                item = next(batches, None)
            if item is None:
                break
            indices, frames = item
            if self.screen is None:
                with self.timer.step("screen"):
                    self._set_up(frames)
            with self.timer.step("segment"):
                roi, band, labels = self.regions(frames)
            with self.timer.step("count"):
                counts = self._count(frames, labels)
            self.parts.append(counts)
            self.index_parts.append(indices)
            self.counted_backend, self.counted_device = counts.backend, counts.device
            self.fallback = self.fallback or counts.fallback
            self._keep_candidates(indices, frames, roi, counts)
            if self.observer is not None:
                self.observer(Batch(indices, frames, roi, band, labels, counts, self.lut, self.clip.fps, self.in_box))
        self.counts = cuda_ops.FrameCounts.concat(self.parts)
        self.indices = np.concatenate(self.index_parts)

    def _count(self, frames: np.ndarray, labels: np.ndarray) -> cuda_ops.FrameCounts:
        """Counts of one host batch. On a GPU through ``count_clip``: only the labels' bounding box is
        uploaded, through pinned buffers, while the previous upload is counted; on the CPU in place."""
        if self.target == "cuda":
            return cuda_ops.count_clip(frames, labels, self.lut, backend=self.backend, device=self.target)
        return cuda_ops.count_doppler(frames, labels, self.lut, backend=self.backend, device=self.target)

    def _batches(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(original indices (B,), frames (B, H, W, 3))``, every ``step``-th frame, decoded ahead."""
        clip, step = self.clip, self.step
        if step == 1 or not clip.random_access:
            for start, frames in clip.batches(size):
                indices = np.arange(start, start + frames.shape[0])
                chosen = indices % step == 0
                if chosen.any():
                    yield indices[chosen], frames if chosen.all() else frames[chosen]
            return
        wanted = np.arange(0, clip.num_frames, step)
        chunks = [wanted[i : i + size] for i in range(0, wanted.size, size)]
        read = (np.concatenate([clip.read(int(k)) for k in chunk]) for chunk in chunks)
        yield from zip(chunks, prefetched(read, 2), strict=True)  # only the wanted frames are decoded

    def _set_up(self, frames: np.ndarray) -> None:
        """Screen, countable area, calibration and band width, from the first batch."""
        clip, settings = self.clip, self.settings
        step = max(1, frames.shape[0] // SCREEN_FRAMES)
        self.screen = find_screen(frames[::step][:SCREEN_FRAMES], settings.chroma_threshold, clip.regions)
        h, w = clip.height, clip.width
        self.keep = ~self.screen.exclude_mask(h, w)
        self.in_box = self.screen.box_mask(h, w) & self.keep if self.screen.boxes else self.keep
        if clip.calibration is not None:
            self.calibration = clip.calibration
        else:
            self.calibration, self.why_uncalibrated = calibrate(clip.regions, self._analysed_area())
        self.band = Band.for_calibration(self.calibration, settings.band_mm, settings.band_px)

    def _analysed_area(self) -> tuple[int, int, int, int] | None:
        """Where the measurement happens, to find the ultrasound region that calibrates it."""
        if self.screen.doppler_box is not None:
            return self.screen.doppler_box
        if self.roi_spec is not None and self.roi_spec.rect is not None:
            return self.roi_spec.rect
        return self.screen.image_area

    def regions(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(roi, band, labels)``, each ``(B|1, H, W)``: one shared set for a user region."""
        if self.roi_spec is not None:
            if self._static is None:
                roi = self.roi_spec.to_mask(self.clip.height, self.clip.width)[None]
                self._static = roi, *label_frames(roi, self.band, self.in_box)
            return self._static
        # inside the ultrasound picture only: text, legends and panels around it hold no tendon
        roi = np.asarray(self.segmenter.predict(frames, area=self.screen.image_area), dtype=bool)
        if roi.shape != frames.shape[:3]:
            raise RuntimeError(f"segmenter returned masks of shape {roi.shape} for frames {frames.shape}")
        return roi, *label_frames(roi, self.band, self.in_box)

    def _keep_candidates(self, indices: np.ndarray, frames: np.ndarray, roi: np.ndarray, counts) -> None:
        """Keep copies of the frames with the highest colour fraction so far (at most ``CANDIDATES``)."""
        for i in range(frames.shape[0]):
            cf = fraction(counts.doppler[i, LABEL_TENDON], counts.pixels[i, LABEL_TENDON])
            score = -1.0 if cf is None else cf
            if len(self.candidates) < CANDIDATES or score > min(c[0] for c in self.candidates.values()):
                if len(self.candidates) >= CANDIDATES:
                    worst = min(self.candidates, key=lambda k: self.candidates[k][0])
                    del self.candidates[worst]
                mask = roi[i if roi.shape[0] > 1 else 0]
                self.candidates[int(indices[i])] = (score, frames[i].copy(), mask.copy())

    def frame_and_regions(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(frame (H, W, 3), roi, band (H, W) bool, labels (H, W) uint8)`` of frame ``index``."""
        if index in self.candidates:
            _, frame, roi = self.candidates[index]
        else:  # not among the kept candidates: decode it again
            frame = self.clip.read(index)[0]
            roi = self.regions(frame[None])[0][0]
        band, labels = label_frames(roi[None], self.band, self.in_box)
        return frame, roi, band[0], labels[0]


def fraction(doppler: int, pixels: int) -> float | None:
    return None if pixels == 0 else int(doppler) / int(pixels)


def box_fractions(counts: cuda_ops.FrameCounts) -> list[float | None]:
    """Colour fraction of the whole Doppler box (labels 1-3) per frame."""
    box = slice(LABEL_TENDON, LABEL_BOX_REST + 1)
    return [fraction(d, p) for d, p in zip(counts.doppler[:, box].sum(1), counts.pixels[:, box].sum(1), strict=True)]


def label_fractions(counts: cuda_ops.FrameCounts, label: int) -> list[float | None]:
    """Colour fraction of one label per frame."""
    return [fraction(d, p) for d, p in zip(counts.doppler[:, label], counts.pixels[:, label], strict=True)]
