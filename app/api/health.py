"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

import cuda_ops
from app import __version__
from app.pipeline.device import resolve_device
from app.schemas import Health, ModelStatus, Readiness

from .metrics import CONTENT_TYPE
from .state import ServiceState, State

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process answers."""
    return Health(version=__version__)


@router.get("/readyz", response_model=Readiness)
def readyz(state: State) -> Readiness:
    """Ready to grade: which device and counting backends, and whether the tendon model is loaded.

    Without a model the service still grades uploads that carry a ROI, so it reports ready.
    """
    device = resolve_device(state.settings.device)
    segmenter = state.segmenter
    model = ModelStatus(
        loaded=segmenter is not None,
        name=getattr(segmenter, "name", None),
        sha256=getattr(segmenter, "sha256", None),
        error=state.model_error.message if state.model_error else None,
    )
    return Readiness(
        ready=True, device=device, backends=cuda_ops.available_backends(device), model=model, version=__version__
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
def metrics(state: State) -> Response:
    """Prometheus text format: requests, latency, errors by code, frames graded, uploads in flight, jobs, device.

    It needs an API key like every route but /healthz: give the scraper a key of its own.
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
