"""``neovasc grade --ray``: the lines of ``--jobs 1`` from Ray actors, ``--resume``, time limits and crashes.

A local Ray with 2 CPUs is started once for the module (about 5 s), hence the slow marks.
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

from app.batch import BatchConfig, Destination, Parallel, from_paths, grade_batch
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
def test_a_hanging_input_is_stopped_and_a_crash_loses_only_its_own_input(tmp_path, settings, rng, local_ray):
    paths = make_inputs(tmp_path / "in", 3, rng)
    hang, crash = tmp_path / "in" / "hang.png", tmp_path / "in" / "crash.png"
    shutil.copy(paths[0], hang)
    shutil.copy(paths[0], crash)
    stdout = io.StringIO()
    started = time.monotonic()
    tally = grade_batch(
        from_paths([hang, crash, *paths]), ROI, BatchConfig(settings), Destination(stdout),
        Parallel(jobs=2, timeout=3.0, ray="auto"), progress_stream=io.StringIO(), grader=graders.crash_on_marked,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    lines = [json.loads(line) for line in stdout.getvalue().splitlines()]
    codes = {line["input"]: (line["error"] or {}).get("code") for line in lines}
    assert codes == {"hang.png": "input_timeout", "crash.png": "worker_crashed"} | {p.name: None for p in paths}
    assert (tally.ok, tally.failed) == (3, 2) and elapsed < graders.HANG_S / 2


@pytest.mark.parametrize(
    ("resources", "largest", "jobs", "shape"),
    [
        ({"CPU": 2.0}, 2, None, (2, 1, 0.0)),
        ({"CPU": 2.0}, 2, 1, (1, 2, 0.0)),
        ({"CPU": 32.0, "GPU": 4.0}, 16, None, (4, 8, 1.0)),
        ({"CPU": 16.0, "GPU": 1.0}, 16, 2, (2, 8, 0.5)),
        ({"CPU": 64.0}, 4, 2, (2, 4, 0.0)),
        ({"CPU": 2.0}, 2, 8, (8, 1, 0.0)),
    ],
    ids=["cpus", "one-actor", "one-per-gpu", "two-share-a-gpu", "capped-by-node", "more-actors-than-cpus"],
)
def test_actor_shape(resources, largest, jobs, shape):
    assert ray_run.actor_shape(resources, largest, jobs) == shape
