"""How ``neovasc serve`` runs the app in uvicorn: its options, and an HTTP/1.1 protocol (h11) that answers
the requests its parser refuses with problem+json.

A request whose request line, headers or framing cannot be parsed (a ``Content-Length`` that is not a
number or disagrees with the bytes sent, a broken chunked encoding, a header block over
``NEOVASC_MAX_HEADER_BYTES``) never reaches the application: uvicorn answers it itself, by default with a
``text/plain`` 400. :class:`ProblemH11Protocol` answers the same 400 as a problem+json document
(``malformed_request``), like every other error of the service, and so is the 503 for a request beyond
``NEOVASC_MAX_CONNECTIONS`` (``service_busy``). ``neovasc serve`` runs it in place of
uvicorn's ``auto`` choice (httptools when installed), which also makes ``NEOVASC_MAX_HEADER_BYTES`` hold:
uvicorn applies ``h11_max_incomplete_event_size`` to its h11 protocol only.
"""

from __future__ import annotations

import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.config import Settings
from app.errors import MalformedRequest, ServiceBusy, problem_details

from .problems import PROBLEM_JSON, send_problem

UNPARSABLE = (
    "the request is not valid HTTP/1.1: its request line, headers or framing (Content-Length, chunked "
    "encoding) could not be parsed, or its header block is larger than NEOVASC_MAX_HEADER_BYTES; nothing of it "
    "was processed and the connection is closed"
)


def unparsable_body() -> bytes:
    """The problem+json document sent for a request the HTTP parser refused (no ``instance``: no path was read)."""
    return json.dumps(problem_details(MalformedRequest(UNPARSABLE))).encode()


BUSY = (
    "the service holds NEOVASC_MAX_CONNECTIONS connections or requests already; nothing of this request was "
    "processed: retry later"
)
BUSY_RETRY_S = 5


class ProblemH11Protocol(H11Protocol):
    """uvicorn's h11 protocol whose answers to an unparsable request (400) and to a request beyond the connection
    limit (503) are problem+json, not text/plain.

    uvicorn decides the 503 in its request loop and answers with a fixed ``text/plain`` ASGI callable. Here the
    protocol takes the limit over (uvicorn's own check is switched off) and applies uvicorn's rule, at most
    ``limit_concurrency`` connections or requests at once, before the application sees the request.
    """

    def __init__(self, config, server_state, app_state, _loop=None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limit, self.limit_concurrency = self.limit_concurrency, None
        self.app = self._admitted(self.app)

    def _admitted(self, app):
        """``app`` behind the connection limit. It runs in the request's task, which uvicorn has already counted:
        the request is over the limit when the other tasks reach it, as uvicorn's own check counts them."""

        async def admit(scope, receive, send) -> None:
            if (
                self._limit is not None
                and scope["type"] == "http"
                and (len(self.connections) >= self._limit or len(self.tasks) > self._limit)
            ):
                self.logger.warning("Exceeded concurrency limit.")
                await send_problem(send, ServiceBusy(BUSY, BUSY_RETRY_S), None, [(b"connection", b"close")])
                return
            await app(scope, receive, send)

        return admit

    def send_400_response(self, msg: str) -> None:
        """Replaces uvicorn's text/plain answer (``msg`` is its fixed text, not used); closes the connection."""
        body = unparsable_body()
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` for ``settings`` (docs/http.md#limits-and-timeouts).

    Slow clients: idle keep-alive connections close after ``keep_alive_s``, requests beyond
    ``max_connections`` get a problem+json 503 ``service_busy``, and a header block larger than
    ``max_header_bytes`` is refused with a problem+json 400. uvicorn's access log is off: its lines print result
    ids (the audit line replaces it).
    """
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        "http": ProblemH11Protocol,
        "timeout_keep_alive": settings.keep_alive_s,
        "limit_concurrency": settings.max_connections,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        # JSON log lines: uvicorn's loggers write through the root handler (app/logs.py) instead of its own
        **({"log_config": None} if settings.log_format == "json" else {}),
    }
