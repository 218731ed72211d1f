"""Builds the FastAPI application. Run it with ``neovasc serve`` (uvicorn)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__
from app.api import compare_router, grade_router, health_router, results_router
from app.api.limits import BodySizeLimit
from app.api.problems import install_problem_handlers
from app.api.state import ServiceState
from app.config import Settings, get_settings

DESCRIPTION = """Grades tendon neovascularity on colour and power Doppler ultrasound: the colour fraction of
the tendon (or of a drawn region of interest), the vessel count and named grades. Errors are RFC 9457
problem+json documents with a stable `code`. Research use only; not a medical device."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.neovasc = ServiceState.start(settings)
        try:
            yield
        finally:
            app.state.neovasc.close()

    app = FastAPI(title="neovasc", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    install_problem_handlers(app)
    app.include_router(health_router)
    app.include_router(grade_router)
    app.include_router(compare_router)
    app.include_router(results_router)
    return app
