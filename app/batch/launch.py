"""Where a batch's tasks run: on this machine (``runner``), or on a Ray cluster (``ray_run``) with ``--ray``.

``ray_run`` imports ray, an optional extra, so it is imported here only when a batch asks for Ray; a
missing extra is the named error ``ray_not_installed``, never an import traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

from app.batch.grading import BatchConfig, Task, grade_task
from app.batch.runner import IN_PROCESS, Emit, Grader, Parallel
from app.batch.runner import run as run_here
from app.errors import RayNotInstalled


def run(
    tasks: Iterable[Task], config: BatchConfig, emit: Emit, parallel: Parallel = IN_PROCESS, grader: Grader = grade_task
) -> None:
    """Grade every task and ``emit`` its Result as soon as it is done: ``runner.run``, or Ray for ``parallel.ray``.

    Raises ``KeyboardInterrupt`` on Ctrl-C or SIGTERM after stopping the workers or actors.
    """
    if parallel.ray is None:
        run_here(tasks, config, emit, parallel, grader)
    else:
        ray_runner().run_on_ray(iter(tasks), config, emit, parallel, grader)


def ray_runner() -> ModuleType:
    """``app.batch.ray_run``, imported on first use.

    Raises:
        RayNotInstalled: the ``ray`` extra is not installed.
    """
    try:
        from app.batch import ray_run
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "ray":
            raise  # another missing module names itself
        raise RayNotInstalled(
            "--ray needs the optional Ray packages, which are not installed here: pip install 'neovasc[ray]' "
            "(on every node of the cluster), or grade on this machine alone with --jobs N"
        ) from exc
    return ray_run
