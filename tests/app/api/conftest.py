from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app


@pytest.fixture
def client(settings: Settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def small_client(empty_weights):
    """A service with a 64 KiB upload limit."""
    settings = Settings(weights_dir=empty_weights, device="cpu", max_upload_bytes=64 * 1024)
    with TestClient(create_app(settings)) as test_client:
        yield test_client
