"""NEOVASC_LOG_FORMAT=json: one JSON object a log line, the request id a field of its own, audit lines as they are."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

from tqdm import tqdm

from app.logs import AUDIT_LOGGER, TEXT_FORMAT, BarAwareHandler, JsonFormatter

ROOT = Path(__file__).resolve().parents[2]


def _record(name: str, message: str, request_id: str | None = None, exc_info=None) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.WARNING, __file__, 1, message, (), exc_info)
    record.request_id = request_id
    return record


def test_a_record_is_one_json_object():
    line = json.loads(JsonFormatter().format(_record("neovasc", "request_id=abc the worker is busy", "abc")))
    assert line["level"] == "warning" and line["logger"] == "neovasc" and line["request_id"] == "abc"
    assert line["message"] == "the worker is busy" and line["time"].endswith("+00:00")


def test_an_audit_line_is_written_as_it_is():
    audit = json.dumps({"request_id": "abc", "route": "/v1/grade", "status": 200})
    assert JsonFormatter().format(_record(AUDIT_LOGGER, audit, "abc")) == audit


def test_an_exception_is_a_field():
    try:
        raise ValueError("broken")
    except ValueError:
        line = json.loads(JsonFormatter().format(_record("neovasc", "failed", exc_info=sys.exc_info())))
    assert "ValueError: broken" in line["exception"] and line["request_id"] is None


def test_the_command_line_writes_json_lines(tmp_path):
    """A bad input on the command line: its error line on stdout, its log lines on stderr, each a JSON object."""
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"not an image")
    env = {"NEOVASC_LOG_FORMAT": "json", "NEOVASC_LOG_LEVEL": "debug", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "grade", "--roi", "0,0,10,10", str(bad)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert json.loads(done.stdout.strip().splitlines()[-1])["ok"] is False
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines, "debug level writes some log lines"
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(json.loads(line))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_line_logged_under_a_progress_bar_clears_it_first():
    """On a terminal the bar is redrawn below the line, never written over by it."""
    stream = _Terminal()
    handler = BarAwareHandler(stream)
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    bar = tqdm(total=3, file=stream, desc="grading")
    handler.emit(logging.LogRecord("neovasc", logging.INFO, __file__, 1, "tendon model loaded", None, None))
    bar.update(1)
    bar.close()
    before, line, after = stream.getvalue().partition("INFO neovasc: tendon model loaded\n")
    assert line and before.endswith("\r") and before.rstrip("\r").endswith(" ")  # the bar wiped out first
    assert "grading:" in after  # ... and drawn again below
