"""Overlays through HTTP: POST /v1/grade with overlays=true stores them; GET /v1/results/{id}/{name} serves them."""

from __future__ import annotations

import io
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app.api.store import ResultStore
from app.errors import ResultNotFound
from tests.conftest import mp4_bytes, png_bytes

from .conftest import BASE_URL, keyed_client


def test_still_with_overlays_links_the_overlay_png(client, doppler_image):
    image, _ = doppler_image
    response = client.post(
        "/v1/grade",
        files={"file": ("s.png", png_bytes(image), "image/png")},
        data={"roi": "20,30,120,90", "overlays": "true"},
    )
    result = response.json()
    assert response.status_code == 200 and len(result["id"]) == 32
    assert result["links"] == {"overlay.png": f"/v1/results/{result['id']}/overlay.png"}
    png = client.get(result["links"]["overlay.png"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    decoded = cv2.imdecode(np.frombuffer(png.content, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == image.shape and (decoded[:, :, 1] == 255).sum() >= 60  # counted pixels in green


def test_clip_with_overlays_links_curve_and_video(client, rng):
    data = mp4_bytes(rng, frames=5)
    response = client.post(
        "/v1/grade", files={"file": ("c.mp4", data, "video/mp4")}, data={"roi": "20,30,120,90", "overlays": "true"}
    )
    result = response.json()
    assert response.status_code == 200, response.text
    assert sorted(result["links"]) == ["curve.png", "overlay.mp4", "overlay.png"]
    video = client.get(result["links"]["overlay.mp4"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(video.content)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5
    assert client.get(result["links"]["curve.png"]).headers["content-type"] == "image/png"


def test_without_overlays_nothing_is_stored(client, doppler_image):
    image, _ = doppler_image
    result = client.post(
        "/v1/grade", files={"file": ("s.png", png_bytes(image), "image/png")}, data={"roi": "20,30,120,90"}
    ).json()
    assert result["id"] is None and result["links"] == {}


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/results/" + "0" * 32 + "/overlay.png", 404, "result_not_found"),
        ("/v1/results/" + "0" * 32 + "/secret.txt", 422, "invalid_request"),
        ("/v1/results/not-an-id/overlay.png", 422, "invalid_request"),
    ],
    ids=["unknown-id", "unknown-name", "malformed-id"],
)
def test_unknown_results_are_problems(client, path, status, code):
    response = client.get(path)
    assert response.status_code == status and response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_store_drops_the_least_recently_used_first():
    store = ResultStore(max_bytes=10)
    first = store.put({"overlay.png": b"1234"})
    second = store.put({"overlay.png": b"5678"})
    assert store.get(first, "overlay.png") == b"1234"  # first is now the most recent
    third = store.put({"overlay.png": b"abcd"})  # 12 bytes > 10: the least recent (second) goes
    with pytest.raises(ResultNotFound):
        store.get(second, "overlay.png")
    assert store.get(first, "overlay.png") and store.get(third, "overlay.png")
    assert store.put({"overlay.png": b"x" * 11}) is None  # larger than the whole store
    with pytest.raises(ResultNotFound, match="has no"):
        store.get(first, "overlay.mp4")


def test_an_overlay_video_larger_than_the_store_is_dropped_not_held(keyed_settings, api_key, rng):
    with keyed_client(keyed_settings.model_copy(update={"result_store_mb": 0}), api_key) as client:
        response = client.post(
            "/v1/grade",
            files={"file": ("c.mp4", mp4_bytes(rng, frames=4), "video/mp4")},
            data={"roi": "20,30,120,90", "overlays": "true"},
        )
    result = response.json()
    assert response.status_code == 200 and result["id"] is None and result["links"] == {}
    assert [w["code"] for w in result["warnings"]].count("overlays_not_stored") == 2  # video dropped, rest too big


def test_dicom_report_links_sr_and_sc_of_a_dicom_upload(client):
    """``dicom_report=true``: the TID 1500 SR and the overlay capture, made from the header kept in memory."""
    import pydicom
    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file("US1_UNCR.dcm", download=False)).read_bytes()
    response = client.post(
        "/v1/grade",
        files={"file": ("us.dcm", data, "application/dicom")},
        data={"roi": "100,100,300,250", "dicom_report": "true"},
    )
    result = response.json()
    assert response.status_code == 200, response.text
    assert sorted(result["links"]) == ["sc.dcm", "sr.dcm"]
    source = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    for name, modality in (("sr.dcm", "SR"), ("sc.dcm", "OT")):
        file = client.get(result["links"][name])
        assert file.status_code == 200 and file.headers["content-type"] == "application/dicom"
        made = pydicom.dcmread(io.BytesIO(file.content))
        assert made.StudyInstanceUID == source.StudyInstanceUID and made.Modality == modality


def test_dicom_report_of_a_png_is_a_warning_not_a_failure(client, doppler_image):
    image, _ = doppler_image
    result = client.post(
        "/v1/grade",
        files={"file": ("s.png", png_bytes(image), "image/png")},
        data={"roi": "20,30,120,90", "dicom_report": "true"},
    ).json()
    assert result["ok"] is True and result["links"] == {}
    assert [w["code"] for w in result["warnings"]].count("dicom_out_not_written") == 1


class _Clock:
    """A hand-moved monotonic clock for the store."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_store_expires_results_after_the_ttl():
    clock = _Clock()
    store = ResultStore(max_bytes=100, ttl_s=60, clock=clock)
    first = store.put({"overlay.png": b"1234"})
    clock.now += 30
    second = store.put({"overlay.png": b"5678"})
    clock.now += 29.9
    assert store.get(first, "overlay.png") == b"1234"  # reading does not extend the 60 s
    clock.now += 0.1
    with pytest.raises(ResultNotFound, match="expired"):
        store.get(first, "overlay.png")
    assert store.purge() == 1  # the second is 30 s younger
    clock.now += 30
    assert store.purge() == 0
    with pytest.raises(ResultNotFound):
        store.get(second, "overlay.png")


def test_store_serves_a_result_to_its_owner_only():
    store = ResultStore(max_bytes=100)
    key = store.put({"overlay.png": b"1234"}, owner="ward-a")
    assert store.get(key, "overlay.png", owner="ward-a") == b"1234"
    for stranger in ("ward-b", None):
        with pytest.raises(ResultNotFound):
            store.get(key, "overlay.png", owner=stranger)


def test_a_stored_result_needs_the_key_that_made_it(client, keyed_settings, doppler_image):
    image, _ = doppler_image
    result = client.post(
        "/v1/grade",
        files={"file": ("s.png", png_bytes(image), "image/png")},
        data={"roi": "20,30,120,90", "overlays": "true"},
    ).json()
    link = result["links"]["overlay.png"]
    assert client.get(link).status_code == 200
    anonymous = client.get(link, headers={"Authorization": ""})
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized"
    from app.api.keys import key_hash, new_key, read_keys, write_keys

    other_key = new_key()
    keys = read_keys(keyed_settings.api_keys_file)
    write_keys(keyed_settings.api_keys_file, {**keys, "ward-b": key_hash(other_key)})
    other = client.get(link, headers={"Authorization": f"Bearer {other_key}"})
    assert other.status_code == 404 and other.json()["code"] == "result_not_found"
    assert BASE_URL in str(client.base_url)


def test_results_expire_over_http(keyed_settings, api_key, doppler_image, monkeypatch):
    image, _ = doppler_image
    with keyed_client(keyed_settings.model_copy(update={"result_ttl_s": 5}), api_key) as client:
        result = client.post(
            "/v1/grade",
            files={"file": ("s.png", png_bytes(image), "image/png")},
            data={"roi": "20,30,120,90", "overlays": "true"},
        ).json()
        store = client.app.state.neovasc.store
        assert store.ttl_s == 5 and client.get(result["links"]["overlay.png"]).status_code == 200
        later = store._clock() + 5
        monkeypatch.setattr(store, "_clock", lambda: later)
        response = client.get(result["links"]["overlay.png"])
    assert response.status_code == 404 and "NEOVASC_RESULT_TTL_S" in response.json()["detail"]
