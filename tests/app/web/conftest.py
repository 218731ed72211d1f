from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.keys import key_hash, new_key, write_keys
from app.config import Settings
from app.main import create_app
from tests.app.api.conftest import BASE_URL


@pytest.fixture
def api_key() -> str:
    return new_key()


@pytest.fixture
def keyed_settings(empty_weights: Path, tmp_path: Path, api_key: str) -> Settings:
    """A service that holds one API key, ``api_key``."""
    keys = tmp_path / "keys"
    write_keys(keys, {"tests": key_hash(api_key)})
    return Settings(weights_dir=empty_weights, device="cpu", api_keys_file=keys)


@pytest.fixture
def anonymous(keyed_settings: Settings):
    """A client of a service that holds API keys, sending none."""
    with TestClient(create_app(keyed_settings), base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def client(keyed_settings: Settings, api_key: str):
    """A client of the same kind of service, sending the key."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with TestClient(create_app(keyed_settings), base_url=BASE_URL, headers=headers) as test_client:
        yield test_client
