"""``GET /v1/results/{id}/{name}``: the overlay PNG, curve PNG or overlay MP4 of a graded upload."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path
from fastapi.responses import Response

from .context import Audit
from .problems import PROBLEM_RESPONSES
from .state import State
from .store import MEDIA_TYPES

router = APIRouter(prefix="/v1", tags=["results"])

Name = Literal["overlay.png", "curve.png", "overlay.mp4", "sr.dcm", "sc.dcm"]


@router.get(
    "/results/{result_id}/{name}",
    responses={
        **PROBLEM_RESPONSES,
        200: {"content": {media: {} for media in sorted(set(MEDIA_TYPES.values()))}, "description": "The file"},
    },
    response_class=Response,
    summary="A rendered output of a graded upload (POST /v1/grade with overlays=true or dicom_report=true)",
)
async def result_file(
    state: State,
    audit: Audit,
    result_id: Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="`id` of the Result")],
    name: Annotated[
        Name, Path(description="overlay.png, curve.png (clips), overlay.mp4 (clips), sr.dcm or sc.dcm (DICOM report)")
    ],
) -> Response:
    """The file, to the API key that graded the upload only; results expire after NEOVASC_RESULT_TTL_S."""
    return Response(state.store.get(result_id, name, owner=audit.key), media_type=MEDIA_TYPES[name])
