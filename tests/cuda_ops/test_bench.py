"""The benchmark's command line, bounded to tiny sizes: output shape, not speed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cuda_ops import bench

TINY = ["--sizes", "12x16,7x9", "--batch", "3", "--repeats", "2", "--ceiling-mb", "8"]
KEYS = {"backend", "device", "height", "width", "batch", "fps", "gbps", "ceiling_gbps", "fraction"}


def test_json_rows(capsys):
    assert bench.main(["--json", *TINY, "--coverage", "0.2,1", "--backends", "reference,cpu,triton"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["results"]
    assert {(r["backend"], r["device"]) for r in rows} >= {("reference", "cpu"), ("cpu", "cpu")}
    assert len(rows) == 2 * 2 * len({(r["backend"], r["device"]) for r in rows})  # sizes x coverages x pairs
    for row in rows:
        assert set(row) >= KEYS
        assert row["fps"] > 0 and row["ceiling_gbps"] > 0 and row["batch"] == 3
        assert row["fraction"] == pytest.approx(row["gbps"] / row["ceiling_gbps"])
        frame_bytes = row["height"] * row["width"] * 3 + row["height"] * row["width"] / row["batch"]
        assert row["gbps"] == pytest.approx(row["fps"] * frame_bytes / 1e9)
    if not torch.cuda.is_available():
        assert report["skipped"]["triton"].startswith("pending")


def test_text_report_lists_rows_and_ratio(capsys):
    assert bench.main([*TINY, "--backends", "reference,cpu", "--lut", "table"]) == 0
    out = capsys.readouterr().out
    assert "fraction" in out and "x ref" in out and "table32^3" not in out
    assert out.count("cpu        cpu") == 2


def test_synthetic_batch_covers_the_requested_share():
    frames, labels = bench.synthetic_batch(2, 200, 300, 0.2)
    assert frames.shape == (2, 200, 300, 3) and labels.shape == (1, 200, 300)
    assert np.count_nonzero(labels) / labels.size == pytest.approx(0.2, abs=0.01)
    assert set(np.unique(labels)) == {0, 1, 2, 3}


def test_unknown_backend_is_named():
    with pytest.raises(SystemExit, match="known backends"):
        bench.main(["--backends", "nope", *TINY])
