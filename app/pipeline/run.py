"""``analyze``: the one place that runs the pipeline steps in order.

decode -> screen -> ROI (user) or segment (model) -> count -> grade -> report. The HTTP API, the command
line and Python callers all come through here; none re-implements a step.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import numpy as np

import cuda_ops
from app.config import Settings, get_settings
from app.errors import BackendUnavailable
from app.schemas import FrameMeasure, ModelInfo, Result, Roi

from .calibration import calibrate
from .decode import Limits, Source, decode
from .device import resolve_device
from .grade import Grading, GradingConfig, grade_frame, select_frame
from .report import bbox, build_result
from .roi import RoiSpec
from .screen import Screen, find_screen

LABEL_ROI = 1  # tendon / user ROI inside the Doppler box: the colour fraction's denominator
LABEL_BOX_REST = 3  # the rest of the Doppler box
BATCH_BYTES = 64 << 20  # pixels decoded and counted per batch
SCREEN_FRAMES = 8  # frames of the first batch that screen parsing looks at
CANDIDATES = 4  # frames kept in memory as candidates for selection


class Segmenter(Protocol):
    """What the pipeline needs from a tendon model (``models.TendonSegmenter``)."""

    name: str
    sha256: str

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3) uint8 RGB`` -> ``(N, H, W) bool`` tendon masks."""


@dataclass(frozen=True)
class AnalyzeOptions:
    """Per-call options. ``roi``: a user-drawn region; without it the tendon model draws one."""

    roi: RoiSpec | None = None
    device: str = "auto"
    backend: str = "auto"


@dataclass(frozen=True, eq=False)
class Analysis:
    """A Result with the arrays behind it (for masks and overlays)."""

    result: Result
    frame: np.ndarray  # (H, W, 3) uint8 RGB, the selected frame
    roi_mask: np.ndarray  # (H, W) bool, the whole ROI / tendon on the selected frame
    doppler_mask: np.ndarray  # (H, W) bool, counted Doppler pixels on the selected frame
    grading: Grading


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1000.0


def limits_from(settings: Settings) -> Limits:
    return Limits(
        max_bytes=settings.max_upload_bytes,
        max_frame_pixels=settings.max_frame_pixels,
        max_frames=settings.max_frames,
        max_total_pixels=settings.max_total_pixels,
    )


def analyze(
    source: Source,
    options: AnalyzeOptions | None = None,
    segmenter: Segmenter | None = None,
    settings: Settings | None = None,
    *,
    name: str | None = None,
) -> Result:
    """Grade one input (path, bytes, RGB array or Clip). Raises :class:`app.errors.NeovascError` subclasses.

    Without ``options.roi`` the tendon is found by ``segmenter``, by default the first model of
    ``settings.weights_dir`` (loaded once per process).
    """
    return run_analysis(source, options, segmenter, settings, name=name).result


def run_analysis(
    source: Source,
    options: AnalyzeOptions | None = None,
    segmenter: Segmenter | None = None,
    settings: Settings | None = None,
    *,
    name: str | None = None,
) -> Analysis:
    """As :func:`analyze`, also returning the selected frame and its masks."""
    settings = settings or get_settings()
    options = options or AnalyzeOptions()
    device = resolve_device(options.device)
    timer = _Timer()
    with timer.step("decode"):
        clip = decode(source, limits_from(settings), name)
    if options.roi is None and segmenter is None:
        from app.segmenter import default_segmenter  # imports this module: deferred

        segmenter = default_segmenter(settings)  # NoTendonModel when weights/ holds none
    if options.roi is not None:
        options.roi.check_fits(clip.height, clip.width)
    lut = cuda_ops.chroma_lut(settings.chroma_threshold)
    scan = _Scan(clip, options, segmenter, settings, lut, device, timer)
    try:
        scan.run()
        with timer.step("count"):
            selected, frame, roi_mask, labels = scan.selected_frame()
            doppler_mask = _doppler_mask(frame, labels, lut, options.backend, device)
    except cuda_ops.BackendUnavailable as exc:
        raise BackendUnavailable(str(exc)) from exc
    screen, counts = scan.screen, scan.counts
    with timer.step("grade"):
        grading = grade_frame(
            selected,
            int(counts.doppler[selected, LABEL_ROI]),
            int(counts.pixels[selected, LABEL_ROI]),
            doppler_mask,
            GradingConfig(min_vessel_px=settings.min_vessel_px, headline_scale=settings.grade_scale),
        )
    area = bbox(roi_mask)
    calibration, why_uncalibrated = (clip.calibration, None)
    if calibration is None:
        analysed = screen.doppler_box if area is None else (area.x0, area.y0, area.x1, area.y1)
        calibration, why_uncalibrated = calibrate(clip.regions, analysed)
    warnings = list(_warnings(screen, roi_mask, scan.fallback, options.roi is None, why_uncalibrated))
    roi = Roi(
        source="user" if options.roi is not None else "model",
        kind=options.roi.kind if options.roi is not None else "segmentation",
        bbox=area,
        area_px=int(roi_mask.sum()),
    )
    model = None if options.roi is not None else ModelInfo(name=segmenter.name, sha256=segmenter.sha256)
    result = build_result(
        clip, screen, roi, scan.measures, grading, calibration,
        warnings=warnings, device=scan.device, backend=scan.backend, model=model, timing_ms=timer.ms,
    )  # fmt: skip
    return Analysis(result=result, frame=frame, roi_mask=roi_mask, doppler_mask=doppler_mask, grading=grading)


def batch_frames(height: int, width: int) -> int:
    """Frames per batch: about 64 MB of pixels, between 1 and 64 frames."""
    return max(1, min(64, BATCH_BYTES // max(1, height * width * 3)))


class _Scan:
    """One pass over the clip, batch by batch: screen (first batch), ROI, counts, frame candidates.

    Only a few frames are kept (the best candidates for selection), so memory does not grow with the
    clip's length; decoding runs ahead on a background thread (``Clip.batches``).
    """

    def __init__(self, clip, options, segmenter, settings, lut, device, timer) -> None:
        self.clip, self.options, self.segmenter, self.settings = clip, options, segmenter, settings
        self.lut, self.target, self.timer = lut, device, timer
        self.screen: Screen | None = None
        self.static_roi: np.ndarray | None = None  # (H, W) bool, a user ROI
        self.box_mask: np.ndarray | None = None  # (H, W) bool, where Doppler is counted
        self.parts: list[cuda_ops.FrameCounts] = []
        self.candidates: dict[int, tuple[float, np.ndarray, np.ndarray]] = {}  # index -> (cf, frame, roi)
        self.fallback: str | None = None
        self.backend = self.device = ""

    def run(self) -> None:
        clip = self.clip
        batches = clip.batches(batch_frames(clip.height, clip.width))
        while True:
            with self.timer.step("decode"):
                item = next(batches, None)
            if item is None:
                break
            start, frames = item
            if self.screen is None:
                with self.timer.step("screen"):
                    step = max(1, frames.shape[0] // SCREEN_FRAMES)
                    self.screen = find_screen(
                        frames[::step][:SCREEN_FRAMES], self.settings.chroma_threshold, self.clip.regions
                    )
            with self.timer.step("segment"):
                roi = self._roi(frames)  # (B|1, H, W) bool
            with self.timer.step("count"):
                labels = self._labels(roi)
                counts = cuda_ops.count_doppler(
                    frames, labels, self.lut, backend=self.options.backend, device=self.target
                )
            self.parts.append(counts)
            self.backend, self.device = counts.backend, counts.device
            self.fallback = self.fallback or counts.fallback
            self._keep_candidates(start, frames, roi, counts)
        self.counts = _concat(self.parts)
        self.measures = _frame_measures(self.counts)

    def _roi(self, frames: np.ndarray) -> np.ndarray:
        if self.options.roi is not None:
            if self.static_roi is None:
                self.static_roi = self.options.roi.to_mask(self.clip.height, self.clip.width)
            return self.static_roi[None]
        masks = np.asarray(self.segmenter.predict(frames), dtype=bool)
        if masks.shape != frames.shape[:3]:
            raise RuntimeError(f"segmenter returned masks of shape {masks.shape} for frames {frames.shape}")
        return masks

    def _keep_candidates(self, start: int, frames: np.ndarray, roi: np.ndarray, counts) -> None:
        """Keep copies of the frames with the highest colour fraction so far (at most ``CANDIDATES``)."""
        for i in range(frames.shape[0]):
            cf = _fraction(counts.doppler[i, LABEL_ROI], counts.pixels[i, LABEL_ROI])
            score = -1.0 if cf is None else cf
            if len(self.candidates) < CANDIDATES or score > min(c[0] for c in self.candidates.values()):
                if len(self.candidates) >= CANDIDATES:
                    worst = min(self.candidates, key=lambda k: self.candidates[k][0])
                    del self.candidates[worst]
                mask = roi[i if roi.shape[0] > 1 else 0]
                self.candidates[start + i] = (score, frames[i].copy(), mask.copy())

    def selected_frame(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """``(index, frame (H, W, 3), roi (H, W) bool, labels (H, W) uint8)`` of the selected frame."""
        selected = select_frame([m.colour_fraction for m in self.measures], [m.flash for m in self.measures])
        if selected in self.candidates:
            _, frame, roi = self.candidates[selected]
        else:  # not among the kept candidates: decode it again
            frame = self.clip.read(selected)[0]
            roi = self._roi(frame[None])[0]
        return selected, frame, roi, self._labels(roi[None])[0]

    def _labels(self, roi_masks: np.ndarray) -> np.ndarray:
        """Label map ``(B|1, H, W) uint8``: the ROI inside the Doppler box(es), the rest of the box(es).

        Without a box the whole ROI is counted. Colour bars and everything outside the image area carry
        no label; so does the ROI outside the box (Doppler cannot appear there).
        """
        if self.box_mask is None:
            h, w = self.clip.height, self.clip.width
            keep = ~self.screen.exclude_mask(h, w)
            self.box_mask = (self.screen.box_mask(h, w) if self.screen.boxes else np.ones((h, w), bool)) & keep
        in_box = self.box_mask
        labels = np.where(roi_masks & in_box, LABEL_ROI, 0).astype(np.uint8)
        if self.screen.boxes:
            labels[~roi_masks & in_box] = LABEL_BOX_REST
        return labels


def _concat(parts: list[cuda_ops.FrameCounts]) -> cuda_ops.FrameCounts:
    """Counts of consecutive batches as one."""
    if len(parts) == 1:
        return parts[0]
    return cuda_ops.FrameCounts(
        pixels=np.concatenate([p.pixels for p in parts]),
        doppler=np.concatenate([p.doppler for p in parts]),
        value_sum=np.concatenate([p.value_sum for p in parts]),
        value_sq_sum=np.concatenate([p.value_sq_sum for p in parts]),
        backend=parts[-1].backend,
        device=parts[-1].device,
        fallback=next((p.fallback for p in parts if p.fallback), None),
    )


def _doppler_mask(frame, labels, lut, backend, device) -> np.ndarray:
    """The counted Doppler pixels of one frame inside the ROI, ``(H, W) bool``."""
    one = cuda_ops.count_doppler(frame[None], labels[None], lut, backend=backend, device=device, mask_frames=(0,))
    return one.masks[0] & (labels == LABEL_ROI)


def _fraction(doppler: int, pixels: int) -> float | None:
    return None if pixels == 0 else int(doppler) / int(pixels)


def _frame_measures(counts: cuda_ops.FrameCounts) -> list[FrameMeasure]:
    return [
        FrameMeasure(
            index=i,
            colour_fraction=_fraction(counts.doppler[i, LABEL_ROI], counts.pixels[i, LABEL_ROI]),
            doppler_px=int(counts.doppler[i, LABEL_ROI]),
            tendon_area_px=int(counts.pixels[i, LABEL_ROI]),
            flash=False,
        )
        for i in range(counts.num_frames)
    ]


def _warnings(screen: Screen, roi_mask: np.ndarray, fallback: str | None, model_roi: bool, why_uncalibrated):
    if why_uncalibrated is not None:
        yield "uncalibrated", f"{why_uncalibrated}: thickness_mm and area_mm2 are null"
    if screen.mode == "none":
        yield "no_doppler_mode", "no Doppler colour was found in the image area: the colour fraction counts nothing"
    if model_roi and not roi_mask.any():
        yield "no_tendon_found", "the tendon model found no tendon on the selected frame"
    if fallback is not None:
        yield "backend_fallback", f"the preferred counting backend could not run: {fallback}"
