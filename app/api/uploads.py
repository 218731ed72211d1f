"""Grading an uploaded file in the service's worker pool: shared by ``/v1/grade`` and ``/v1/compare``."""

from __future__ import annotations

import contextlib
import io

from fastapi import UploadFile

from app.errors import InvalidRequest, NoTendonModel
from app.pipeline import AnalyzeOptions, RoiSpec, run_analysis
from app.pipeline.outputs import OutputRequest, VideoRecorder, render
from app.pipeline.roi import parse_hint
from app.pipeline.run import limits_from
from app.pipeline.tendon import Hint
from app.schemas import Result
from app.warning_codes import warning

from .state import ServiceState

FILE_HELP = "DICOM file, video clip (MP4, MOV, AVI, MKV, WebM) or still image (PNG, JPEG, BMP, TIFF)"
RESULTS_PREFIX = "/v1/results"


async def read_roi(roi: str | None, roi_mask: UploadFile | None, state: ServiceState) -> RoiSpec | None:
    """The region from the form fields, or None for the tendon model (refused when the model failed to load)."""
    if roi and roi_mask is not None:
        raise InvalidRequest("send either 'roi' or 'roi_mask', not both")
    if roi:
        return RoiSpec.from_text(roi)
    if roi_mask is not None:
        return RoiSpec.from_mask_image(await roi_mask.read(), limits_from(state.settings))
    if state.model_error is not None:
        raise NoTendonModel(f"{state.model_error.message}; send a 'roi' form field meanwhile")
    return None


def read_hint(box: str | None, points: str | None, roi: RoiSpec | None) -> Hint | None:
    """The model's hint from the form fields; refused beside a drawn region, which leaves the model out."""
    hint = parse_hint(box, points)
    if hint is not None and roi is not None:
        raise InvalidRequest("'roi_hint' and 'tendon_point' guide the tendon model: leave out 'roi' and 'roi_mask'")
    return hint


async def grade_upload(
    state: ServiceState,
    file: UploadFile,
    roi: RoiSpec | None,
    every: int = 1,
    max_frames: int | None = None,
    outputs: OutputRequest | None = None,
    hint: Hint | None = None,
) -> Result:
    """Read the upload and grade it in the worker pool, on the service's device and backend.

    ``outputs``: files to render into the result store (overlays, DICOM SR and SC); the Result then
    carries their ``id`` and ``links``.
    """
    data = await file.read()
    options = AnalyzeOptions(roi=roi, hint=hint, device=state.device, every=every, max_frames=max_frames)
    name = file.filename or "upload"
    return await state.run(_grade, state, data, options, name, outputs or OutputRequest())


def _grade(state: ServiceState, data: bytes, options: AnalyzeOptions, name: str, request: OutputRequest) -> Result:
    """Grade, render the outputs asked for and keep them in the store (runs in the worker pool)."""
    segmenter = None if options.roi is not None else state.segmenter
    if not (request.overlays or request.dicom):
        return run_analysis(data, options, segmenter, state.settings, name=name).result
    video = VideoRecorder(io.BytesIO(), max_bytes=state.store.max_bytes) if request.overlays else None
    with video or contextlib.nullcontext():
        analysis = run_analysis(data, options, segmenter, state.settings, name=name, observer=video)
    rendered = render(analysis, request, video)
    result = analysis.result
    result.warnings.extend(rendered.warnings)
    if video is not None and video.too_large:
        message = "the overlay video grew larger than NEOVASC_RESULT_STORE_MB and was dropped; sample the clip"
        result.warnings.append(warning("overlays_not_stored", message))
    key = state.store.put(rendered.files)
    if key is None:
        if rendered.files:
            message = "the overlays are larger than NEOVASC_RESULT_STORE_MB and were not kept"
            result.warnings.append(warning("overlays_not_stored", message))
        return result
    result.id = key
    result.links = {name: f"{RESULTS_PREFIX}/{key}/{name}" for name in rendered.files}
    return result
