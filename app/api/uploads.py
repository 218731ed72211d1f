"""Grading an uploaded file in the service's worker pool: shared by ``/v1/grade`` and ``/v1/compare``."""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
from dataclasses import dataclass

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from app.errors import InvalidRequest, InvalidROI, NoTendonModel
from app.pipeline import AnalyzeOptions, RoiSpec, run_analysis
from app.pipeline.outputs import OutputRequest, VideoRecorder, render
from app.pipeline.roi import parse_hint
from app.pipeline.run import limits_from
from app.pipeline.tendon import Hint
from app.schemas import Result
from app.warning_codes import warning

from .context import AuditRecord
from .state import ServiceState

FILE_HELP = "DICOM file, video clip (MP4, MOV, AVI, MKV, WebM) or still image (PNG, JPEG, BMP, TIFF)"
RESULTS_PREFIX = "/v1/results"
# A caller's own label for an upload, echoed as the Result's `input`: short and plain, so it cannot smuggle
# text into logs or CSV files. It must not be a patient name or ID: use an accession pseudonym or a study code.
REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
REFERENCE_HELP = (
    "Your label for the upload, echoed as the Result's `input` (1-64 letters, digits, '.', '_', '-'; "
    "no patient names or IDs). Default: 'sha256:' and the first 16 hex digits of the upload's sha256"
)
MAX_FRAME_NUMBER = 10_000_000  # bound on `every` and `max_frames`: far above NEOVASC_MAX_FRAMES, far below int64
_MAX_COORDINATE_DIGITS = 8  # pixel coordinates; a frame is at most NEOVASC_MAX_FRAME_PIXELS (default 4096 x 4096)
_MAX_GEOMETRY_TEXT = 1000  # characters in `roi`, `roi_hint` or `tendon_point`


def check_geometry_text(field: str, text: str | None) -> None:
    """Refuse coordinate text that is too long or holds a huge number, before it is parsed.

    Python parses a 5,000-digit number happily and then fails far downstream (numpy overflows); the
    message never repeats the text.
    """
    if text is None:
        return
    if len(text) > _MAX_GEOMETRY_TEXT:
        raise InvalidROI(f"'{field}' is {len(text)} characters long; send at most {_MAX_GEOMETRY_TEXT}")
    longest = max((len(run) for run in re.findall(r"\d+", text)), default=0)
    if longest > _MAX_COORDINATE_DIGITS:
        raise InvalidROI(
            f"'{field}' holds a number of {longest} digits; pixel coordinates have at most {_MAX_COORDINATE_DIGITS}"
        )


async def read_roi(roi: str | None, roi_mask: UploadFile | None, state: ServiceState) -> RoiSpec | None:
    """The region from the form fields, or None for the tendon model (refused when the model failed to load)."""
    if roi and roi_mask is not None:
        raise InvalidRequest("send either 'roi' or 'roi_mask', not both")
    if roi:
        check_geometry_text("roi", roi)
        return RoiSpec.from_text(roi)
    if roi_mask is not None:  # decoding a large PNG takes seconds: off the event loop
        return await run_in_threadpool(RoiSpec.from_mask_image, await roi_mask.read(), limits_from(state.settings))
    if state.model_error is not None:
        raise NoTendonModel(f"{state.model_error.message}; send a 'roi' form field meanwhile")
    return None


def read_hint(box: str | None, points: str | None, roi: RoiSpec | None) -> Hint | None:
    """The model's hint from the form fields; refused beside a drawn region, which leaves the model out."""
    check_geometry_text("roi_hint", box)
    check_geometry_text("tendon_point", points)
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
    *,
    reference: str | None = None,
    audit: AuditRecord | None = None,
) -> Result:
    """Read the upload and grade it in the worker pool, on the service's device and backend.

    ``outputs``: files to render into the result store (overlays, DICOM SR and SC); the Result then
    carries their ``id`` and ``links``, served to the same API key only. The Result's ``input`` is
    ``reference``, else ``sha256:<16 hex>`` of the content: the upload's file name is never used, as
    exported names often hold the patient's name or record number. ``audit`` receives the full sha256.
    """
    audit = audit or AuditRecord()
    data = await file.read()
    digest = await run_in_threadpool(_sha256, data)
    audit.inputs_sha256.append(digest)
    options = AnalyzeOptions(roi=roi, hint=hint, device=state.device, every=every, max_frames=max_frames)
    name = reference or f"sha256:{digest[:16]}"
    stored = _Stored(outputs or OutputRequest(), audit.key)
    return await state.run(_grade, state, data, options, name, stored)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class _Stored:
    """Which files to render, and the API key (name) the stored files will belong to."""

    request: OutputRequest
    owner: str | None


def _grade(state: ServiceState, data: bytes, options: AnalyzeOptions, name: str, stored: _Stored) -> Result:
    """Grade, render the outputs asked for and keep them in the store (runs in the worker pool)."""
    request = stored.request
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
    key = state.store.put(rendered.files, owner=stored.owner)
    if key is None:
        if rendered.files:
            message = "the overlays are larger than NEOVASC_RESULT_STORE_MB and were not kept"
            result.warnings.append(warning("overlays_not_stored", message))
        return result
    result.id = key
    result.links = {name: f"{RESULTS_PREFIX}/{key}/{name}" for name in rendered.files}
    return result
