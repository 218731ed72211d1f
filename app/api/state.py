"""What the service holds between requests: settings, the tendon model, the analysis worker, stored outputs."""

from __future__ import annotations

import asyncio
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
        self.store = ResultStore(self.settings.result_store_mb << 20)
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
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def get_state(request: Request) -> ServiceState:
    return request.app.state.neovasc


State = Annotated[ServiceState, Depends(get_state)]
