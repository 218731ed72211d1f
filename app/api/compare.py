"""``POST /v1/compare``: upload two studies of one tendon (before / after treatment), get a Comparison."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile

from app.compare import Comparison, Side, compare, side_error
from app.pipeline import RoiSpec
from app.schemas import Result

from .context import Audit, AuditRecord
from .problems import PROBLEM_RESPONSES
from .state import ServiceState, State
from .uploads import (
    FILE_HELP,
    REFERENCE_HELP,
    REFERENCE_PATTERN,
    Watch,
    Watched,
    grade_upload,
    read_roi,
    refuse_repeated,
)

router = APIRouter(prefix="/v1", tags=["comparison"])

_ROI_HELP = "Rectangle 'x0,y0,x1,y1' in pixels (half-open) on the {side} study; omit to use the tendon model"
# Every field of the form: none may be repeated
SINGLE_FIELDS = ("before", "after", "roi_before", "roi_after", "reference_before", "reference_after")


async def _side_roi(side: Side, roi: str | None, state: ServiceState) -> RoiSpec | None:
    """The side's rectangle, or None for the tendon model; errors name the side."""
    try:
        return await read_roi(roi, None, state)
    except Exception as exc:
        raise side_error(side, exc) from exc


async def _grade_side(
    side: Side,
    upload: UploadFile,
    roi: RoiSpec | None,
    state: ServiceState,
    reference: str | None,
    audit: AuditRecord,
    watch: Watch,
) -> Result:
    """Grade one upload in the service's worker pool, as ``POST /v1/grade`` does; errors name the side."""
    try:
        return await grade_upload(state, upload, roi, reference=reference, audit=audit, watch=watch)
    except Exception as exc:
        raise side_error(side, exc) from exc


@router.post(
    "/compare",
    response_model=Comparison,
    response_model_by_alias=True,
    responses=PROBLEM_RESPONSES,
    summary="Compare two studies of one tendon (before / after treatment)",
)
async def compare_studies(
    request: Request,
    state: State,
    audit: Audit,
    watch: Watched,
    before: Annotated[UploadFile, File(description=f"The earlier study: {FILE_HELP}")],
    after: Annotated[UploadFile, File(description=f"The later study: {FILE_HELP}")],
    roi_before: Annotated[str | None, Form(description=_ROI_HELP.format(side="before"))] = None,
    roi_after: Annotated[str | None, Form(description=_ROI_HELP.format(side="after"))] = None,
    reference_before: Annotated[str | None, Form(pattern=REFERENCE_PATTERN, description=REFERENCE_HELP)] = None,
    reference_after: Annotated[str | None, Form(pattern=REFERENCE_PATTERN, description=REFERENCE_HELP)] = None,
) -> Comparison:
    """Grade both uploads with the same settings and compare them.

    Errors are RFC 9457 problem+json with the failing upload's own ``code``; the detail starts with the
    side that failed (``before: ...`` or ``after: ...``). The after study is not graded when the before
    study fails. Both analyses share one time limit (NEOVASC_REQUEST_TIMEOUT_S). A field sent twice is refused.
    """
    refuse_repeated(await request.form(), SINGLE_FIELDS)
    region_before = await _side_roi("before", roi_before, state)  # both regions checked before any grading
    region_after = await _side_roi("after", roi_after, state)
    first = await _grade_side("before", before, region_before, state, reference_before, audit, watch)
    second = await _grade_side("after", after, region_after, state, reference_after, audit, watch)
    return compare(first, second)
