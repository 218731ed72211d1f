"""Resume keys, and what an earlier run already wrote to ``--out``.

An input is the same work as an earlier line when its bytes and everything that decides its grade are
the same: the key is ``sha256(input_sha256 + ":" + settings_sha256)``, never the file's name, so a
renamed or moved file is not graded again and a replaced file with the old name is. Only a file that
cannot be read, and so has no bytes to hash, is keyed by its absolute path instead. The settings hash
covers the analysis options, the grading settings, the tendon model's sha256 (when the model outlines
the tendon), the outputs asked for and the neovasc version. It leaves out what never changes a line: the HTTP
service's settings and the log's. The device is hashed as the run grades on it: ``auto`` resolved on this machine
(:func:`resolved_device`), so ``--device cpu`` and an ``auto`` that picks the CPU are the same work.

Every complete line already in ``--out`` must be one that ``neovasc grade`` writes: another line (not JSON, no
``batch.key``, a CSV row with other fields) refuses the resume, naming its line, before the file is changed.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app import __version__
from app.batch.summary import input_identity
from app.config import Settings
from app.errors import UsageError
from app.pipeline import AnalyzeOptions
from app.pipeline.device import resolve_device

# Settings (app/config.py) that never change an input's line. Every other setting, including one added later,
# is in the key: one left in by mistake only grades inputs again; one left out by mistake would skip an input
# that these settings grade otherwise. Kept, because they decide the line: chroma_threshold, colour_rule,
# min_vessel_px/_mm2, vessel_gap_px/_mm, band_mm/_px and grade_scale decide the grade; max_upload_bytes,
# max_frame_pixels, max_frames, max_total_pixels and max_decoded_bytes decide whether an input is graded at all.
_NOT_GRADING = {
    # the HTTP service alone: how it listens, admits, batches, stores, times out and guards requests
    "host", "port", "workers", "segment_batching", "result_store_mb", "max_uploads_in_flight",
    "request_timeout_s", "job_timeout_s", "max_jobs", "keep_alive_s", "max_connections", "max_header_bytes",
    "auth", "api_keys_file", "result_ttl_s", "cors_origins", "allowed_hosts",
    "log_level", "log_format",  # what the log on standard error says and how, never a line of --out
    "weights_dir",  # replaced by its model's sha256 ("model")
    "model_runtime",  # ONNX Runtime and torch give the same masks (checked when the graph is exported)
    "device", "backend",  # in "options", where --device and --backend override them
    "overlay_screen",  # in "outputs", and only when an output that shows the screen is asked for
}  # fmt: skip
# The outputs that draw the screen, and so depend on overlay_screen: overlay PNG and MP4, DICOM Secondary Capture.
_SHOWS_SCREEN = {"overlays", "dicom"}
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
        "screen": settings.overlay_screen if _SHOWS_SCREEN.intersection(outputs) else None,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def resolved_device(options: AnalyzeOptions, settings: Settings) -> AnalyzeOptions:
    """``options`` with the device ``auto`` (``--device`` or ``NEOVASC_DEVICE``) replaced by the one it picks here.

    For a run that grades on this machine (in this process or its worker processes, which pick the same): its
    key then names the device the grades are computed on, so ``--device cpu`` and an ``auto`` that picks the
    CPU are the same work. Not for ``--ray``, where each actor picks on its own node. A device other than
    ``auto`` is left as it is (``cuda`` without a GPU fails each input, as before).
    """
    if (options.device or settings.device) != "auto":
        return options
    return dataclasses.replace(options, device=resolve_device("auto"))


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

    Each record has ``key``, ``ok``, ``study``, ``colour_fraction``, ``grade``, ``settings`` (the line's
    ``settings_sha256``), ``input`` (:func:`input_identity`) and ``path`` (as given). ``columns`` is the CSV
    header this version writes (None for JSON lines). A last line without a line end (cut short by a kill) is
    left out: its input is graded again, once :func:`trim_partial_line` has cut it.

    Raises:
        UsageError: a complete line that ``neovasc grade`` does not write (empty, not JSON, no ``batch.key``;
            a CSV row with other fields than the header, or no ``resume_key``), its number named; a CSV whose
            header is not the one this version writes (another version's file).
    """
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    complete = text[: text.rfind("\n") + 1]
    if columns is None:
        lines = complete.split("\n")[:-1]  # not splitlines(): a string may hold U+2028, which it splits on
        return [_json_record(line, number, path.name) for number, line in enumerate(lines, 1)]
    return list(_csv_records(complete, columns, path.name))


def done_keys(records: list[dict[str, Any]]) -> Counter[str]:
    """How many lines each resume key already has (the same file may be listed more than once)."""
    return Counter(record["key"] for record in records if record.get("key"))


def summary_records(records: list[dict[str, Any]], settings_now: set[str]) -> list[dict[str, Any]]:
    """The lines a ``--summary`` counts: every line but those of an input graded with other settings than this run's.

    ``settings_now``: the settings hashes of this run's inputs (skipped or graded). An input that has a line for
    one of them (this run's, or an earlier run's with the same settings) is counted by that line alone, not also
    by lines an earlier run wrote with other settings. Lines with the same key all count: a file listed twice
    has two lines. Lines of inputs that this run does not list count as they are (an archive graded in parts).
    A line of a file that could not be read (missing) does not count once a line of the same path was read.
    """
    read = {record.get("path") for record in records if not _unread(record)}
    records = [record for record in records if not (_unread(record) and record.get("path") in read)]
    current = {record["input"] for record in records if record.get("settings") in settings_now}
    return [record for record in records if record.get("settings") in settings_now or record["input"] not in current]


def _unread(record: dict[str, Any]) -> bool:
    """A line of a file that could not be read (missing): keyed by its path, not its bytes."""
    return str(record["input"]).startswith("path:")


def _foreign(name: str, number: int, why: str) -> UsageError:
    return UsageError(
        f"--resume: line {number} of {name!r} is not a line neovasc grade writes ({why}); nothing was graded and "
        "the file is unchanged: remove or mend that line, or resume into a new file"
    )


def _json_record(line: str, number: int, name: str) -> dict[str, Any]:
    try:
        raw = json.loads(line)
    except ValueError:
        raise _foreign(name, number, "not JSON" if line.strip() else "an empty line") from None
    batch = raw.get("batch") if isinstance(raw, dict) else None
    if not isinstance(batch, dict) or not isinstance(batch.get("key"), str):
        raise _foreign(name, number, "JSON without a batch.key")
    summary = raw.get("summary") if isinstance(raw.get("summary"), dict) else {}
    return {
        "key": batch["key"],
        "ok": raw.get("ok") is True,
        "study": batch.get("study"),
        "colour_fraction": summary.get("colour_fraction"),
        "grade": summary.get("grade"),
        "settings": batch.get("settings_sha256"),
        "input": input_identity(batch.get("input_sha256"), batch.get("path")),
        "path": batch.get("path"),
    }


def _csv_records(text: str, columns: tuple[str, ...], name: str) -> Iterator[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        if reader.fieldnames is not None and tuple(reader.fieldnames) != columns:
            raise UsageError(
                f"--resume: {name!r} has other CSV columns than this version writes; "
                "resume into a new file or write JSON lines (--out FILE.jsonl)"
            )
        for row in reader:
            if None in row or None in row.values():  # more fields than the header, or fewer
                raise _foreign(name, reader.line_num, "other fields than the header")
            if not row["resume_key"]:
                raise _foreign(name, reader.line_num, "no resume_key")
            yield {
                "key": row["resume_key"],
                "ok": row["ok"] == "True",
                "study": row["study"] or None,
                "colour_fraction": _number(row["colour_fraction"]),
                "grade": _number(row["grade"]),
                "settings": row["settings_sha256"] or None,
                "input": input_identity(row["input_sha256"], row["path"]),
                "path": row["path"],
            }
    except csv.Error as exc:
        raise _foreign(name, reader.line_num, f"not CSV: {exc}") from None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None
