"""Liveness, readiness and metrics."""

from __future__ import annotations

import contextlib
import platform
from functools import cache
from importlib import metadata

from fastapi import APIRouter, Request
from fastapi.responses import Response

import cuda_ops
from app import __version__
from app.pipeline.device import resolve_device
from app.schemas import Health, ModelStatus, Readiness, ReadinessBrief

from .auth import authenticated
from .metrics import CONTENT_TYPE
from .state import ServiceState, State

router = APIRouter(tags=["health"])
# Distributions whose versions /readyz reports to a caller with a key: they decode, segment and count.
VERSIONED = ("torch", "onnxruntime", "numpy", "opencv-python-headless", "pydicom", "av", "numba", "triton")


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process answers."""
    return Health(version=__version__)


@router.get("/readyz", response_model=Readiness | ReadinessBrief)
def readyz(state: State, request: Request) -> Readiness | ReadinessBrief:
    """Ready to grade. Without an API key only ``{"ready": true}``; with one also the device, counting backends,
    the tendon model (loaded or why not, and its runtime), the workers and the versions of what grades.

    Without a model the service still grades uploads that carry a ROI, so it reports ready.
    """
    if not authenticated(request):
        return ReadinessBrief(ready=True)
    device = resolve_device(state.settings.device)
    segmenter = state.segmenter
    model = ModelStatus(
        loaded=segmenter is not None,
        name=getattr(segmenter, "name", None),
        sha256=getattr(segmenter, "sha256", None),
        runtime=getattr(segmenter, "runtime", None),
        error=state.model_error.message if state.model_error else None,
    )
    return Readiness(
        ready=True,
        device=device,
        backends=cuda_ops.available_backends(device),
        model=model,
        workers=state.settings.workers,
        segment_batching=state.segment_batching,
        versions=versions(),
        version=__version__,
    )


@cache
def versions() -> dict[str, str]:
    """neovasc, Python and the installed libraries that decode, segment and count (those missing left out)."""
    found = {"neovasc": __version__, "python": platform.python_version()}
    for name in VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
def metrics(state: State) -> Response:
    """Prometheus text format: requests, latency, errors by code, frames graded, uploads in flight, jobs, device.

    It needs an API key like every route but /healthz and /readyz: give the scraper a key of its own.
    """
    return Response(state.metrics.render(_gauges(state)), media_type=CONTENT_TYPE)


def _gauges(state: ServiceState) -> list[tuple[str, str, dict[str, str], float]]:
    """The values read at scrape time."""
    jobs = state.jobs.active()
    return [
        ("neovasc_uploads_in_flight", "Requests with a body being received or graded.", {},
         state.metrics.uploads_in_flight),
        ("neovasc_uploads_in_flight_limit", "NEOVASC_MAX_UPLOADS_IN_FLIGHT.", {},
         state.settings.max_uploads_in_flight),
        ("neovasc_jobs", "Jobs by state, queued or running.", {"state": "queued"}, jobs["queued"]),
        ("neovasc_jobs", "Jobs by state, queued or running.", {"state": "running"}, jobs["running"]),
        ("neovasc_workers", "Analyses that run at once (NEOVASC_WORKERS).", {}, state.settings.workers),
        ("neovasc_device_info", "The device analyses run on.", {"device": state.device}, 1),
    ]  # fmt: skip
