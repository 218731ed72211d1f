"""Grade one input of a batch and write its files; the same function runs in-process, in workers and on Ray actors.

Everything a worker needs travels in the :class:`Task` and :class:`BatchConfig` (both picklable), so a
worker holds no state but the tendon model, which ``installed_model`` loads once per process. A worker
computes with :func:`worker_threads` threads: an even share of this machine's cores.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from app.config import Settings
from app.errors import NeovascError, OutputError, as_neovasc_error
from app.pipeline import AnalyzeOptions, run_analysis
from app.pipeline.cancel import StopFlag
from app.pipeline.measure.scan import Batch
from app.pipeline.outputs import (
    CURVE,
    MASK,
    OVERLAY,
    SC,
    SR,
    OutputRequest,
    ScreenView,
    VideoRecorder,
    render,
    write_whole,
)
from app.pipeline.report import failure_result
from app.schemas import BatchInfo, Result

log = logging.getLogger("neovasc")


@dataclass(frozen=True)
class OutputDirs:
    """Where ``--masks``, ``--overlays`` and ``--dicom-out`` write; None: not asked for."""

    masks: Path | None = None
    overlays: Path | None = None
    dicom: Path | None = None

    def kinds(self) -> tuple[str, ...]:
        """The output kinds asked for, for the resume key."""
        named = {"masks": self.masks, "overlays": self.overlays, "dicom": self.dicom}
        return tuple(kind for kind, folder in named.items() if folder is not None)

    def request(self, screen: ScreenView = "picture") -> OutputRequest:
        """What to render; ``screen``: the overlays black outside the picture, or the ``full`` screen."""
        return OutputRequest(
            masks=self.masks is not None,
            overlays=self.overlays is not None,
            dicom=self.dicom is not None,
            screen=screen,
        )

    def path(self, name: str, stem: str) -> Path:
        """Where the rendered output ``name`` of input ``stem`` goes."""
        folders = {MASK: self.masks, OVERLAY: self.overlays, CURVE: self.overlays, SR: self.dicom, SC: self.dicom}
        suffix = {MASK: ".png", OVERLAY: ".png", CURVE: ".curve.png", SR: ".sr.dcm", SC: ".sc.dcm"}[name]
        folder = folders[name]
        assert folder is not None, f"{name} rendered but not asked for"
        return folder / f"{stem}{suffix}"


@dataclass(frozen=True)
class BatchConfig:
    """What every input of a run shares."""

    settings: Settings
    outputs: OutputDirs = field(default_factory=OutputDirs)


@dataclass(frozen=True)
class Task:
    """One input to grade: ``stem`` names its output files (unique within the run)."""

    path: Path
    stem: str
    options: AnalyzeOptions
    batch: BatchInfo


def grade_task(task: Task, config: BatchConfig, stop: StopFlag | None = None) -> Result:
    """Grade one input and write its output files. Never raises: a failure is an ``ok: false`` Result.

    ``stop``: checked before decoding and between batches of frames; the reason it is given (a time
    limit) becomes the input's ``ok: false`` line.
    """
    result = _graded(task, config, stop)
    result.batch = task.batch
    return result


def _graded(task: Task, config: BatchConfig, stop: StopFlag | None) -> Result:
    outputs = config.outputs
    video = None
    if outputs.overlays is not None:  # streamed to disk while the clip is graded; the folder made as it opens
        video = _VideoFile(outputs.overlays / f"{task.stem}.mp4", screen=config.settings.overlay_screen)
    try:
        with video or contextlib.nullcontext():
            analysis = run_analysis(task.path, task.options, None, config.settings, observer=video, stop=stop)
        rendered = render(analysis, outputs.request(config.settings.overlay_screen))
        with _output_errors():
            for name, data in rendered.files.items():
                write_whole(outputs.path(name, task.stem), data)
    except Exception as exc:  # every input gets a line; the batch goes on
        error = as_neovasc_error(exc)
        if not isinstance(exc, NeovascError):
            log.error("unexpected %s on one input", type(exc).__name__, exc_info=exc)
        return failure_result(task.path.name, error)
    result = analysis.result
    result.warnings.extend(rendered.warnings)
    return result


@contextlib.contextmanager
def _output_errors() -> Iterator[None]:
    """An OSError in the block as :class:`OutputError`: a full disk, a read-only folder, a file where the folder
    should be. That input fails with ``output_error``, the batch goes on."""
    try:
        yield
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise OutputError(f"an output file (--masks, --overlays, --dicom-out) could not be written: {why}") from exc


class _VideoFile(VideoRecorder):
    """The ``--overlays`` video of a clip: a file it cannot write is the input's ``output_error``, as for the
    other output files, not an unexpected failure of the input (its own OSErrors stay apart from the decoder's)."""

    def __call__(self, batch: Batch) -> None:
        with _output_errors():
            super().__call__(batch)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with _output_errors():
            super().__exit__(kind, error, trace)


def init_worker(threads: int, weights_dir: Path | None, device: str, runtime: str = "auto") -> None:
    """Set up a worker process: ``threads`` compute threads, the tendon model loaded once, exit with the parent.

    ``threads`` (:func:`worker_threads`) keeps N workers from oversubscribing the cores (each would
    otherwise start one torch, ONNX Runtime, OpenCV and numba thread per core). ``weights_dir`` None:
    the inputs have drawn regions, no model is needed. A model that fails to load is not fatal here:
    each input that needs it reports ``no_tendon_model``, as in-process grading does.
    """
    _exit_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops us
    prepare_worker(threads, weights_dir, device, runtime)


def prepare_worker(threads: int, weights_dir: Path | None, device: str, runtime: str = "auto") -> None:
    """``threads`` compute threads and the tendon model loaded once: a worker process's or a Ray actor's set-up.

    A model that fails to load is logged, not raised (see :func:`init_worker`). The model is loaded after
    the threads are set, so that ONNX Runtime's session takes the same number of threads.
    """
    limit_threads(threads)
    if weights_dir is None:
        return
    from app.pipeline.device import resolve_device
    from app.pipeline.segmenter import installed_model

    try:
        installed_model(weights_dir, resolve_device(device), runtime)
    except NeovascError as exc:
        log.warning("worker %d: no tendon model loaded (%s)", os.getpid(), exc.code)


def worker_pid() -> int:
    """The worker's process id, asked once when it starts, so that a worker past its time limit can be killed."""
    return os.getpid()


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity (``taskset``, a container's cpuset), else all."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def worker_threads(workers: int, cores: int | None = None) -> int:
    """Compute threads for each of ``workers`` workers sharing ``cores`` (default: :func:`available_cores`).

    An even share, at least one: N workers that each started one thread per core would oversubscribe
    the machine and run slower than N alone.
    """
    return max(1, (cores or available_cores()) // max(1, workers))


def limit_threads(threads: int) -> None:
    """Use ``threads`` compute threads in torch (and ONNX Runtime models loaded after), OpenCV and numba.

    numba's setting holds for the calling thread only: call this on the thread that grades.
    """
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    with contextlib.suppress(ImportError, ValueError):
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def _exit_with_parent() -> None:
    """End this worker when the process that started it dies (a batch killed with SIGKILL leaves no orphans)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="neovasc-parent-watch", daemon=True).start()
