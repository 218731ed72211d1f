"""The command line's archive options: --manifest, --resume, --summary, --jobs/--timeout checks, compare --manifest."""

from __future__ import annotations

import csv
import json
import logging

import pytest

from app import cli
from tests.app.batch.test_session import make_inputs
from tests.app.test_cli import _isolated_settings, _run  # noqa: F401 - the autouse fixture, and the runner


def _usage_error(argv: list[str], capsys) -> dict:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == cli.EXIT_USAGE
    return json.loads(capsys.readouterr().err.strip().splitlines()[-1])["error"]


def test_manifest_rows_bring_their_region_and_keys(tmp_path, rng):
    make_inputs(tmp_path / "scans", 2, rng)
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,roi,study,patient_key,timepoint\n"
        'scans/in-0.png,"20,30,120,90",S1,P1,before\n'
        'scans/in-1.png,"20,30,70,90",S1,P1,after\n'
        "scans/absent.png,,S2,P2,\n"
    )
    summary = tmp_path / "studies.csv"
    code, lines = _run("grade", "--manifest", str(manifest), "--summary", str(summary))
    assert code == 1 and [line["ok"] for line in lines] == [True, True, False]
    assert [line["summary"]["tendon_area_px"] for line in lines[:2]] == [6000, 3000]
    assert lines[0]["batch"] | {"key": None, "input_sha256": None, "settings_sha256": None} == {
        "path": "scans/in-0.png", "key": None, "input_sha256": None, "settings_sha256": None,
        "study": "S1", "patient_key": "P1", "timepoint": "before",
    }  # fmt: skip
    assert lines[2]["error"]["code"] == "input_not_found" and lines[2]["batch"]["study"] == "S2"
    rows = list(csv.DictReader(summary.open()))
    assert [(r["study"], r["inputs"], r["ok"], r["failed"], r["grades"]) for r in rows] == [
        ("S1", "2", "2", "0", "1:1;2:1"),
        ("S2", "1", "0", "1", ""),
    ]


@pytest.mark.parametrize(
    ("name", "text"),
    [("m.csv", "file\na.png\n"), ("m.jsonl", "{not json\n"), ("m.csv", 'path,roi\na.png,"1,2"\n')],
    ids=["no-path-column", "bad-json", "bad-roi"],
)
def test_a_malformed_manifest_is_a_named_usage_error(tmp_path, capsys, name, text):
    manifest = tmp_path / name
    manifest.write_text(text)
    error = _usage_error(["grade", "--manifest", str(manifest)], capsys)
    assert error["code"] == "invalid_manifest" and name in error["message"]


@pytest.mark.parametrize(
    "argv",
    [
        ["grade", "x.png", "--resume"],
        ["grade"],
        ["grade", "x.png", "--manifest", "m.csv"],
        ["grade", "x.png", "--summary", "s.txt"],
        ["grade", "x.png", "--timeout", "0"],
        ["grade", "x.png", "--jobs", "0"],
        ["compare", "a.png"],
        ["compare", "a.png", "b.png", "--manifest", "m.csv"],
    ],
    ids=["resume-without-out", "no-input", "paths-and-manifest", "summary-suffix", "timeout-0", "jobs-0",
         "compare-one-file", "compare-files-and-manifest"],
)  # fmt: skip
def test_batch_usage_errors(argv, capsys):
    assert _usage_error(argv, capsys)["code"] == "usage_error"


def test_resume_on_the_command_line(tmp_path, rng, caplog):
    paths = make_inputs(tmp_path / "in", 3, rng)
    out = tmp_path / "r.csv"
    assert _run("grade", str(paths[0]), "--roi", "20,30,120,90", "--out", str(out))[0] == 0
    caplog.set_level(logging.INFO, logger="neovasc")
    assert _run("grade", str(tmp_path / "in"), "--roi", "20,30,120,90", "--out", str(out), "--resume")[0] == 0
    rows = list(csv.DictReader(out.open()))
    assert sorted(row["input"] for row in rows) == ["in-0.png", "in-1.png", "in-2.png"]
    assert "graded 2 input(s): 2 ok, 0 failed" in caplog.text and "1 input(s) already graded" in caplog.text


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, rng, capsys):
    paths = make_inputs(tmp_path / "in", 2, rng)
    assert _run("grade", *map(str, paths), "--roi", "20,30,120,90")[0] == 0
    err = capsys.readouterr().err
    assert "file/s" not in err and "grading" not in err


def test_compare_over_a_manifest(tmp_path, rng, capsys):
    make_inputs(tmp_path, 2, rng)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    manifest = tmp_path / "pairs.jsonl"
    rows = [
        {"path": "in-0.png", "roi": "20,30,120,90", "study": "TAE", "patient_key": "P1", "timepoint": "before"},
        {"path": "in-1.png", "roi": "20,30,120,90", "study": "TAE", "patient_key": "P1", "timepoint": "after"},
        {"path": "in-0.png", "roi": "20,30,120,90", "study": "TAE", "patient_key": "P2", "timepoint": "Before"},
        {"path": "broken.png", "roi": "20,30,120,90", "study": "TAE", "patient_key": "P2", "timepoint": "after"},
        {"path": "in-1.png", "roi": "20,30,120,90", "study": "TAE", "patient_key": "P3", "timepoint": "after"},
    ]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    summary = tmp_path / "s.csv"
    code, lines = _run("compare", "--manifest", str(manifest), "--summary", str(summary))
    assert code == 1 and len(lines) == 3
    compared, failed, lone = lines
    assert compared["schema"] == "neovasc.comparison/1" and compared["change"]["vessel_count"] == 1
    assert (compared["before"]["batch"]["patient_key"], compared["after"]["batch"]["timepoint"]) == ("P1", "after")
    assert failed["error"]["code"] == "unsupported_input" and failed["error"]["message"].startswith("after: ")
    assert failed["patient_key"] == "P2" and lone["error"]["code"] == "invalid_manifest"
    assert next(csv.DictReader(summary.open()))["inputs"] == "4"


def test_compare_manifest_needs_before_and_after(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,timepoint\na.png,baseline\n")
    assert _usage_error(["compare", "--manifest", str(manifest)], capsys)["code"] == "invalid_manifest"


@pytest.mark.parametrize("option", ["--out", "--summary"])
def test_an_unwritable_out_or_summary_is_a_usage_error_naming_it(tmp_path, rng, capsys, option):
    """The message names the file that failed, not both."""
    (path,) = make_inputs(tmp_path, 1, rng)
    name = "r.jsonl" if option == "--out" else "s.csv"
    error = _usage_error(["grade", str(path), "--roi", "20,30,120,90", option, str(path / name)], capsys)
    assert error["code"] == "usage_error" and error["message"].startswith(f"{option} cannot be written: ")


def test_compare_summary_that_cannot_be_written_is_an_error_line_not_a_traceback(tmp_path, rng, capsys):
    """The comparisons reach standard output; the table's failure is one usage-error line naming --summary."""
    make_inputs(tmp_path, 2, rng)
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(
        'path,roi,patient_key,timepoint\nin-0.png,"20,30,120,90",P1,before\nin-1.png,"20,30,120,90",P1,after\n'
    )
    (tmp_path / "s.csv").mkdir()  # a folder where the table should go
    error = _usage_error(["compare", "--manifest", str(manifest), "--summary", str(tmp_path / "s.csv")], capsys)
    assert error["code"] == "usage_error" and error["message"].startswith("--summary cannot be written")
