"""Graders for the worker tests, in a module the spawned workers can import (test modules are not importable)."""

from __future__ import annotations

import os
import time

from app.batch import BatchConfig, Task, grade_task
from app.schemas import Result

HANG_S = 120.0


def hang_on_marked(task: Task, config: BatchConfig) -> Result:
    """Grades as usual, except an input named ``hang*`` sleeps as a stuck decoder would."""
    if task.path.name.startswith("hang"):
        time.sleep(HANG_S)
    return grade_task(task, config)


def crash_on_marked(task: Task, config: BatchConfig) -> Result:
    """As :func:`hang_on_marked`, and an input named ``crash*`` kills its worker (a decoder that segfaults)."""
    if task.path.name.startswith("crash"):
        os._exit(3)
    return hang_on_marked(task, config)
