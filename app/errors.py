"""Named errors at the product's edges, and the one place that maps them to HTTP and the command line.

Every error a user can cause is a :class:`NeovascError` subclass with a stable ``code`` (part of the
public contract: clients and tests match on it), an HTTP status and a message that says what was
seen, what was expected and the likely fix. Messages never carry patient identifiers: they are built
from sizes, formats and option values only, never from file metadata text.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

PROBLEM_TYPE_PREFIX = "urn:neovasc:error:"


class NeovascError(Exception):
    """Base class; ``code``, ``status`` and ``title`` are fixed per subclass."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Request failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(NeovascError):
    code = "usage_error"
    status = 400
    title = "Invalid request"


class InvalidRequest(NeovascError):
    code = "invalid_request"
    status = 422
    title = "Invalid request"


class NotFound(NeovascError):
    code = "not_found"
    status = 404
    title = "Not found"


class ResultNotFound(NotFound):
    code = "result_not_found"
    title = "Result not found"


class Unauthorized(NeovascError):
    """HTTP: no API key, or one the keys file does not hold (``app/api/auth.py``)."""

    code = "unauthorized"
    status = 401
    title = "API key required"


class MalformedRequest(NeovascError):
    """HTTP: a body that is not the multipart form it claims to be, or shorter than its Content-Length."""

    code = "malformed_request"
    status = 400
    title = "Malformed request"


class InputNotFound(NeovascError):
    code = "input_not_found"
    status = 404
    title = "Input not found"


class EmptyInput(NeovascError):
    code = "empty_input"
    status = 400
    title = "Empty input"


class UnsupportedInput(NeovascError):
    code = "unsupported_input"
    status = 415
    title = "Unsupported input format"


class DecodeError(NeovascError):
    code = "decode_error"
    status = 422
    title = "Input could not be decoded"


class NoFrames(NeovascError):
    code = "no_frames"
    status = 422
    title = "Input holds no frames"


class NotAnImage(NeovascError):
    code = "not_an_image"
    status = 422
    title = "DICOM object without an image"


class UnsupportedTransferSyntax(NeovascError):
    code = "unsupported_transfer_syntax"
    status = 415
    title = "DICOM compression not readable here"


class InputTooLarge(NeovascError):
    code = "input_too_large"
    status = 413
    title = "Input too large"


class InvalidROI(NeovascError):
    code = "invalid_roi"
    status = 422
    title = "Invalid region of interest"


class NoTendonModel(NeovascError):
    code = "no_tendon_model"
    status = 422
    title = "No tendon model and no region of interest"


class DeviceUnavailable(NeovascError):
    code = "device_unavailable"
    status = 503
    title = "Requested device unavailable"


class BackendUnavailable(NeovascError):
    code = "backend_unavailable"
    status = 503
    title = "Requested counting backend unavailable"


class OutputError(NeovascError):
    code = "output_error"
    status = 500
    title = "Output could not be written"


class InvalidManifest(NeovascError):
    """Command line: a ``--manifest`` file that cannot be read as rows of inputs (``app.batch.manifest``)."""

    code = "invalid_manifest"
    status = 422
    title = "Invalid manifest"


class InputTimeout(NeovascError):
    """Command line batches: one input ran past ``--timeout``; it was stopped (``--jobs``: its worker process
    killed and replaced; ``--ray``: through the pipeline's stop flag, or its actor retired)."""

    code = "input_timeout"
    status = 504
    title = "Input took too long"


class WorkerCrashed(NeovascError):
    """Command line batches: the worker process or Ray actor grading one input died (killed, out of memory, a
    crash)."""

    code = "worker_crashed"
    status = 500
    title = "Worker process died"


class RayNotInstalled(NeovascError):
    """Command line: ``--ray`` asked for, but the optional ``ray`` extra is not installed."""

    code = "ray_not_installed"
    status = 503
    title = "Ray is not installed"


class RayUnavailable(NeovascError):
    """Command line: ``--ray``: the cluster cannot be reached or started, or one of its nodes holds other weights."""

    code = "ray_unavailable"
    status = 503
    title = "Ray cluster unavailable"


class ServiceBusy(NeovascError):
    """HTTP: more uploads in flight than ``NEOVASC_MAX_UPLOADS_IN_FLIGHT``, or a full job queue
    (``NEOVASC_MAX_JOBS``); answered with ``Retry-After: retry_after_s``."""

    code = "service_busy"
    status = 503
    title = "Service busy"

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RequestTimeout(NeovascError):
    """HTTP: an analysis ran past ``NEOVASC_REQUEST_TIMEOUT_S`` (or a job past ``NEOVASC_JOB_TIMEOUT_S``);
    the pipeline stopped at its next batch."""

    code = "request_timeout"
    status = 504
    title = "Analysis took too long"


class Cancelled(NeovascError):
    """HTTP: the work was stopped because the client went away or the job was cancelled (``DELETE``).

    499 is the status proxies log for "client closed request"; no client reads it, the audit line does."""

    code = "cancelled"
    status = 499
    title = "Cancelled"


class JobNotFound(NotFound):
    code = "job_not_found"
    title = "Job not found"


class InternalError(NeovascError):
    code = "internal_error"
    status = 500
    title = "Internal error"


class HTTPProblem(NeovascError):
    """A protocol-level HTTP error raised by the framework (wrong method, malformed request)."""

    code = "http_error"
    title = "HTTP error"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def as_neovasc_error(exc: BaseException) -> NeovascError:
    """Any exception as a NeovascError; unexpected ones become ``internal_error`` with no details.

    The original message of an unexpected exception is not passed on: it could quote file content.
    """
    if isinstance(exc, NeovascError):
        return exc
    if isinstance(exc, MemoryError):
        return InputTooLarge("the input needs more memory than this server has; send a smaller file")
    return InternalError(f"unexpected {type(exc).__name__} while processing the input; see the server log")


def problem_details(exc: NeovascError, instance: str | None = None) -> dict[str, Any]:
    """RFC 9457 problem details for an error, with the stable ``code`` as an extension member."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + exc.code,
        "title": exc.title,
        "status": exc.status,
        "detail": exc.message,
        "code": exc.code,
    }
    if instance is not None:
        body["instance"] = instance
    return body


def error_line(exc: NeovascError) -> dict[str, str]:
    """The ``error`` object of a failed Result and of the command line's JSON error lines."""
    return {"code": exc.code, "message": exc.message}


def error_json(code: str, message: str) -> str:
    """The command line's JSON error line (without its line end): ``{"ok": false, "error": {code, message}}``."""
    return json.dumps({"ok": False, "error": {"code": code, "message": message}})
