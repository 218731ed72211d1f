"""One batch run in this process: lines as they finish, --resume by content and settings, the summary table."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest

from app.batch import BatchConfig, Destination, from_paths, grade_batch, grade_task, progress_enabled
from app.errors import UsageError
from app.pipeline import AnalyzeOptions, RoiSpec
from app.pipeline.device import resolve_device
from tests.conftest import grey_background, paint_blobs, png_bytes

ROI = AnalyzeOptions(roi=RoiSpec.from_text("20,30,120,90"))


def make_inputs(folder: Path, count: int, rng: np.random.Generator) -> list[Path]:
    """``count`` different 120x160 PNGs, input ``i`` with ``i + 1`` 4x5 colour blobs inside ROI (20 px each)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        image = grey_background(120, 160, rng)
        paint_blobs(image, [(25 + 10 * j, 40, 29 + 10 * j, 45) for j in range(i + 1)])
        paths.append(folder / f"in-{i}.png")
        paths[-1].write_bytes(png_bytes(image))
    return paths


class Counting:
    """A grader that records which inputs it graded (in-process runs only)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, task, config, stop=None):
        self.names.append(task.path.name)
        return grade_task(task, config, stop)


def _grade(paths, settings, out, *, resume=False, options=ROI, summary=None):
    grader = Counting()
    tally = grade_batch(
        from_paths(paths), options, BatchConfig(settings), Destination(io.StringIO(), out, resume, summary),
        progress_stream=io.StringIO(), grader=grader,
    )  # fmt: skip
    return tally, grader.names


def _stable(text: str, suffix: str) -> object:
    """The lines without the wall times, which differ from run to run."""
    if suffix == ".csv":
        return text
    return [{k: v for k, v in json.loads(line).items() if k != "timing_ms"} for line in text.splitlines()]


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_each_line_carries_path_and_keys(tmp_path, settings, rng):
    paths = make_inputs(tmp_path / "in", 2, rng)
    out = tmp_path / "r.jsonl"
    tally, graded = _grade(paths, settings, out)
    assert (tally.ok, tally.failed, tally.skipped) == (2, 0, 0) and graded == ["in-0.png", "in-1.png"]
    lines = _lines(out)
    assert [line["summary"]["doppler_px"] for line in lines] == [20, 40]
    batch = lines[0]["batch"]
    assert batch["path"] == str(paths[0]) and len(batch["key"]) == 64 and len(batch["input_sha256"]) == 64
    assert lines[0]["batch"]["settings_sha256"] == lines[1]["batch"]["settings_sha256"]


def test_resume_grades_only_what_is_missing(tmp_path, settings, rng):
    paths = make_inputs(tmp_path / "in", 4, rng)
    out = tmp_path / "r.jsonl"
    _grade(paths[:2], settings, out)
    first = out.read_text()
    tally, graded = _grade(paths, settings, out, resume=True)
    assert graded == ["in-2.png", "in-3.png"] and tally.skipped == 2 and tally.ok == 2
    assert out.read_text().startswith(first), "lines already written are kept as they were"
    assert sorted(line["batch"]["path"] for line in _lines(out)) == sorted(map(str, paths))
    assert _grade(paths, settings, out, resume=True)[1] == [], "a finished run skips every input"


def test_resume_matches_content_not_names(tmp_path, settings, rng):
    paths = make_inputs(tmp_path / "in", 2, rng)
    out = tmp_path / "r.jsonl"
    _grade(paths, settings, out)
    moved = tmp_path / "moved" / "renamed.png"
    moved.parent.mkdir()
    paths[0].rename(moved)
    paths[1].write_bytes(paths[1].read_bytes() + b"\0")  # same name, other bytes
    assert _grade([moved, paths[1]], settings, out, resume=True)[1] == ["in-1.png"]


def test_resume_grades_again_when_settings_change(tmp_path, settings, rng):
    paths = make_inputs(tmp_path / "in", 2, rng)
    out = tmp_path / "r.csv"
    _grade(paths, settings, out)
    other = dataclasses.replace(ROI, roi=RoiSpec.from_text("20,30,121,90"))
    assert _grade(paths, settings, out, resume=True, options=other)[1] == ["in-0.png", "in-1.png"]
    assert _grade(paths, settings, out, resume=True, options=other)[1] == []
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4 and len({row["settings_sha256"] for row in rows}) == 2


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_line_cut_by_a_kill_is_graded_again(tmp_path, settings, rng, suffix):
    paths = make_inputs(tmp_path / "in", 3, rng)
    out = tmp_path / f"r{suffix}"
    _grade(paths, settings, out)
    text = out.read_text()
    out.write_text(text[: text.rstrip("\n").rfind("\n") + 30])  # the last line is cut 30 characters in
    tally, graded = _grade(paths, settings, out, resume=True)
    assert graded == ["in-2.png"] and tally.skipped == 2
    assert _stable(out.read_text(), suffix) == _stable(text, suffix), "the cut line was replaced by a whole one"


def test_a_file_listed_twice_gets_two_lines(tmp_path, settings, rng):
    (path,) = make_inputs(tmp_path / "in", 1, rng)
    out = tmp_path / "r.jsonl"
    _grade([path], settings, out)
    assert _grade([path, path], settings, out, resume=True)[1] == ["in-0.png"]
    assert len(_lines(out)) == 2


def test_failures_do_not_stop_the_batch_and_the_summary_counts_them(tmp_path, settings, rng):
    paths = make_inputs(tmp_path / "in", 2, rng)
    broken = tmp_path / "in" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    out, summary = tmp_path / "r.jsonl", tmp_path / "s.csv"
    tally, _ = _grade([paths[0], broken, tmp_path / "missing.png", paths[1]], settings, out, summary=summary)
    assert (tally.ok, tally.failed) == (2, 2)
    codes = [line["error"]["code"] if line["error"] else None for line in _lines(out)]
    assert codes == [None, "decode_error", "input_not_found", None]
    assert len(_lines(out)[2]["batch"]["key"]) == 64, "an unreadable file is keyed by its path"
    (row,) = csv.DictReader(summary.open())
    assert row == {
        "study": "", "inputs": "4", "ok": "2", "failed": "2",
        "colour_fraction_median": str((20 / 6000 + 40 / 6000) / 2), "grades": "1:1;2:1",
    }  # fmt: skip


def test_progress_bar_only_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress_enabled(Terminal(), quiet=False) is True
    assert progress_enabled(Terminal(), quiet=True) is False
    assert progress_enabled(io.StringIO(), quiet=False) is False


def test_progress_bar_drawn_on_a_terminal(tmp_path, settings, rng):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    paths = make_inputs(tmp_path / "in", 2, rng)
    terminal = Terminal()
    grade_batch(from_paths(paths), ROI, BatchConfig(settings), Destination(io.StringIO()), progress_stream=terminal)
    drawn = terminal.getvalue()
    assert "2/2" in drawn and "file/s" in drawn and "frames" in drawn


def test_resume_does_not_repeat_a_missing_file(tmp_path, settings, rng):
    """Its ``input_not_found`` line counts as graded like any ``ok: false`` line, until a file is put there."""
    paths = make_inputs(tmp_path / "in", 2, rng)
    missing = tmp_path / "in" / "later.png"
    out = tmp_path / "r.jsonl"
    _grade([paths[0], missing], settings, out)
    assert _grade([paths[0], missing], settings, out, resume=True)[1] == []
    paths[1].rename(missing)
    assert _grade([paths[0], missing], settings, out, resume=True)[1] == ["later.png"]
    assert [line["error"]["code"] if line["error"] else None for line in _lines(out)] == [None, "input_not_found", None]


def test_resume_skips_what_only_the_log_or_an_overlay_screen_no_output_shows_changed(tmp_path, settings, rng):
    paths = make_inputs(tmp_path / "in", 3, rng)
    out = tmp_path / "r.jsonl"
    _grade(paths, settings, out)
    quiet = settings.model_copy(update={"log_format": "json", "log_level": "warning", "overlay_screen": "full"})
    tally, graded = _grade(paths, quiet, out, resume=True)
    assert graded == [] and tally.skipped == 3 and len(_lines(out)) == 3


def test_resume_takes_auto_as_the_device_it_picks_here(tmp_path, settings, rng):
    """A grade computed on the CPU is the same work whether ``cpu`` was written or ``auto`` picked it."""
    paths = make_inputs(tmp_path / "in", 2, rng)
    out = tmp_path / "r.jsonl"
    auto = settings.model_copy(update={"device": "auto"})
    _grade(paths, auto, out)
    here = resolve_device("auto")
    assert _grade(paths, auto, out, resume=True, options=dataclasses.replace(ROI, device=here))[1] == []
    assert _grade(paths, settings.model_copy(update={"device": here}), out, resume=True)[1] == []
    assert len(_lines(out)) == 2


@pytest.mark.parametrize(
    ("suffix", "foreign"),
    [(".jsonl", '{"broken": \n'), (".jsonl", '{"ok": true}\n'), (".csv", "in-9.png,True\n")],
    ids=["cut-json-with-line-end", "json-without-batch", "short-csv-row"],
)
def test_resume_refuses_a_file_with_a_complete_line_it_does_not_write(tmp_path, settings, rng, suffix, foreign):
    """Not a kill's work (a kill leaves no line end): the file is not this command's, so it stays as it is."""
    paths = make_inputs(tmp_path / "in", 3, rng)
    out = tmp_path / f"r{suffix}"
    _grade(paths[:2], settings, out)
    lines = out.read_text().splitlines(keepends=True)
    inside, last = lines[0] + foreign + "".join(lines[1:]) + "{cut", "".join(lines) + foreign
    for text, number in [(inside, 2), (last, len(lines) + 1)]:
        out.write_text(text)
        with pytest.raises(UsageError, match=f"line {number} of 'r{suffix}'"):
            _grade(paths, settings, out, resume=True)
        assert out.read_text() == text, "nothing written, not even the cut last line removed"


def test_the_summary_counts_each_input_once_when_the_settings_changed(tmp_path, settings, rng):
    """The earlier lines for other settings stay in --out, but the summary counts each input by this run's line."""
    paths = make_inputs(tmp_path / "in", 3, rng)
    out, summary = tmp_path / "r.jsonl", tmp_path / "s.csv"
    _grade(paths, settings, out)
    narrow = dataclasses.replace(ROI, roi=RoiSpec.from_text("20,30,60,90"))  # the first 4 blobs' columns
    _grade(paths[:2], settings, out, resume=True, options=narrow)
    tally, graded = _grade(paths, settings, out, resume=True, options=narrow, summary=summary)
    assert graded == ["in-2.png"] and tally.skipped == 2 and len(_lines(out)) == 6
    (row,) = csv.DictReader(summary.open())
    assert (row["inputs"], row["ok"], row["grades"]) == ("3", "3", "1:1;2:1;3:1"), "each input once, this run's"
