"""Archive grading for the command line: many inputs, resumable, in parallel, with a time limit per input.

``inputs`` turns paths or a manifest into tasks (each keyed for ``--resume``), ``runner`` grades them
in this process or in worker processes (or, with ``--ray``, hands them to ``ray_run``, imported only
then), ``sink`` writes each line as it finishes, ``pairing`` compares the before/after pairs of a
manifest and ``summary`` makes the per-study table. The command line (``app/cli.py``) only parses
options and wires these together.
"""

from app.batch.grading import BatchConfig, OutputDirs, Task, grade_task
from app.batch.inputs import BatchInput, from_manifest, from_paths, plan
from app.batch.launch import ray_runner, run
from app.batch.manifest import ManifestRow, Pair, pairs, read_manifest
from app.batch.pairing import PairLine, compare_pairs
from app.batch.progress import Progress, progress_enabled
from app.batch.resume import done_keys, previous_lines, trim_partial_line
from app.batch.runner import DEFAULT_TIMEOUT_S, Parallel
from app.batch.session import Destination, Tally, grade_batch
from app.batch.sink import BATCH_COLUMNS, COLUMNS, LineSink
from app.batch.summary import record, write_summary

__all__ = [
    "BATCH_COLUMNS",
    "COLUMNS",
    "DEFAULT_TIMEOUT_S",
    "BatchConfig",
    "BatchInput",
    "Destination",
    "LineSink",
    "ManifestRow",
    "OutputDirs",
    "Pair",
    "PairLine",
    "Parallel",
    "Progress",
    "Tally",
    "Task",
    "compare_pairs",
    "done_keys",
    "from_manifest",
    "from_paths",
    "grade_batch",
    "grade_task",
    "pairs",
    "plan",
    "previous_lines",
    "progress_enabled",
    "ray_runner",
    "read_manifest",
    "record",
    "run",
    "trim_partial_line",
    "write_summary",
]
