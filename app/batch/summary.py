"""The per-study summary of a batch (``--summary FILE.csv``): one row per manifest ``study``.

Columns: ``study`` (empty for inputs without one), ``inputs``, ``ok``, ``failed``,
``colour_fraction_median`` (over the inputs graded ok that have a colour fraction) and ``grades``
(how many inputs got each headline grade, ``grade:count`` joined by ``;``, e.g. ``0:3;2:1``).
"""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from app.schemas import Result

SUMMARY_COLUMNS = ("study", "inputs", "ok", "failed", "colour_fraction_median", "grades")


def record(result: Result) -> dict[str, Any]:
    """The fields of a Result the summary needs (the same shape ``resume.previous_lines`` reads back)."""
    summary, batch = result.summary, result.batch
    return {
        "key": batch.key if batch else None,
        "ok": result.ok,
        "study": batch.study if batch else None,
        "colour_fraction": summary.colour_fraction if summary else None,
        "grade": summary.grade if summary else None,
        "settings": batch.settings_sha256 if batch else None,
        "input": input_identity(batch.input_sha256, batch.path) if batch else None,
        "path": batch.path if batch else None,
    }


def input_identity(input_sha256: str | None, path: str | None) -> str:
    """What a line was graded from, whatever the settings: the bytes' sha256, or ``path:`` and the path as given."""
    return input_sha256 if input_sha256 else f"path:{path}"


def study_rows(records: list[dict[str, Any]]) -> list[dict[str, object]]:
    """One row per study, in the order studies first appear."""
    by_study: dict[str, list[dict[str, Any]]] = {}
    for item in records:
        by_study.setdefault(item.get("study") or "", []).append(item)
    return [_row(study, items) for study, items in by_study.items()]


def write_summary(path: Path, records: list[dict[str, Any]]) -> None:
    """Write the per-study table to ``path`` (CSV)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(study_rows(records))


def _row(study: str, items: list[dict[str, Any]]) -> dict[str, object]:
    ok = [item for item in items if item["ok"]]
    fractions = [item["colour_fraction"] for item in ok if item["colour_fraction"] is not None]
    grades = Counter(int(item["grade"]) for item in ok if item["grade"] is not None)
    return {
        "study": study,
        "inputs": len(items),
        "ok": len(ok),
        "failed": len(items) - len(ok),
        "colour_fraction_median": statistics.median(fractions) if fractions else "",
        "grades": ";".join(f"{grade}:{count}" for grade, count in sorted(grades.items())),
    }
