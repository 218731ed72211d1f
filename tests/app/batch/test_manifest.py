"""Manifest rows: CSV and JSON lines, relative and absolute paths, named errors, and the before/after pairing."""

from __future__ import annotations

import pytest

from app.batch import pairs, read_manifest
from app.errors import InvalidManifest


def test_csv_rows_resolve_against_the_manifest_folder(tmp_path):
    absolute = tmp_path / "elsewhere" / "b.dcm"
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        f'path,roi,study,patient_key,timepoint,notes\nscans/a.png,"1,2,30,40",S1,P7,Before,x\n{absolute},,,,,\n'
    )
    first, second = read_manifest(manifest)
    assert first.path == tmp_path / "scans" / "a.png" and first.given == "scans/a.png"
    assert first.roi.rect == (1, 2, 30, 40)
    assert (first.study, first.patient_key, first.timepoint) == ("S1", "P7", "before")
    assert second.path == absolute and second.roi is None and second.study is None and second.number == 3


def test_jsonl_rows_accept_numeric_keys(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"path": "a.png", "patient_key": 12}\n\n{"path": "b.png", "timepoint": "after"}\n')
    rows = read_manifest(manifest)
    assert [row.patient_key for row in rows] == ["12", None] and rows[1].number == 3


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("m.txt", "path\na.png\n", "must end in .csv or .jsonl"),
        ("m.csv", "file,study\na.png,S\n", "'path' column"),
        ("m.csv", 'path,roi\na.png,"5,5,2,2"\n', "line 2: ROI 5,5,2,2 is empty"),
        ("m.csv", "path,study\n,S\n", "line 2 has no 'path'"),
        ("m.csv", "path\n", "lists no inputs"),
        ("m.jsonl", '{"path": "a.png"}\n{"path": \n', "line 2 is not JSON"),
        ("m.jsonl", '["a.png"]\n', "line 1 is not a JSON object"),
        ("m.jsonl", '{"path": ["a.png"]}\n', "'path' must be text"),
    ],
    ids=["suffix", "no-path-column", "bad-roi", "empty-path", "no-rows", "bad-json", "not-object", "path-not-text"],
)
def test_malformed_manifests_name_the_problem(tmp_path, name, text, message):
    manifest = tmp_path / name
    manifest.write_text(text)
    with pytest.raises(InvalidManifest, match=message) as info:
        read_manifest(manifest)
    assert info.value.code == "invalid_manifest"


def test_a_missing_manifest_is_named(tmp_path):
    with pytest.raises(InvalidManifest, match="cannot be read"):
        read_manifest(tmp_path / "absent.csv")


def test_pairs_group_by_study_and_patient_key(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,study,patient_key,timepoint\n"
        "a1.png,S,P1,before\nb1.png,S,P2,before\na2.png,S,P1,after\nc.png,T,P1,after\nb2.png,S,P2,before\n"
    )
    found = pairs(read_manifest(manifest))
    assert [(p.study, p.patient_key) for p in found] == [("S", "P1"), ("S", "P2"), ("T", "P1")]
    complete, doubled, lone = found
    assert complete.problem is None and (complete.before.given, complete.after.given) == ("a1.png", "a2.png")
    assert "lines 3, 6" in doubled.problem and "found 2 and 0" in doubled.problem
    assert lone.before is None and "found 0 and 1" in lone.problem


def test_pairs_need_before_or_after(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,timepoint\na.png,before\nb.png,week 6\n")
    with pytest.raises(InvalidManifest, match="line 3: compare needs timepoint 'before' or 'after', got 'week 6'"):
        pairs(read_manifest(manifest))
