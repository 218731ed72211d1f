"""Grading an uploaded file in the service's worker pool: shared by ``/v1/grade``, ``/v1/compare`` and ``/v1/jobs``."""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Annotated

from fastapi import Depends, Request, UploadFile
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from app.errors import InvalidRequest, InvalidROI, NoTendonModel
from app.pipeline import AnalyzeOptions, RoiSpec, run_analysis
from app.pipeline.cancel import Progress, StopFlag
from app.pipeline.outputs import OutputRequest, VideoRecorder, render
from app.pipeline.roi import parse_hint
from app.pipeline.run import limits_from
from app.pipeline.tendon import Hint
from app.schemas import Result
from app.warning_codes import warning

from .context import AuditRecord
from .job_queue import Job
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


def refuse_repeated(form: FormData, fields: Iterable[str]) -> None:
    """Refuse any of ``fields`` sent more than once: the framework would keep its last value and drop the
    others unseen (a second ``file`` graded instead of the first)."""
    for name in fields:
        if (count := len(form.getlist(name))) > 1:
            raise InvalidRequest(f"the form field '{name}' was sent {count} times; send it once")


def read_hint(box: str | None, points: list[str] | None, roi: RoiSpec | None) -> Hint | None:
    """The model's hint from the form fields (``tendon_point`` may be repeated, each field one point or
    several); refused beside a drawn region, which leaves the model out."""
    check_geometry_text("roi_hint", box)
    for text in points or []:
        check_geometry_text("tendon_point", text)
    hint = parse_hint(box, points)
    if hint is not None and roi is not None:
        raise InvalidRequest("'roi_hint' and 'tendon_point' guide the tendon model: leave out 'roi' and 'roi_mask'")
    return hint


@dataclass(frozen=True)
class Watch:
    """A request's stop flag (its time limit, NEOVASC_REQUEST_TIMEOUT_S) and how to tell that its client left."""

    stop: StopFlag
    disconnected: Callable[[], Awaitable[bool]] | None = None


def get_watch(request: Request) -> Watch:
    """The request's watch; its time limit starts once the body has been read."""
    return Watch(StopFlag(request.app.state.neovasc.settings.request_timeout_s), request.is_disconnected)


Watched = Annotated[Watch, Depends(get_watch)]


@dataclass(frozen=True)
class GradeRequest:
    """What ``POST /v1/grade`` and ``POST /v1/jobs`` ask: the upload, its region or hint, sampling and outputs."""

    file: UploadFile
    roi: RoiSpec | None = None
    hint: Hint | None = None
    every: int = 1
    max_frames: int | None = None
    outputs: OutputRequest = field(default_factory=OutputRequest)
    reference: str | None = None


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
    watch: Watch | None = None,
) -> Result:
    """Read the upload and grade it in the worker pool, on the service's device and backend.

    ``outputs``: files to render into the result store (overlays, DICOM SR and SC); the Result then
    carries their ``id`` and ``links``, served to the same API key only. The Result's ``input`` is
    ``reference``, else ``sha256:<16 hex>`` of the content: the upload's file name is never used, as
    exported names often hold the patient's name or record number. ``audit`` receives the full sha256.
    The upload is read by the worker, not here: uploads that wait for a worker stay in their spool files
    (on disk past 1 MB), not in memory. ``watch`` stops the analysis at its time limit or when the client
    leaves (default: the time limit only).
    """
    audit = audit or AuditRecord()
    watch = watch or Watch(StopFlag(state.settings.request_timeout_s))
    digest = await run_in_threadpool(_file_sha256, file.file)  # streamed from the spool: not held in memory
    audit.inputs_sha256.append(digest)
    options = AnalyzeOptions(roi=roi, hint=hint, device=state.device, every=every, max_frames=max_frames)
    work = _Work(options, reference or f"sha256:{digest[:16]}", _Stored(outputs or OutputRequest(), audit.key))
    return await state.run_stoppable(
        _grade_file, state, file.file, work, watch.stop, stop=watch.stop, disconnected=watch.disconnected
    )


async def submit_job(state: ServiceState, request: GradeRequest, audit: AuditRecord) -> Job:
    """Queue ``request`` as a job for the worker pool; ServiceBusy when NEOVASC_MAX_JOBS are queued or running.

    The upload is copied to an anonymous temporary file (the request's own spool is deleted when the
    request ends) and its sha256 goes to the audit line now.
    """
    state.jobs.check_room()
    spool, digest = await run_in_threadpool(_spool, request.file.file)
    audit.inputs_sha256.append(digest)
    try:
        job = state.jobs.add(audit.key, spool, StopFlag())
    except Exception:
        spool.close()
        raise
    options = AnalyzeOptions(
        roi=request.roi, hint=request.hint, device=state.device, every=request.every, max_frames=request.max_frames
    )
    name = request.reference or f"sha256:{digest[:16]}"
    work = _Work(options, name, _Stored(request.outputs, audit.key))
    state.pool.submit(state.jobs.execute, job, lambda job: _run_job(state, work, job))
    return job


def _file_sha256(source: IO[bytes]) -> str:
    """The sha256 of a spooled upload, read 1 MiB at a time."""
    digest = hashlib.sha256()
    source.seek(0)
    while chunk := source.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def _spool(source: IO[bytes]) -> tuple[IO[bytes], str]:
    """A copy of ``source`` in an anonymous temporary file (gone once closed), and its sha256."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the job, which closes it when it ends
    digest = hashlib.sha256()
    source.seek(0)
    while chunk := source.read(1 << 20):
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    return spool, digest.hexdigest()


@dataclass(frozen=True)
class _Stored:
    """Which files to render, and the API key (name) the stored files will belong to."""

    request: OutputRequest
    owner: str | None


@dataclass(frozen=True)
class _Work:
    """One analysis to run: options, the Result's ``input`` (the reference or the content hash), outputs."""

    options: AnalyzeOptions
    name: str
    stored: _Stored


def _grade_file(state: ServiceState, upload: IO[bytes], work: _Work, stop: StopFlag) -> Result:
    """Read the spooled upload and grade it (runs in the worker pool, only once a worker is free)."""
    stop.check()  # timed out or abandoned while it waited: nothing is read
    upload.seek(0)
    return _grade(state, upload.read(), work.options, work.name, work.stored, stop)


def _run_job(state: ServiceState, work: _Work, job: Job) -> Result:
    """A job's analysis (in the worker pool): its time limit starts now, progress goes to the job."""
    job.stop.limit(state.settings.job_timeout_s)
    job.stop.check()
    assert job.upload is not None  # released only when the job finishes
    job.upload.seek(0)
    data = job.upload.read()
    return _grade(state, data, work.options, work.name, work.stored, job.stop, job.progress)


def _grade(
    state: ServiceState,
    data: bytes,
    options: AnalyzeOptions,
    name: str,
    stored: _Stored,
    stop: StopFlag | None = None,
    progress: Progress | None = None,
) -> Result:
    """Grade, render the outputs asked for and keep them in the store (runs in the worker pool)."""
    request = stored.request
    segmenter = None if options.roi is not None else state.segmenter
    watched = {"stop": stop, "progress": progress}
    if not (request.overlays or request.dicom):
        result = run_analysis(data, options, segmenter, state.settings, name=name, **watched).result
        state.metrics.add_frames(result.summary.frames_analysed or 0)
        return result
    video = VideoRecorder(io.BytesIO(), state.store.max_bytes, request.screen) if request.overlays else None
    with video or contextlib.nullcontext():
        analysis = run_analysis(data, options, segmenter, state.settings, name=name, observer=video, **watched)
    state.metrics.add_frames(analysis.result.summary.frames_analysed or 0)
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
