"""How the command line and the service write their log lines: ``NEOVASC_LOG_FORMAT=text`` (``LEVEL logger:
message``) or ``json`` (one JSON object a line, for a log collector).

A JSON line has ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``request_id`` (the HTTP request it
was written for, or null) and, for an error with a traceback, ``exception``. The audit logger's lines are JSON
objects already (``app.api.context``): they are written as they are. Messages never hold patient data: nothing
logs file names, headers or bodies of inputs.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from tqdm import tqdm

TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
AUDIT_LOGGER = "neovasc.audit"


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name == AUDIT_LOGGER:
            return message  # already one JSON object, with its own time and request id
        request_id = getattr(record, "request_id", None)
        prefix = f"request_id={request_id} "
        if request_id is not None and message.startswith(prefix):
            message = message[len(prefix) :]  # the text format's prefix: a field of its own here
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
            "request_id": request_id,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


class BarAwareHandler(logging.StreamHandler):
    """A stream handler that clears a progress bar drawn on the same stream (``neovasc grade``'s, on a terminal)
    before it writes a line, and lets the bar draw itself again below it: a line never lands on the bar."""

    def emit(self, record: logging.LogRecord) -> None:
        with tqdm.external_write_mode(file=self.stream):
            super().emit(record)


def configure_logging(level: str, log_format: str) -> None:
    """The root handler for ``level`` and ``log_format`` (``text`` or ``json``); other loggers (uvicorn's too,
    when it is run without its own logging config) write through it. Like ``logging.basicConfig``, it leaves a
    root logger that has handlers already (an embedding program's, a test runner's) as it is."""
    handler = BarAwareHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
