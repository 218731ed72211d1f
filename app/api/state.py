"""What the service holds between requests: settings, the tendon model, the analysis worker, stored outputs."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from app.config import Settings
from app.errors import NeovascError
from app.pipeline.device import resolve_device
from app.pipeline.segmenter import Segmenter, installed_model

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
    pool: ThreadPoolExecutor = field(init=False)
    store: ResultStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = ResultStore(self.settings.result_store_mb << 20, ttl_s=self.settings.result_ttl_s)
        # Analyses run off the event loop, at most `workers` at a time: GPU and memory use stay bounded
        # however many uploads arrive together (the rest wait in the pool's queue).
        self.pool = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="neovasc-analysis")

    @classmethod
    def start(cls, settings: Settings) -> ServiceState:
        try:
            device = resolve_device(settings.device)
            return cls(settings=settings, device=device, segmenter=installed_model(settings.weights_dir, device))
        except NeovascError as exc:  # requests then fail with this error; /readyz says why
            log.error("tendon model not loaded: %s", exc.message)
            return cls(settings=settings, model_error=exc)

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """``fn(*args, **kwargs)`` in the analysis pool, with this request's context (its request id in logs)."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        return await loop.run_in_executor(self.pool, lambda: context.run(fn, *args, **kwargs))

    async def purge_results(self, every_s: float = 60.0) -> None:
        """Drop expired results every ``every_s`` seconds, so expired overlays leave memory unasked (runs until
        cancelled at shutdown)."""
        while True:
            await asyncio.sleep(min(every_s, self.settings.result_ttl_s))
            self.store.purge()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def get_state(request: Request) -> ServiceState:
    return request.app.state.neovasc


State = Annotated[ServiceState, Depends(get_state)]
