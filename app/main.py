"""Builds the FastAPI application. Run it with ``neovasc serve`` (uvicorn)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from app import __version__
from app.api import compare_router, grade_router, health_router, jobs_router, results_router
from app.api.auth import ApiKeyAuth, AuthPolicy
from app.api.context import REQUEST_ID_HEADER, RequestContext, install_request_id_logging
from app.api.limits import BodySizeLimit, UploadGate
from app.api.metrics import Metrics
from app.api.problems import install_problem_handlers
from app.api.state import ServiceState
from app.config import Settings, get_settings

DESCRIPTION = """Grades tendon neovascularity on colour and power Doppler ultrasound: the colour fraction of
the tendon (or of a drawn region of interest), the vessel count and named grades. Every route but `/healthz`
needs an API key (`Authorization: Bearer KEY` or `X-API-Key: KEY`). Errors are RFC 9457 problem+json
documents with a stable `code`. Research use only; not a medical device."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for ``settings``; raises UsageError for a setup that would serve the network without keys.

    Middleware, outermost first: request id, audit line and metrics, allowed hosts, CORS (when origins are
    set), API keys, the cap on uploads in flight, body size limit. /docs and /redoc are off: their pages load
    scripts from public CDNs.
    """
    settings = settings or get_settings()
    policy = AuthPolicy.from_settings(settings)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_request_id_logging()
        logging.getLogger("uvicorn.access").disabled = True  # its lines print result ids; the audit line replaces it
        app.state.neovasc = ServiceState.start(settings, metrics)
        purger = asyncio.create_task(app.state.neovasc.purge_results())
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            app.state.neovasc.close()

    app = FastAPI(
        title="neovasc", version=__version__, description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(UploadGate, limit=settings.max_uploads_in_flight, metrics=metrics)
    app.add_middleware(ApiKeyAuth, policy=policy)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "X-Request-ID"],
            expose_headers=[REQUEST_ID_HEADER],
        )
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts, www_redirect=False)
    app.add_middleware(RequestContext, metrics=metrics)
    install_problem_handlers(app)
    app.include_router(health_router)
    app.include_router(grade_router)
    app.include_router(compare_router)
    app.include_router(results_router)
    app.include_router(jobs_router)
    return app
