"""The one place that turns errors into RFC 9457 ``application/problem+json`` responses."""

from __future__ import annotations

import json
from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Send

from app.errors import HTTPProblem, InvalidRequest, MalformedRequest, NeovascError, NotFound, problem_details
from app.schemas import Problem

PROBLEM_JSON = "application/problem+json"

# Documented on every route that can fail, so the OpenAPI document shows the error shape.
PROBLEM_RESPONSES = {
    status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": description}
    for status, description in (
        (400, "Empty input or malformed request"),
        (401, "No API key, or one the service does not hold"),
        (404, "Input not found"),
        (413, "Input too large"),
        (415, "Unsupported input format"),
        (422, "Undecodable input, no frames, not an image, invalid ROI or request, no tendon model"),
        (500, "Internal error"),
        (503, "Busy (uploads in flight, job queue full; see Retry-After), or device or backend unavailable"),
        (504, "The analysis ran past NEOVASC_REQUEST_TIMEOUT_S"),
    )
}


def retry_after(error: NeovascError) -> list[tuple[bytes, bytes]]:
    """``Retry-After`` for an error that asks the client to come back (``service_busy``), else nothing."""
    seconds = getattr(error, "retry_after_s", None)
    return [(b"retry-after", str(int(seconds)).encode())] if seconds is not None else []


def problem_response(error: NeovascError, instance: str | None = None) -> JSONResponse:
    headers = {name.decode(): value.decode() for name, value in retry_after(error)}
    return JSONResponse(
        problem_details(error, instance), status_code=error.status, media_type=PROBLEM_JSON, headers=headers
    )


async def send_problem(
    send: Send, error: NeovascError, instance: str | None, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Answer with ``error`` as problem+json straight from ASGI middleware (which has no Response objects)."""
    body = json.dumps(problem_details(error, instance)).encode()
    start = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    start += [*retry_after(error), *headers]
    await send({"type": "http.response.start", "status": error.status, "headers": start})
    await send({"type": "http.response.body", "body": body})


def _validation_message(exc: RequestValidationError) -> str:
    """The first few field errors by field name and rule; never the value sent (it could be anything)."""
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
    elif exc.status_code == 400:  # the framework could not parse the body (malformed multipart form)
        reason = str(exc.detail).rstrip(". ")  # Starlette's sentences end in a full stop: "Invalid multipart data."
        error = MalformedRequest(f"{reason}; send the fields as a multipart/form-data body")
    else:
        error = HTTPProblem(str(exc.detail), exc.status_code)
    headers = dict(exc.headers or {})  # e.g. Allow on a 405
    response = problem_response(error, request.url.path)
    response.headers.update(headers)
    return response


async def _on_disconnect(request: Request, exc: ClientDisconnect) -> JSONResponse:
    """The body ended before its Content-Length: nothing is graded, and the client is likely gone."""
    return problem_response(MalformedRequest("the request body ended before its declared Content-Length"))


def install_problem_handlers(app: FastAPI) -> None:
    """Map errors to problem+json. Unexpected exceptions are caught, logged once and answered by
    :class:`app.api.context.RequestContext`, not here: a handler for ``Exception`` runs in Starlette's
    outermost middleware, which re-raises after answering, and the server would log the traceback again."""
    app.add_exception_handler(NeovascError, _on_neovasc_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(ClientDisconnect, _on_disconnect)
