"""``neovasc grade --resume`` end to end: settings that never change a line, and a file it did not write."""

from __future__ import annotations

import csv
import json

import pytest

from app import cli
from app.config import get_settings
from app.pipeline.device import resolve_device
from tests.app.batch.test_session import make_inputs
from tests.app.test_cli import _isolated_settings, _run  # noqa: F401 - the autouse fixture, and the runner

ROI = ("--roi", "20,30,120,90")


def test_resume_skips_everything_when_only_the_log_format_device_spelling_or_unused_screen_changed(
    tmp_path, rng, monkeypatch
):
    """The walkthrough's archive: graded once, resumed with NEOVASC_LOG_FORMAT=json, NEOVASC_OVERLAY_SCREEN=full
    (no --overlays) and ``--device`` naming the device that ``auto`` picked: nothing is graded twice."""
    inputs = [str(path) for path in make_inputs(tmp_path / "in", 5, rng)]
    out, summary = tmp_path / "results.jsonl", tmp_path / "studies.csv"
    monkeypatch.setenv("NEOVASC_DEVICE", "auto")
    get_settings.cache_clear()
    assert _run("grade", *inputs, *ROI, "--out", str(out))[0] == 0
    first = out.read_text()
    monkeypatch.setenv("NEOVASC_LOG_FORMAT", "json")
    monkeypatch.setenv("NEOVASC_OVERLAY_SCREEN", "full")
    get_settings.cache_clear()
    argv = ("grade", *inputs, *ROI, "--out", str(out), "--resume", "--summary", str(summary))
    assert _run(*argv, "--device", resolve_device("auto")) == (0, [])
    assert out.read_text() == first, "5 lines, not 10"
    (row,) = csv.DictReader(summary.open())
    assert (row["inputs"], row["ok"]) == ("5", "5")


def test_resume_into_a_file_with_a_foreign_line_is_a_one_line_usage_error(tmp_path, rng, capsys):
    inputs = [str(path) for path in make_inputs(tmp_path / "in", 2, rng)]
    out = tmp_path / "results.jsonl"
    assert _run("grade", inputs[0], *ROI, "--out", str(out))[0] == 0
    text = out.read_text() + '{"broken": \n'
    out.write_text(text)
    with pytest.raises(SystemExit) as info:
        cli.main(["grade", *inputs, *ROI, "--out", str(out), "--resume"])
    assert info.value.code == cli.EXIT_USAGE
    error = json.loads(capsys.readouterr().err.strip().splitlines()[-1])["error"]
    assert error["code"] == "usage_error" and "line 2 of 'results.jsonl'" in error["message"]
    assert out.read_text() == text, "nothing appended after the foreign line"
