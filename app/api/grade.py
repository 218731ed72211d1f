"""``POST /v1/grade``: upload one image or clip (and optionally a ROI), get a Result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from app.pipeline.outputs import OutputRequest
from app.schemas import Result

from .context import Audit
from .problems import PROBLEM_RESPONSES
from .state import State
from .uploads import (
    FILE_HELP,
    MAX_FRAME_NUMBER,
    REFERENCE_HELP,
    REFERENCE_PATTERN,
    GradeRequest,
    Watched,
    grade_upload,
    read_hint,
    read_roi,
    refuse_repeated,
)

router = APIRouter(prefix="/v1", tags=["grading"])


# Every field of the form but `tendon_point`, which may be repeated (one point or more per field, as --tendon-point)
SINGLE_FIELDS = ("file", "roi", "roi_mask", "roi_hint", "every", "max_frames", "reference", "overlays", "dicom_report")


async def grade_form(
    request: Request,
    state: State,
    file: Annotated[UploadFile, File(description=FILE_HELP)],
    roi: Annotated[
        str | None, Form(description="Rectangle 'x0,y0,x1,y1' in pixels (half-open); omit to use the tendon model")
    ] = None,
    roi_mask: Annotated[UploadFile | None, File(description="Mask image, non-zero = ROI")] = None,
    roi_hint: Annotated[
        str | None, Form(description="Without roi: a rough box 'x0,y0,x1,y1' around the tendon for the model")
    ] = None,
    tendon_point: Annotated[
        list[str] | None,
        Form(description="Without roi: point(s) on the tendon for the model, 'x,y' or 'x,y;x,y'; may be repeated"),
    ] = None,
    every: Annotated[int, Form(ge=1, le=MAX_FRAME_NUMBER, description="Measure every N-th frame of a clip")] = 1,
    max_frames: Annotated[
        int | None, Form(ge=1, le=MAX_FRAME_NUMBER, description="Measure at most this many evenly spaced frames")
    ] = None,
    reference: Annotated[str | None, Form(pattern=REFERENCE_PATTERN, description=REFERENCE_HELP)] = None,
    overlays: Annotated[
        bool, Form(description="Also render overlay.png (and curve.png, overlay.mp4 for clips): see `links`")
    ] = False,
    dicom_report: Annotated[
        bool,
        Form(description="DICOM inputs: also make sr.dcm (TID 1500 report) and sc.dcm (overlay capture): see `links`"),
    ] = False,
) -> GradeRequest:
    """The form of ``POST /v1/grade`` and ``POST /v1/jobs``, its region and hint checked before any grading.

    A field other than ``tendon_point`` sent twice is refused, before a ``roi_mask`` is decoded.
    """
    refuse_repeated(await request.form(), SINGLE_FIELDS)
    roi_spec = await read_roi(roi, roi_mask, state)
    hint = read_hint(roi_hint, tendon_point, roi_spec)
    outputs = OutputRequest(overlays=overlays, dicom=dicom_report, screen=state.settings.overlay_screen)
    return GradeRequest(file, roi_spec, hint, every, max_frames, outputs, reference)


GradeForm = Annotated[GradeRequest, Depends(grade_form)]


@router.post(
    "/grade",
    response_model=Result,
    response_model_by_alias=True,
    responses=PROBLEM_RESPONSES,
    summary="Grade one Doppler image or clip",
)
async def grade(state: State, audit: Audit, watch: Watched, form: GradeForm) -> Result:
    """Grade the upload. Errors are RFC 9457 problem+json with a stable ``code``.

    The analysis stops after NEOVASC_REQUEST_TIMEOUT_S (504 ``request_timeout``) and when the client closes
    the connection; long clips are better sampled (``every``, ``max_frames``) or graded as a job.
    """
    return await grade_upload(
        state,
        form.file,
        form.roi,
        form.every,
        form.max_frames,
        form.outputs,
        form.hint,
        reference=form.reference,
        audit=audit,
        watch=watch,
    )
