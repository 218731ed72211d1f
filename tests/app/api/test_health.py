from __future__ import annotations

import pytest

from .conftest import keyed_client


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_readyz_without_model(client):
    body = client.get("/readyz").json()
    assert body["ready"] is True and body["device"] == "cpu"
    assert body["model"] == {"loaded": False, "name": None, "sha256": None, "runtime": None, "error": None}
    assert "reference" in body["backends"]
    assert body["workers"] == 1 and body["segment_batching"] is False
    assert body["versions"]["neovasc"] == body["version"] and {"python", "torch", "numpy"} <= set(body["versions"])


def test_readyz_reports_broken_model(tmp_path, keyed_settings, api_key):
    folder = tmp_path / "broken-weights"
    folder.mkdir()
    (folder / "MANIFEST.json").write_text("{ not json")
    with keyed_client(keyed_settings.model_copy(update={"weights_dir": folder}), api_key) as client:
        body = client.get("/readyz").json()
        assert body["model"]["loaded"] is False and body["model"]["error"]
        response = client.post("/v1/grade", files={"file": ("a.png", b"x", "image/png")})
        assert response.status_code == 422 and response.json()["code"] == "no_tendon_model"


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": ""}, {"Authorization": "Bearer nvk_wrong"}, {"Authorization": "", "X-API-Key": "nvk_wrong"}],
    ids=["no-key", "wrong-bearer", "wrong-x-api-key"],
)
def test_readyz_without_a_valid_key_says_only_ready(client, headers):
    assert client.get("/healthz", headers=headers).status_code == 200
    response = client.get("/readyz", headers=headers)
    assert response.status_code == 200 and response.json() == {"ready": True}


def test_readyz_with_the_shipped_model_names_it_and_its_runtime(keyed_settings, api_key):
    from app.config import REPO_ROOT

    shipped = keyed_settings.model_copy(update={"weights_dir": REPO_ROOT / "weights"})
    with keyed_client(shipped, api_key) as client:
        model = client.get("/readyz").json()["model"]
        assert client.get("/readyz", headers={"Authorization": ""}).json() == {"ready": True}
    assert model["loaded"] is True and model["name"] == "tendon_unet_picture" and len(model["sha256"]) == 64
    assert model["runtime"] in ("onnxruntime", "torch")
