"""Request ids, the audit line, unexpected errors logged once, and problem+json for the host and CORS guards."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
from fastapi.testclient import TestClient

from app.api import uploads
from app.main import create_app
from tests.conftest import png_bytes

from .conftest import BASE_URL, keyed_client

PROBLEM = "application/problem+json"


def _audit_lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "neovasc.audit"]


def test_a_well_formed_request_id_is_kept(client):
    response = client.get("/readyz", headers={"X-Request-ID": "ris-7f3a.01_b"})
    assert response.headers["x-request-id"] == "ris-7f3a.01_b"


@pytest.mark.parametrize(
    "sent", ["", "a b", "x" * 129, "id\u00e9", "a;b"], ids=["empty", "space", "long", "latin1", "semicolon"]
)
def test_a_malformed_request_id_is_replaced(client, sent):
    response = client.get("/readyz", headers={"X-Request-ID": sent.encode("latin-1")})
    made = response.headers["x-request-id"]
    assert made != sent and len(made) == 32 and int(made, 16) >= 0


def test_every_answer_carries_a_request_id(client):
    answers = [client.get("/healthz"), client.get("/nowhere"), client.get("/metrics", headers={"Authorization": ""})]
    ids = [a.headers["x-request-id"] for a in answers]
    assert len(set(ids)) == 3


def test_one_audit_line_per_request_without_names_or_ids(client, doppler_image, caplog):
    caplog.set_level(logging.INFO, logger="neovasc.audit")
    data = png_bytes(doppler_image[0])
    graded = client.post(
        "/v1/grade",
        files={"file": ("SMITH^JOHN_MRN12345.png", data, "image/png")},
        data={"roi": "20,30,120,90", "overlays": "true"},
        headers={"X-Request-ID": "req-1"},
    ).json()
    client.get(graded["links"]["overlay.png"], headers={"X-Request-ID": "req-2"})
    client.get("/metrics", headers={"Authorization": "Bearer nvk_wrong", "X-Request-ID": "req-3"})
    lines = _audit_lines(caplog)
    assert [line["request_id"] for line in lines] == ["req-1", "req-2", "req-3"]
    grade, fetch, refused = lines
    assert set(grade) == {"time", "request_id", "key", "method", "route", "input_sha256", "status", "duration_ms"}
    assert (grade["key"], grade["method"], grade["route"], grade["status"]) == ("tests", "POST", "/v1/grade", 200)
    assert grade["input_sha256"] == [hashlib.sha256(data).hexdigest()] and grade["duration_ms"] > 0
    assert (fetch["route"], fetch["status"], fetch["input_sha256"]) == ("/v1/results/{result_id}/{name}", 200, [])
    assert (refused["key"], refused["status"], refused["route"]) == (None, 401, None)
    text = caplog.text
    assert graded["id"] not in text and "SMITH" not in text and "MRN12345" not in text


def test_compare_audits_both_inputs(client, doppler_image, caplog):
    caplog.set_level(logging.INFO, logger="neovasc.audit")
    before, after = png_bytes(doppler_image[0]), png_bytes(doppler_image[0][::-1].copy())
    response = client.post(
        "/v1/compare",
        files={"before": ("b.png", before, "image/png"), "after": ("a.png", after, "image/png")},
        data={"roi_before": "20,30,120,90", "roi_after": "20,30,120,90", "reference_before": "visit-1"},
    )
    assert response.status_code == 200 and response.json()["before"]["input"] == "visit-1"
    (line,) = _audit_lines(caplog)
    assert line["input_sha256"] == [hashlib.sha256(d).hexdigest() for d in (before, after)]


def test_an_unexpected_error_is_logged_once_with_the_request_id(client, doppler_image, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("decoder exploded on SMITH^JOHN")

    monkeypatch.setattr(uploads, "run_analysis", broken)
    caplog.set_level(logging.DEBUG)
    response = client.post(
        "/v1/grade",
        files={"file": ("s.png", png_bytes(doppler_image[0]), "image/png")},
        data={"roi": "20,30,120,90"},
        headers={"X-Request-ID": "boom-1"},
    )
    assert response.status_code == 500 and response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "internal_error" and "SMITH" not in response.text
    assert response.headers["x-request-id"] == "boom-1"
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and tracebacks[0].getMessage().startswith("request_id=boom-1 unexpected RuntimeError")
    assert "/v1/grade" in tracebacks[0].getMessage()
    assert _audit_lines(caplog)[-1]["status"] == 500


def test_worker_thread_logs_carry_the_request_id(client, doppler_image, monkeypatch, caplog):
    real = uploads.run_analysis

    def logging_analysis(*args, **kwargs):
        logging.getLogger("neovasc.pipeline").warning("grading in the pool")
        return real(*args, **kwargs)

    monkeypatch.setattr(uploads, "run_analysis", logging_analysis)
    client.post(
        "/v1/grade",
        files={"file": ("s.png", png_bytes(doppler_image[0]), "image/png")},
        data={"roi": "20,30,120,90"},
        headers={"X-Request-ID": "pool-1"},
    )
    assert "request_id=pool-1 grading in the pool" in caplog.text


def test_a_host_not_allowed_is_a_problem(client):
    response = client.get("/readyz", headers={"Host": "evil.example"})
    assert response.status_code == 400 and response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "http_error" and "Invalid host header" in response.json()["detail"]
    assert client.get("/readyz", headers={"Host": "localhost:8000"}).status_code == 200


def test_allowed_hosts_are_configurable(keyed_settings, api_key):
    settings = keyed_settings.model_copy(update={"allowed_hosts": ["neovasc.example.org"]})
    with keyed_client(settings, api_key) as client:
        assert client.get("/readyz").status_code == 400
        assert client.get("/readyz", headers={"Host": "neovasc.example.org"}).status_code == 200


def _preflight(client: TestClient, origin: str):
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    return client.options("/v1/grade", headers=headers)


def test_no_cors_by_default(client):
    response = client.get("/healthz", headers={"Origin": "https://viewer.example.org"})
    assert "access-control-allow-origin" not in response.headers
    preflight = _preflight(client, "https://viewer.example.org")  # no CORS layer: an ordinary OPTIONS request
    assert preflight.status_code == 405 and "access-control-allow-origin" not in preflight.headers


def test_cors_origins_are_configurable(keyed_settings, api_key):
    settings = keyed_settings.model_copy(update={"cors_origins": ["https://viewer.example.org"]})
    with keyed_client(settings, api_key) as client:
        allowed = _preflight(client, "https://viewer.example.org")
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://viewer.example.org"
        refused = _preflight(client, "https://elsewhere.example.org")
        assert refused.status_code == 400 and refused.headers["content-type"] == PROBLEM
        assert "access-control-allow-origin" not in refused.headers
        answer = client.get("/readyz", headers={"Origin": "https://viewer.example.org"})
        assert answer.headers["access-control-expose-headers"].lower() == "x-request-id"


def test_the_access_log_is_silenced(settings):
    logger = logging.getLogger("uvicorn.access")
    logger.disabled = False
    try:
        with TestClient(create_app(settings), base_url=BASE_URL):
            assert logger.disabled
    finally:
        logger.disabled = False
