"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

import cuda_ops
from app import __version__
from app.pipeline.device import resolve_device
from app.schemas import Health, ModelStatus, Readiness

from .state import State

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
