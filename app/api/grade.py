"""``POST /v1/grade``: upload one image or clip (and optionally a ROI), get a Result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from app.errors import InvalidRequest, NoTendonModel
from app.pipeline import AnalyzeOptions, RoiSpec, analyze
from app.pipeline.run import limits_from
from app.schemas import Result

from .problems import PROBLEM_RESPONSES
from .state import ServiceState, State

router = APIRouter(prefix="/v1", tags=["grading"])


async def _roi(roi: str | None, roi_mask: UploadFile | None, state: ServiceState) -> RoiSpec | None:
    if roi and roi_mask is not None:
        raise InvalidRequest("send either 'roi' or 'roi_mask', not both")
    if roi:
        return RoiSpec.from_text(roi)
    if roi_mask is not None:
        return RoiSpec.from_mask_image(await roi_mask.read(), limits_from(state.settings))
    return None


@router.post(
    "/grade",
    response_model=Result,
    response_model_by_alias=True,
    responses=PROBLEM_RESPONSES,
    summary="Grade one Doppler image or clip",
)
async def grade(
    state: State,
    file: Annotated[
        UploadFile,
        File(description="DICOM file, video clip (MP4, MOV, AVI, MKV, WebM) or still image (PNG, JPEG, BMP, TIFF)"),
    ],
    roi: Annotated[
        str | None, Form(description="Rectangle 'x0,y0,x1,y1' in pixels (half-open); omit to use the tendon model")
    ] = None,
    roi_mask: Annotated[UploadFile | None, File(description="Mask image, non-zero = ROI")] = None,
) -> Result:
    """Grade the upload. Errors are RFC 9457 problem+json with a stable ``code``."""
    roi_spec = await _roi(roi, roi_mask, state)
    if roi_spec is None and state.model_error is not None:
        raise NoTendonModel(f"{state.model_error.message}; send a 'roi' form field meanwhile")
    data = await file.read()
    options = AnalyzeOptions(roi=roi_spec, device=state.settings.device, backend=state.settings.backend)
    segmenter = None if roi_spec is not None else state.segmenter
    return await state.run(analyze, data, options, segmenter, state.settings, name=file.filename or "upload")
