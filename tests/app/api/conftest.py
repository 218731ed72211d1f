from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.keys import key_hash, new_key, write_keys
from app.config import Settings
from app.main import create_app

BASE_URL = "http://127.0.0.1"  # a Host the default NEOVASC_ALLOWED_HOSTS accepts, on a loopback address


@pytest.fixture
def api_key() -> str:
    return new_key()


@pytest.fixture
def keys_file(tmp_path: Path, api_key: str) -> Path:
    """A keys file holding ``api_key`` as 'tests' and a second key, 'other', whose secret is thrown away."""
    path = tmp_path / "keys"
    write_keys(path, {"tests": key_hash(api_key), "other": key_hash(new_key())})
    return path


@pytest.fixture
def keyed_settings(empty_weights: Path, keys_file: Path) -> Settings:
    return Settings(weights_dir=empty_weights, device="cpu", api_keys_file=keys_file)


def keyed_client(settings: Settings, key: str) -> TestClient:
    """A client of a service built from ``settings`` that sends ``key`` with every request."""
    return TestClient(create_app(settings), base_url=BASE_URL, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def client(keyed_settings: Settings, api_key: str):
    with keyed_client(keyed_settings, api_key) as test_client:
        yield test_client


@pytest.fixture
def small_client(keyed_settings: Settings, api_key: str):
    """A service with a 64 KiB upload limit."""
    settings = keyed_settings.model_copy(update={"max_upload_bytes": 64 * 1024})
    with keyed_client(settings, api_key) as test_client:
        yield test_client
