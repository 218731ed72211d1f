"""The device script benchmarks/gpu_check.sh parses, so a GPU session does not lose its time to a typo."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def test_device_script_parses() -> None:
    done = subprocess.run(
        ["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
