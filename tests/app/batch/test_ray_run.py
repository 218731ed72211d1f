"""``neovasc grade --ray``: the lines of ``--jobs 1`` from Ray Data's actor pool, ``--resume``, time limits, crashes.

A local Ray with 2 CPUs is started once for the module (5-10 s), hence the slow marks.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from app.batch import BatchConfig, Destination, Parallel, from_paths, grade_batch, plan
from app.batch.grading import worker_threads
from app.config import REPO_ROOT
from app.pipeline import AnalyzeOptions, RoiSpec
from tests.app.batch import graders
from tests.app.batch.test_session import ROI, make_inputs
from tests.app.test_cli import _isolated_settings, _run  # noqa: F401 - the autouse fixture, and the runner
from tests.conftest import mp4_bytes

ray = pytest.importorskip("ray")
ray_run = pytest.importorskip("app.batch.ray_run")

ROI_TEXT = "20,30,120,90"  # the region of test_session.ROI


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _archive(folder: Path, rng: np.random.Generator) -> Path:
    """Two stills, a file that is not the PNG it claims to be, and a 6-frame clip."""
    make_inputs(folder, 2, rng)
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (folder / "clip.mp4").write_bytes(mp4_bytes(rng))
    return folder


def _stable(lines: list[dict]) -> list[dict]:
    """The lines by path, without the wall times, which differ from run to run."""
    return sorted(({k: v for k, v in line.items() if k != "timing_ms"} for line in lines), key=lambda x: x["input"])


@pytest.mark.slow
def test_ray_writes_the_lines_of_one_process(tmp_path, rng, local_ray):
    folder = _archive(tmp_path / "in", rng)
    code, alone = _run("grade", str(folder), "--roi", ROI_TEXT)
    ray_code, on_ray = _run("grade", str(folder), "--roi", ROI_TEXT, "--ray", "auto")
    assert code == ray_code == 1 and len(on_ray) == 4
    assert _stable(on_ray) == _stable(alone)
    by_name = {line["input"]: line for line in on_ray}
    assert not by_name["bad.png"]["ok"] and by_name["bad.png"]["error"]["code"] == "decode_error"
    assert by_name["clip.mp4"]["ok"] and by_name["clip.mp4"]["summary"]["frames_analysed"] == 6
    assert [by_name[f"in-{i}.png"]["summary"]["doppler_px"] for i in range(2)] == [20, 40]


@pytest.mark.slow
def test_ray_resume_grades_only_what_is_missing(tmp_path, rng, local_ray):
    paths = [str(p) for p in make_inputs(tmp_path / "in", 4, rng)]
    out, alone = tmp_path / "r.csv", tmp_path / "alone.csv"
    on_ray = ("--roi", ROI_TEXT, "--ray", "auto", "--jobs", "1", "--out", str(out))  # one actor: quicker to start
    assert _run("grade", *paths[:2], *on_ray)[0] == 0
    first = out.read_text()
    assert _run("grade", *paths, *on_ray, "--resume")[0] == 0
    text = out.read_text()
    assert text.startswith(first) and len(text.splitlines()) == 1 + 4, "two lines kept, two added"
    _run("grade", *paths, "--roi", ROI_TEXT, "--out", str(alone))
    assert _keys(text) == _keys(alone.read_text()), "keyed as --jobs keys them"
    assert _run("grade", *paths, *on_ray, "--resume")[0] == 0
    assert out.read_text() == text, "a finished run grades nothing again"


def _keys(csv_text: str) -> list[str]:
    return sorted(row["resume_key"] for row in csv.DictReader(io.StringIO(csv_text)))


@pytest.mark.slow
def test_a_timeout_and_a_crash_cost_only_their_own_input(tmp_path, settings, rng, local_ray):
    """``slow`` checks the stop flag as the pipeline does; ``hang`` never does (a stuck decoder): its actor retires.

    The limit leaves a plain input room on a busy 2-core machine (3 s was once too little for one there)."""
    paths = make_inputs(tmp_path / "in", 3, rng)
    marked = [tmp_path / "in" / name for name in ("slow.png", "hang.png", "crash.png")]
    for path in marked:
        shutil.copy(paths[0], path)
    stdout = io.StringIO()
    started = time.monotonic()
    tally = grade_batch(
        from_paths([*marked, *paths]), ROI, BatchConfig(settings), Destination(stdout),
        Parallel(jobs=2, timeout=8.0, ray="auto"), progress_stream=io.StringIO(), grader=graders.slow_on_marked,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    lines = [json.loads(line) for line in stdout.getvalue().splitlines()]
    codes = {line["input"]: (line["error"] or {}).get("code") for line in lines}
    assert codes == {
        "slow.png": "input_timeout", "hang.png": "input_timeout", "crash.png": "worker_crashed",
    } | {p.name: None for p in paths}  # fmt: skip
    assert (tally.ok, tally.failed) == (3, 3) and len(lines) == 6 and elapsed < graders.HANG_S / 2
    slow = next(line for line in lines if line["input"] == "slow.png")
    assert "--timeout of 8 s" in slow["error"]["message"] and slow["batch"]["path"] == str(marked[0])


@pytest.mark.slow
def test_each_actor_computes_with_its_share_of_the_cpus(tmp_path, settings, rng, local_ray):
    """Two actors of one CPU each on the 2-CPU Ray, on the thread that grades (numba's setting is per thread)."""
    paths = make_inputs(tmp_path / "in", 2, rng)
    shipped = settings.model_copy(update={"weights_dir": REPO_ROOT / "weights"})
    tally = grade_batch(
        from_paths(paths), ROI, BatchConfig(shipped), Destination(io.StringIO()),
        Parallel(jobs=2, model_device="cpu", ray="auto"), progress_stream=io.StringIO(), grader=graders.report_threads,
    )  # fmt: skip
    assert tally.ok == 2
    for path in paths:
        threads = json.loads(path.with_suffix(".threads.json").read_text())
        assert threads == dict.fromkeys(("torch", "cv2", "numba", "onnx"), worker_threads(2, 2)), path.name


def test_rows_hold_no_pixels_and_share_the_options(tmp_path, settings, rng):
    """The dataset's rows are paths, keys and manifest columns; a drawn mask is sent once, not once a row."""
    paths = make_inputs(tmp_path / "in", 3, rng)
    options = AnalyzeOptions(roi=RoiSpec(mask=np.ones((120, 160), dtype=bool)))
    tasks = list(plan(from_paths(paths), options, BatchConfig(settings)))
    rows, shared = ray_run._rows(tasks)
    assert len(shared) == 1 and shared[0] is options
    assert all(isinstance(value, str | int | type(None)) for row in rows for value in row.values())
    assert [row["index"] for row in rows] == [0, 1, 2] and rows[1]["key"] == tasks[1].batch.key
    assert [ray_run._task(row, shared) for row in rows] == tasks


@pytest.mark.parametrize(
    ("resources", "largest", "jobs", "inputs", "shape"),
    [
        ({"CPU": 2.0}, 2, None, 10, (2, 1, 0.0)),
        ({"CPU": 2.0}, 2, 1, 10, (1, 2, 0.0)),
        ({"CPU": 32.0, "GPU": 4.0}, 16, None, 10, (4, 8, 1.0)),
        ({"CPU": 16.0, "GPU": 1.0}, 16, 2, 10, (2, 8, 0.5)),
        ({"CPU": 64.0}, 4, 2, 10, (2, 4, 0.0)),
        ({"CPU": 2.0}, 2, 8, 10, (8, 1, 0.0)),
        ({"CPU": 2.0}, 2, None, 1, (1, 2, 0.0)),
        ({"CPU": 32.0, "GPU": 4.0}, 16, 8, 3, (3, 10, 1.0)),
    ],
    ids=[
        "cpus", "one-actor", "one-per-gpu", "two-share-a-gpu", "capped-by-node", "more-actors-than-cpus",
        "one-input", "fewer-inputs-than-jobs",
    ],
)  # fmt: skip
def test_actor_shape(resources, largest, jobs, inputs, shape):
    assert ray_run.actor_shape(resources, largest, jobs, inputs) == shape
