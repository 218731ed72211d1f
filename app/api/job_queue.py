"""The jobs of ``/v1/jobs``: long analyses run in the worker pool while the client polls.

A job is queued, then running, then ``done``, ``failed`` or ``cancelled``. At most ``max_jobs`` jobs are
queued or running at once (``NEOVASC_MAX_JOBS``): one more is refused with ``service_busy``. A finished
job is kept ``ttl_s`` seconds (``NEOVASC_RESULT_TTL_S``) and then forgotten. Each job belongs to the API
key that made it; to any other key it does not exist. The upload waits on disk, not in memory, until a
worker takes it. Ids are random; a restarted service remembers no job.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Literal

from app.errors import Cancelled, JobNotFound, NeovascError, ServiceBusy, as_neovasc_error
from app.pipeline.cancel import StopFlag
from app.schemas import Result

log = logging.getLogger("neovasc.api")
JobState = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled"})


@dataclass(eq=False)
class Job:
    """One job's state; ``frames_done`` / ``frames_total`` are updated by the analysis as it runs."""

    id: str
    owner: str | None
    stop: StopFlag
    upload: IO[bytes] | None  # the spooled upload until a worker reads it
    state: JobState = "queued"
    created: float = field(default_factory=time.time)  # wall clock, for the answer
    frames_done: int = 0
    frames_total: int | None = None
    result: Result | None = None
    error: NeovascError | None = None
    expires: float | None = None  # on the queue's clock, once finished

    def progress(self, done: int, total: int) -> None:
        self.frames_done, self.frames_total = done, total


class JobQueue:
    """The service's jobs by id. ``clock``: monotonic seconds (tests pass a fake one to expire jobs)."""

    def __init__(self, max_jobs: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_jobs, self.ttl_s = max_jobs, ttl_s
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()  # workers finish jobs while requests read them

    def active(self) -> dict[str, int]:
        """How many jobs are queued and how many running."""
        with self._lock:
            states = [job.state for job in self._jobs.values()]
        return {"queued": states.count("queued"), "running": states.count("running")}

    def check_room(self) -> None:
        """ServiceBusy when ``max_jobs`` are queued or running (checked before an upload is copied)."""
        with self._lock:
            self._refuse_when_full()

    def add(self, owner: str | None, upload: IO[bytes], stop: StopFlag) -> Job:
        """A new queued job; ServiceBusy when ``max_jobs`` are queued or running already."""
        with self._lock:
            self._refuse_when_full()
            job = Job(secrets.token_hex(16), owner, stop, upload)
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str, owner: str | None) -> Job:
        """The job; JobNotFound when unknown, expired or another key's."""
        with self._lock:
            self._expire(self._clock())
            job = self._jobs.get(job_id)
        if job is None or job.owner != owner:  # another key's job looks like no job at all
            raise JobNotFound(
                f"no job {job_id[:64]!r}: it never existed, finished more than NEOVASC_RESULT_TTL_S ago, was made "
                "with another API key, or the service restarted; submit the input again"
            )
        return job

    def cancel(self, job_id: str, owner: str | None) -> Job:
        """Stop the job: a queued one is cancelled now, a running one at its next batch; a finished one stays."""
        job = self.get(job_id, owner)
        job.stop.stop(Cancelled("the job was cancelled (DELETE /v1/jobs/{id})"))
        with self._lock:
            if job.state == "queued":
                self._finish(job, "cancelled", error=job.stop.reason)
        return job

    def execute(self, job: Job, work: Callable[[Job], Result]) -> None:
        """Run ``work(job)`` in a worker thread and record how it ended (never raises)."""
        with self._lock:
            if job.state != "queued":  # cancelled while it waited
                return
            job.state = "running"
        try:
            result = work(job)
        except NeovascError as exc:
            self._end(job, "cancelled" if isinstance(exc, Cancelled) else "failed", error=exc)
        except Exception as exc:  # logged once here: the job's answer carries internal_error only
            log.error("job %s failed with unexpected %s", job.id, type(exc).__name__, exc_info=exc)
            self._end(job, "failed", error=as_neovasc_error(exc))
        else:
            self._end(job, "done", result=result)

    def purge(self) -> int:
        """Forget the jobs that finished more than ``ttl_s`` ago; how many are left."""
        with self._lock:
            self._expire(self._clock())
            return len(self._jobs)

    def close(self) -> None:
        """Stop every job that has not finished (at shutdown)."""
        with self._lock:
            jobs = [job for job in self._jobs.values() if job.state not in FINISHED]
        for job in jobs:
            job.stop.stop(Cancelled("the service is shutting down"))

    def _end(self, job: Job, state: JobState, **outcome: object) -> None:
        with self._lock:
            self._finish(job, state, **outcome)

    def _finish(self, job: Job, state: JobState, *, result=None, error=None) -> None:
        """Record the outcome and release the upload (the lock is held)."""
        job.state, job.result, job.error = state, result, error
        job.expires = self._clock() + self.ttl_s
        if job.upload is not None:
            job.upload.close()
            job.upload = None

    def _refuse_when_full(self) -> None:
        """(The lock is held.)"""
        self._expire(self._clock())
        if sum(job.state not in FINISHED for job in self._jobs.values()) >= self.max_jobs:
            raise ServiceBusy(
                f"{self.max_jobs} jobs are queued or running (NEOVASC_MAX_JOBS); retry when one has finished",
                retry_after_s=30,
            )

    def _expire(self, now: float) -> None:
        for key in [key for key, job in self._jobs.items() if job.expires is not None and job.expires <= now]:
            del self._jobs[key]
