"""One ``neovasc grade`` run from start to end: resume, progress, the lines, the summary table.

``--resume`` reads the complete lines of ``--out`` (refusing a file with a line it did not write), drops a last
line cut short by a kill, and appends; without it ``--out`` is written anew. Every finished input's line is
written and flushed at once. The summary counts an input once: not also by its lines for other settings.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from app.batch.grading import BatchConfig, Task, grade_task
from app.batch.inputs import BatchInput, plan
from app.batch.launch import run
from app.batch.progress import Progress, progress_enabled
from app.batch.resume import (
    done_keys,
    previous_lines,
    resolved_device,
    summary_records,
    trim_partial_line,
)
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
        UsageError: ``--resume`` into a file with a line ``neovasc grade`` does not write, or a CSV that another
            version wrote; ``--out`` or ``--summary`` cannot be written (the message names which).
    """
    with _option_file("--out"):
        earlier = _earlier(destination)
        sink = LineSink.open(destination.out, append=destination.resume) if destination.out is not None else None
    tally = Tally(records=earlier)
    progress = Progress(len(inputs), progress_stream, progress_enabled(progress_stream, quiet))

    settings_now: set[str] = set()  # the settings hashes of this run's inputs, graded or skipped

    def skipped() -> None:
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

        if parallel.ray is None:  # graded on this machine: the key names the device ``auto`` picks here
            options = resolved_device(options, config.settings)
        tasks = _unfinished(plan(inputs, options, config), done_keys(earlier), settings_now, skipped)
        run(tasks, config, emit, parallel, grader)
    finally:
        progress.close()
        if sink is not None:
            with _option_file("--out"):
                sink.close()
    if destination.summary is not None:
        with _option_file("--summary"):
            write_summary(destination.summary, summary_records(tally.records, settings_now))
    return tally


@contextlib.contextmanager
def _option_file(option: str) -> Iterator[None]:
    """An OSError in the block as a UsageError that names ``option`` (``--out``, ``--summary``), its file."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"{option} cannot be written: {exc.strerror or type(exc).__name__}") from exc


def _unfinished(
    tasks: Iterable[Task], done: Counter[str], settings_now: set[str], on_skip: Callable[[], None]
) -> Iterator[Task]:
    """The tasks whose key ``done`` does not hold (once per line it has); notes every task's settings hash."""
    for task in tasks:
        settings_now.add(task.batch.settings_sha256)
        key = task.batch.key
        if key is not None and done[key] > 0:
            done[key] -= 1
            on_skip()
            continue
        yield task


def _earlier(destination: Destination) -> list[dict[str, Any]]:
    """The lines a run before this one wrote, when resuming; then a cut-off last line is removed.

    The lines are read (and a file with a line this command does not write refused) before the file is changed.
    """
    if not destination.resume or destination.out is None or not destination.out.is_file():
        return []
    columns = COLUMNS if destination.out.suffix.lower() == ".csv" else None
    records = previous_lines(destination.out, columns)
    cut = trim_partial_line(destination.out)
    if cut:
        log.warning("--resume: dropped a last line cut short (%d bytes); that input is graded again", cut)
    return records
