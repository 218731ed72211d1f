"""Builds the FastAPI application. Run it with ``neovasc serve`` (uvicorn)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.staticfiles import StaticFiles

from app import __version__
from app.api import compare_router, grade_router, health_router, jobs_router, results_router
from app.api.auth import PAGE_PATH, REFERENCE_PATH, STATIC_PREFIX, ApiKeyAuth, AuthPolicy
from app.api.context import REQUEST_ID_HEADER, RequestContext, install_request_id_logging
from app.api.limits import BodySizeLimit, UploadGate
from app.api.metrics import Metrics
from app.api.problems import install_problem_handlers
from app.api.state import ServiceState
from app.config import Settings, get_settings

WEB_DIR = Path(__file__).resolve().parent / "web" / "static"
# The page loads nothing but its own files and talks to this service only (docs/http.md#the-web-page).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; object-src 'none'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

DESCRIPTION = """Grades tendon neovascularity on colour and power Doppler ultrasound: the colour fraction of
the tendon (or of a drawn region of interest), the vessel count and named grades. Every route but `/healthz`
and the web page (`/` and its files under `/ui/`) needs an API key (`Authorization: Bearer KEY` or
`X-API-Key: KEY`); `/readyz` without one says only whether the service is ready. Errors are RFC 9457
problem+json documents with a stable `code`. Research use only; not a medical device."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for ``settings``; raises UsageError for a setup that would serve the network without keys.

    Middleware, outermost first: request id, audit line and metrics, allowed hosts, CORS (when origins are
    set), API keys, the cap on uploads in flight, body size limit. FastAPI's /docs and /redoc are off (their pages
    load scripts from public CDNs): /docs is the service's own reference page, drawn from /openapi.json.
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
        title="neovasc",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # a path with a stray slash is not found (problem+json), not a bodyless 307
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
    _install_page(app)
    return app


def _install_page(app: FastAPI) -> None:
    """The point-of-care page at ``/`` and its files under ``/ui/``; both open without a key (app/api/auth.py)."""

    def page() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    app.add_api_route(PAGE_PATH, page, methods=["GET"], include_in_schema=False)

    def reference() -> FileResponse:
        """The API reference drawn from /openapi.json by the page's own script: no assets from elsewhere."""
        return FileResponse(WEB_DIR / "reference.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    app.add_api_route(REFERENCE_PATH, reference, methods=["GET"], include_in_schema=False)
    app.mount(STATIC_PREFIX.rstrip("/"), StaticFiles(directory=WEB_DIR), name="ui")
