"""API keys: who may call the service, the loopback-only mode without keys, and the start-up refusals."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.api.auth import AuthPolicy, is_loopback
from app.api.keys import key_hash, new_key, write_keys
from app.config import Settings
from app.errors import UsageError
from app.main import create_app

from .conftest import BASE_URL


def _refused(response, fragment: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["code"] == "unauthorized" and fragment in body["detail"]


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer {key}"}, {"Authorization": "bearer {key}"}, {"X-API-Key": "{key}"}],
    ids=["bearer", "bearer-lowercase", "x-api-key"],
)
def test_a_held_key_is_accepted(keyed_settings, api_key, headers):
    with TestClient(create_app(keyed_settings), base_url=BASE_URL) as client:
        response = client.get("/readyz", headers={k: v.format(key=api_key) for k, v in headers.items()})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "send an API key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "send an API key"),
        ({"Authorization": "Bearer nvk_wrong"}, "not one this service holds"),
        ({"X-API-Key": "nvk_wrong"}, "not one this service holds"),
    ],
    ids=["none", "basic", "wrong-bearer", "wrong-x-api-key"],
)
def test_every_route_but_healthz_and_readyz_needs_a_key(keyed_settings, headers, fragment):
    with TestClient(create_app(keyed_settings), base_url=BASE_URL) as client:
        for method, path in (("GET", "/metrics"), ("GET", "/openapi.json"), ("POST", "/v1/grade"),
                             ("POST", "/v1/compare"), ("GET", "/v1/results/" + "0" * 32 + "/overlay.png"),
                             ("GET", "/no/such/route")):  # fmt: skip
            _refused(client.request(method, path, headers=headers), fragment)
        assert client.get("/healthz", headers=headers).status_code == 200
        assert client.get("/readyz", headers=headers).json() == {"ready": True}  # the brief view


def test_keys_rotate_without_a_restart(keyed_settings, api_key):
    with TestClient(create_app(keyed_settings), base_url=BASE_URL) as client:
        old = {"Authorization": f"Bearer {api_key}"}
        assert client.get("/readyz", headers=old).status_code == 200
        fresh = new_key()
        write_keys(keyed_settings.api_keys_file, {"tests-2": key_hash(fresh)})  # the old key removed
        _refused(client.get("/metrics", headers=old), "not one this service holds")
        assert client.get("/metrics", headers={"X-API-Key": fresh}).status_code == 200


def test_a_broken_keys_file_accepts_no_key(keyed_settings, api_key):
    with TestClient(create_app(keyed_settings), base_url=BASE_URL) as client:
        keyed_settings.api_keys_file.write_text("tests:not-a-hash\n")
        _refused(client.get("/metrics", headers={"X-API-Key": api_key}), "not one this service holds")


def test_without_keys_loopback_requests_pass(settings):
    """`make run` on a fresh checkout: no keys file, bound to 127.0.0.1, nothing to set up."""
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        assert client.get("/readyz").status_code == 200


def test_without_keys_other_addresses_are_refused(settings):
    """``neovasc serve --host 0.0.0.0`` without keys: a request that arrives on another address is refused."""
    open_to_all_hosts = settings.model_copy(update={"allowed_hosts": ["*"]})
    with TestClient(create_app(open_to_all_hosts), base_url="http://192.0.2.10") as client:
        _refused(client.get("/metrics"), "answers only on a loopback address")
        assert client.get("/readyz").json() == {"ready": True}
        assert client.get("/healthz").status_code == 200


def test_auth_off_ignores_the_keys_file_on_loopback(keyed_settings):
    with TestClient(create_app(keyed_settings.model_copy(update={"auth": "off"})), base_url=BASE_URL) as client:
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("update", "fragment"),
    [
        ({"host": "0.0.0.0"}, r"refusing to serve on 0\.0\.0\.0 \(--host or NEOVASC_HOST\) without API keys"),
        ({"host": "10.1.2.3", "auth": "off"}, "NEOVASC_AUTH=off is for 127.0.0.1 only"),
        ({"auth": "on"}, "NEOVASC_AUTH=on needs NEOVASC_API_KEYS_FILE"),
    ],
    ids=["public-host", "off-on-public-host", "on-without-file"],
)
def test_insecure_setups_refuse_to_start(settings, update, fragment):
    with pytest.raises(UsageError, match=fragment):
        create_app(settings.model_copy(update=update))


def test_a_missing_keys_file_refuses_to_start(settings, tmp_path):
    with pytest.raises(UsageError, match="cannot read the keys file"):
        AuthPolicy.from_settings(settings.model_copy(update={"api_keys_file": tmp_path / "absent"}))


def test_keys_allow_a_public_host(keyed_settings):
    assert AuthPolicy.from_settings(keyed_settings.model_copy(update={"host": "0.0.0.0"})).keys is not None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.1", False), ("testserver", False), ("", False), (None, False)],
)  # fmt: skip
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_settings_read_the_auth_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("NEOVASC_AUTH", "on")
    monkeypatch.setenv("NEOVASC_API_KEYS_FILE", str(tmp_path / "keys"))
    monkeypatch.setenv("NEOVASC_RESULT_TTL_S", "600")
    settings = Settings()
    assert (settings.auth, settings.api_keys_file, settings.result_ttl_s) == ("on", tmp_path / "keys", 600)
    monkeypatch.setenv("NEOVASC_AUTH", "maybe")
    with pytest.raises(ValueError, match="auth"):
        Settings()
