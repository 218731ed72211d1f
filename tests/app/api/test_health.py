from __future__ import annotations

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_readyz_without_model(client):
    body = client.get("/readyz").json()
    assert body["ready"] is True and body["device"] == "cpu"
    assert body["model"] == {"loaded": False, "name": None, "sha256": None, "error": None}
    assert "reference" in body["backends"]


def test_readyz_reports_broken_model(tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "MANIFEST.json").write_text("{ not json")
    with TestClient(create_app(Settings(weights_dir=folder, device="cpu"))) as client:
        body = client.get("/readyz").json()
        assert body["model"]["loaded"] is False and body["model"]["error"]
        response = client.post("/v1/grade", files={"file": ("a.png", b"x", "image/png")})
        assert response.status_code == 422 and response.json()["code"] == "no_tendon_model"
