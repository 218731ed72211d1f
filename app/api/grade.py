"""``POST /v1/grade``: upload one image or clip (and optionally a ROI), get a Result."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from app.errors import InvalidRequest, NoTendonModel
from app.pipeline import AnalyzeOptions, RoiSpec, analyze, run_analysis
from app.pipeline.artifacts import VideoRecorder, curve_image, overlay_image, png_bytes
from app.pipeline.run import limits_from
from app.schemas import Result, WarningInfo

from .problems import PROBLEM_RESPONSES
from .state import ServiceState, State

router = APIRouter(prefix="/v1", tags=["grading"])

FILE_HELP = "DICOM file, video clip (MP4, MOV, AVI, MKV, WebM) or still image (PNG, JPEG, BMP, TIFF)"


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


async def grade_upload(
    state: ServiceState,
    file: UploadFile,
    roi: RoiSpec | None,
    every: int = 1,
    max_frames: int | None = None,
    overlays: bool = False,
) -> Result:
    """Read the upload and grade it in the service's worker pool with the service's device and backend.

    ``overlays``: also render the overlay PNG (and, for clips, the curve PNG and the overlay MP4) into the
    result store; the Result then carries their ``id`` and ``links``.
    """
    data = await file.read()
    options = AnalyzeOptions(
        roi=roi, device=state.settings.device, backend=state.settings.backend, every=every, max_frames=max_frames
    )
    segmenter = None if roi is not None else state.segmenter
    name = file.filename or "upload"
    if not overlays:
        return await state.run(analyze, data, options, segmenter, state.settings, name=name)
    return await state.run(_with_overlays, state, data, options, segmenter, name)


def _with_overlays(state: ServiceState, data: bytes, options: AnalyzeOptions, segmenter, name: str) -> Result:
    """Grade, render the outputs and keep them in the store (runs in the worker pool)."""
    buffer = io.BytesIO()
    with VideoRecorder(buffer, max_bytes=state.store.max_bytes) as video:
        analysis = run_analysis(data, options, segmenter, state.settings, name=name, observer=video)
    files = {"overlay.png": png_bytes(overlay_image(analysis))}
    curve = curve_image(analysis)
    if curve is not None:
        files["curve.png"] = png_bytes(curve)
    if video.written:
        files["overlay.mp4"] = buffer.getvalue()
    result = analysis.result
    if video.too_large:
        message = "the overlay video grew larger than NEOVASC_RESULT_STORE_MB and was dropped; sample the clip"
        result.warnings.append(WarningInfo(code="overlays_not_stored", message=message))
    key = state.store.put(files)
    if key is None:
        message = "the overlays are larger than NEOVASC_RESULT_STORE_MB and were not kept"
        result.warnings.append(WarningInfo(code="overlays_not_stored", message=message))
        return result
    result.id = key
    result.links = {name: f"{router.prefix}/results/{key}/{name}" for name in files}
    return result


@router.post(
    "/grade",
    response_model=Result,
    response_model_by_alias=True,
    responses=PROBLEM_RESPONSES,
    summary="Grade one Doppler image or clip",
)
async def grade(
    state: State,
    file: Annotated[UploadFile, File(description=FILE_HELP)],
    roi: Annotated[
        str | None, Form(description="Rectangle 'x0,y0,x1,y1' in pixels (half-open); omit to use the tendon model")
    ] = None,
    roi_mask: Annotated[UploadFile | None, File(description="Mask image, non-zero = ROI")] = None,
    every: Annotated[int, Form(ge=1, description="Measure every N-th frame of a clip")] = 1,
    max_frames: Annotated[int | None, Form(ge=1, description="Measure at most this many evenly spaced frames")] = None,
    overlays: Annotated[
        bool, Form(description="Also render overlay.png (and curve.png, overlay.mp4 for clips): see `links`")
    ] = False,
) -> Result:
    """Grade the upload. Errors are RFC 9457 problem+json with a stable ``code``."""
    roi_spec = await read_roi(roi, roi_mask, state)
    return await grade_upload(state, file, roi_spec, every, max_frames, overlays)
