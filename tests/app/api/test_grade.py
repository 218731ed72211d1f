"""POST /v1/grade: Results for good uploads, problem+json with exact codes for bad ones."""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import pytest

from app.api.grade import SINGLE_FIELDS
from app.pipeline import RoiSpec
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
    data = png_bytes(image)
    response = _post(client, data, name="C:\\exports\\SMITH^JOHN_MRN12345.png", roi="20,30,120,90")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["schema"] == "neovasc.result/1" and result["ok"] is True
    assert result["summary"]["doppler_px"] == truth["doppler"]
    assert result["summary"]["tendon_area_px"] == truth["area"]
    assert result["summary"]["grades"] == {"modified_ohberg": 3, "colour_fraction_grade": 1}
    assert result["input"] == "sha256:" + hashlib.sha256(data).hexdigest()[:16]  # never the file name
    assert "SMITH" not in response.text and "MRN12345" not in response.text


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
    # FastAPI's pages would load Swagger UI and ReDoc from public CDNs: /redoc is off, and /docs is the
    # service's own reference page, which names no script but its own
    assert client.get("/redoc").status_code == 404
    reference = client.get("/docs").text
    assert "swagger" not in reference.lower() and "cdn" not in reference.lower()


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


class _TwoRegions:
    """A stand-in tendon model: probability 0.9 over two regions of the 160x120 test image, 0.1 elsewhere."""

    name, sha256 = "fake", "0" * 64
    regions = ((20, 20, 140, 45), (30, 80, 90, 100))  # the upper one is larger

    def probabilities(self, frames, *, area=None):
        probs = np.full(frames.shape[:3], 0.1, np.float32)
        for x0, y0, x1, y1 in self.regions:
            probs[:, y0:y1, x0:x1] = 0.9
        return probs

    def predict(self, frames, *, area=None):
        return self.probabilities(frames) > 0.5


@pytest.fixture
def model_client(client):
    """``client`` with ``_TwoRegions`` as the service's tendon model."""
    client.app.state.neovasc.segmenter = _TwoRegions()
    return client


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"roi_hint": "700,500,800,600"}, "ROI hint 700,500,800,600 lies outside the 160x120 image"),
        ({"tendon_point": "9000,9000"}, "tendon point 9000,9000 lies outside the 160x120 image"),
    ],
    ids=["box", "point"],
)
def test_a_hint_outside_the_image_is_invalid_roi(model_client, doppler_image, data, fragment):
    """As an out-of-image `roi`, not ignored (a box outside searched the whole picture and dropped the "no tendon"
    check)."""
    body = _assert_problem(_post(model_client, png_bytes(doppler_image[0]), **data), 422, "invalid_roi")
    assert fragment in body["detail"]


@pytest.mark.parametrize("points", [["50,30", "60,90"], "50,30;60,90"], ids=["repeated-field", "one-field"])
def test_every_tendon_point_is_used(model_client, doppler_image, points):
    """Repeated `tendon_point` fields add up, as the command line's repeated --tendon-point (not the last one only)."""
    response = _post(model_client, png_bytes(doppler_image[0]), tendon_point=points)
    assert response.status_code == 200, response.text
    roi = response.json()["roi"]
    assert roi["hint"] == "points" and roi["bbox"] == {"x0": 20, "y0": 20, "x1": 140, "y1": 100}  # both regions


@pytest.mark.parametrize("route", ["/v1/grade", "/v1/jobs"])
@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("roi", ["20,30,120,90", "0,0,10,10"]),
        ("roi_hint", ["0,0,50,50", "0,0,60,60"]),
        ("every", ["2", "3"]),
        ("reference", ["a", "b"]),
        ("overlays", ["true", "false"]),
    ],
)
def test_a_repeated_field_is_refused(client, doppler_image, route, field, values):
    """Not the last value kept and the others dropped unseen."""
    files = [("file", ("frame.png", png_bytes(doppler_image[0]), "image/png"))]
    response = client.post(route, files=files, data={field: values})
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "invalid_request" and body["instance"] == route
    assert body["detail"] == f"the form field '{field}' was sent 2 times; send it once"


def test_two_files_are_refused(client, doppler_image):
    """Not the second one graded."""
    image = png_bytes(doppler_image[0])
    files = [("file", ("a.png", image, "image/png")), ("file", ("b.png", image[::-1], "image/png"))]
    body = _assert_problem(client.post("/v1/grade", files=files, data={"roi": "20,30,120,90"}), 422, "invalid_request")
    assert "'file' was sent 2 times" in body["detail"]


def test_every_form_field_but_tendon_point_is_checked_for_repeats(client):
    """A field added to the form is added to SINGLE_FIELDS too, or it could be repeated unseen."""
    schema = client.get("/openapi.json").json()
    ref = schema["paths"]["/v1/grade"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    fields = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    assert set(fields) == {*SINGLE_FIELDS, "tendon_point"}


def test_reference_is_echoed_as_input(client, doppler_image):
    response = _post(client, png_bytes(doppler_image[0]), roi="20,30,120,90", reference="study-0042_a.1")
    assert response.status_code == 200 and response.json()["input"] == "study-0042_a.1"


@pytest.mark.parametrize(
    "reference",
    ["SMITH JOHN", "../etc", "a" * 65, "x;y", "sha256:abc"],
    ids=["space", "path", "long", "semicolon", "colon"],
)
def test_unsafe_reference_is_refused(client, doppler_image, reference):
    body = _assert_problem(
        _post(client, png_bytes(doppler_image[0]), roi="20,30,120,90", reference=reference), 422, "invalid_request"
    )
    assert body["detail"].startswith("reference: ")


def test_errors_never_name_the_upload(client):
    response = _post(client, b"this is not an image", name="SMITH^JOHN_MRN12345.dcm", roi="0,0,2,2")
    body = _assert_problem(response, 415, "unsupported_input")
    assert "SMITH" not in body["detail"] and "MRN12345" not in body["detail"]
    assert body["detail"].startswith("the input is in an unrecognised format")  # the request names its upload


@pytest.mark.parametrize(
    ("field", "text", "fragment"),
    [
        ("roi", "9" * 5000, "5000 characters"),
        ("roi", "0,0,5," + "9" * 900, "900 digits"),
        ("roi", "0,0,5,123456789", "9 digits"),
        ("roi_hint", "0,0,5," + "9" * 900, "900 digits"),
        ("tendon_point", "1," + "9" * 999, "1001 characters"),
    ],
    ids=["roi-5000-digits", "roi-900-digits", "roi-9-digits", "hint-huge", "point-long"],
)
def test_huge_numbers_are_invalid_roi_not_500(client, doppler_image, field, text, fragment):
    body = _assert_problem(_post(client, png_bytes(doppler_image[0]), **{field: text}), 422, "invalid_roi")
    assert fragment in body["detail"] and "99999" not in body["detail"]


@pytest.mark.parametrize("field", ["every", "max_frames"])
@pytest.mark.parametrize("value", ["99999999999999999999999", "10000001", "0"], ids=["overflow", "over-bound", "zero"])
def test_frame_numbers_are_bounded(client, doppler_image, field, value):
    body = _assert_problem(
        _post(client, png_bytes(doppler_image[0]), roi="20,30,120,90", **{field: value}), 422, "invalid_request"
    )
    assert body["detail"].startswith(f"{field}: ")


def test_largest_frame_step_is_accepted(client, doppler_image):
    response = _post(client, png_bytes(doppler_image[0]), roi="20,30,120,90", every="10000000", max_frames="10000000")
    assert response.status_code == 200, response.text


def test_roi_mask_is_decoded_off_the_event_loop(client, doppler_image, monkeypatch):
    """A large mask PNG takes seconds to decode; on the event loop it would stall every other request."""
    threads = []
    decode = RoiSpec.from_mask_image

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return decode(*args, **kwargs)

    monkeypatch.setattr(RoiSpec, "from_mask_image", staticmethod(recording))
    image, truth = doppler_image
    mask = np.zeros(image.shape, np.uint8)
    mask[30:90, 20:120] = 255
    response = _post(client, png_bytes(image), roi_mask=png_bytes(mask))
    assert response.status_code == 200 and response.json()["summary"]["doppler_px"] == truth["doppler"]
    loop_thread = threading.main_thread().name  # not where the test client runs its event loop either
    assert len(threads) == 1 and threads[0] != loop_thread and threads[0].startswith(("AnyIO", "anyio"))


def test_malformed_multipart_is_a_400_problem(client):
    response = client.post("/v1/grade", content=b"garbage", headers={"content-type": "multipart/form-data; boundary=b"})
    body = _assert_problem(response, 400, "malformed_request")
    assert body["detail"] == "Invalid multipart data; send the fields as a multipart/form-data body"
