"""A batch's inputs: files and folders from the command line or the rows of a manifest, and the tasks they make.

Planning a task hashes the input's bytes and its settings into the resume key; an input whose key an
earlier run's ``--out`` already holds is skipped instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.batch.grading import BatchConfig, Task
from app.batch.manifest import ManifestRow
from app.batch.resume import file_sha256, model_sha256, resume_key, settings_sha256
from app.pipeline import AnalyzeOptions, RoiSpec
from app.schemas import BatchInfo

# Files picked up when a directory is given (plus suffix-less DICOM files, as PACS exports name them);
# explicit file paths are always tried.
KNOWN_SUFFIXES = {
    ".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff",
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm",
}  # fmt: skip


@dataclass(frozen=True)
class BatchInput:
    """One file to grade: where it is, the path as the user gave it, and a manifest row's region and keys."""

    path: Path
    given: str
    roi: RoiSpec | None = None
    study: str | None = None
    patient_key: str | None = None
    timepoint: str | None = None


def from_paths(paths: Sequence[Path]) -> list[BatchInput]:
    """Files as given, and the gradable files under each folder (recursively, sorted)."""
    return [BatchInput(path=path, given=str(path)) for path in _expand(paths)]


def from_manifest(rows: Iterable[ManifestRow]) -> list[BatchInput]:
    return [
        BatchInput(row.path, row.given, row.roi, row.study, row.patient_key, row.timepoint)
        for row in rows
    ]  # fmt: skip


def plan(
    inputs: Iterable[BatchInput],
    options: AnalyzeOptions,
    config: BatchConfig,
) -> Iterator[Task]:
    """The tasks of ``inputs``, made one at a time as the runner asks (each hashes its file and gets its resume
    key; ``--resume`` drops those already done, app/batch/session.py). A manifest row's ``roi`` replaces the
    command line's region (and hint) for that row.
    """
    used: set[str] = set()
    model = model_sha256(config.settings.weights_dir)  # once a run, not once an input
    common = settings_sha256(options, config.settings, config.outputs.kinds(), model)  # rows without their own roi
    for item in inputs:
        row_options = options if item.roi is None else dataclasses.replace(options, roi=item.roi, hint=None)
        settings_hash = (
            common if item.roi is None else settings_sha256(row_options, config.settings, config.outputs.kinds(), model)
        )
        content = file_sha256(item.path)
        key = resume_key(content, settings_hash, item.path)
        stem = _unique_stem(item.path.stem, used)  # inputs skipped later keep their names: no file is overwritten
        info = BatchInfo(
            path=item.given, key=key, input_sha256=content, settings_sha256=settings_hash,
            study=item.study, patient_key=item.patient_key, timepoint=item.timepoint,
        )  # fmt: skip
        yield Task(path=item.path, stem=stem, options=row_options, batch=info)


def _expand(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and _gradable(p))
        else:
            yield path


def _gradable(path: Path) -> bool:
    if path.suffix.lower() in KNOWN_SUFFIXES:
        return True
    if path.suffix or path.name.upper() == "DICOMDIR":
        return False
    try:
        with path.open("rb") as handle:
            return handle.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def _unique_stem(stem: str, used: set[str]) -> str:
    """``stem``, or ``stem-2``, ``stem-3``... when an earlier input of the batch had the same name."""
    name, n = stem, 1
    while name in used:
        n += 1
        name = f"{stem}-{n}"
    used.add(name)
    return name
