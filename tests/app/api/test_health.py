from __future__ import annotations

from .conftest import keyed_client


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_readyz_without_model(client):
    body = client.get("/readyz").json()
    assert body["ready"] is True and body["device"] == "cpu"
    assert body["model"] == {"loaded": False, "name": None, "sha256": None, "error": None}
    assert "reference" in body["backends"]


def test_readyz_reports_broken_model(tmp_path, keyed_settings, api_key):
    folder = tmp_path / "broken-weights"
    folder.mkdir()
    (folder / "MANIFEST.json").write_text("{ not json")
    with keyed_client(keyed_settings.model_copy(update={"weights_dir": folder}), api_key) as client:
        body = client.get("/readyz").json()
        assert body["model"]["loaded"] is False and body["model"]["error"]
        response = client.post("/v1/grade", files={"file": ("a.png", b"x", "image/png")})
        assert response.status_code == 422 and response.json()["code"] == "no_tendon_model"


def test_healthz_needs_no_key_and_readyz_does(client):
    assert client.get("/healthz", headers={"Authorization": ""}).status_code == 200
    response = client.get("/readyz", headers={"Authorization": ""})
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"
