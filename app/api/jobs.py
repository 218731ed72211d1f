"""``/v1/jobs``: grade long clips without holding a request open; poll for progress, cancel, fetch the Result."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from app.errors import problem_details
from app.schemas import Problem, Result

from .context import Audit
from .grade import GradeForm
from .job_queue import Job, JobState
from .problems import PROBLEM_RESPONSES
from .state import State
from .uploads import submit_job

router = APIRouter(prefix="/v1", tags=["jobs"])

JOBS_PREFIX = "/v1/jobs"
JobId = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="`id` of the job")]


class JobProgress(BaseModel):
    frames_done: int = Field(description="Frames measured so far.")
    frames_total: int | None = Field(description="Frames to measure (after sampling); null until decoding starts.")


class JobStatus(BaseModel):
    """A job as its owner sees it."""

    id: str = Field(description="32 hex digits; random.")
    state: JobState = Field(description="queued, running, done, failed or cancelled.")
    status_url: str = Field(description="Where to poll: GET it; DELETE it to cancel.")
    created: datetime
    progress: JobProgress
    result: Result | None = Field(None, description="The Result, once `state` is done.")
    error: Problem | None = Field(None, description="Why it failed or was cancelled.")


def job_status(job: Job) -> JobStatus:
    """The answer for ``job`` (a snapshot: a worker may move it on meanwhile)."""
    error = problem_details(job.error, f"{JOBS_PREFIX}/{job.id}") if job.error is not None else None
    return JobStatus(
        id=job.id,
        state=job.state,
        status_url=f"{JOBS_PREFIX}/{job.id}",
        created=datetime.fromtimestamp(job.created, UTC),
        progress=JobProgress(frames_done=job.frames_done, frames_total=job.frames_total),
        result=job.result,
        error=Problem.model_validate(error) if error is not None else None,
    )


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobStatus,
    response_model_by_alias=True,
    responses=PROBLEM_RESPONSES,
    summary="Queue one image or clip for grading (the form of POST /v1/grade)",
)
async def create_job(state: State, audit: Audit, form: GradeForm, response: Response) -> JobStatus:
    """Queue the upload; answers 202 with the job's id and ``status_url`` (also in ``Location``).

    The region, hint and numbers are checked now; the file is decoded by the worker. At most NEOVASC_MAX_JOBS
    jobs are queued or running: beyond, 503 ``service_busy`` with ``Retry-After``. A job's analysis stops after
    NEOVASC_JOB_TIMEOUT_S.
    """
    job = await submit_job(state, form, audit)
    response.headers["Location"] = f"{JOBS_PREFIX}/{job.id}"
    return job_status(job)


@router.get(
    "/jobs/{job_id}",
    response_model=JobStatus,
    response_model_by_alias=True,
    responses=PROBLEM_RESPONSES,
    summary="A job's state, progress, and its Result once done",
)
async def get_job(state: State, audit: Audit, job_id: JobId) -> JobStatus:
    """The job, to the API key that made it only (any other key gets 404 ``job_not_found``)."""
    return job_status(state.jobs.get(job_id, owner=audit.key))


@router.delete(
    "/jobs/{job_id}",
    response_model=JobStatus,
    response_model_by_alias=True,
    responses=PROBLEM_RESPONSES,
    summary="Cancel a job",
)
async def cancel_job(state: State, audit: Audit, job_id: JobId) -> JobStatus:
    """Cancel the job: a queued one at once, a running one at its next batch of frames (poll until ``cancelled``).

    A finished job is left as it is.
    """
    return job_status(state.jobs.cancel(job_id, owner=audit.key))
