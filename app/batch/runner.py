"""Run a batch's tasks: one after another in this process, ``jobs`` at a time in worker processes, or on Ray.

In worker mode each worker is its own one-process ``ProcessPoolExecutor`` (spawn context), so a worker
that runs past the time limit can be killed and replaced alone: the inputs on the other workers go on
untouched. (A shared pool cannot do that: one dead worker breaks the whole pool and every input in it.)
Each worker computes with an even share of the cores (``grading.worker_threads``: cores // N threads
in torch, ONNX Runtime, OpenCV and numba, at least one). Results are handed to ``emit`` in the order
they finish. (``--ray`` runs the tasks with Ray Data instead: ``app.batch.launch`` chooses.)
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from app.batch.grading import BatchConfig, Task, grade_task, init_worker, worker_pid, worker_threads
from app.errors import InputTimeout, NeovascError, WorkerCrashed, as_neovasc_error
from app.pipeline.cancel import StopFlag
from app.pipeline.report import failure_result
from app.schemas import Result

log = logging.getLogger("neovasc")

# grade_task's signature: (task, config, stop); worker processes pass no stop (they are killed instead)
Grader = Callable[[Task, BatchConfig, StopFlag | None], Result]
Emit = Callable[[Result], None]
# Seconds one input may take in worker mode or on Ray before it is stopped (``--timeout``). Five minutes
# is far above a long clip on the CPU (docs/benchmarks.md) and still frees a stuck decoder the same hour.
DEFAULT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Parallel:
    """How to run: ``jobs`` workers, each input limited to ``timeout`` seconds (None: in this process).

    ``model_device``: the device (``auto``, ``cpu``, ``cuda``) each worker loads the tendon model onto
    when it starts; None when every input has a drawn region. ``ray``: ``auto`` or a cluster's address
    to grade with Ray Data instead of local workers; ``jobs`` is then the number of Ray actors, None for
    one per GPU of the cluster (one per CPU without GPUs).
    """

    jobs: int | None = 1
    timeout: float | None = None
    model_device: str | None = None
    ray: str | None = None

    @property
    def in_process(self) -> bool:
        """One input at a time in this process: ``--jobs 1`` without an explicit ``--timeout`` or ``--ray``."""
        return self.jobs == 1 and self.timeout is None and self.ray is None


IN_PROCESS = Parallel()


def run(
    tasks: Iterable[Task], config: BatchConfig, emit: Emit, parallel: Parallel = IN_PROCESS, grader: Grader = grade_task
) -> None:
    """Grade every task and ``emit`` its Result as soon as it is done.

    In worker mode ``grader`` must be picklable (a module-level function). Raises ``KeyboardInterrupt``
    on Ctrl-C or SIGTERM after stopping the workers; the inputs in flight then have no line.
    """
    assert parallel.ray is None, "Ray batches run through app.batch.launch"
    with sigterm_as_interrupt():
        if parallel.in_process:
            for task in tasks:
                emit(grader(task, config, None))
            return
        _Workers(config, parallel, grader).run(iter(tasks), emit)


class _Slot:
    """One worker process (a one-worker pool) and the task it is grading."""

    def __init__(self, context: multiprocessing.context.BaseContext, initargs: tuple) -> None:
        self.executor = ProcessPoolExecutor(1, mp_context=context, initializer=init_worker, initargs=initargs)
        self.ready: Future[int] = self.executor.submit(worker_pid)  # also starts the process now
        self.initargs, self.context = initargs, context
        self.pid: int | None = None
        self.task: Task | None = None
        self.future: Future[Result] | None = None
        self.deadline = math.inf

    def check_started(self) -> None:
        """Record the worker's pid once it is up. Raises WorkerCrashed when it could not start."""
        if self.pid is None and self.ready.done():
            try:
                self.pid = self.ready.result()
            except BrokenProcessPool as exc:
                raise WorkerCrashed(f"a worker process could not start ({type(exc).__name__}); see the log") from exc

    def start(self, task: Task, config: BatchConfig, grader: Grader, timeout: float) -> None:
        self.task, self.deadline = task, time.monotonic() + timeout
        self.future = self.executor.submit(grader, task, config, None)

    def finish(self) -> Task:
        task, self.task, self.future, self.deadline = self.task, None, None, math.inf
        assert task is not None, "finish() on an idle worker"
        return task

    def replaced(self) -> _Slot:
        """Kill this worker and start a new one in its place."""
        self.kill()
        return _Slot(self.context, self.initargs)

    def kill(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        self.executor.shutdown(wait=False, cancel_futures=True)


class _Workers:
    def __init__(self, config: BatchConfig, parallel: Parallel, grader: Grader) -> None:
        self.config, self.grader = config, grader
        self.timeout = parallel.timeout if parallel.timeout is not None else DEFAULT_TIMEOUT_S
        assert parallel.jobs is not None, "local workers need a count"
        threads = worker_threads(parallel.jobs)  # N workers never oversubscribe the cores
        weights = config.settings.weights_dir if parallel.model_device is not None else None
        settings = config.settings
        self.initargs = (threads, weights, parallel.model_device or settings.device, settings.model_runtime)
        self.jobs = parallel.jobs

    def run(self, tasks: Iterator[Task], emit: Emit) -> None:
        context = multiprocessing.get_context("spawn")
        slots = [_Slot(context, self.initargs) for _ in range(self.jobs)]
        exhausted = False
        try:
            while True:
                exhausted = self._hand_out(slots, tasks, exhausted)
                busy = [slot for slot in slots if slot.future is not None]
                if exhausted and not busy:
                    return
                waiting = [slot.future for slot in busy] + [slot.ready for slot in slots if slot.pid is None]
                deadline = min((slot.deadline for slot in busy), default=math.inf)
                left = None if deadline == math.inf else max(0.0, deadline - time.monotonic())
                wait(waiting, timeout=left, return_when=FIRST_COMPLETED)
                slots = [self._settle(slot, emit) for slot in slots]
        finally:
            for slot in slots:
                if slot.future is not None or slot.pid is None:
                    slot.kill()  # interrupted: the inputs in flight are dropped, their workers with them
                else:
                    slot.executor.shutdown(wait=True)

    def _hand_out(self, slots: list[_Slot], tasks: Iterator[Task], exhausted: bool) -> bool:
        """Give the next task to every started, idle worker; True once there are no more tasks."""
        for slot in slots:
            slot.check_started()
            if exhausted or slot.pid is None or slot.future is not None:
                continue
            task = next(tasks, None)
            if task is None:
                return True
            slot.start(task, self.config, self.grader, self.timeout)
        return exhausted

    def _settle(self, slot: _Slot, emit: Emit) -> _Slot:
        """Emit the slot's finished or timed-out input; returns the slot, or its replacement."""
        if slot.future is None:
            return slot
        if slot.future.done():
            future, task = slot.future, slot.finish()
            try:
                result = future.result()
            except BrokenProcessPool:
                emit(failed(task, WorkerCrashed("the worker process grading this input died")))
                return slot.replaced()
            except Exception as exc:  # the worker answered, but not with a Result
                result = failed(task, as_neovasc_error(exc))
            emit(result)
            return slot
        if time.monotonic() >= slot.deadline:
            log.warning("an input ran past --timeout %g s; its worker was stopped", self.timeout)
            task, replacement = slot.finish(), slot.replaced()
            emit(failed(task, InputTimeout(timeout_message(self.timeout))))
            return replacement
        return slot


def timeout_message(timeout: float, what: str = "its worker was stopped and replaced") -> str:
    return (
        f"grading took longer than the --timeout of {timeout:g} s; {what}. "
        "The file may be damaged or very long: check it, raise --timeout, or sample it (--every, --max-frames)"
    )


def failed(task: Task, error: NeovascError) -> Result:
    """The ``ok: false`` line of an input that its worker could not finish."""
    result = failure_result(task.path.name, error)
    result.batch = task.batch
    return result


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while the batch runs, so the workers are stopped on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
