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
from app.errors import BackendUnavailable, NoTendonModel
from app.schemas import FrameMeasure, ModelInfo, Result, Roi

from .decode import Clip, Limits, Source, decode
from .device import resolve_device
from .grade import Grading, GradingConfig, grade_frame, select_frame
from .report import bbox, build_result
from .roi import RoiSpec
from .screen import Screen, find_screen

LABEL_ROI = 1  # tendon / user ROI inside the Doppler box: the colour fraction's denominator
LABEL_BOX_REST = 3  # the rest of the Doppler box


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
    """Grade one input (path, bytes, RGB array or Clip). Raises :class:`app.errors.NeovascError` subclasses."""
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
    warnings: list[tuple[str, str]] = []
    with timer.step("decode"):
        clip = decode(source, limits_from(settings), name)
    if options.roi is None and segmenter is None:
        raise NoTendonModel(
            "no tendon model is installed and no region of interest was given; pass --roi x0,y0,x1,y1 "
            "or --roi-mask MASK.png (HTTP: form field 'roi')"
        )
    with timer.step("screen"):
        screen = find_screen(clip.frames, settings.chroma_threshold)
    with timer.step("segment"):
        roi_masks, roi_kind = _roi_masks(clip, options.roi, segmenter)  # (N|1, H, W) bool
    with timer.step("count"):
        counts, measures, doppler_mask, selected = _count(clip, screen, roi_masks, settings, options.backend, device)
    with timer.step("grade"):
        grading = grade_frame(
            selected,
            int(counts.doppler[selected, LABEL_ROI]),
            int(counts.pixels[selected, LABEL_ROI]),
            doppler_mask,
            GradingConfig(min_vessel_px=settings.min_vessel_px, headline_scale=settings.grade_scale),
        )
    roi_mask = roi_masks[selected if roi_masks.shape[0] > 1 else 0]
    warnings += _warnings(clip, screen, roi_mask, counts.fallback, options.roi is None)
    roi = Roi(
        source="user" if options.roi is not None else "model",
        kind=roi_kind,
        bbox=bbox(roi_mask),
        area_px=int(roi_mask.sum()),
    )
    model = None if options.roi is not None else ModelInfo(name=segmenter.name, sha256=segmenter.sha256)
    result = build_result(
        clip, screen, roi, measures, grading,
        warnings=warnings, device=counts.device, backend=counts.backend, model=model, timing_ms=timer.ms,
    )  # fmt: skip
    return Analysis(
        result=result, frame=clip.frames[selected], roi_mask=roi_mask, doppler_mask=doppler_mask, grading=grading
    )


def _roi_masks(clip: Clip, roi: RoiSpec | None, segmenter: Segmenter | None) -> tuple[np.ndarray, str]:
    if roi is not None:
        return roi.to_mask(clip.height, clip.width)[None], roi.kind
    masks = np.asarray(segmenter.predict(clip.frames), dtype=bool)
    if masks.shape != clip.frames.shape[:3]:
        raise RuntimeError(f"segmenter returned masks of shape {masks.shape} for frames {clip.frames.shape}")
    return masks, "segmentation"


def _labels(roi_masks: np.ndarray, screen: Screen) -> np.ndarray:
    """Label map ``(N|1, H, W) uint8``: the ROI inside the Doppler box, and the rest of the box."""
    if screen.doppler_box is None:
        return roi_masks.astype(np.uint8) * LABEL_ROI
    x0, y0, x1, y1 = screen.doppler_box
    in_box = np.zeros(roi_masks.shape[1:], dtype=bool)
    in_box[y0:y1, x0:x1] = True
    labels = np.where(roi_masks & in_box, LABEL_ROI, 0).astype(np.uint8)
    labels[~roi_masks & in_box] = LABEL_BOX_REST
    return labels


def _count(clip, screen, roi_masks, settings, backend, device):
    """Counts for every frame, then the Doppler mask (inside the ROI) of the selected frame."""
    lut = cuda_ops.chroma_lut(settings.chroma_threshold)
    labels = _labels(roi_masks, screen)  # (N|1, H, W) uint8
    single = clip.frames.shape[0] == 1
    try:
        counts = cuda_ops.count_doppler(
            clip.frames, labels, lut, backend=backend, device=device, mask_frames=(0,) if single else ()
        )
        measures = _frame_measures(counts)
        selected = select_frame([m.colour_fraction for m in measures], [m.flash for m in measures])
        frame_labels = labels[selected if labels.shape[0] > 1 else 0]  # (H, W)
        if single:
            mask = counts.masks[0]
        else:  # a second pass over one frame is cheaper than keeping every frame's mask
            frame = clip.frames[selected : selected + 1]
            one = cuda_ops.count_doppler(
                frame, frame_labels[None], lut, backend=backend, device=device, mask_frames=(0,)
            )
            mask = one.masks[0]
    except cuda_ops.BackendUnavailable as exc:
        raise BackendUnavailable(str(exc)) from exc
    return counts, measures, mask & (frame_labels == LABEL_ROI), selected


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


def _warnings(clip: Clip, screen: Screen, roi_mask: np.ndarray, fallback: str | None, model_roi: bool):
    if clip.calibration is None:
        yield "uncalibrated", "no physical pixel size in the input: thickness_mm and area_mm2 are null"
    if screen.mode == "none":
        yield "no_doppler_mode", "no Doppler colour found on the screen: the colour fraction is 0 by construction"
    if model_roi and not roi_mask.any():
        yield "no_tendon_found", "the tendon model found no tendon on the selected frame"
    if fallback is not None:
        yield "backend_fallback", f"the preferred counting backend could not run: {fallback}"
