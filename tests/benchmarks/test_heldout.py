"""A tiny run of benchmarks/heldout.py: three held-out cases through the pipeline, graded with the
shipped model and with the true tendon, summarised as JSON and as the markdown table of docs/heldout.md."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _benchmark():
    spec = importlib.util.spec_from_file_location("heldout_benchmark", ROOT / "benchmarks" / "heldout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_three_cases_through_the_pipeline(capsys) -> None:
    bench = _benchmark()
    assert bench.main(["--n", "3", "--split", "val", "--seed", "13", "--weights", str(ROOT / "weights"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["split"] == "val" and out["seeds"] == [13, 15] and out["all"]["cases"] == len(out["cases"]) == 3
    for row in out["cases"]:
        assert row["error"] is None and 0.0 <= row["dice"] <= 1.0
        assert row["cf_error_drawn"] is None or 0.0 <= row["cf_error_drawn"] <= 1.0
        assert (row["calibration"] is None) == (row["mm_error"] is None)
    sizes = out["all"]
    assert sum(sizes["size_right"].values()) + sizes["size_wrong"] + sizes["size_none"] == 3
    assert set(sizes["size_right"]) <= {"dicom_ultrasound_region", "screen_depth_scale"}
    assert "Pixel size within 2 % of the truth" in bench.table(out)
    found = [r for r in out["cases"] if r["dice"] >= bench.FOUND_DICE]
    assert sizes["thickness_cases"] == sum(r["thickness_error"] is not None for r in found) == len(found)
    assert all(r["thickness_error"] >= 0 for r in found)
    assert sizes["vessels_cases"] == sum(r["vessel_error"] is not None for r in out["cases"])
    assert "Vessel count with the true outline" in bench.table(out)
    assert set(out["groups"]) == {"amount", "pathology", "view", "placement", "format"}
    assert bench.table(out).startswith("| group |")


def test_seeds_outside_the_split_are_refused(capsys) -> None:
    assert _benchmark().main(["--n", "2", "--split", "val", "--seed", "999"]) == 2
    assert "leave the val split" in capsys.readouterr().err
