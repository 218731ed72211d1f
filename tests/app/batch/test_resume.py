"""Resume keys: by content and settings, never by name; reading back an earlier run's lines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from app.batch import COLUMNS
from app.batch.resume import file_sha256, model_sha256, previous_lines, resume_key, settings_sha256, trim_partial_line
from app.errors import UsageError
from app.pipeline import AnalyzeOptions, RoiSpec


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
    row = {column: "" for column in COLUMNS} | {"ok": "True", "resume_key": "k", "grade": "2", "study": "S"}
    out.write_text(",".join(COLUMNS) + "\n" + ",".join(row[c] for c in COLUMNS) + "\n" + "x,False,dec")
    assert previous_lines(out, COLUMNS) == [
        {"key": "k", "ok": True, "study": "S", "colour_fraction": None, "grade": 2.0}
    ]
    out.write_text("input,ok\nx,True\n")
    with pytest.raises(UsageError, match="other CSV columns"):
        previous_lines(out, COLUMNS)
