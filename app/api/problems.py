"""The one place that turns errors into RFC 9457 ``application/problem+json`` responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import HTTPProblem, InvalidRequest, NeovascError, NotFound, as_neovasc_error, problem_details
from app.schemas import Problem

log = logging.getLogger("neovasc.api")
PROBLEM_JSON = "application/problem+json"

# Documented on every route that can fail, so the OpenAPI document shows the error shape.
PROBLEM_RESPONSES = {
    status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": description}
    for status, description in (
        (400, "Empty input or malformed request"),
        (404, "Input not found"),
        (413, "Input too large"),
        (415, "Unsupported input format"),
        (422, "Undecodable input, no frames, not an image, invalid ROI or request, no tendon model"),
        (500, "Internal error"),
        (503, "Requested device or backend unavailable"),
    )
}


def problem_response(error: NeovascError, instance: str | None = None) -> JSONResponse:
    return JSONResponse(problem_details(error, instance), status_code=error.status, media_type=PROBLEM_JSON)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


async def _on_neovasc_error(request: Request, exc: NeovascError) -> JSONResponse:
    return problem_response(exc, request.url.path)


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return problem_response(InvalidRequest(_validation_message(exc)), request.url.path)


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 404:
        error: NeovascError = NotFound(f"no route {request.url.path}")
    else:
        error = HTTPProblem(str(exc.detail), exc.status_code)
    return problem_response(error, request.url.path)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected %s on %s", type(exc).__name__, request.url.path, exc_info=exc)
    return problem_response(as_neovasc_error(exc), request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NeovascError, _on_neovasc_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
