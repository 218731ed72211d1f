"""Per-request context: the request id, the audit line, and the last guard that keeps every error problem+json.

:class:`RequestContext` is the outermost middleware of the app. For each HTTP request it

- takes a well-formed ``X-Request-ID`` or makes one, returns it on the response and puts it on every log
  line logged while the request runs (:func:`install_request_id_logging`);
- writes one JSON line to the logger ``neovasc.audit`` when the request ends: time, request id, key name,
  method, route template (``/v1/results/{result_id}/{name}``, never the path with its ids), the sha256 of
  each uploaded input, status and duration. No file names, no patient data, no result ids;
- catches an unexpected exception, logs its traceback once and answers 500 ``internal_error``;
- turns an error answer that is not problem+json (Starlette's host check and CORS refusals answer
  text/plain) into one;
- counts the request for ``/metrics`` (route template, status, duration, the error's ``code``).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import HTTPProblem, NeovascError, as_neovasc_error

from .metrics import Metrics
from .problems import PROBLEM_JSON, send_problem

log = logging.getLogger("neovasc.api")
audit_log = logging.getLogger("neovasc.audit")
audit_log.setLevel(logging.INFO)  # the audit line is kept whatever NEOVASC_LOG_LEVEL says

REQUEST_ID_HEADER = "x-request-id"
_WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")  # nothing a log line or header could be split on
_SCOPE_KEY = "neovasc.audit"
_request_id: ContextVar[str | None] = ContextVar("neovasc_request_id", default=None)


@dataclass
class AuditRecord:
    """What the layers inside learn about a request for its audit line: the key's name and the inputs' sha256."""

    key: str | None = None
    inputs_sha256: list[str] = field(default_factory=list)


def audit_record(scope: Scope) -> AuditRecord:
    """The request's record, made on first use; the same object for every layer of one request."""
    return scope.setdefault(_SCOPE_KEY, AuditRecord())


def get_audit(request: Request) -> AuditRecord:
    return audit_record(request.scope)


Audit = Annotated[AuditRecord, Depends(get_audit)]


def current_request_id() -> str | None:
    """The id of the request being handled in this task or worker thread, or None outside a request."""
    return _request_id.get()


def request_id_from(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` when it is 1-128 letters, digits, '.', '_' or '-'; else a new one."""
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1")
            if _WELL_FORMED_ID.match(text):
                return text
            break
    return uuid.uuid4().hex


def install_request_id_logging() -> None:
    """Prefix every log record made while a request runs with ``request_id=<id>`` (idempotent).

    A record factory rather than a filter: filters sit on loggers or handlers, and the service's log
    lines come from many loggers through handlers that uvicorn or the command line set up.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "neovasc_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        request_id = _request_id.get()
        record.request_id = request_id
        if request_id is not None and record.name != audit_log.name:  # the audit line is pure JSON and has it
            record.msg = f"request_id={request_id} {record.msg}"
        return record

    factory.neovasc_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def route_template(scope: Scope) -> str | None:
    """The matched route's path template, or None when no route matched (404, or refused before routing)."""
    return getattr(scope.get("route"), "path", None)


class RequestContext:
    """The outermost middleware: request id, audit line, unexpected errors, problem+json for every error."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        token = _request_id.set(request_id)
        started = time.perf_counter()
        reply = _Reply(send, request_id, scope.get("path"))
        try:
            await self.app(scope, receive, reply.send)
        except Exception as exc:  # the one place unexpected errors are logged and answered
            log.error("unexpected %s on %s", type(exc).__name__, route_template(scope), exc_info=exc)
            await reply.fail(as_neovasc_error(exc))
        finally:
            _audit(scope, request_id, reply.status, started)
            if self.metrics is not None:
                seconds, route = time.perf_counter() - started, route_template(scope)
                self.metrics.observe_request(scope.get("method"), route, reply.status, seconds, reply.code)
            _request_id.reset(token)


class _Reply:
    """Wraps ``send``: adds the request id, and rewrites an error answer that is not problem+json."""

    def __init__(self, send: Send, request_id: str, path: str | None) -> None:
        self._send = send
        self._id = (REQUEST_ID_HEADER.encode(), request_id.encode())
        self._path = path
        self.status: int | None = None
        self._held: Message | None = None  # the start of an error answer being rewritten
        self._body = b""
        self.code: str | None = None  # the problem code of an error answer
        self._problem = b""  # the body of a problem+json answer, read for its code

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = MutableHeaders(scope=message)
            if self.status >= 400 and not headers.get("content-type", "").startswith(PROBLEM_JSON):
                self._held = message
                return
            message["headers"] = [*message.get("headers", []), self._id]
        elif message["type"] == "http.response.body" and self._held is not None:
            self._body += message.get("body", b"")
            if not message.get("more_body", False):
                await self._rewrite()
            return
        elif message["type"] == "http.response.body" and self.status is not None and self.status >= 400:
            self._read_code(message)
        await self._send(message)

    def _read_code(self, message: Message) -> None:
        """The ``code`` of a problem+json answer, once its (small) body is whole."""
        self._problem += message.get("body", b"")
        if not message.get("more_body", False) and len(self._problem) < 65536:
            try:
                self.code = str(json.loads(self._problem).get("code")) or None
            except (ValueError, AttributeError):
                self.code = None

    async def fail(self, error: NeovascError) -> None:
        """Answer ``error``, unless an answer has started (the connection then just ends)."""
        if self.status is None:
            self.status, self.code = error.status, error.code
            await send_problem(self._send, error, self._path, [self._id])

    async def _rewrite(self) -> None:
        held, self._held = self._held, None
        assert held is not None
        status = held["status"]
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        text = self._body.decode("utf-8", "replace").strip()
        detail = f"{phrase}: {text}" if text and len(text) <= 200 else phrase
        kept = [(k, v) for k, v in held.get("headers", []) if k.lower() not in (b"content-type", b"content-length")]
        self.code = HTTPProblem.code
        await send_problem(self._send, HTTPProblem(detail, status), self._path, [*kept, self._id])


def _audit(scope: Scope, request_id: str, status: int | None, started: float) -> None:
    record = audit_record(scope)
    line = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "request_id": request_id,
        "key": record.key,
        "method": scope.get("method"),
        "route": route_template(scope),
        "input_sha256": record.inputs_sha256,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    audit_log.info(json.dumps(line))
