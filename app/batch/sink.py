"""Where a batch's lines go: JSON lines or CSV, one line per input, written and flushed as each finishes.

A line is written whole and flushed before the next input's, so a run that is killed loses at most
the inputs still being graded, and at most the one line being written is cut short (``--resume``
drops it and grades that input again).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TextIO

from app.pipeline.outputs import CSV_COLUMNS, csv_row
from app.schemas import Result

# Appended after the Result's own columns (app/pipeline/outputs/table.py): the batch fields of each line.
BATCH_COLUMNS = ("path", "resume_key", "input_sha256", "settings_sha256", "study", "patient_key", "timepoint")
COLUMNS = CSV_COLUMNS + BATCH_COLUMNS


def csv_line(result: Result) -> dict[str, object]:
    """One CSV row: the Result's columns, then :data:`BATCH_COLUMNS` (empty cells when there is no batch)."""
    row = csv_row(result)
    batch = result.batch
    extra = {
        "path": batch.path if batch else None,
        "resume_key": batch.key if batch else None,
        "input_sha256": batch.input_sha256 if batch else None,
        "settings_sha256": batch.settings_sha256 if batch else None,
        "study": batch.study if batch else None,
        "patient_key": batch.patient_key if batch else None,
        "timepoint": batch.timepoint if batch else None,
    }
    row.update({column: "" if value is None else value for column, value in extra.items()})
    return row


class LineSink:
    """Writes each Result as it comes: a JSON line, or a CSV row (with the header first in a new file)."""

    def __init__(self, stream: TextIO, csv_format: bool, header: bool) -> None:
        self._stream = stream
        self._csv = csv_format
        self._header = header and csv_format

    @classmethod
    def open(cls, path: Path, append: bool) -> LineSink:
        """A sink on ``path`` (``.csv`` or ``.jsonl``); ``append`` keeps the lines already there."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not append or not path.exists() or path.stat().st_size == 0
        stream = path.open("a" if append else "w", encoding="utf-8", newline="")
        return cls(stream, path.suffix.lower() == ".csv", header=fresh)

    def write(self, result: Result) -> None:
        if not self._csv:
            text = result.to_json() + "\n"
        else:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
            if self._header:
                writer.writeheader()
                self._header = False
            writer.writerow(csv_line(result))
            text = buffer.getvalue()
        self._stream.write(text)  # one write per line, so a kill cuts at most this line
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()
