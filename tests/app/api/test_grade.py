"""POST /v1/grade: Results for good uploads, problem+json with exact codes for bad ones."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import png_bytes

PROBLEM = "application/problem+json"


def _post(client, data: bytes, name: str = "frame.png", **form):
    files = {"file": (name, data, "image/png")}
    if "roi_mask" in form:
        files["roi_mask"] = ("roi.png", form.pop("roi_mask"), "image/png")
    return client.post("/v1/grade", files=files, data=form)


def _assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == code and body["status"] == status
    assert body["type"] == f"urn:neovasc:error:{code}" and body["instance"] == "/v1/grade"
    assert body["title"] and body["detail"]
    return body


def test_upload_png_with_roi(client, doppler_image):
    image, truth = doppler_image
    response = _post(client, png_bytes(image), name="C:\\exports\\study.png", roi="20,30,120,90")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["schema"] == "neovasc.result/1" and result["ok"] is True
    assert result["summary"]["doppler_px"] == truth["doppler"]
    assert result["summary"]["tendon_area_px"] == truth["area"]
    assert result["summary"]["grades"] == {"modified_ohberg": 3, "colour_fraction_grade": 1}
    assert "\\" not in result["input"] or result["input"].endswith("study.png")


def test_upload_with_roi_mask(client, doppler_image):
    image, truth = doppler_image
    mask = np.zeros(image.shape, np.uint8)
    mask[30:90, 20:120] = 255
    response = _post(client, png_bytes(image), roi_mask=png_bytes(mask))
    assert response.status_code == 200, response.text
    assert response.json()["roi"]["kind"] == "mask"
    assert response.json()["summary"]["doppler_px"] == truth["doppler"]


def test_missing_roi_without_model(client, doppler_image):
    body = _assert_problem(_post(client, png_bytes(doppler_image[0])), 422, "no_tendon_model")
    assert "roi" in body["detail"]


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"this is not an image", 415, "unsupported_input"),
        (b"", 400, "empty_input"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 30, 422, "decode_error"),
    ],
    ids=["text", "empty", "truncated-png"],
)
def test_bad_files(client, data, status, code):
    _assert_problem(_post(client, data, roi="0,0,2,2"), status, code)


@pytest.mark.parametrize("roi", ["1,2,3", "0,0,0,5", "x"], ids=["three-values", "empty", "letters"])
def test_bad_roi(client, doppler_image, roi):
    _assert_problem(_post(client, png_bytes(doppler_image[0]), roi=roi), 422, "invalid_roi")


def test_roi_beyond_image(client, doppler_image):
    body = _assert_problem(_post(client, png_bytes(doppler_image[0]), roi="0,0,500,10"), 422, "invalid_roi")
    assert "160x120" in body["detail"]


def test_roi_and_mask_together(client, doppler_image):
    image = png_bytes(doppler_image[0])
    _assert_problem(_post(client, image, roi="0,0,2,2", roi_mask=image), 422, "invalid_request")


def test_missing_file_field(client):
    body = _assert_problem(client.post("/v1/grade", data={"roi": "0,0,2,2"}), 422, "invalid_request")
    assert "file" in body["detail"]


def test_unknown_route_and_method(client):
    response = client.get("/v2/nothing")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    response = client.get("/v1/grade")
    assert response.status_code == 405 and response.json()["code"] == "http_error"


def test_openapi_publishes_result_and_problem(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"Result", "Problem", "Summary", "FrameMeasure"} <= set(schemas)
    assert "schema" in schemas["Result"]["properties"]
    responses = spec["paths"]["/v1/grade"]["post"]["responses"]
    assert responses["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Result")
    assert "application/problem+json" in responses["422"]["content"]
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"roi": "20,30,120,90", "roi_hint": "0,0,100,100"}, "invalid_request"),
        ({"tendon_point": "40"}, "invalid_roi"),
        ({"roi_hint": "9,9,3,3"}, "invalid_roi"),
    ],
    ids=["hint-beside-roi", "malformed-point", "empty-box"],
)
def test_bad_hints(client, doppler_image, data, code):
    image, _ = doppler_image
    response = client.post("/v1/grade", files={"file": ("s.png", png_bytes(image), "image/png")}, data=data)
    assert response.status_code == 422 and response.json()["code"] == code
