"""No patient data in results, logs or error messages.

A real ultrasound DICOM is given a patient name, ID, birth date, study/series/acquisition dates,
study/series/SOP instance UIDs, accession number, institution, referring physician and operator
(``tests.app.corpus.IDENTIFIERS``), then runs through the Python API, the command line (in-process
and as a process, logging at DEBUG) and the HTTP API, whole and damaged. None of those strings, nor
any of the dates in DICOM or ISO form, may appear in stdout, stderr, log records, warnings, response
bodies or written files. File names are the user's and are echoed, so the ones used here are neutral.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydicom import examples

from app import cli
from app.config import get_settings
from app.errors import NeovascError, problem_details
from app.main import create_app
from app.pipeline import AnalyzeOptions, RoiSpec, analyze
from app.pipeline.segmenter import installed_model
from tests.app import corpus
from tests.app.corpus_edits import edited

ROI = "88,149,316,293"  # inside the left Doppler box of the GE LOGIQ 700 image (both sources show it)
BAD_ROI = "0,0,9999,9999"  # parses, but does not fit the 640x480 image
EXPECTED = {
    "good": "ok",
    "cut-in-pixel-data": "decode_error",
    "cut-in-header": "decode_error",
    "photometric-holds-patient-id": "unsupported_input",
    "transfer-syntax-holds-study-uid": "unsupported_transfer_syntax",
}
REPO = Path(__file__).resolve().parents[2]


def _source() -> Path:
    """The NEMA WG04 RLE copy of the GE LOGIQ 700 power Doppler image, else pydicom's JPEG 2000 copy."""
    real = corpus.REALDATA / "nemaWG04_US1_RLE.dcm"
    return real if real.is_file() else Path(examples.get_path("jpeg2k"))


def _holding_patient_id(ds) -> None:
    ds.PhotometricInterpretation = corpus.IDENTIFIERS["PatientID"]


@pytest.fixture(scope="module")
def inputs() -> dict[str, bytes]:
    """Each input of :data:`EXPECTED`: the planted DICOM, and damaged copies carrying the same identifiers."""
    good = corpus.planted_copy(_source())
    where = corpus.layout(good)
    return {
        "good": good,
        "cut-in-pixel-data": good[: where.pixel_start + (len(good) - where.pixel_start) // 2],
        "cut-in-header": good[: where.pixel_start - 7],
        "photometric-holds-patient-id": next(edited("", good, [("", _holding_patient_id, None)])).data,
        "transfer-syntax-holds-study-uid": corpus.with_transfer_syntax(good, corpus.IDENTIFIERS["StudyInstanceUID"]),
    }


def assert_clean(**texts: str | bytes) -> None:
    """No planted identifier in any of ``texts`` (named by where they come from)."""
    leaks = {where: corpus.find_leaks(text) for where, text in texts.items()}
    assert not any(leaks.values()), {where: found for where, found in leaks.items() if found}


def png_chunk_kinds(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    kinds, pos = [], 8
    while pos < len(data):
        kinds.append(data[pos + 4 : pos + 8])
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")
    return kinds


def test_the_inputs_do_carry_every_identifier(inputs):
    """Guards the test itself: the planted file holds every value (else a clean output proves nothing)."""
    ds = corpus.read(inputs["good"])
    for keyword, value in corpus.IDENTIFIERS.items():
        assert str(ds[keyword].value) == value, keyword
    for damaged in ("cut-in-pixel-data", "cut-in-header"):
        assert corpus.find_leaks(inputs[damaged]), damaged


@pytest.mark.parametrize(
    ("kind", "roi"), [*((k, ROI) for k in EXPECTED), ("good", BAD_ROI)], ids=[*EXPECTED, "bad-roi"]
)
def test_python_api(kind, roi, inputs, settings, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = analyze(inputs[kind], AnalyzeOptions(roi=RoiSpec.from_text(roi)), settings=settings, name="a.dcm")
            code, text = "ok", result.to_json()
        except NeovascError as exc:
            code, text = exc.code, json.dumps(problem_details(exc))
    out, err = capfd.readouterr()
    assert code == (EXPECTED[kind] if roi == ROI else "invalid_roi")
    assert_clean(
        output=text, logs=caplog.text, stdout=out, stderr=err, warnings=" ".join(str(w.message) for w in caught)
    )


def _write_inputs(folder: Path, inputs: dict[str, bytes]) -> list[str]:
    folder.mkdir()
    paths = []
    for kind, data in inputs.items():
        (folder / f"{kind}.dcm").write_bytes(data)
        paths.append(str(folder / f"{kind}.dcm"))
    return paths


def _written_files(*folders: Path) -> dict[str, bytes]:
    return {str(p.relative_to(p.parents[1])): p.read_bytes() for f in folders if f.exists() for p in f.rglob("*")}


@pytest.fixture
def cli_env(monkeypatch, empty_weights):
    monkeypatch.setenv("NEOVASC_WEIGHTS_DIR", str(empty_weights))
    monkeypatch.setenv("NEOVASC_DEVICE", "cpu")
    monkeypatch.setenv("NEOVASC_LOG_LEVEL", "debug")
    get_settings.cache_clear()
    installed_model.cache_clear()
    yield
    get_settings.cache_clear()
    installed_model.cache_clear()


@pytest.mark.parametrize("out", ["stdout", "results.jsonl", "results.csv"])
def test_command_line(out, inputs, tmp_path, cli_env, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    paths = _write_inputs(tmp_path / "in", inputs)
    masks, overlays = tmp_path / "masks", tmp_path / "overlays"
    argv = ["grade", *paths, "--roi", ROI, "--masks", str(masks), "--overlays", str(overlays)]
    argv += [] if out == "stdout" else ["--out", str(tmp_path / out)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main(argv) == cli.EXIT_INPUT_FAILED  # the damaged inputs fail, the good one is graded
        assert cli.main(["grade", paths[0], "--roi", BAD_ROI]) == cli.EXIT_INPUT_FAILED
    stdout, stderr = capfd.readouterr()
    written = _written_files(masks, overlays) | ({} if out == "stdout" else {out: (tmp_path / out).read_bytes()})
    report = stdout if out == "stdout" else written[out].decode()
    assert all(f"{kind}.dcm" in report for kind in EXPECTED) and "invalid_roi" in stdout
    assert {Path(name).parts[0] for name in written} >= {"masks", "overlays"}
    for name, data in written.items():
        if name.endswith(".png"):
            assert set(png_chunk_kinds(data)) == {b"IHDR", b"IDAT", b"IEND"}, name  # no text or EXIF chunk
    assert_clean(
        stdout=stdout, stderr=stderr, logs=caplog.text, warnings=" ".join(str(w.message) for w in caught), **written
    )


@pytest.mark.slow  # a separate Python process: ~4 s
def test_command_line_process(inputs, tmp_path, empty_weights):
    """The installed command as a user runs it: real stdout and stderr, DEBUG logging to stderr."""
    paths = _write_inputs(tmp_path / "in", inputs)
    env = os.environ | {
        "NEOVASC_WEIGHTS_DIR": str(empty_weights),
        "NEOVASC_DEVICE": "cpu",
        "NEOVASC_LOG_LEVEL": "debug",
    }
    argv = [sys.executable, "-m", "app.cli", "grade", *paths, "--roi", ROI, "--overlays", str(tmp_path / "overlays")]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False)
    assert done.returncode == cli.EXIT_INPUT_FAILED, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["error"]["code"] if line["error"] else "ok" for line in lines] == list(EXPECTED.values())
    assert "DEBUG" in done.stderr  # logging did run at DEBUG
    assert_clean(stdout=done.stdout, stderr=done.stderr, **_written_files(tmp_path / "overlays"))


def test_http_api(inputs, settings, caplog):
    caplog.set_level(logging.DEBUG)
    bodies = {}
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:  # keyless: loopback only

        def post(data: bytes, roi: str):
            return client.post("/v1/grade", files={"file": ("a.dcm", data, "application/dicom")}, data={"roi": roi})

        for kind, data in inputs.items():
            response = post(data, ROI)
            assert (response.json().get("code") or "ok") == EXPECTED[kind], response.text
            bodies[kind] = response.text + str(response.headers)
        for label, roi in (("roi-beyond-image", BAD_ROI), ("roi-not-a-rectangle", "x")):
            response = post(inputs["good"], roi)
            assert response.status_code == 422 and response.json()["code"] == "invalid_roi"
            bodies[label] = response.text + str(response.headers)
    assert_clean(logs=caplog.text, **bodies)


def test_failure_line_holds_only_the_name_and_the_error(inputs, tmp_path, cli_env, capfd):
    """A failed input is reported with its (neutral) file name and the error only."""
    path = _write_inputs(tmp_path / "in", {"cut-in-header": inputs["cut-in-header"]})[0]
    assert cli.main(["grade", path, "--roi", ROI]) == cli.EXIT_INPUT_FAILED
    line = json.loads(capfd.readouterr().out)
    assert line == {**line, "input": "cut-in-header.dcm", "ok": False, "summary": None}
    assert set(line["error"]) == {"code", "message"}
