"""Grade a batch with Ray Data (``neovasc grade --ray auto|ADDRESS``): a dataset of inputs, an actor pool grading them.

Imported only when ``--ray`` is asked for: this module imports ray, an optional extra
(``app.batch.launch.ray_runner`` turns its absence into ``ray_not_installed``).

The dataset holds one row per input to grade: its path, output stem, manifest columns and resume key
(never its pixels: the decoded frames would cost more to send through the object store than to
decode). ``map_batches`` hands the rows, one at a time, to a pool of :class:`GradingActor`, each a
grading worker like those of ``--jobs``: it loads the tendon model once when it starts and runs the
same ``grade_task`` (decode, tendon model, counting, grading, output files) on its own CPUs. On a
cluster with GPUs there is one actor per GPU (``num_gpus=1``, with an even share of the CPUs, which
decode the input while the GPU segments and counts); without GPUs, each actor holds an even share of
the CPUs (one each by default). The results stream back in the order they finish and go to the same
sink, ``--resume`` and summary as ``--jobs``.

Per input, as with ``--jobs``: an input past ``--timeout`` is stopped through the pipeline's
cooperative :class:`~app.pipeline.cancel.StopFlag` and gets an ``input_timeout`` line (an input that does
not stop within :data:`STOP_GRACE_S` more retires its actor, which Ray then replaces); an input that
kills its actor (a crash, out of memory) gets a ``worker_crashed`` line once Ray has restarted the
actor, and the other inputs queued there are graded by the new one.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import ray
import ray.data
from ray.exceptions import RayError

from app.batch.grading import BatchConfig, Task, limit_threads, prepare_worker, worker_threads
from app.batch.resume import model_sha256
from app.batch.runner import DEFAULT_TIMEOUT_S, Emit, Grader, Parallel, failed, sigterm_as_interrupt, timeout_message
from app.config import node_settings
from app.errors import InputTimeout, NeovascError, RayUnavailable, WorkerCrashed, as_neovasc_error
from app.pipeline import AnalyzeOptions
from app.pipeline.cancel import StopFlag
from app.schemas import BatchInfo, Result

log = logging.getLogger("neovasc")

# Seconds to wait for a cluster's port to answer before --ray gives up on the address.
CONNECT_TIMEOUT_S = 10.0
# Seconds an input past --timeout has to stop at the pipeline's next check (between batches of at most
# 64 frames) before its actor is retired: a decoder stuck inside one call never reaches a check.
STOP_GRACE_S = 10.0
# Inputs handed to an actor at once: one graded, one waiting, so that the actor never idles while Ray Data
# hands it the next, and a long input holds back at most one other (Ray Data's default is 4).
IN_FLIGHT = 2


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


def actor_shape(
    resources: dict[str, float], largest_node_cpus: float, jobs: int | None, inputs: int
) -> tuple[int, int, float]:
    """How many actors, and the CPUs and GPUs each holds, for ``inputs`` on a cluster's total ``resources``.

    ``jobs`` None: one actor per GPU, or per CPU on a cluster without GPUs; never more actors than inputs
    (an actor without an input would load the model for nothing). The CPUs are shared evenly, at least one
    each and never more than the largest node holds, so that every actor can be placed.
    """
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    count = max(1, min(jobs or gpus or cpus, inputs))
    cpu_share = max(1, min(worker_threads(count, cpus), int(largest_node_cpus)))
    gpu_share = min(1.0, gpus / count) if gpus else 0.0
    return count, cpu_share, gpu_share


class Attempts:
    """Counts the times each input was started, cluster-wide (one small actor per run, no CPU).

    Ray restarts an actor that died and sends it again the inputs it held; the one it was grading when
    it died is then seen a second time and answered ``worker_crashed`` instead of killing the new actor.
    """

    def __init__(self) -> None:
        self.started: Counter[int] = Counter()

    def start(self, index: int) -> int:
        """How many times input ``index`` was started before this call."""
        self.started[index] += 1
        return self.started[index] - 1


@dataclass(frozen=True)
class ActorWork:
    """How every actor of a run grades, besides the config and options.

    ``attempts``: the run's :class:`Attempts` actor. ``threads``: the CPUs each actor holds.
    ``model_device``: where to load the tendon model (None: every input has a drawn region).
    ``model``: the sha256 of the tendon model on the machine that runs the batch (None: no model needed).
    """

    grader: Grader
    attempts: Any
    threads: int
    timeout: float
    model_device: str | None
    model: str | None


class GradingActor:
    """One grading worker of the pool: the model loaded once, then the dataset's rows graded one at a time.

    Raises:
        RayUnavailable: this node's ``weights/`` lists another model than the machine that runs the batch
            (the resume keys name the model), so the run stops.
    """

    def __init__(self, config: BatchConfig, options: list[AnalyzeOptions], work: ActorWork) -> None:
        settings = node_settings(config.settings)
        self.config, self.options, self.work = BatchConfig(settings, config.outputs), options, work
        if work.model is not None and model_sha256(settings.weights_dir) != work.model:
            raise RayUnavailable(
                "a Ray node lists another tendon model than this machine (its weights/MANIFEST.json differs): "
                "install the same neovasc version and weights on every node"
            )
        weights = settings.weights_dir if work.model_device is not None else None
        prepare_worker(work.threads, weights, work.model_device or settings.device, settings.model_runtime)
        # Inputs are graded on this thread, so that one past its time limit can be left behind.
        self.pool = ThreadPoolExecutor(1, "neovasc-grade", initializer=limit_threads, initargs=(work.threads,))
        self.stuck = False

    def __call__(self, batch: pa.Table) -> pa.Table:
        if self.stuck:  # an input did not stop: leave it behind; Ray restarts this actor and resends the rows
            log.warning("a Ray actor retires: an input past --timeout did not stop")
            os._exit(1)
        rows = batch.to_pylist()
        lines = [self._grade(row).to_json() for row in rows]
        return pa.table({"index": [row["index"] for row in rows], "result": lines})

    def _grade(self, row: dict[str, Any]) -> Result:
        task = _task(row, self.options)
        if ray.get(self.work.attempts.start.remote(row["index"])) > 0:
            return failed(task, WorkerCrashed("the Ray actor grading this input died (a crash, or out of memory)"))
        stop = StopFlag()
        future = self.pool.submit(self.work.grader, task, self.config, stop)
        try:
            return future.result(timeout=self.work.timeout)
        except FutureTimeout:
            pass
        except Exception as exc:  # the grader raised instead of answering with a Result
            return failed(task, as_neovasc_error(exc))
        log.warning("an input ran past --timeout %g s and was stopped", self.work.timeout)
        timed_out = InputTimeout(timeout_message(self.work.timeout, "it was stopped"))
        stop.stop(timed_out)
        wait([future], timeout=STOP_GRACE_S)  # whatever it answers now, its line is the time limit's
        self.stuck = not future.done()
        return failed(task, timed_out)


def _rows(tasks: list[Task]) -> tuple[list[dict[str, Any]], list[AnalyzeOptions]]:
    """The dataset's rows, and the distinct options they refer to (sent once to each actor, not once a row).

    A row holds what its input needs and nothing decoded: its index, the file to open, the output stem,
    the options' place in the list, and the ``batch`` fields (the path as given, the resume key, the
    manifest columns).
    """
    options: list[AnalyzeOptions] = []
    place: dict[int, int] = {}
    rows = []
    for index, task in enumerate(tasks):
        if id(task.options) not in place:  # the command line's options, shared; a manifest row's own roi
            place[id(task.options)] = len(options)
            options.append(task.options)
        file = {"index": index, "file": str(task.path), "stem": task.stem, "options": place[id(task.options)]}
        rows.append(file | task.batch.model_dump())
    return rows, options


def _task(row: dict[str, Any], options: list[AnalyzeOptions]) -> Task:
    batch = BatchInfo(**{name: row[name] for name in BatchInfo.model_fields})
    return Task(path=Path(row["file"]), stem=row["stem"], options=options[row["options"]], batch=batch)


def run_on_ray(tasks: Iterator[Task], config: BatchConfig, emit: Emit, parallel: Parallel, grader: Grader) -> None:
    """Grade every task with Ray Data and ``emit`` each Result as it finishes (``launch.run`` calls it).

    Every input is planned (hashed for its resume key) before the first is sent. Raises
    ``KeyboardInterrupt`` on Ctrl-C or SIGTERM; Ray Data then stops the actors, and their inputs have no
    line.

    Raises:
        RayUnavailable: the cluster failed the run (a node with other weights, Ray itself failing).
    """
    assert parallel.ray is not None, "run_on_ray without an address"
    planned = list(tasks)
    if not planned:
        return  # nothing left to grade (a finished --resume): no actor is started
    connect(parallel.ray)
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    largest = max((node["Resources"].get("CPU", 1) for node in nodes), default=1)
    count, cpus, gpus = actor_shape(ray.cluster_resources(), largest, parallel.jobs, len(planned))
    log.info("grading with Ray Data: %d actor(s), %d CPU(s) and %g GPU(s) each", count, cpus, gpus)
    rows, options = _rows(planned)
    attempts = ray.remote(num_cpus=0)(Attempts).remote()
    work = ActorWork(
        grader=grader, attempts=attempts, threads=cpus, model_device=parallel.model_device,
        timeout=parallel.timeout if parallel.timeout is not None else DEFAULT_TIMEOUT_S,
        model=model_sha256(config.settings.weights_dir) if parallel.model_device is not None else None,
    )  # fmt: skip
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows))  # one input a block: a retry redoes one
    dataset.context.enable_progress_bars = False  # the batch has its own (app.batch.progress)
    dataset.context.print_on_execution_start = False
    graded = dataset.map_batches(
        GradingActor, fn_constructor_args=(config, options, work), batch_size=1, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=count, max_tasks_in_flight_per_actor=IN_FLIGHT), num_cpus=cpus,
        num_gpus=gpus,
    )  # fmt: skip
    try:
        with sigterm_as_interrupt():
            for row in graded.iter_rows():
                emit(Result.model_validate_json(row["result"]))
    except RayError as exc:
        cause = getattr(exc, "cause", None)  # a task's own exception, e.g. a node with other weights
        if isinstance(cause, NeovascError):
            raise cause from exc
        raise RayUnavailable(f"the Ray cluster failed the run ({type(exc).__name__}); see the Ray log above") from exc
    finally:
        ray.kill(attempts)
