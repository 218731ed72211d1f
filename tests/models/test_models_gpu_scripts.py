"""The device scripts in benchmarks/: they parse, and the cross-validation one refuses to start without data or
with a bad seed offset."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["benchmarks/gpu_check.sh", "benchmarks/gpu_cv.sh"]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@pytest.mark.parametrize("script", SCRIPTS)
def test_device_script_parses(script: str) -> None:
    done = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_gpu_cross_validation_needs_the_data(tmp_path: Path) -> None:
    repo = tmp_path / "repo"  # no ../shared/realdata/usgra-seg beside it and no .data/ in it
    repo.mkdir()
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks/gpu_cv.sh"), str(tmp_path / "out")],
        cwd=repo, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "no usgra-seg data" in done.stderr
    assert not (tmp_path / "out").exists() and not (repo / "runs").exists()  # nothing started


def test_gpu_cross_validation_refuses_a_seed_offset_that_is_not_a_number(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks/gpu_cv.sh"), str(tmp_path / "out")],
        cwd=repo, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "SEED_OFFSET": "five"},
    )  # fmt: skip
    assert done.returncode == 2
    assert "SEED_OFFSET" in done.stderr
    assert not (tmp_path / "out").exists()  # nothing started
