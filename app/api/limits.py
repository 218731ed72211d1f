"""Request body limit, enforced in ASGI middleware.

FastAPI and Starlette set no body limit, and an ``UploadFile`` is spooled before the handler runs, so
the check must sit in front of the app: first the declared Content-Length, then a running count of
the bytes actually received (a chunked upload declares none).
"""

from __future__ import annotations

import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import InputTooLarge, MalformedRequest

from .problems import send_problem


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
