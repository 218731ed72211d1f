"""compare(): known changes from hand-made Results, the MDD boundary, nulls and the comparability warnings."""

from __future__ import annotations

import json

import pytest

from app.compare import COMPARISON_SCHEMA, MDD_PERCENTAGE_POINTS, compare, compare_paths, side_error
from app.errors import DecodeError, InternalError, InvalidRequest, UnsupportedInput
from app.pipeline import AnalyzeOptions, RoiSpec
from app.schemas import Calibration, Doppler, ErrorInfo, Grades, Result, Roi, Summary

SCALES = ("modified_ohberg", "colour_fraction_grade")


def _result(
    cf: float | None = 0.10,
    *,
    vessels: int | None = 3,
    ohberg: int | None = 3,
    cf_grade: int | None = 2,
    scale: str = "modified_ohberg",
    calibrated: bool = True,
    thickness: float | None = None,
    band: float | None = None,
    roi_source: str = "user",
    mode: str = "power",
) -> Result:
    """A graded Result with only the fields that compare() reads."""
    grades = Grades(modified_ohberg=ohberg, colour_fraction_grade=cf_grade)
    summary = Summary(
        colour_fraction=cf,
        vessel_count=vessels,
        grade=ohberg if scale == "modified_ohberg" else cf_grade,
        grade_scale=scale,
        grades=grades,
        thickness_mm=thickness,
        band_colour_fraction=band,
    )
    kind = "rectangle" if roi_source == "user" else "segmentation"
    return Result(
        input="study.png",
        ok=True,
        summary=summary,
        roi=Roi(source=roi_source, kind=kind, area_px=6000),
        doppler=Doppler(mode=mode),
        calibration=Calibration(mm_per_px_x=0.1, mm_per_px_y=0.1, source="dicom_region") if calibrated else None,
        version="test",
    )


def _codes(comparison) -> list[str]:
    return [w.code for w in comparison.warnings]


def test_known_change_after_treatment():
    before = _result(0.20, vessels=5, ohberg=4, cf_grade=3, thickness=6.5, band=0.10)
    after = _result(0.05, vessels=1, ohberg=1, cf_grade=1, thickness=6.1, band=0.04)
    comparison = compare(before, after)
    change = comparison.change
    assert change.colour_fraction_pp == pytest.approx(-15.0)
    assert change.colour_fraction_relative == pytest.approx(-0.75)
    assert change.vessel_count == -4
    assert (change.grade, change.grade_scale) == (-3, "modified_ohberg")
    assert (change.grades.modified_ohberg, change.grades.colour_fraction_grade) == (-3, -2)
    assert change.thickness_mm == pytest.approx(-0.4)
    assert change.band_colour_fraction_pp == pytest.approx(-6.0)
    assert comparison.exceeds_mdd is True and comparison.direction == "decreased"
    assert comparison.mdd_percentage_points == MDD_PERCENTAGE_POINTS == 8.0
    assert comparison.warnings == []
    assert comparison.before == before and comparison.after == after


def test_json_uses_public_names():
    body = json.loads(compare(_result(0.10), _result(0.30)).to_json())
    assert body["schema"] == COMPARISON_SCHEMA == "neovasc.comparison/1"
    assert body["before"]["schema"] == body["after"]["schema"] == "neovasc.result/1"
    assert body["change"]["colour_fraction_pp"] == pytest.approx(20.0)
    assert body["direction"] == "increased" and body["exceeds_mdd"] is True


@pytest.mark.parametrize(
    ("cf_before", "cf_after", "pp", "exceeds", "direction"),
    [
        (0.10, 0.18, 8.0, False, "unchanged"),
        (0.18, 0.10, -8.0, False, "unchanged"),
        (0.10, 0.1801, 8.01, True, "increased"),
        (0.30, 0.2199, -8.01, True, "decreased"),
        (0.10, 0.10, 0.0, False, "unchanged"),
        (0.40, 0.35, -5.0, False, "unchanged"),
    ],
    ids=["plus-8pp-exactly", "minus-8pp-exactly", "plus-8.01pp", "minus-8.01pp", "no-change", "minus-5pp"],
)
def test_mdd_boundary(cf_before, cf_after, pp, exceeds, direction):
    comparison = compare(_result(cf_before), _result(cf_after))
    assert comparison.change.colour_fraction_pp == pytest.approx(pp, abs=1e-9)
    assert comparison.exceeds_mdd is exceeds
    assert comparison.direction == direction


def test_exactly_8pp_reads_as_8():
    # 0.18 - 0.10 is 0.07999999999999999 in binary floating point: the reported change must still be 8.
    assert compare(_result(0.10), _result(0.18)).change.colour_fraction_pp == 8.0


@pytest.mark.parametrize(
    ("cf_before", "cf_after"), [(None, 0.2), (0.2, None), (None, None)], ids=["before", "after", "both"]
)
def test_null_colour_fraction(cf_before, cf_after):
    comparison = compare(_result(cf_before, vessels=None), _result(cf_after, vessels=None))
    assert comparison.change.colour_fraction_pp is None
    assert comparison.change.colour_fraction_relative is None
    assert comparison.change.vessel_count is None
    assert comparison.exceeds_mdd is None and comparison.direction is None


@pytest.mark.parametrize(
    ("cf_after", "pp", "exceeds", "direction"),
    [(0.05, 5.0, False, "unchanged"), (0.10, 10.0, True, "increased"), (0.0, 0.0, False, "unchanged")],
    ids=["to-5pc", "to-10pc", "stays-zero"],
)
def test_zero_before_has_no_relative_change(cf_after, pp, exceeds, direction):
    comparison = compare(_result(0.0, ohberg=0, cf_grade=0), _result(cf_after))
    assert comparison.change.colour_fraction_relative is None
    assert comparison.change.colour_fraction_pp == pytest.approx(pp)
    assert comparison.exceeds_mdd is exceeds and comparison.direction == direction


def test_relative_change_to_zero():
    assert compare(_result(0.25), _result(0.0, ohberg=0, cf_grade=0)).change.colour_fraction_relative == -1.0


def test_different_scales_give_no_headline_change():
    before = _result(0.20, ohberg=4, cf_grade=3, scale="modified_ohberg")
    after = _result(0.05, ohberg=1, cf_grade=1, scale="colour_fraction_grade")
    comparison = compare(before, after)
    assert comparison.change.grade is None and comparison.change.grade_scale is None
    assert (comparison.change.grades.modified_ohberg, comparison.change.grades.colour_fraction_grade) == (-3, -2)
    assert _codes(comparison) == ["different_scales"]
    assert "modified_ohberg" in comparison.warnings[0].message
    assert "colour_fraction_grade" in comparison.warnings[0].message


@pytest.mark.parametrize("scale", SCALES, ids=SCALES)
def test_same_scale_names_it(scale):
    comparison = compare(
        _result(0.20, ohberg=4, cf_grade=3, scale=scale), _result(0.05, ohberg=1, cf_grade=1, scale=scale)
    )
    expected = {"modified_ohberg": -3, "colour_fraction_grade": -2}[scale]
    assert (comparison.change.grade, comparison.change.grade_scale) == (expected, scale)


@pytest.mark.parametrize(
    ("calibrated", "thickness", "expected", "message"),
    [
        ((True, True), (5.2, 4.8), -0.4, None),
        ((True, False), (5.2, None), None, "the after study is uncalibrated"),
        ((False, True), (None, 4.8), None, "the before study is uncalibrated"),
        ((False, False), (None, None), None, "both studies are uncalibrated"),
        ((False, False), (5.2, 4.8), None, "both studies are uncalibrated"),
    ],
    ids=["both-calibrated", "after-uncalibrated", "before-uncalibrated", "neither", "thickness-without-calibration"],
)
def test_thickness_needs_both_calibrated(calibrated, thickness, expected, message):
    before = _result(calibrated=calibrated[0], thickness=thickness[0])
    after = _result(calibrated=calibrated[1], thickness=thickness[1])
    comparison = compare(before, after)
    assert comparison.change.thickness_mm == (None if expected is None else pytest.approx(expected))
    if message is None:
        assert "uncalibrated" not in _codes(comparison)
    else:
        assert _codes(comparison) == ["uncalibrated"]
        assert comparison.warnings[0].message.startswith(message)


def test_roi_source_differs():
    comparison = compare(_result(roi_source="user"), _result(roi_source="model"))
    assert _codes(comparison) == ["roi_source_differs"]
    assert "before user, after model" in comparison.warnings[0].message


@pytest.mark.parametrize(
    ("modes", "warned"),
    [(("power", "colour"), True), (("colour", "power"), True), (("power", "power"), False), (("power", "none"), False)],
    ids=["power-to-colour", "colour-to-power", "same", "one-unknown"],
)
def test_different_doppler_mode(modes, warned):
    comparison = compare(_result(mode=modes[0]), _result(mode=modes[1]))
    assert ("different_doppler_mode" in _codes(comparison)) is warned
    assert comparison.change.colour_fraction_pp == 0.0  # still computed; the warning says how to read it


@pytest.mark.parametrize("side", ["before", "after"], ids=["before", "after"])
def test_failed_result_is_refused(side):
    failed = Result(input="x.png", ok=False, error=ErrorInfo(code="decode_error", message="truncated"), version="test")
    pair = {"before": _result(), "after": _result(), side: failed}
    with pytest.raises(InvalidRequest, match=rf"^{side}: the study was not graded \(decode_error\)"):
        compare(pair["before"], pair["after"])


def test_side_error_keeps_class_and_code():
    error = side_error("after", DecodeError("truncated PNG"))
    assert isinstance(error, DecodeError) and error.code == "decode_error"
    assert error.message == str(error) == "after: truncated PNG"


def test_side_error_hides_unexpected_messages():
    error = side_error("before", RuntimeError("patient name in here"))
    assert isinstance(error, InternalError)
    assert error.message.startswith("before: unexpected RuntimeError") and "patient" not in error.message


def test_compare_paths_same_study(doppler_png, settings):
    path, truth = doppler_png
    options = AnalyzeOptions(roi=RoiSpec(rect=truth["roi"]), device="cpu")
    comparison = compare_paths(path, path, options, options, settings)
    assert comparison.before.summary.doppler_px == comparison.after.summary.doppler_px == truth["doppler"]
    assert comparison.change.colour_fraction_pp == 0.0 and comparison.change.vessel_count == 0
    assert comparison.direction == "unchanged" and _codes(comparison) == ["uncalibrated"]


@pytest.mark.parametrize(
    ("content", "error"),
    [(b"this is not an image", UnsupportedInput), (b"\x89PNG\r\n\x1a\n" + b"\0" * 30, DecodeError)],
    ids=["text", "truncated-png"],
)
def test_compare_paths_names_failed_side(doppler_png, settings, tmp_path, content, error):
    path, truth = doppler_png
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    options = AnalyzeOptions(roi=RoiSpec(rect=truth["roi"]), device="cpu")
    with pytest.raises(error, match=r"^after: "):
        compare_paths(path, bad, options, options, settings)
