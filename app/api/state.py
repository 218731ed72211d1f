"""What the service holds between requests: settings, the tendon model, the analysis worker, stored outputs,
jobs and metrics; and how an analysis runs in the worker pool under a time limit, stopped when its client leaves."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from app.config import Settings
from app.errors import Cancelled, NeovascError
from app.pipeline.cancel import StopFlag
from app.pipeline.device import resolve_device
from app.pipeline.segmenter import Segmenter, installed_model

from .job_queue import JobQueue
from .metrics import Metrics
from .store import ResultStore

log = logging.getLogger("neovasc.api")
T = TypeVar("T")


@dataclass
class ServiceState:
    """Built once at start-up: the device every request counts and segments on, the tendon model on it
    (the same loader as the command line and Python), and ``model_error``, why a listed model could not
    be loaded."""

    settings: Settings
    device: str = "cpu"
    segmenter: Segmenter | None = None
    model_error: NeovascError | None = None
    metrics: Metrics = field(default_factory=Metrics)
    pool: ThreadPoolExecutor = field(init=False)
    store: ResultStore = field(init=False)
    jobs: JobQueue = field(init=False)

    def __post_init__(self) -> None:
        self.store = ResultStore(self.settings.result_store_mb << 20, ttl_s=self.settings.result_ttl_s)
        self.jobs = JobQueue(self.settings.max_jobs, ttl_s=self.settings.result_ttl_s)
        # Analyses run off the event loop, at most `workers` at a time: GPU and memory use stay bounded
        # however many uploads arrive together (the rest wait in the pool's queue).
        self.pool = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="neovasc-analysis")

    @classmethod
    def start(cls, settings: Settings, metrics: Metrics | None = None) -> ServiceState:
        metrics = metrics or Metrics()
        try:
            device = resolve_device(settings.device)
            segmenter = installed_model(settings.weights_dir, device, settings.model_runtime)
        except NeovascError as exc:  # requests then fail with this error; /readyz says why
            log.error("tendon model not loaded: %s", exc.message)
            return cls(settings=settings, model_error=exc, metrics=metrics)
        if segmenter is not None and batches_segmentation(settings, device):
            segmenter = batched(segmenter)
        return cls(settings=settings, device=device, segmenter=segmenter, metrics=metrics)

    @property
    def segment_batching(self) -> bool:
        """Whether one thread runs the tendon model for all workers, their frames batched."""
        return getattr(self.segmenter, "batcher", None) is not None

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """``fn(*args, **kwargs)`` in the analysis pool, with this request's context (its request id in logs)."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        return await loop.run_in_executor(self.pool, lambda: context.run(fn, *args, **kwargs))

    async def run_stoppable(
        self,
        fn: Callable[..., T],
        *args,
        stop: StopFlag,
        disconnected: Callable[[], Awaitable[bool]] | None = None,
        poll_s: float = 0.25,
    ) -> T:
        """``fn(*args)`` in the pool, watched every ``poll_s`` seconds: past ``stop``'s deadline, or once
        ``disconnected()`` says the client has gone, ``stop`` is set and its reason raised at once.

        ``fn`` must hand ``stop`` to the pipeline, which then ends at its next batch; work still queued
        for a worker is dropped without starting.
        """
        future = asyncio.ensure_future(self.run(fn, *args))
        try:
            while True:
                done, _ = await asyncio.wait({future}, timeout=poll_s)
                if done:
                    return future.result()
                if stop.reason is None and disconnected is not None and await disconnected():
                    stop.stop(Cancelled("the client closed the connection before the answer; the analysis stopped"))
                reason = stop.reason
                if reason is not None:
                    raise reason
        except asyncio.CancelledError:  # the server is shutting down, or the request task was cancelled
            stop.stop(Cancelled("the request was cancelled"))
            raise
        finally:
            future.cancel()  # a no-op once it has finished; drops it from the queue if it has not started

    async def purge_results(self, every_s: float = 60.0) -> None:
        """Drop expired results and finished jobs every ``every_s`` seconds, so they leave memory unasked (runs
        until cancelled at shutdown)."""
        while True:
            await asyncio.sleep(min(every_s, self.settings.result_ttl_s))
            self.store.purge()
            self.jobs.purge()

    def close(self) -> None:
        self.jobs.close()
        self.pool.shutdown(wait=True, cancel_futures=True)
        close = getattr(self.segmenter, "close", None)
        if close is not None:
            close()  # the batching thread, if any; the workers that called it have stopped


def batches_segmentation(settings: Settings, device: str) -> bool:
    """NEOVASC_SEGMENT_BATCHING: ``on``, ``off``, or ``auto`` (on a GPU with more than one worker, where
    one call for the frames of several uploads keeps the GPU busier than a call per upload)."""
    if settings.segment_batching == "auto":
        return device == "cuda" and settings.workers > 1
    return settings.segment_batching == "on"


def batched(segmenter: Segmenter) -> Segmenter:
    """The segmenter's batching twin (``models.TendonSegmenter.batched``); a segmenter without one as it is."""
    twin = getattr(segmenter, "batched", None)
    if twin is None:
        log.warning("tendon model %s cannot batch frames across uploads; each upload calls it alone", segmenter.name)
        return segmenter
    log.info("tendon model calls of all workers batched in one thread")
    return twin()


def get_state(request: Request) -> ServiceState:
    return request.app.state.neovasc


State = Annotated[ServiceState, Depends(get_state)]
