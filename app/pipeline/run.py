"""``analyze``: the one place that runs the pipeline steps in order.

decode -> screen -> ROI (user) or segment (model) -> count -> grade -> report. The HTTP API, the command
line and Python callers all come through here; none re-implements a step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

import cuda_ops
from app.config import Settings, get_settings
from app.errors import BackendUnavailable
from app.schemas import FrameMeasure, ModelInfo, Result, Roi

from .decode import Calibration, Limits, Source, decode
from .device import resolve_device
from .grade import Grading, GradingConfig, grade_frame
from .labels import LABEL_BAND, LABEL_TENDON
from .measure import area_mm2, thickness_mm, vessel_min_px, weighted
from .quality import Facts, doppler_outside_boxes, warnings_for
from .report import Extras, bbox, build_result
from .roi import RoiSpec
from .scan import Batch, Scan, Segmenter, box_fractions, frame_step, label_fractions
from .screen import Screen
from .selection import clip_stats, flash_frames, select_frame

__all__ = ["Analysis", "AnalyzeOptions", "Segmenter", "analyze", "limits_from", "run_analysis"]


@dataclass(frozen=True)
class AnalyzeOptions:
    """Per-call options.

    Attributes:
        roi: a user-drawn region; without it the tendon model draws one on every frame.
        device, backend: where and how to count (``auto`` by default).
        every: measure every ``every``-th frame of a clip (1: all).
        max_frames: measure at most this many frames, evenly spaced (widens ``every``); None: no cap.
    """

    roi: RoiSpec | None = None
    device: str = "auto"
    backend: str = "auto"
    every: int = 1
    max_frames: int | None = None


@dataclass(frozen=True, eq=False)
class Analysis:
    """A Result with the arrays behind it (for masks, overlays and DICOM outputs)."""

    result: Result
    frame: np.ndarray  # (H, W, 3) uint8 RGB, the selected frame
    roi_mask: np.ndarray  # (H, W) bool, the whole ROI / tendon on the selected frame
    doppler_mask: np.ndarray  # (H, W) bool, counted Doppler pixels inside the tendon on the selected frame
    grading: Grading
    band_mask: np.ndarray | None = None  # (H, W) bool, the peritendinous band inside the box
    box_mask: np.ndarray | None = None  # (H, W) bool, where Doppler is counted; None without a located box


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
    observer: Callable[[Batch], None] | None = None,
) -> Analysis:
    """As :func:`analyze`, also returning the selected frame and its masks.

    ``observer`` is called with every counted :class:`~app.pipeline.scan.Batch` (e.g. to render an
    overlay video while the clip streams by).
    """
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
    step = frame_step(clip.num_frames, options.every, options.max_frames)
    scan = Scan(
        clip, options.roi, segmenter, settings,
        backend=options.backend, device=device, step=step, timer=timer, observer=observer,
    )  # fmt: skip
    try:
        scan.run()
        with timer.step("count"):
            measures, flash, chosen = _select(scan)
            frame, roi_mask, band_mask, labels = scan.frame_and_regions(int(scan.indices[chosen]))
            doppler_mask = _doppler_mask(frame, labels, scan, options.backend, device)
    except cuda_ops.BackendUnavailable as exc:
        raise BackendUnavailable(str(exc)) from exc
    with timer.step("grade"):
        analysis = _grade(scan, options, segmenter, measures, flash, chosen, frame, roi_mask, band_mask, doppler_mask)
    analysis.result.timing_ms.update({k: round(v, 3) for k, v in timer.ms.items()})
    return analysis


def _select(scan: Scan) -> tuple[list[FrameMeasure], list[bool], int]:
    """Per-frame measures, flash flags and the position (in ``scan.indices``) of the selected frame."""
    counts = scan.counts
    tendon, band = label_fractions(counts, LABEL_TENDON), label_fractions(counts, LABEL_BAND)
    box = box_fractions(counts)
    flash = flash_frames(box)
    measures = [
        FrameMeasure(
            index=int(scan.indices[i]),
            colour_fraction=tendon[i],
            doppler_px=int(counts.doppler[i, LABEL_TENDON]),
            tendon_area_px=int(counts.pixels[i, LABEL_TENDON]),
            flash=flash[i],
            box_colour_fraction=box[i],
            band_colour_fraction=band[i],
        )
        for i in range(counts.num_frames)
    ]
    return measures, flash, select_frame(tendon, flash)


def _doppler_mask(frame: np.ndarray, labels: np.ndarray, scan: Scan, backend: str, device: str) -> np.ndarray:
    """The counted Doppler pixels of one frame inside the tendon, ``(H, W) bool``."""
    one = cuda_ops.count_doppler(frame[None], labels[None], scan.lut, backend=backend, device=device, mask_frames=(0,))
    return one.masks[0] & (labels == LABEL_TENDON)


def _grade(scan, options, segmenter, measures, flash, chosen, frame, roi_mask, band_mask, doppler_mask) -> Analysis:
    settings, screen, counts, calibration = scan.settings, scan.screen, scan.counts, scan.calibration
    min_px = vessel_min_px(calibration, settings.min_vessel_mm2, settings.min_vessel_px)
    grading = grade_frame(
        int(scan.indices[chosen]),
        int(counts.doppler[chosen, LABEL_TENDON]),
        int(counts.pixels[chosen, LABEL_TENDON]),
        doppler_mask,
        GradingConfig(min_vessel_px=min_px, headline_scale=settings.grade_scale),
    )
    outside, outside_px = doppler_outside_boxes(frame, scan.keep, scan.in_box, settings.chroma_threshold)
    facts = Facts(
        screen=screen,
        model_roi=options.roi is None,
        roi_px=int(roi_mask.sum()),
        roi_outside_box_px=int((roi_mask & ~scan.in_box).sum()),
        denominator_px=grading.area_px,
        box_fraction=measures[chosen].box_colour_fraction,
        doppler_outside_box_px=outside,
        outside_box_px=outside_px,
        calibration=calibration,
        why_uncalibrated=scan.why_uncalibrated,
        flash_rejected=sum(flash) if not all(flash) else 0,
        all_flash=len(flash) > 1 and all(flash),
        fallback=scan.fallback,
    )
    roi = Roi(
        source="user" if options.roi is not None else "model",
        kind=options.roi.kind if options.roi is not None else "segmentation",
        bbox=bbox(roi_mask),
        area_px=facts.roi_px,
    )
    model = None if options.roi is not None else ModelInfo(name=segmenter.name, sha256=segmenter.sha256)
    extras = _extras(scan, measures, flash, chosen, frame, roi, roi_mask, doppler_mask, grading, min_px)
    result = build_result(
        scan.clip, screen, roi, measures, grading, calibration, extras,
        warnings=warnings_for(facts), device=scan.counted_device, backend=scan.counted_backend, model=model,
    )  # fmt: skip
    return Analysis(
        result=result, frame=frame, roi_mask=roi_mask, doppler_mask=doppler_mask, grading=grading,
        band_mask=band_mask & scan.in_box, box_mask=scan.in_box if screen.boxes else None,
    )  # fmt: skip


def _extras(scan, measures, flash, chosen, frame, roi, roi_mask, doppler_mask, grading, min_px) -> Extras:
    """The Summary fields beyond the grades: clip statistics, band, physical and weighted measures."""
    counts, calibration, screen = scan.counts, scan.calibration, scan.screen
    stats = clip_stats([m.colour_fraction for m in measures], flash)
    tendon_shape = roi.kind != "rectangle"  # a drawn rectangle holds other tissue: no tendon thickness or area
    return Extras(
        stats=stats,
        band_doppler_px=int(counts.doppler[chosen, LABEL_BAND]),
        band_area_px=int(counts.pixels[chosen, LABEL_BAND]),
        band_colour_fraction=measures[chosen].band_colour_fraction,
        band_width_mm=scan.band.width_mm,
        band_width_px=scan.band.radius_x,
        vessel_min_px=min_px,
        thickness_mm=_physical(calibration, tendon_shape, lambda c: thickness_mm(roi_mask, c)),
        area_mm2=_physical(calibration, tendon_shape, lambda c: area_mm2(roi.area_px, c)),
        weighted=_weighted(screen, frame, doppler_mask, grading.area_px),
    )


def _physical(calibration: Calibration | None, applies: bool, measure: Callable[[Calibration], float | None]):
    return measure(calibration) if calibration is not None and applies else None


def _weighted(screen: Screen, frame: np.ndarray, doppler_mask: np.ndarray, area_px: int):
    return weighted(frame, doppler_mask, area_px, screen.colour_bars[0]) if screen.colour_bars else None
