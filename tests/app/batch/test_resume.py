"""Resume keys: by content and settings, never by name; reading back an earlier run's lines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from app.batch import COLUMNS
from app.batch.resume import (
    _NOT_GRADING,
    file_sha256,
    model_sha256,
    previous_lines,
    resume_key,
    settings_sha256,
    summary_records,
    trim_partial_line,
)
from app.config import Settings
from app.errors import UsageError
from app.pipeline import AnalyzeOptions, RoiSpec

LINE = {"ok": True, "batch": {"key": "k1", "study": "S", "path": "a.png", "input_sha256": "i1", "settings_sha256": "s"}}


def test_file_hash_is_streamed_sha256_and_none_when_unreadable(tmp_path):
    data = bytes(range(256)) * 9000  # > one 1 MiB chunk
    (tmp_path / "a.bin").write_bytes(data)
    assert file_sha256(tmp_path / "a.bin") == hashlib.sha256(data).hexdigest()
    assert file_sha256(tmp_path / "missing.png") is None and file_sha256(tmp_path) is None
    assert resume_key("a", "s", tmp_path / "x") != resume_key("a", "t", tmp_path / "x")
    assert resume_key("a", "s", tmp_path / "x") == resume_key("a", "s", tmp_path / "y"), "content, not name"


def test_an_unreadable_file_is_keyed_by_its_absolute_path(tmp_path, monkeypatch):
    """No bytes to hash: the path stands in, so --resume recognises its ``ok: false`` line."""
    monkeypatch.chdir(tmp_path)
    key = resume_key(None, "s", Path("missing.png"))
    assert key == resume_key(None, "s", tmp_path / "missing.png") != resume_key(None, "s", tmp_path / "other.png")
    assert key != resume_key(None, "t", tmp_path / "missing.png") and len(key) == 64


def test_settings_hash_changes_with_what_decides_the_grade(settings):
    roi = RoiSpec.from_text("1,1,9,9")
    base = settings_sha256(AnalyzeOptions(roi=roi), settings, ())
    assert base == settings_sha256(AnalyzeOptions(roi=RoiSpec.from_text("1,1,9,9")), settings, ())
    changed = {
        "every": settings_sha256(AnalyzeOptions(roi=roi, every=2), settings, ()),
        "roi": settings_sha256(AnalyzeOptions(roi=RoiSpec.from_text("1,1,9,10")), settings, ()),
        "mask": settings_sha256(AnalyzeOptions(roi=RoiSpec(mask=np.ones((9, 9), bool))), settings, ()),
        "setting": settings_sha256(AnalyzeOptions(roi=roi), settings.model_copy(update={"band_px": 7}), ()),
        "outputs": settings_sha256(AnalyzeOptions(roi=roi), settings, ("overlays",)),
        "model": settings_sha256(AnalyzeOptions(), settings, ()),
    }
    assert base not in changed.values() and len(set(changed.values())) == len(changed)
    assert base == settings_sha256(AnalyzeOptions(roi=roi), settings.model_copy(update={"port": 9}), ()), "not grading"


def test_model_identity_is_the_manifest_sha256(tmp_path):
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"models": [{"name": "m", "sha256": "abc"}]}))
    assert model_sha256(tmp_path) == "abc"
    (tmp_path / "MANIFEST.json").write_text("{broken")
    assert model_sha256(tmp_path) == "unreadable" and model_sha256(tmp_path / "none") == "unreadable"


def test_a_cut_last_line_is_trimmed_and_ignored(tmp_path):
    out = tmp_path / "r.jsonl"
    whole = json.dumps({"ok": True, "batch": {"key": "k1", "study": "S"}, "summary": {"colour_fraction": 0.5}})
    out.write_text(whole + "\n" + whole[:40])
    assert [r["key"] for r in previous_lines(out, None)] == ["k1"]
    assert trim_partial_line(out) == 40 and out.read_text() == whole + "\n"
    assert trim_partial_line(out) == 0


def test_csv_lines_read_back_and_a_foreign_header_is_refused(tmp_path):
    out = tmp_path / "r.csv"
    row = {column: "" for column in COLUMNS} | {
        "ok": "True", "resume_key": "k", "grade": "2", "study": "S", "input_sha256": "i", "settings_sha256": "s",
        "path": "in/a.png",
    }  # fmt: skip
    out.write_text(",".join(COLUMNS) + "\n" + ",".join(row[c] for c in COLUMNS) + "\n" + "x,False,dec")
    assert previous_lines(out, COLUMNS) == [
        {
            "key": "k",
            "ok": True,
            "study": "S",
            "colour_fraction": None,
            "grade": 2.0,
            "settings": "s",
            "input": "i",
            "path": "in/a.png",
        }
    ]
    out.write_text("input,ok\nx,True\n")
    with pytest.raises(UsageError, match="other CSV columns"):
        previous_lines(out, COLUMNS)


def test_settings_hash_leaves_out_the_log_and_an_overlay_screen_no_output_shows(settings):
    """NEOVASC_LOG_FORMAT and an unused NEOVASC_OVERLAY_SCREEN never change a line: the same work, not graded again."""
    assert set(Settings.model_fields) >= _NOT_GRADING, "every name left out is a setting"
    roi = AnalyzeOptions(roi=RoiSpec.from_text("1,1,9,9"))
    full = settings.model_copy(update={"overlay_screen": "full"})
    for outputs in [(), ("masks",)]:
        base = settings_sha256(roi, settings, outputs)
        assert base == settings_sha256(roi, settings.model_copy(update={"log_format": "json"}), outputs)
        assert base == settings_sha256(roi, settings.model_copy(update={"log_level": "debug"}), outputs)
        assert base == settings_sha256(roi, full, outputs), "no output shows the screen"
    for outputs in [("overlays",), ("dicom",), ("masks", "overlays")]:
        assert settings_sha256(roi, settings, outputs) != settings_sha256(roi, full, outputs), outputs


def test_settings_hash_takes_the_device_from_the_option_or_the_setting_alike(settings):
    """``--device cpu`` and ``NEOVASC_DEVICE=cpu`` are the same work: the setting counts as the option overrides it."""
    roi = RoiSpec.from_text("1,1,9,9")
    auto = settings.model_copy(update={"device": "auto", "backend": "auto"})
    cpu = settings.model_copy(update={"device": "cpu", "backend": "reference"})
    by_option = settings_sha256(AnalyzeOptions(roi=roi, device="cpu", backend="reference"), auto, ())
    by_setting = settings_sha256(AnalyzeOptions(roi=roi), cpu, ())
    assert by_option == by_setting and by_option != settings_sha256(AnalyzeOptions(roi=roi), auto, ())


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ('{"broken": \n', 2),  # cut short, yet with its line end: no kill leaves that
        ("\n", 2),
        ("[1, 2]\n", 2),
        ('{"ok": true, "summary": {"grade": 1}}\n', 2),  # a Result that neovasc grade did not write (no batch)
        ("not json\n" + json.dumps(LINE) + "\n", 2),
    ],
    ids=["cut-with-line-end", "empty", "not-an-object", "no-batch-key", "text"],
)
def test_a_complete_line_that_neovasc_grade_does_not_write_is_refused_by_number(tmp_path, text, number):
    out = tmp_path / "r.jsonl"
    out.write_text(json.dumps(LINE) + "\n" + text + '{"cut')
    with pytest.raises(UsageError, match=f"line {number} of 'r.jsonl' is not a line neovasc grade writes"):
        previous_lines(out, None)


def test_a_csv_row_with_other_fields_or_no_key_is_refused_by_number(tmp_path):
    out = tmp_path / "r.csv"
    row = {column: "" for column in COLUMNS} | {"ok": "True", "resume_key": "k", "input_sha256": "i"}
    good = ",".join(row[c] for c in COLUMNS)
    for bad, why in [(good + ",extra", "other fields than the header"), ("x,True", "other fields than the header"),
                     (good.replace(",k,", ",,"), "no resume_key")]:  # fmt: skip
        out.write_text(",".join(COLUMNS) + "\n" + good + "\n" + bad + "\n")
        with pytest.raises(UsageError, match=f"line 3 of 'r.csv' .*{why}"):
            previous_lines(out, COLUMNS)


def test_a_line_holding_a_unicode_line_separator_is_one_line(tmp_path):
    """JSON keeps U+2028 unescaped; it ends no line of the file (a study name may hold it)."""
    out = tmp_path / "r.jsonl"
    line = json.loads(json.dumps(LINE))
    line["batch"]["study"] = "left\u2028right"
    out.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    assert [(r["key"], r["study"]) for r in previous_lines(out, None)] == [("k1", "left\u2028right")]


def test_the_summary_counts_an_input_by_its_lines_for_this_runs_settings():
    def line(input_sha256, settings, study="S"):
        return {"key": f"{input_sha256}:{settings}", "input": input_sha256, "settings": settings, "study": study}

    lines = [
        line("a", "old"), line("b", "old"), line("c", "old"),  # an earlier run with other settings
        line("a", "new"), line("b", "new"),  # this run's settings: a and b, graded now or before
        line("b", "new"),  # b listed twice: both lines count
        line("d", "new"), line("e", "roi"),  # d and e: an archive graded in parts, e with a manifest row's own roi
    ]  # fmt: skip
    kept = summary_records(lines, {"new", "roi"})
    assert [(r["input"], r["settings"]) for r in kept] == [
        ("c", "old"), ("a", "new"), ("b", "new"), ("b", "new"), ("d", "new"), ("e", "roi"),
    ]  # fmt: skip


def test_a_file_missing_then_graded_counts_once():
    """Missing in one run (its line keyed by its path), read in the next: the summary counts the line it was read in."""
    missing = {"key": "k1", "input": "path:in/a.png", "path": "in/a.png", "settings": "s", "ok": False, "study": "S"}
    read = {"key": "k2", "input": "sha-a", "path": "in/a.png", "settings": "s", "ok": True, "study": "S"}
    still_missing = {"key": "k3", "input": "path:in/b.png", "path": "in/b.png", "settings": "s", "ok": False}
    kept = summary_records([missing, read, still_missing], {"s"})
    assert [r["key"] for r in kept] == ["k2", "k3"]
