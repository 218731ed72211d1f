"""Grade a batch on a Ray cluster (``neovasc grade --ray auto|ADDRESS``): one input at a time on each Ray actor.

Imported only when ``--ray`` is asked for: this module imports ray, an optional extra
(``app.batch.runner.ray_runner`` turns its absence into ``ray_not_installed``).

Each actor is a grading worker like those of ``--jobs``. It loads the tendon model once when it starts
and runs the same ``grade_task`` (decode, tendon model, counting, grading, output files) on one input
at a time, so its lines are the lines ``--jobs`` writes. On a cluster with GPUs there is one actor per
GPU (``num_gpus=1``, with an even share of the CPUs, which decode the clip on the actor's background
thread while the GPU segments and counts the batch before). Without GPUs every actor holds an even
share of the CPUs (one CPU each by default). The decoded frames never leave the actor that decodes them:
sending them through the object store would cost more than the decoding itself. Results come back in
the order they finish and go to the same sink, ``--resume`` and summary as ``--jobs``.

As with ``--jobs``, an input past ``--timeout`` has its actor killed and replaced (``input_timeout``),
and an actor that dies takes only its own input with it (``worker_crashed``).
"""

from __future__ import annotations

import itertools
import logging
import math
import socket
import time
from collections.abc import Iterator
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError

from app.batch.grading import BatchConfig, Task, prepare_worker
from app.batch.resume import model_sha256
from app.batch.runner import DEFAULT_TIMEOUT_S, Emit, Grader, Parallel, failed, sigterm_as_interrupt, timeout_message
from app.config import node_settings
from app.errors import InputTimeout, RayUnavailable, WorkerCrashed, as_neovasc_error
from app.schemas import Result

log = logging.getLogger("neovasc")

# Seconds to wait for a cluster's port to answer before --ray gives up on the address.
CONNECT_TIMEOUT_S = 10.0


def connect(address: str) -> None:
    """Attach to the Ray cluster at ``address`` (``auto``: a running local one, else a new local one).

    A Ray already initialised in this process (a test's, or an earlier call's) is used as it is.

    Raises:
        RayUnavailable: the address cannot be reached, or a local Ray cannot start.
    """
    if ray.is_initialized():
        return
    _check_reachable(address)
    try:
        if address == "auto":
            ray.init(include_dashboard=False)  # attaches to a running local cluster (or RAY_ADDRESS), else starts one
        else:
            ray.init(address=address)  # ray://host:10001 (Ray Client) or host:6379 (a node of the cluster)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        raise RayUnavailable(
            f"--ray {address}: no Ray cluster could be reached or started ({type(exc).__name__}); start one with "
            "'ray start --head' and give its address (host:6379 or ray://host:10001), or use --ray auto"
        ) from exc


def _check_reachable(address: str) -> None:
    """Refuse an address that no one answers on within seconds (``ray.init`` would wait for minutes)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"--ray expects auto, host:port or ray://host:port, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise RayUnavailable(
            f"--ray {address}: nothing answers there within {CONNECT_TIMEOUT_S:g} s "
            f"({exc.strerror or type(exc).__name__}); "
            "check the head node's address and port (6379, or 10001 for ray://) and that 'ray start --head' runs there"
        ) from exc


def actor_shape(resources: dict[str, float], largest_node_cpus: float, jobs: int | None) -> tuple[int, int, float]:
    """How many actors, and the CPUs and GPUs each holds, for a cluster's total ``resources``.

    ``jobs`` None: one actor per GPU, or per CPU on a cluster without GPUs. The CPUs are shared evenly,
    at least one each and never more than the largest node holds, so that every actor can be placed.
    """
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    count = jobs or gpus or cpus
    cpu_share = max(1, min(cpus // count, int(largest_node_cpus)))
    gpu_share = min(1.0, gpus / count) if gpus else 0.0
    return count, cpu_share, gpu_share


class GradingActor:
    """One grading worker on a Ray node: the model loaded once, then ``grade`` one input at a time."""

    def __init__(self, config: BatchConfig, threads: int, model_device: str | None, grader: Grader) -> None:
        settings = node_settings(config.settings)
        self.config = BatchConfig(settings, config.outputs)
        self.grader = grader
        weights = settings.weights_dir if model_device is not None else None
        prepare_worker(threads, weights, model_device or settings.device, settings.model_runtime)

    def ready(self) -> str:
        """The sha256 of the model this node's weights list, for the check against the driver's."""
        return model_sha256(self.config.settings.weights_dir)

    def grade(self, task: Task) -> Result:
        return self.grader(task, self.config)


class _Slot:
    """One actor and the input it is grading."""

    def __init__(self, start: Any) -> None:
        self.start = start
        self.actor = start()
        self.ready_ref = self.actor.ready.remote()
        self.started = False
        self.task: Task | None = None
        self.ref: Any = None
        self.deadline = math.inf

    def check_started(self, expected_model: str | None) -> None:
        """Mark the actor started once its ``ready`` answered; raises when it could not start or holds other weights."""
        if self.started or not ray.wait([self.ready_ref], timeout=0)[0]:
            return
        try:
            model = ray.get(self.ready_ref)
        except RayError as exc:
            raise WorkerCrashed(f"a Ray actor could not start ({type(exc).__name__}); see the Ray logs") from exc
        if expected_model is not None and model != expected_model:
            raise RayUnavailable(
                "a Ray node lists another tendon model than this machine (its weights/MANIFEST.json differs): "
                "install the same neovasc version and weights on every node"
            )
        self.started = True

    def finish(self) -> Task:
        task, self.task, self.ref, self.deadline = self.task, None, None, math.inf
        assert task is not None, "finish() on an idle actor"
        return task

    def replaced(self) -> _Slot:
        self.kill()
        return _Slot(self.start)

    def kill(self) -> None:
        ray.kill(self.actor, no_restart=True)


def run_on_ray(tasks: Iterator[Task], config: BatchConfig, emit: Emit, parallel: Parallel, grader: Grader) -> None:
    """Grade every task on Ray actors and ``emit`` each Result as it finishes (``launch.run`` calls it).

    Raises ``KeyboardInterrupt`` on Ctrl-C or SIGTERM after killing the actors; their inputs have no line.
    """
    assert parallel.ray is not None, "run_on_ray without an address"
    first = next(tasks, None)
    if first is None:
        return  # nothing left to grade (a finished --resume): no actor is started
    tasks = itertools.chain([first], tasks)
    connect(parallel.ray)
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    largest = max((node["Resources"].get("CPU", 1) for node in nodes), default=1)
    count, cpus, gpus = actor_shape(ray.cluster_resources(), largest, parallel.jobs)
    log.info("grading on Ray: %d actor(s), %d CPU(s) and %g GPU(s) each", count, cpus, gpus)
    remote = ray.remote(GradingActor).options(num_cpus=cpus, num_gpus=gpus, max_restarts=0)
    shared = ray.put(config)  # sent once, not once per actor

    def start() -> Any:
        return remote.remote(shared, cpus, parallel.model_device, grader)

    expected = model_sha256(config.settings.weights_dir) if parallel.model_device is not None else None
    timeout = parallel.timeout if parallel.timeout is not None else DEFAULT_TIMEOUT_S
    with sigterm_as_interrupt():
        _Actors([_Slot(start) for _ in range(count)], expected, timeout).run(tasks, emit)


class _Actors:
    def __init__(self, slots: list[_Slot], expected_model: str | None, timeout: float) -> None:
        self.slots, self.expected, self.timeout = slots, expected_model, timeout

    def run(self, tasks: Iterator[Task], emit: Emit) -> None:
        exhausted = False
        try:
            while True:
                exhausted = self._hand_out(tasks, exhausted)
                busy = [slot for slot in self.slots if slot.ref is not None]
                if exhausted and not busy:
                    return
                waiting = [slot.ref for slot in busy] + [slot.ready_ref for slot in self.slots if not slot.started]
                deadline = min((slot.deadline for slot in busy), default=math.inf)
                left = None if deadline == math.inf else max(0.0, deadline - time.monotonic())
                ray.wait(waiting, num_returns=1, timeout=left)
                self.slots = [self._settle(slot, emit) for slot in self.slots]
        finally:
            for slot in self.slots:
                slot.kill()  # actors hold a model and CPUs (or a GPU): give them back to the cluster

    def _hand_out(self, tasks: Iterator[Task], exhausted: bool) -> bool:
        for slot in self.slots:
            slot.check_started(self.expected)
            if exhausted or not slot.started or slot.ref is not None:
                continue
            task = next(tasks, None)
            if task is None:
                return True
            slot.task, slot.deadline = task, time.monotonic() + self.timeout
            slot.ref = slot.actor.grade.remote(task)
        return exhausted

    def _settle(self, slot: _Slot, emit: Emit) -> _Slot:
        """Emit the slot's finished or timed-out input; returns the slot, or its replacement."""
        if slot.ref is None:
            return slot
        if ray.wait([slot.ref], timeout=0)[0]:
            ref, task = slot.ref, slot.finish()
            try:
                emit(ray.get(ref))
            except RayActorError:
                emit(failed(task, WorkerCrashed("the Ray actor grading this input died")))
                return slot.replaced()
            except RayTaskError as exc:  # the actor answered, but not with a Result
                emit(failed(task, as_neovasc_error(exc.cause or exc)))
            except (GetTimeoutError, RayError):
                emit(failed(task, WorkerCrashed("the Ray actor grading this input was lost")))
                return slot.replaced()
            return slot
        if time.monotonic() >= slot.deadline:
            log.warning("an input ran past --timeout %g s; its Ray actor was stopped", self.timeout)
            task = slot.finish()
            emit(failed(task, InputTimeout(timeout_message(self.timeout))))
            return slot.replaced()
        return slot
