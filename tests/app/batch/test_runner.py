"""Worker processes: the same results as in-process grading, a time limit per input, a dead worker replaced,
and each worker's share of the cores.

Each test starts two spawned workers (a few seconds of imports each), hence the slow marks.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time

import pytest

from app.batch import BatchConfig, Destination, Parallel, from_paths, grade_batch
from app.batch.grading import available_cores, worker_threads
from app.config import REPO_ROOT
from tests.app.batch import graders
from tests.app.batch.test_session import ROI, make_inputs


@pytest.fixture
def spawnable(monkeypatch):
    """Spawned workers import these graders from ``tests``: the repository on their path (``pytest`` alone omits it)."""
    monkeypatch.syspath_prepend(str(REPO_ROOT))


def _lines(paths, settings, parallel, grader=None):
    stdout = io.StringIO()
    extra = {"grader": grader} if grader is not None else {}
    tally = grade_batch(
        from_paths(paths), ROI, BatchConfig(settings), Destination(stdout), parallel,
        progress_stream=io.StringIO(), **extra,
    )  # fmt: skip
    return tally, [json.loads(line) for line in stdout.getvalue().splitlines()]


def _comparable(line: dict) -> tuple:
    return line["batch"]["path"], line["ok"], json.dumps(line["summary"], sort_keys=True), line["batch"]["key"]


@pytest.mark.slow  # two worker processes start: ~6 s
def test_two_workers_give_the_results_of_one_process(tmp_path, settings, rng):
    paths = make_inputs(tmp_path / "in", 4, rng)
    _, alone = _lines(paths, settings, Parallel(jobs=1))
    tally, together = _lines(paths, settings, Parallel(jobs=2))
    assert tally.ok == 4 and sorted(map(_comparable, together)) == sorted(map(_comparable, alone))


@pytest.mark.slow  # two workers start, one is killed and replaced: ~10 s
def test_a_hanging_input_is_stopped_and_a_crash_loses_only_its_own_input(tmp_path, settings, rng, spawnable):
    paths = make_inputs(tmp_path / "in", 3, rng)
    hang, crash = tmp_path / "in" / "hang.png", tmp_path / "in" / "crash.png"
    shutil.copy(paths[0], hang)
    shutil.copy(paths[0], crash)
    started = time.monotonic()
    tally, lines = _lines([hang, crash, *paths], settings, Parallel(jobs=2, timeout=3.0), graders.crash_on_marked)
    elapsed = time.monotonic() - started
    codes = {line["input"]: (line["error"] or {}).get("code") for line in lines}
    assert codes == {"hang.png": "input_timeout", "crash.png": "worker_crashed"} | {p.name: None for p in paths}
    assert (tally.ok, tally.failed) == (3, 2) and elapsed < graders.HANG_S / 2
    timed_out = next(line for line in lines if line["input"] == "hang.png")
    assert "--timeout of 3 s" in timed_out["error"]["message"] and timed_out["batch"]["path"] == str(hang)


@pytest.mark.slow  # two workers start and load the shipped model: ~8 s
def test_each_worker_computes_with_its_share_of_the_cores(tmp_path, settings, rng, spawnable):
    paths = make_inputs(tmp_path / "in", 2, rng)
    shipped = settings.model_copy(update={"weights_dir": REPO_ROOT / "weights"})
    tally, _ = _lines(paths, shipped, Parallel(jobs=2, model_device="cpu"), graders.report_threads)
    share = worker_threads(2)
    assert tally.ok == 2
    for path in paths:
        threads = json.loads(path.with_suffix(".threads.json").read_text())
        assert threads == {"torch": share, "cv2": share, "numba": share, "onnx": share}, path.name


@pytest.mark.parametrize(
    ("workers", "cores", "threads"),
    [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 16, 8), (3, 16, 5), (4, 1, 1)],
    ids=["one-worker", "two-on-two", "more-workers-than-cores", "two-on-16", "uneven", "one-core"],
)
def test_worker_threads_share_the_cores(workers, cores, threads):
    assert worker_threads(workers, cores) == threads


def test_the_cores_are_those_this_process_may_run_on(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert available_cores() == 3 and worker_threads(2) == 1
