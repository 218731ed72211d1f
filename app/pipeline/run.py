"""``analyze``: the one place that runs the pipeline, each step a call with typed inputs and outputs.

decode -> screen + region + count (one pass over the frames: :func:`scan_clip`) -> select -> grade ->
Result. The HTTP API, the command line and Python callers all come through here; none re-implements
a step. Device and counting backend are resolved once here and given to the tendon model and the
counter alike.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import cuda_ops
from app import __version__
from app.config import Settings, get_settings
from app.errors import BackendUnavailable, UsageError
from app.pipeline.cancel import Progress, StopFlag
from app.pipeline.decode import Clip, Limits, Source, decode
from app.pipeline.decode.base import sampling_step
from app.pipeline.device import resolve_device
from app.pipeline.grading.quality import Facts, facts_of, warnings_for
from app.pipeline.grading.scales import Grading
from app.pipeline.grading.summary import GradeParams, grade_selected, summarise
from app.pipeline.measure.labels import RegionFinder
from app.pipeline.measure.scan import (
    Candidate,
    Counter,
    Observer,
    Scan,
    ScanParams,
    classified,
    frame_again,
    scan_clip,
)
from app.pipeline.measure.selection import Selection, select
from app.pipeline.report import calibration_section, doppler_section, roi_section, source_facts
from app.pipeline.roi import RoiSpec
from app.pipeline.segmenter import Segmenter, tendon_model
from app.pipeline.tendon import Hint, OutlineReport, TendonRegions, outline_warnings
from app.pipeline.timing import Timer
from app.schemas import ModelInfo, Result
from app.warning_codes import warning

__all__ = ["Analysis", "AnalyzeOptions", "Segmenter", "analyze", "limits_from", "run_analysis"]


@dataclass(frozen=True)
class AnalyzeOptions:
    """Per-call options.

    Attributes:
        roi: a user-drawn region; without it the tendon model outlines the tendon (one outline per clip).
        hint: without ``roi``, a rough box or points on the tendon that choose the model's region.
        device, backend: where and how to count and segment; None takes ``settings.device`` /
            ``settings.backend`` (``NEOVASC_DEVICE``, ``NEOVASC_BACKEND``), ``"auto"`` picks CUDA when present.
        every: measure every ``every``-th frame of a clip (1: all).
        max_frames: measure at most this many frames, evenly spaced (widens ``every``); None: no cap.
    """

    roi: RoiSpec | None = None
    hint: Hint | None = None
    device: str | None = None
    backend: str | None = None
    every: int = 1
    max_frames: int | None = None

    def __post_init__(self) -> None:
        _check_frame_number("every", self.every)
        if self.max_frames is not None:
            _check_frame_number("max_frames", self.max_frames)


def _check_frame_number(name: str, value: object) -> None:
    """Raise :class:`UsageError` unless ``value`` is a whole number >= 1 (not a bool), as the command line and
    the HTTP form ask: 0 or less would otherwise measure every frame, unseen."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise UsageError(f"{name} must be a whole number >= 1, got {value!r:.40}")


@dataclass(frozen=True, eq=False)
class Analysis:
    """A Result with the arrays behind it, for the outputs (masks, overlays, DICOM SR and SC)."""

    result: Result
    frame: np.ndarray  # (H, W, 3) uint8 RGB, the selected frame
    roi_mask: np.ndarray  # (H, W) bool, the whole ROI / tendon on the selected frame
    doppler_mask: np.ndarray  # (H, W) bool, counted Doppler pixels inside the tendon on the selected frame
    grading: Grading
    band_mask: np.ndarray | None = None  # (H, W) bool, the peritendinous band inside the box
    box_mask: np.ndarray | None = None  # (H, W) bool, where Doppler is counted; None without a located box
    dicom_header: Any = None  # the DICOM input's header (no pixel data), for the DICOM outputs only


def limits_from(settings: Settings) -> Limits:
    return Limits(
        max_bytes=settings.max_upload_bytes,
        max_frame_pixels=settings.max_frame_pixels,
        max_frames=settings.max_frames,
        max_total_pixels=settings.max_total_pixels,
        max_decoded_bytes=settings.max_decoded_bytes,
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

    Without ``options.roi`` the tendon is found by ``segmenter``, by default the model of
    ``settings.weights_dir`` on the analysis' device (loaded once per process).
    """
    return run_analysis(source, options, segmenter, settings, name=name).result


def run_analysis(
    source: Source,
    options: AnalyzeOptions | None = None,
    segmenter: Segmenter | None = None,
    settings: Settings | None = None,
    *,
    name: str | None = None,
    observer: Observer | None = None,
    stop: StopFlag | None = None,
    progress: Progress | None = None,
) -> Analysis:
    """As :func:`analyze`, also returning the selected frame and its masks.

    ``observer`` is called with every counted :class:`~app.pipeline.measure.scan.Batch` (e.g. to render
    an overlay video while the clip streams by). ``stop`` is checked before decoding and between batches,
    and raises its reason (a time limit, a cancellation); ``progress`` hears ``(frames measured, frames to
    measure)`` after each batch. The total-pixel limit counts the frames that ``every`` / ``max_frames`` keep.
    """
    settings = settings or get_settings()
    options = options or AnalyzeOptions()
    device = resolve_device(options.device or settings.device)
    timer = Timer()
    if stop is not None:
        stop.check()  # a request that timed out or was cancelled while it waited for a worker
    limits = replace(limits_from(settings), every=options.every, max_measured=options.max_frames)
    with timer.step("decode"):
        clip = decode(source, limits, name)
    if options.roi is None and segmenter is None:
        segmenter = tendon_model(settings.weights_dir, device, settings.model_runtime)
    regions = _region_finder(options, segmenter, clip)
    counter = Counter(options.backend or settings.backend, device)
    params = ScanParams(
        band_mm=settings.band_mm,
        band_px=settings.band_px,
        step=sampling_step(clip.num_frames, options.every, options.max_frames),
        drawn=options.roi.rect if options.roi is not None else None,
        colour_rule=settings.colour_rule,
        chroma_threshold=settings.chroma_threshold,
    )
    try:
        scan = scan_clip(clip, regions, counter, params, timer, observer, stop=stop, progress=progress)
        with timer.step("select"):
            selection = select(scan)
            kept = scan.candidates.get(selection.index)
            chosen = classified(kept or frame_again(clip, selection.index, regions, scan.setup), scan.setup.rule)
    except cuda_ops.BackendUnavailable as exc:
        raise BackendUnavailable(str(exc)) from exc
    with timer.step("grade"):
        region = _RegionUsed.of(options.roi, segmenter, regions)
        analysis = _grade(clip, scan, selection, chosen, region, settings)
    analysis.result.timing_ms.update(timer.rounded())
    return analysis


def _region_finder(options: AnalyzeOptions, segmenter: Segmenter | None, clip: Clip) -> RegionFinder:
    """The drawn region, or the model's tendon inside the picture; the region or hint checked against the frame
    size."""
    if options.roi is not None:
        mask = options.roi.to_mask(clip.height, clip.width)[None]  # (1, H, W): the same region on every frame
        return lambda frames, area: mask
    if options.hint is not None:
        options.hint.check_fits(clip.height, clip.width)
    # inside the ultrasound picture only: text, legends and panels around it hold no tendon
    return TendonRegions(segmenter, options.hint)


@dataclass(frozen=True)
class _RegionUsed:
    """What measured the region: a drawn one, or the model (which one, and how its outline came about)."""

    drawn: RoiSpec | None
    model: ModelInfo | None
    outline: OutlineReport | None

    @classmethod
    def of(cls, roi: RoiSpec | None, segmenter: Segmenter | None, regions: RegionFinder) -> _RegionUsed:
        if roi is not None:
            return cls(roi, None, None)
        outline = regions.report() if isinstance(regions, TendonRegions) else None
        return cls(None, ModelInfo(name=segmenter.name, sha256=segmenter.sha256), outline)


def _grade(
    clip: Clip, scan: Scan, selection: Selection, chosen: Candidate, region: _RegionUsed, settings: Settings
) -> Analysis:
    """Grades, Summary, warnings and the Result of the chosen frame."""
    setup, roi = scan.setup, region.drawn
    params = GradeParams(
        settings.min_vessel_px,
        settings.min_vessel_mm2,
        settings.grade_scale,
        vessel_gap_px=settings.vessel_gap_px,
        vessel_gap_mm=settings.vessel_gap_mm,
    )
    grading = grade_selected(scan, selection, chosen, params)
    summary = summarise(scan, selection, chosen, grading, tendon_shape=roi is None or roi.kind != "rectangle")
    outline = region.outline
    absent = outline.presence if outline is not None and outline.absent else None
    facts = facts_of(
        scan,
        selection,
        chosen,
        model_roi=roi is None,
        chroma_threshold=settings.chroma_threshold,
        absent_presence=absent,
        largest_vessel_px=grading.largest_vessel_px,
    )
    result = Result(
        input=clip.name,
        ok=True,
        summary=summary,
        frames=selection.measures,
        roi=roi_section(chosen.roi, None if roi is None else roi.kind, outline),
        doppler=doppler_section(setup.screen),
        calibration=calibration_section(setup.calibration),
        source=source_facts(clip),
        warnings=[warning(code, message) for code, message in _warnings(facts, outline)],
        device=scan.counts.device,
        backend=scan.counts.backend,
        model=region.model,
        version=__version__,
    )
    return Analysis(
        result=result,
        frame=chosen.frame,
        roi_mask=chosen.roi,
        doppler_mask=chosen.doppler,
        grading=grading,
        band_mask=chosen.band & setup.in_box,
        box_mask=setup.in_box if setup.screen.boxes else None,
        dicom_header=clip.header,
    )


def _warnings(facts: Facts, outline: OutlineReport | None) -> Iterator[tuple[str, str]]:
    """The quality warnings, then those of the model's outline (when it found one)."""
    yield from warnings_for(facts)
    if outline is not None and facts.roi_px != 0:
        yield from outline_warnings(outline)
