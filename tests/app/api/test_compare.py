"""POST /v1/compare: two PNGs with known Doppler areas give known changes; a failing side is named."""

from __future__ import annotations

import hashlib

import pytest

from app.api.compare import SINGLE_FIELDS
from tests.conftest import grey_background, paint_blobs, png_bytes

PROBLEM = "application/problem+json"
BEFORE_ROI = (10, 10, 110, 70)  # 100 x 60 = 6000 px, like the `doppler_image` ROI
BEFORE_BLOBS = [(15 + 16 * i, 20, 25 + 16 * i, 30) for i in range(6)]  # six separate 10 x 10 blobs: 600 px


@pytest.fixture
def before_png(rng) -> bytes:
    """Known answers inside BEFORE_ROI: 600 Doppler px of 6000 (CF 0.10), six vessels; one decoy blob outside."""
    image = grey_background(120, 160, rng)
    assert paint_blobs(image, BEFORE_BLOBS) == 600
    paint_blobs(image, [(120, 90, 150, 115)], colour=(20, 40, 220))  # outside BEFORE_ROI: not counted
    return png_bytes(image)


def _post(client, before: bytes, after: bytes, **form):
    files = {"before": ("before.png", before, "image/png"), "after": ("after.png", after, "image/png")}
    return client.post("/v1/compare", files=files, data=form)


def _ref(data: bytes) -> str:
    """The Result's ``input`` of an upload sent without a reference."""
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


def _rect(box: tuple[int, int, int, int]) -> str:
    return ",".join(map(str, box))


def _assert_problem(response, status: int, code: str, side: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["instance"] == "/v1/compare"
    assert body["detail"].startswith(f"{side}: "), body["detail"]
    return body


def test_compare_two_pngs(client, before_png, doppler_image):
    image, truth = doppler_image  # after: 60 px of 6000 (CF 0.01), three vessels
    response = _post(client, before_png, png_bytes(image), roi_before=_rect(BEFORE_ROI), roi_after=_rect(truth["roi"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schema"] == "neovasc.comparison/1"
    assert body["before"]["summary"]["doppler_px"] == 600 and body["before"]["summary"]["tendon_area_px"] == 6000
    assert body["after"]["summary"]["doppler_px"] == truth["doppler"] and body["after"]["input"] == _ref(
        png_bytes(image)
    )
    change = body["change"]
    assert change["colour_fraction_pp"] == pytest.approx(-9.0)
    assert change["colour_fraction_relative"] == pytest.approx(-0.9)
    assert change["vessel_count"] == truth["vessels"] - 6
    assert (change["grade"], change["grade_scale"]) == (-1, "modified_ohberg")  # 4+ -> 3
    assert change["grades"] == {"modified_ohberg": -1, "colour_fraction_grade": -1}  # 2 -> 1
    assert change["thickness_mm"] is None
    assert body["exceeds_mdd"] is True and body["direction"] == "decreased" and body["mdd_percentage_points"] == 8.0
    assert [w["code"] for w in body["warnings"]] == ["uncalibrated"]


def test_same_image_twice_is_unchanged(client, doppler_image):
    image, truth = doppler_image
    data = png_bytes(image)
    response = _post(client, data, data, roi_before=_rect(truth["roi"]), roi_after=_rect(truth["roi"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["change"]["colour_fraction_pp"] == 0.0 and body["change"]["colour_fraction_relative"] == 0.0
    assert body["exceeds_mdd"] is False and body["direction"] == "unchanged"


@pytest.mark.parametrize(
    ("garbage", "status", "code"),
    [
        (b"this is not an image", 415, "unsupported_input"),
        (b"", 400, "empty_input"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 30, 422, "decode_error"),
    ],
    ids=["text", "empty", "truncated-png"],
)
@pytest.mark.parametrize("side", ["before", "after"], ids=["before-bad", "after-bad"])
def test_garbage_upload_names_side(client, doppler_image, side, garbage, status, code):
    image, truth = doppler_image
    uploads = {"before": png_bytes(image), "after": png_bytes(image), side: garbage}
    roi = _rect(truth["roi"])
    response = _post(client, uploads["before"], uploads["after"], roi_before=roi, roi_after=roi)
    _assert_problem(response, status, code, side)


@pytest.mark.parametrize("side", ["before", "after"], ids=["before", "after"])
def test_bad_roi_names_side(client, doppler_image, side):
    data = png_bytes(doppler_image[0])
    rois = {"roi_before": "20,30,120,90", "roi_after": "20,30,120,90", f"roi_{side}": "1,2,3"}
    _assert_problem(_post(client, data, data, **rois), 422, "invalid_roi", side)


def test_roi_beyond_image_names_side(client, doppler_image):
    data = png_bytes(doppler_image[0])
    body = _assert_problem(
        _post(client, data, data, roi_before="20,30,120,90", roi_after="0,0,500,10"), 422, "invalid_roi", "after"
    )
    assert "160x120" in body["detail"]


def test_missing_roi_without_model_names_side(client, doppler_image):
    data = png_bytes(doppler_image[0])
    _assert_problem(_post(client, data, data, roi_before="20,30,120,90"), 422, "no_tendon_model", "after")


def test_missing_after_field(client, doppler_image):
    files = {"before": ("before.png", png_bytes(doppler_image[0]), "image/png")}
    response = client.post("/v1/compare", files=files, data={"roi_before": "20,30,120,90"})
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "invalid_request" and "after" in body["detail"]


@pytest.mark.parametrize("field", ["after", "roi_before"])
def test_a_repeated_field_is_refused(client, doppler_image, field):
    """Not the last one kept (a second `after` compared instead of the first) and the others dropped unseen."""
    data = png_bytes(doppler_image[0])
    files = [("before", ("before.png", data, "image/png")), ("after", ("after.png", data, "image/png"))]
    if field == "after":
        files.append(("after", ("other.png", data, "image/png")))
    roi = ["20,30,120,90", "0,0,10,10"] if field == "roi_before" else "20,30,120,90"
    response = client.post("/v1/compare", files=files, data={"roi_before": roi, "roi_after": "20,30,120,90"})
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "invalid_request"
    assert body["detail"] == f"the form field '{field}' was sent 2 times; send it once"


def test_every_compare_field_is_checked_for_repeats(client):
    """A field added to the form is added to SINGLE_FIELDS too, or it could be repeated unseen."""
    schema = client.get("/openapi.json").json()
    ref = schema["paths"]["/v1/compare"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    assert set(schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]) == set(SINGLE_FIELDS)


def test_openapi_publishes_comparison(client):
    spec = client.get("/openapi.json").json()
    assert {"Comparison", "Change", "Result"} <= set(spec["components"]["schemas"])
    responses = spec["paths"]["/v1/compare"]["post"]["responses"]
    assert responses["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Comparison")
    assert PROBLEM in responses["415"]["content"]
