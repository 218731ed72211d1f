"""``neovasc compare --manifest``: grade every before and after row of a manifest, then compare each pair.

Every row is graded once through the batch runner (so ``--jobs`` and ``--timeout`` apply), and each
pair becomes one line: the Comparison of ``app.compare`` (both Results carry the row's ``batch`` keys),
or an ``ok: false`` line naming the pair's ``study`` and ``patient_key`` and the side that failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from app.batch.grading import BatchConfig, grade_task
from app.batch.inputs import from_manifest, plan
from app.batch.launch import run
from app.batch.manifest import Pair
from app.batch.runner import IN_PROCESS, Grader, Parallel
from app.compare import compare
from app.errors import InvalidManifest
from app.pipeline import AnalyzeOptions
from app.schemas import Result

_RowKey = tuple[str | None, str | None, str | None]  # study, patient_key, timepoint


@dataclass(frozen=True)
class PairLine:
    """One output line of ``compare --manifest``: its JSON text and whether the pair was compared."""

    text: str
    ok: bool


def compare_pairs(
    pairs: list[Pair],
    options: AnalyzeOptions,
    config: BatchConfig,
    parallel: Parallel = IN_PROCESS,
    grader: Grader = grade_task,
) -> tuple[list[PairLine], list[Result]]:
    """Grade the rows of the complete pairs and compare each pair, in the manifest's order of pairs.

    Returns the lines and every Result graded (for ``--summary``).
    """
    rows = [row for pair in pairs if pair.problem is None for row in (pair.before, pair.after) if row is not None]
    graded: dict[_RowKey, Result] = {}

    def keep(result: Result) -> None:
        batch = result.batch
        assert batch is not None, "batch tasks carry their keys"
        graded[(batch.study, batch.patient_key, batch.timepoint)] = result

    run(plan(from_manifest(rows), options, config), config, keep, parallel, grader)
    return list(_lines(pairs, graded)), list(graded.values())


def _lines(pairs: list[Pair], graded: dict[_RowKey, Result]) -> Iterator[PairLine]:
    for pair in pairs:
        if pair.problem is not None:
            yield _failed_line(pair, InvalidManifest.code, pair.problem)
            continue
        before = graded[(pair.study, pair.patient_key, "before")]
        after = graded[(pair.study, pair.patient_key, "after")]
        failed = next(((side, r) for side, r in (("before", before), ("after", after)) if not r.ok), None)
        if failed is None:
            yield PairLine(compare(before, after).to_json(), ok=True)
            continue
        side, result = failed
        assert result.error is not None, "a failed Result has an error"
        yield _failed_line(pair, result.error.code, f"{side}: {result.error.message}")


def _failed_line(pair: Pair, code: str, message: str) -> PairLine:
    line = {
        "ok": False,
        "error": {"code": code, "message": message},
        "study": pair.study,
        "patient_key": pair.patient_key,
    }
    return PairLine(json.dumps(line), ok=False)
