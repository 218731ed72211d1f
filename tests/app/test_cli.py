"""The command-line contract: JSON Lines, exit codes, --masks, --overlays, --out, usage errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from app import cli
from app.batch import BATCH_COLUMNS
from app.config import get_settings
from app.pipeline.outputs import CSV_COLUMNS
from app.pipeline.segmenter import installed_model


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, empty_weights):
    monkeypatch.setenv("NEOVASC_WEIGHTS_DIR", str(empty_weights))
    monkeypatch.setenv("NEOVASC_DEVICE", "cpu")
    get_settings.cache_clear()
    installed_model.cache_clear()
    yield
    get_settings.cache_clear()
    installed_model.cache_clear()


def _run(*argv: str) -> tuple[int, list[dict]]:
    out = io.StringIO()
    code = cli.main(list(argv), stdout=out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_grade_json_lines(doppler_png):
    path, truth = doppler_png
    code, lines = _run("grade", str(path), "--roi", ",".join(map(str, truth["roi"])))
    assert code == 0 and len(lines) == 1
    line = lines[0]
    assert line["schema"] == "neovasc.result/1" and line["ok"] is True and line["input"] == "study-01.png"
    assert line["summary"]["doppler_px"] == truth["doppler"]
    assert line["summary"]["tendon_area_px"] == truth["area"]
    assert line["summary"]["vessel_count"] == truth["vessels"]


def test_failed_input_gives_line_and_exit_1(doppler_png, tmp_path):
    path = doppler_png[0]
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    missing = tmp_path / "missing.png"
    code, lines = _run("grade", str(bad), str(path), str(missing), "--roi", "20,30,120,90")
    assert code == 1
    assert [(x["input"], x["ok"]) for x in lines] == [
        ("broken.png", False),
        ("study-01.png", True),
        ("missing.png", False),
    ]
    assert lines[0]["error"]["code"] == "decode_error"
    assert lines[2]["error"]["code"] == "input_not_found"
    assert lines[0]["summary"] is None


def test_no_roi_and_no_model(doppler_png):
    code, lines = _run("grade", str(doppler_png[0]))
    assert code == 1
    assert lines[0]["error"]["code"] == "no_tendon_model"
    assert "--roi" in lines[0]["error"]["message"]


def test_masks_written_at_full_resolution(doppler_png, tmp_path):
    path, truth = doppler_png
    masks = tmp_path / "masks"
    code, _ = _run("grade", str(path), "--roi", "20,30,120,90", "--masks", str(masks))
    assert code == 0
    mask = cv2.imread(str(masks / "study-01.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (120, 160) and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 255}
    assert (mask == 255).sum() == truth["area"]
    assert mask[30, 20] == 255 and mask[29, 20] == 0 and mask[89, 119] == 255 and mask[90, 119] == 0


def test_mask_roi_file(doppler_png, tmp_path):
    path, truth = doppler_png
    roi = np.zeros((120, 160), np.uint8)
    roi[30:90, 20:120] = 255
    roi_path = tmp_path / "roi.png"
    cv2.imwrite(str(roi_path), roi)
    code, lines = _run("grade", str(path), "--roi-mask", str(roi_path))
    assert code == 0 and lines[0]["roi"]["kind"] == "mask"
    assert lines[0]["summary"]["doppler_px"] == truth["doppler"]


def test_overlays(doppler_png, tmp_path):
    path, _ = doppler_png
    overlays = tmp_path / "overlays"
    assert _run("grade", str(path), "--roi", "20,30,120,90", "--overlays", str(overlays))[0] == 0
    overlay = cv2.imread(str(overlays / "study-01.png"))
    assert overlay.shape == (120, 160, 3)
    assert (overlay[:, :, 1] == 255).sum() >= 60  # counted pixels shown in green


def test_out_csv_and_jsonl(doppler_png, tmp_path):
    path, _ = doppler_png
    out_csv = tmp_path / "r.csv"
    code, lines = _run("grade", str(path), str(tmp_path / "nope.png"), "--roi", "20,30,120,90", "--out", str(out_csv))
    assert code == 1 and lines == []
    rows = list(csv.DictReader(out_csv.open()))
    assert tuple(rows[0]) == CSV_COLUMNS + BATCH_COLUMNS  # the batch columns come after the Result's
    assert rows[0]["doppler_px"] == "60" and rows[0]["ok"] == "True" and rows[1]["error_code"] == "input_not_found"
    out_jsonl = tmp_path / "r.jsonl"
    assert _run("grade", str(path), "--roi", "20,30,120,90", "--out", str(out_jsonl))[0] == 0
    assert json.loads(out_jsonl.read_text())["summary"]["doppler_px"] == 60


def test_directory_input(doppler_png, tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    code, lines = _run("grade", str(tmp_path), "--roi", "20,30,120,90")
    assert code == 0 and [x["input"] for x in lines] == ["study-01.png"]


@pytest.mark.parametrize(
    "argv",
    [
        ["grade"],
        ["grade", "x.png", "--roi", "1,2,3"],
        ["grade", "x.png", "--roi", "1,1,2,2", "--roi-mask", "m.png"],
        ["grade", "x.png", "--device", "tpu"],
        ["grade", "x.png", "--roi", "1,1,2,2", "--out", "r.txt"],
        ["frobnicate"],
    ],
    ids=["no-path", "bad-roi", "roi-and-mask", "bad-device", "bad-out", "unknown-command"],
)
def test_usage_errors_exit_2_with_json_line(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert json.loads(last)["error"]["code"] == "usage_error"


@pytest.mark.slow  # a separate Python process: ~3 s
def test_console_script_runs(doppler_png):
    """The installed entry point, in a separate process, as a user would run it."""
    path, truth = doppler_png
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "grade", str(path), "--roi", "20,30,120,90"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["summary"]["doppler_px"] == truth["doppler"]


def test_schema_command():
    out = io.StringIO()
    assert cli.main(["schema"], stdout=out) == 0
    schema = json.loads(out.getvalue())
    assert schema["title"] == "Result" and "schema" in schema["properties"]


@pytest.mark.parametrize(
    ("argv", "file"), [([], "result"), (["--comparison"], "comparison")], ids=["result", "comparison"]
)
def test_published_schema_matches_the_code(capsys, argv, file):
    """docs/<file>.schema.json is what `neovasc schema` prints (regenerate it after changing the model)."""
    assert cli.main(["schema", *argv]) == 0
    published = Path(__file__).resolve().parents[2] / "docs" / f"{file}.schema.json"
    assert json.loads(capsys.readouterr().out) == json.loads(published.read_text())


def test_bad_environment_setting_is_a_usage_error(monkeypatch, capsys):
    get_settings.cache_clear()
    monkeypatch.setenv("NEOVASC_DEVICE", "gpu")
    try:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["grade", "whatever.png"])
    finally:
        monkeypatch.delenv("NEOVASC_DEVICE")
        get_settings.cache_clear()
    assert exit_info.value.code == 2
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["error"]["code"] == "usage_error" and "NEOVASC_DEVICE" in line["error"]["message"]


def test_train_help_is_delegated(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    assert exit_info.value.code == 0
    assert "--data" in capsys.readouterr().out


def test_train_tiny_run(tmp_path, capsys):
    argv = ["train", "--arch", "unet_tiny", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2"]
    argv += ["--synth-count", "2", "--val-count", "2", "--out", str(tmp_path / "run"), "--quiet"]
    assert cli.main(argv) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert 0.0 <= summary["best_val"] <= 1.0
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_shipped_model_finds_the_tendon(monkeypatch, tmp_path):
    from app.config import REPO_ROOT
    from models import read_manifest
    from models.training.synth import make_sample

    if not read_manifest(REPO_ROOT / "weights"):
        pytest.skip("no tendon model in weights/")
    monkeypatch.setenv("NEOVASC_WEIGHTS_DIR", str(REPO_ROOT / "weights"))
    get_settings.cache_clear()
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), make_sample(123).image[..., ::-1])
    code, lines = _run("grade", str(frame))
    assert code == 0 and lines[0]["ok"] is True
    assert lines[0]["roi"]["source"] == "model" and lines[0]["summary"]["tendon_area_px"] > 0


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--roi-hint", "700,500,800,600"], "ROI hint 700,500,800,600 lies outside the 160x120 image"),
        (["--tendon-point", "9000,9000"], "tendon point 9000,9000 lies outside the 160x120 image"),
    ],
    ids=["box", "point"],
)
def test_a_hint_outside_the_image_fails_that_input(monkeypatch, doppler_png, extra, fragment):
    """``invalid_roi``, as a --roi outside the image: the box was ignored (the whole picture searched, the
    "no tendon" check dropped) and the point ended in no_tendon_found."""
    from app.config import REPO_ROOT
    from models import read_manifest

    if not read_manifest(REPO_ROOT / "weights"):
        pytest.skip("no tendon model in weights/")
    monkeypatch.setenv("NEOVASC_WEIGHTS_DIR", str(REPO_ROOT / "weights"))
    get_settings.cache_clear()
    code, lines = _run("grade", str(doppler_png[0]), *extra)
    assert code == 1 and lines[0]["ok"] is False and lines[0]["error"]["code"] == "invalid_roi"
    assert fragment in lines[0]["error"]["message"]


def test_overlays_of_a_clip_add_the_curve_and_the_video(tmp_path, rng):
    import av

    from tests.conftest import mp4_bytes

    path = tmp_path / "clip.mp4"
    path.write_bytes(mp4_bytes(rng))
    overlays = tmp_path / "overlays"
    code, lines = _run("grade", str(path), "--roi", "20,30,120,90", "--overlays", str(overlays), "--every", "2")
    assert code == 0 and [f["index"] for f in lines[0]["frames"]] == [0, 2, 4]
    assert sorted(p.name for p in overlays.iterdir()) == ["clip.curve.png", "clip.mp4", "clip.png"]
    assert cv2.imread(str(overlays / "clip.curve.png")).shape == (320, 800, 3)
    with av.open(str(overlays / "clip.mp4")) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 3 and decoded[0].shape == (120, 160, 3)  # the measured frames only


def test_dicom_out_for_dicom_inputs_and_a_warning_otherwise(doppler_png, tmp_path):
    from pydicom import dcmread, examples

    out = tmp_path / "pacs"
    code, lines = _run("grade", str(examples.get_path("jpeg2k")), "--roi", "88,149,317,294", "--dicom-out", str(out))
    assert code == 0 and sorted(p.name for p in out.iterdir()) == ["examples_jpeg2k.sc.dcm", "examples_jpeg2k.sr.dcm"]
    sr = dcmread(out / "examples_jpeg2k.sr.dcm")
    assert sr.Modality == "SR" and sr.StudyInstanceUID == dcmread(examples.get_path("jpeg2k")).StudyInstanceUID
    code, lines = _run("grade", str(doppler_png[0]), "--roi", "20,30,120,90", "--dicom-out", str(out))
    assert code == 0 and "dicom_out_not_written" in [w["code"] for w in lines[0]["warnings"]]


def test_compare_two_studies(doppler_png, tmp_path):
    path, truth = doppler_png
    roi = ",".join(map(str, truth["roi"]))
    stdout = io.StringIO()
    assert cli.main(["compare", str(path), str(path), "--roi-before", roi, "--roi-after", roi], stdout=stdout) == 0
    comparison = json.loads(stdout.getvalue())
    assert comparison["schema"] == "neovasc.comparison/1" and comparison["change"]["colour_fraction_pp"] == 0.0
    assert comparison["exceeds_mdd"] is False and comparison["direction"] == "unchanged"
    stdout = io.StringIO()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert cli.main(["compare", str(path), str(bad), "--roi-before", roi, "--roi-after", roi], stdout=stdout) == 1
    error = json.loads(stdout.getvalue())["error"]
    assert error["message"].startswith("after: ")


def test_csv_columns_are_only_ever_appended():
    first_release = (
        "input", "ok", "error_code", "colour_fraction", "doppler_px", "tendon_area_px", "vessel_count",
        "grade", "grade_scale", "modified_ohberg", "colour_fraction_grade", "frame_index", "thickness_mm",
        "area_mm2", "doppler_mode", "roi_source", "device", "backend", "model_sha256", "version",
    )  # fmt: skip
    assert CSV_COLUMNS[: len(first_release)] == first_release and len(set(CSV_COLUMNS)) == len(CSV_COLUMNS)


@pytest.mark.parametrize("option", ["--masks", "--overlays"])
@pytest.mark.parametrize("folder", ["not-a-folder", "not-a-folder/sub"], ids=["a-file", "under-a-file"])
def test_an_output_that_cannot_be_written_fails_that_input_only(doppler_png, tmp_path, option, folder):
    """Every output folder alike: that input's line is ``output_error`` and the batch goes on (docs/errors.md)."""
    path, _ = doppler_png
    (tmp_path / "not-a-folder").write_text("a file where the output folder should be")
    out = tmp_path / "r.jsonl"
    code, _ = _run(
        "grade", str(path), str(path), "--roi", "20,30,120,90", option, str(tmp_path / folder), "--out", str(out)
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 1 and [(line["ok"], line["error"]["code"]) for line in lines] == [(False, "output_error")] * 2


def test_an_overlay_video_that_cannot_be_written_is_an_output_error(tmp_path, rng):
    """The clip's video opens its folder while the clip is graded: its OSError is the output's, not unexpected."""
    from tests.conftest import mp4_bytes

    path = tmp_path / "clip.mp4"
    path.write_bytes(mp4_bytes(rng))
    code, lines = _run("grade", str(path), "--roi", "20,30,120,90", "--overlays", str(path / "overlays"))
    assert code == 1 and lines[0]["error"]["code"] == "output_error"


def test_a_failure_elsewhere_is_not_blamed_on_out_or_summary(doppler_png, caplog):
    """Standard output closed by its reader: the batch stops, and no usage error names --out or --summary."""

    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    code = cli.main(["grade", str(doppler_png[0]), "--roi", "20,30,120,90"], stdout=Closed())
    assert code == cli.EXIT_INPUT_FAILED and "BrokenPipeError" in caplog.text and "--out" not in caplog.text


def test_train_without_training_code_is_a_usage_error(monkeypatch, capsys):
    """The service image leaves models/training out: ``neovasc train`` says so instead of a traceback."""
    monkeypatch.setitem(sys.modules, "models.training.train", None)  # importing it raises ModuleNotFoundError
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--help"])
    assert info.value.code == cli.EXIT_USAGE
    error = json.loads(capsys.readouterr().err.strip().splitlines()[-1])["error"]
    assert error["code"] == "usage_error" and "no training code" in error["message"]


@pytest.mark.parametrize(
    "extra",
    [["--roi", "1,1,20,20", "--roi-hint", "0,0,50,50"], ["--tendon-point", "12"], ["--roi-hint", "5,5,2,2"]],
    ids=["hint-beside-roi", "malformed-point", "empty-box"],
)
def test_bad_hints_are_usage_errors(doppler_png, capsys, extra):
    with pytest.raises(SystemExit) as info:
        cli.main(["grade", str(doppler_png[0]), *extra])
    assert info.value.code == cli.EXIT_USAGE
    assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["error"]["code"] == "usage_error"


def _usage_error(argv: list[str], capsys) -> tuple[str, dict]:
    """The usage line and the error of a command that stops with exit code 2 and one JSON line."""
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == cli.EXIT_USAGE and json.loads(err[-1])["ok"] is False
    return err[0], json.loads(err[-1])["error"]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [(["grade", "d.png", "--resume"], "--resume needs --out"), (["grade", "d.png", "--out", "x.txt"], "--out must"),
     (["grade", "d.png", "--summary", "s.txt"], "--summary must"), (["grade", "EMPTY"], "no input files"),
     (["compare", "EMPTY", "EMPTY"], "is a directory"), (["compare", "d.png"], "two files, BEFORE and AFTER")],
    ids=["resume-without-out", "bad-out", "bad-summary", "empty-folder", "compare-a-folder", "compare-one-file"],
)  # fmt: skip
def test_a_command_s_usage_error_shows_that_command_s_usage(tmp_path, capsys, argv, fragment):
    (tmp_path / "empty").mkdir()
    usage, error = _usage_error([str(tmp_path / "empty") if a == "EMPTY" else a for a in argv], capsys)
    assert usage.startswith(f"usage: neovasc {argv[0]} ") and error["code"] == "usage_error"
    assert fragment in error["message"]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [(["serve", "--port", "0"], "1-65535"), (["serve", "--port", "70000"], "1-65535"),
     (["serve", "--host", ""], "--host"), (["grade", "x", "--roi-hint", ""], "--roi-hint"),
     (["grade", "x", "--backend", ""], "auto, cpu"), (["grade", "x", "--backend", "gpu"], "auto, cpu")],
    ids=["port-0", "port-70000", "empty-host", "empty-hint", "empty-backend", "unknown-backend"],
)  # fmt: skip
def test_a_zero_or_empty_option_is_a_usage_error_not_the_default(monkeypatch, capsys, argv, fragment):
    """``serve --port 0`` once served on 8000: a value given is used or refused, never dropped unnoticed."""
    served = []
    monkeypatch.setattr("uvicorn.run", lambda app, **options: served.append(options))
    usage, error = _usage_error(argv, capsys)
    assert usage.startswith(f"usage: neovasc {argv[0]} ") and fragment in error["message"] and not served


def test_serve_refusal_is_the_standard_error_line(monkeypatch, capsys):
    monkeypatch.delenv("NEOVASC_API_KEYS_FILE", raising=False)
    monkeypatch.setattr("uvicorn.run", lambda app, **options: pytest.fail("served without API keys"))
    assert "without API keys" in _usage_error(["serve", "--host", "0.0.0.0"], capsys)[1]["message"]


@pytest.mark.parametrize("option, where", [("--out", "f/r.csv"), ("--out", "f/sub/r.jsonl"), ("--summary", "f/s.csv")])
def test_an_output_file_under_a_file_is_a_clear_usage_error(doppler_png, tmp_path, capsys, option, where):
    (tmp_path / "f").write_text("a file where a folder should be")
    argv = ["grade", str(doppler_png[0]), "--roi", "20,30,120,90", option, str(tmp_path / where)]
    message = _usage_error(argv, capsys)[1]["message"]
    assert message == f"{option} cannot be written: a path component of it is a file, not a folder"
