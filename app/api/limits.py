"""Request body limit and the cap on uploads in flight, enforced in ASGI middleware.

FastAPI and Starlette set no body limit, and an ``UploadFile`` is spooled before the handler runs, so
the check must sit in front of the app: first the declared Content-Length, then a running count of
the bytes actually received, chunk by chunk as they arrive (a chunked upload declares none), so no more
than one chunk past the limit is ever read. :class:`UploadGate` bounds how many bodies are being
received or graded at once, so memory and spool space stay bounded however many clients post together.
"""

from __future__ import annotations

import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import InputTooLarge, MalformedRequest, ServiceBusy

from .metrics import Metrics
from .problems import send_problem

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse request bodies above ``max_bytes`` with 413 problem+json, before they are stored."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _error(self, size: int | None) -> InputTooLarge:
        seen = "an unknown number of" if size is None else str(size)
        return InputTooLarge(
            f"request body of {seen} bytes exceeds the limit of {self.max_bytes} bytes (NEOVASC_MAX_UPLOAD_BYTES)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            declared = _content_length(scope)
        except ValueError:
            await send_problem(
                send, MalformedRequest("Content-Length is not a whole number of bytes"), scope.get("path")
            )
            return
        if declared is not None and declared > self.max_bytes:
            await send_problem(send, self._error(declared), scope.get("path"))
            return
        received = 0
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if not exceeded:  # once over the limit, the app's own reply is replaced by ours
                await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if exceeded:
            await send_problem(send, self._error(None), scope.get("path"))


def _content_length(scope: Scope) -> int | None:
    """The declared body size, None without the header; ValueError when it is not a number of bytes."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            if not value.strip().isdigit():
                raise ValueError(value)
            return int(value)
    return None


class UploadGate:
    """At most ``limit`` requests with a body at once (``NEOVASC_MAX_UPLOADS_IN_FLIGHT``), from their first byte
    to the end of their answer; one more is answered 503 ``service_busy`` with ``Retry-After`` before its body
    is read. ``metrics.uploads_in_flight`` is the count (kept on the event loop: no lock needed)."""

    def __init__(self, app: ASGIApp, limit: int, metrics: Metrics, retry_after_s: int = 5) -> None:
        self.app = app
        self.limit = limit
        self.metrics = metrics
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        if self.metrics.uploads_in_flight >= self.limit:
            busy = ServiceBusy(
                f"{self.limit} uploads are being received or graded (NEOVASC_MAX_UPLOADS_IN_FLIGHT); retry shortly, "
                "or queue long clips as jobs (POST /v1/jobs)",
                retry_after_s=self.retry_after_s,
            )
            await send_problem(send, busy, scope.get("path"))
            return
        self.metrics.uploads_in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.metrics.uploads_in_flight -= 1
