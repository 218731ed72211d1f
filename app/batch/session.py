"""One ``neovasc grade`` run from start to end: resume, progress, the lines, the summary table.

``--resume`` reads the complete lines of ``--out``, drops a last line cut short by a kill, and appends;
without it ``--out`` is written anew. Every finished input's line is written and flushed at once.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from app.batch.grading import BatchConfig, grade_task
from app.batch.inputs import BatchInput, plan
from app.batch.launch import run
from app.batch.progress import Progress, progress_enabled
from app.batch.resume import done_keys, previous_lines, trim_partial_line
from app.batch.runner import IN_PROCESS, Grader, Parallel
from app.batch.sink import COLUMNS, LineSink
from app.batch.summary import record, write_summary
from app.errors import UsageError
from app.pipeline import AnalyzeOptions
from app.schemas import Result

log = logging.getLogger("neovasc")


@dataclass(frozen=True)
class Destination:
    """Where lines go: ``out`` (``.jsonl`` or ``.csv``) or ``stdout``; ``resume`` appends to ``out``."""

    stdout: TextIO
    out: Path | None = None
    resume: bool = False
    summary: Path | None = None


@dataclass
class Tally:
    """What a run did: inputs graded ok and failed in this run, and those ``--resume`` skipped."""

    ok: int = 0
    failed: int = 0
    skipped: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def graded(self) -> int:
        return self.ok + self.failed


def grade_batch(
    inputs: list[BatchInput],
    options: AnalyzeOptions,
    config: BatchConfig,
    destination: Destination,
    parallel: Parallel = IN_PROCESS,
    *,
    progress_stream: TextIO,
    quiet: bool = False,
    grader: Grader = grade_task,
) -> Tally:
    """Grade ``inputs`` and write one line each as it finishes. Raises ``KeyboardInterrupt`` when stopped.

    Raises:
        UsageError: ``--resume`` into a CSV that another version wrote; ``--out`` or ``--summary`` cannot be
            written (the message names which).
    """
    with _option_file("--out"):
        earlier = _earlier(destination)
        sink = LineSink.open(destination.out, append=destination.resume) if destination.out is not None else None
    tally = Tally(records=earlier)
    progress = Progress(len(inputs), progress_stream, progress_enabled(progress_stream, quiet))

    def skipped(item: BatchInput) -> None:
        tally.skipped += 1
        progress.skip()

    try:

        def emit(result: Result) -> None:
            if sink is not None:
                with _option_file("--out"):
                    sink.write(result)
            else:
                destination.stdout.write(result.to_json() + "\n")
                destination.stdout.flush()
            tally.ok += result.ok
            tally.failed += not result.ok
            tally.records.append(record(result))
            progress.done(result)

        done: Counter[str] = done_keys(earlier)
        run(plan(inputs, options, config, done, skipped), config, emit, parallel, grader)
    finally:
        progress.close()
        if sink is not None:
            with _option_file("--out"):
                sink.close()
    if destination.summary is not None:
        with _option_file("--summary"):
            write_summary(destination.summary, tally.records)
    return tally


@contextlib.contextmanager
def _option_file(option: str) -> Iterator[None]:
    """An OSError in the block as a UsageError that names ``option`` (``--out``, ``--summary``), its file."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"{option} cannot be written: {exc.strerror or type(exc).__name__}") from exc


def _earlier(destination: Destination) -> list[dict[str, Any]]:
    """The lines a run before this one wrote, when resuming (a cut-off last line is removed first)."""
    if not destination.resume or destination.out is None or not destination.out.is_file():
        return []
    cut = trim_partial_line(destination.out)
    if cut:
        log.warning("--resume: dropped a last line cut short (%d bytes); that input is graded again", cut)
    columns = COLUMNS if destination.out.suffix.lower() == ".csv" else None
    return previous_lines(destination.out, columns)
