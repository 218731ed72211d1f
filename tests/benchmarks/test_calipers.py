"""A tiny run of benchmarks/calipers.py: one held-out case with a green caliper across the tendon."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_a_caliper_case(capsys) -> None:
    spec = importlib.util.spec_from_file_location("calipers_benchmark", ROOT / "benchmarks" / "calipers.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--split", "val", "--seed", "125", "--n", "1"]) == 0
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines()[2:]]
    if not rows:
        pytest.skip("the case needs the real B-mode backgrounds of ../shared")
    cells = {row[0].strip(): [cell.strip() for cell in row[1:]] for row in rows}
    # PNG, marks in the box, the caliper found and all its pixels left out; one caliper, on the marks; no flow
    assert cells["png"] == cells["all"] == ["1", "1", "1", "100 %", "1", "0", "0"]
