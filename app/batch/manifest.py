"""Manifest files: the inputs of an archive run, one row each, with the keys that come back on each line.

A manifest is a CSV file with a header, or JSON lines (one object per line). Columns: ``path`` (needed;
relative to the manifest's folder, or absolute), and optional ``roi`` (``x0,y0,x1,y1``), ``study``,
``patient_key`` and ``timepoint``. Other columns are ignored. The keys are the user's own labels: they
come back on the output line as given, and nothing is read from the input's DICOM header for them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.errors import InvalidManifest, NeovascError
from app.pipeline import RoiSpec

COLUMNS = ("path", "roi", "study", "patient_key", "timepoint")
BEFORE, AFTER = "before", "after"


@dataclass(frozen=True)
class ManifestRow:
    """One input of a manifest. ``number`` is the row's line in the file (the header is line 1 of a CSV)."""

    number: int
    path: Path  # resolved against the manifest's folder
    given: str  # the path as written in the manifest
    roi: RoiSpec | None = None
    study: str | None = None
    patient_key: str | None = None
    timepoint: str | None = None


@dataclass(frozen=True)
class Pair:
    """Two rows of one tendon to compare: the same ``study`` and ``patient_key``, timepoints before and after."""

    study: str | None
    patient_key: str | None
    before: ManifestRow | None
    after: ManifestRow | None
    problem: str | None = None  # why the group is not a pair (a missing or repeated timepoint)


def read_manifest(path: Path) -> list[ManifestRow]:
    """The rows of ``FILE.csv`` or ``FILE.jsonl``.

    Raises:
        InvalidManifest: the file cannot be read, has another suffix, no ``path`` column, a row without a
            path, a malformed ``roi``, or no rows; the message names the line.
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise InvalidManifest(f"--manifest must end in .csv or .jsonl, got {path.name!r}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__
        raise InvalidManifest(f"--manifest {path.name!r} cannot be read: {why}") from exc
    raw = _csv_rows(text, path.name) if suffix == ".csv" else _jsonl_rows(text, path.name)
    rows = [_row(number, values, path.parent, path.name) for number, values in raw]
    if not rows:
        raise InvalidManifest(f"--manifest {path.name!r} lists no inputs")
    return rows


def pairs(rows: list[ManifestRow]) -> list[Pair]:
    """Group rows by (``study``, ``patient_key``), in the order each group first appears.

    A group with exactly one ``before`` and one ``after`` row is a pair; any other group is returned
    with ``problem`` set, so that it gets a failed line of its own and the other pairs go on.

    Raises:
        InvalidManifest: a row's ``timepoint`` is not ``before`` or ``after``.
    """
    groups: dict[tuple[str | None, str | None], list[ManifestRow]] = {}
    for row in rows:
        if row.timepoint not in (BEFORE, AFTER):
            raise InvalidManifest(
                f"manifest line {row.number}: compare needs timepoint 'before' or 'after', got {row.timepoint!r}"
            )
        groups.setdefault((row.study, row.patient_key), []).append(row)
    return [_pair(key, group) for key, group in groups.items()]


def _pair(key: tuple[str | None, str | None], group: list[ManifestRow]) -> Pair:
    before = [row for row in group if row.timepoint == BEFORE]
    after = [row for row in group if row.timepoint == AFTER]
    problem = None
    if len(before) != 1 or len(after) != 1:
        lines = ", ".join(str(row.number) for row in group)
        found = f"found {len(before)} and {len(after)}"
        problem = f"manifest lines {lines}: a pair needs one 'before' and one 'after' row, {found}"
    return Pair(
        study=key[0],
        patient_key=key[1],
        before=before[0] if len(before) == 1 else None,
        after=after[0] if len(after) == 1 else None,
        problem=problem,
    )


def _csv_rows(text: str, name: str) -> Iterator[tuple[int, dict[str, object]]]:
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or "path" not in [field.strip() for field in reader.fieldnames]:
        raise InvalidManifest(f"--manifest {name!r} needs a header line with a 'path' column ({', '.join(COLUMNS)})")
    for row in reader:
        yield reader.line_num, {(key or "").strip(): value for key, value in row.items()}


def _jsonl_rows(text: str, name: str) -> Iterator[tuple[int, dict[str, object]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
        except ValueError as exc:
            raise InvalidManifest(f"--manifest {name!r} line {number} is not JSON: {exc.msg}") from exc
        if not isinstance(values, dict):
            raise InvalidManifest(f"--manifest {name!r} line {number} is not a JSON object")
        yield number, values


def _row(number: int, values: dict[str, object], folder: Path, name: str) -> ManifestRow:
    text = {key: _text(values.get(key), key, number, name) for key in COLUMNS}
    given = text["path"]
    if given is None:
        raise InvalidManifest(f"--manifest {name!r} line {number} has no 'path'")
    roi = None
    if text["roi"] is not None:
        try:
            roi = RoiSpec.from_text(text["roi"])
        except NeovascError as exc:
            raise InvalidManifest(f"--manifest {name!r} line {number}: {exc.message}") from exc
    timepoint = text["timepoint"].lower() if text["timepoint"] is not None else None
    return ManifestRow(
        number=number,
        path=folder / Path(given).expanduser(),  # an absolute path replaces the folder
        given=given,
        roi=roi,
        study=text["study"],
        patient_key=text["patient_key"],
        timepoint=timepoint,
    )


def _text(value: object, column: str, number: int, name: str) -> str | None:
    """A cell as stripped text; None when empty or absent. Numbers are accepted (a numeric patient key)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidManifest(f"--manifest {name!r} line {number}: {column!r} must be text")
    stripped = str(value).strip()
    return stripped or None
