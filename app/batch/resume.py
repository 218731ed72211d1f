"""Resume keys, and what an earlier run already wrote to ``--out``.

An input is the same work as an earlier line when its bytes and everything that decides its grade are
the same: the key is ``sha256(input_sha256 + ":" + settings_sha256)``, never the file's name, so a
renamed or moved file is not graded again and a replaced file with the old name is. Only a file that
cannot be read, and so has no bytes to hash, is keyed by its absolute path instead. The settings hash
covers the analysis options, the grading settings, the tendon model's sha256 (when the model outlines
the tendon), the outputs asked for and the neovasc version.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app import __version__
from app.config import Settings
from app.errors import UsageError
from app.pipeline import AnalyzeOptions

# Settings that change how the HTTP service runs or logs, never what a grade is (the weights folder is
# replaced by its model's sha256). Every other setting, including one added later, is in the key.
_NOT_GRADING = {
    "host", "port", "workers", "result_store_mb", "log_level", "weights_dir",
    "auth", "api_keys_file", "result_ttl_s", "cors_origins", "allowed_hosts",
    "max_uploads_in_flight", "request_timeout_s", "job_timeout_s", "max_jobs", "keep_alive_s",
    "max_connections", "max_header_bytes", "segment_batching",
    "model_runtime",  # ONNX Runtime and torch give the same masks (checked when the graph is exported)
}  # fmt: skip
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str | None:
    """The sha256 of a file's bytes, read in 1 MiB chunks; None when it cannot be read (missing, a folder)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def model_sha256(weights_dir: Path) -> str:
    """The sha256 the weights manifest lists for its first model (the one the pipeline loads).

    Read from ``MANIFEST.json`` without loading the model; ``"none"`` when no model is listed and
    ``"unreadable"`` when the manifest cannot be read (grading then fails with ``no_tendon_model``).
    """
    try:
        models = json.loads((weights_dir / "MANIFEST.json").read_text(encoding="utf-8")).get("models") or []
        return str(models[0]["sha256"]) if models else "none"
    except (OSError, ValueError, AttributeError, LookupError, TypeError):
        return "unreadable"


def settings_sha256(
    options: AnalyzeOptions, settings: Settings, outputs: tuple[str, ...], model: str | None = None
) -> str:
    """sha256 of everything that decides an input's line, given the same bytes.

    ``outputs`` names the output kinds asked for (``masks``, ``overlays``, ``dicom``), so that asking
    for overlays later grades the inputs again and writes them. ``model``: the model's sha256 when the
    caller read it already (``model_sha256``), else it is read here.
    """
    if options.roi is None and model is None:
        model = model_sha256(settings.weights_dir)
    described: dict[str, Any] = {
        "version": __version__,
        "options": _options(options, settings),
        "settings": settings.model_dump(mode="json", exclude=_NOT_GRADING),
        "model": model if options.roi is None else None,
        "outputs": sorted(outputs),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def resume_key(input_sha256: str | None, settings_hash: str, path: Path) -> str:
    """The key ``--resume`` matches on: the input's bytes and the settings.

    A file that cannot be read (missing, a folder) has no bytes: its absolute path stands in for them, so
    that its ``ok: false`` line counts as graded like any other, and the file put there later is graded.
    """
    content = input_sha256 if input_sha256 is not None else f"path:{path.absolute()}"
    return hashlib.sha256(f"{content}:{settings_hash}".encode()).hexdigest()


def _options(options: AnalyzeOptions, settings: Settings) -> dict[str, Any]:
    roi: Any = None
    if options.roi is not None and options.roi.rect is not None:
        roi = list(options.roi.rect)
    elif options.roi is not None and options.roi.mask is not None:
        mask = options.roi.mask
        roi = {"shape": list(mask.shape), "sha256": hashlib.sha256(mask.astype(bool).tobytes()).hexdigest()}
    hint = None
    if options.hint is not None:
        hint = {"box": list(options.hint.box) if options.hint.box else None, "points": list(options.hint.points)}
    return {
        "roi": roi,
        "hint": hint,
        "device": options.device or settings.device,
        "backend": options.backend or settings.backend,
        "every": options.every,
        "max_frames": options.max_frames,
    }


def trim_partial_line(path: Path) -> int:
    """Cut a last line that has no line end (a run killed while writing it); returns the bytes removed.

    Appending after it would glue the next line onto the broken one.
    """
    with path.open("rb+") as handle:
        data = handle.read()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            handle.truncate(keep)
    return len(data) - keep


def previous_lines(path: Path, columns: tuple[str, ...] | None) -> list[dict[str, Any]]:
    """The complete lines of an earlier ``--out`` file as flat records.

    Each record has ``key``, ``ok``, ``study``, ``colour_fraction`` and ``grade``. ``columns`` is the
    CSV header this version writes (None for JSON lines). A line without a line end, or one that does not
    parse, is left out: its input is graded again.

    Raises:
        UsageError: a CSV whose header is not the one this version writes (another version's file).
    """
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    complete = text[: text.rfind("\n") + 1]
    if columns is None:
        return [record for line in complete.splitlines() if (record := _json_record(line)) is not None]
    return list(_csv_records(complete, columns, path.name))


def done_keys(records: list[dict[str, Any]]) -> Counter[str]:
    """How many lines each resume key already has (the same file may be listed more than once)."""
    return Counter(record["key"] for record in records if record.get("key"))


def _json_record(line: str) -> dict[str, Any] | None:
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    batch = raw.get("batch") or {}
    summary = raw.get("summary") or {}
    return {
        "key": batch.get("key"),
        "ok": raw.get("ok") is True,
        "study": batch.get("study"),
        "colour_fraction": summary.get("colour_fraction"),
        "grade": summary.get("grade"),
    }


def _csv_records(text: str, columns: tuple[str, ...], name: str) -> Iterator[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is not None and tuple(reader.fieldnames) != columns:
        raise UsageError(
            f"--resume: {name!r} has other CSV columns than this version writes; "
            "resume into a new file or write JSON lines (--out FILE.jsonl)"
        )
    for row in reader:
        yield {
            "key": row.get("resume_key") or None,
            "ok": row.get("ok") == "True",
            "study": row.get("study") or None,
            "colour_fraction": _number(row.get("colour_fraction")),
            "grade": _number(row.get("grade")),
        }


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None
