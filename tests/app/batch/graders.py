"""Graders for the worker tests, in a module the spawned workers can import (test modules are not importable)."""

from __future__ import annotations

import json
import os
import time

from app.batch import BatchConfig, Task, grade_task
from app.pipeline.cancel import StopFlag
from app.schemas import Result

HANG_S = 300.0  # far beyond what a stopped input costs, even with the Ray cluster starting on a busy machine


def hang_on_marked(task: Task, config: BatchConfig, stop: StopFlag | None = None) -> Result:
    """Grades as usual, except an input named ``hang*`` sleeps as a stuck decoder would (deaf to ``stop``)."""
    if task.path.name.startswith("hang"):
        time.sleep(HANG_S)
    return grade_task(task, config, stop)


def crash_on_marked(task: Task, config: BatchConfig, stop: StopFlag | None = None) -> Result:
    """As :func:`hang_on_marked`, and an input named ``crash*`` kills its worker (a decoder that segfaults)."""
    if task.path.name.startswith("crash"):
        os._exit(3)
    return hang_on_marked(task, config, stop)


def slow_on_marked(task: Task, config: BatchConfig, stop: StopFlag | None = None) -> Result:
    """As :func:`crash_on_marked`, and an input named ``slow*`` is a long clip: it checks ``stop`` as it goes."""
    if task.path.name.startswith("slow"):
        assert stop is not None, "slow inputs are graded with a stop flag"
        for _ in range(int(HANG_S / 0.05)):
            stop.check()  # raises the time limit's reason, as the pipeline does between batches
            time.sleep(0.05)
    return crash_on_marked(task, config, stop)


def report_threads(task: Task, config: BatchConfig, stop: StopFlag | None = None) -> Result:
    """Grades as usual and writes ``<input>.threads.json``: the compute threads the worker grades with."""
    import cv2
    import numba
    import torch

    from app.pipeline.device import resolve_device
    from app.pipeline.segmenter import installed_model

    model = installed_model(config.settings.weights_dir, resolve_device("cpu"), config.settings.model_runtime)
    network = getattr(model, "_network", None)  # the ONNX Runtime session, when the model runs on it
    onnx = None if network is None else network._session.get_session_options().intra_op_num_threads
    threads = {"torch": torch.get_num_threads(), "cv2": cv2.getNumThreads(), "numba": numba.get_num_threads()}
    task.path.with_suffix(".threads.json").write_text(json.dumps(threads | {"onnx": onnx}))
    return grade_task(task, config, stop)
