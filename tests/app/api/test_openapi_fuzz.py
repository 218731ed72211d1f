"""Schemathesis against the service's own OpenAPI document, in process (ASGI, no network), with an API key.

Every operation gets a bounded number of generated requests, valid and invalid, from a fixed seed
(derandomized), and each answer is checked: no 5xx, a status code and body the document describes, and
every error an RFC 9457 problem+json document.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
import schemathesis.python.asgi
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.keys import key_hash, new_key, write_keys
from app.api.problems import PROBLEM_JSON
from app.config import Settings
from app.main import create_app

from .conftest import BASE_URL

KEY = new_key()
MAX_EXAMPLES = 50  # per operation; with a fixed seed the whole module takes about 10 s on 2 cores


# The document alone: it does not depend on the settings. Requests go to the keyed app of the `app` fixture.
schema = schemathesis.openapi.from_dict(create_app(Settings(device="cpu")).openapi())


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    """The service with a keys file holding ``KEY`` and no tendon model."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    (folder / "weights").mkdir()
    (folder / "weights" / "MANIFEST.json").write_text('{"format": "neovasc.weights/1", "models": []}')
    write_keys(folder / "keys", {"tests": key_hash(KEY)})
    # Jobs of random bytes fail at once; the cap is raised so that a slow machine cannot fill the queue (503).
    settings = Settings(weights_dir=folder / "weights", device="cpu", api_keys_file=folder / "keys", max_jobs=10_000)
    yield create_app(settings)
    schemathesis.python.asgi.shutdown_lifespans()  # schemathesis started its lifespan (worker pool, store) on first use


def problem_json(ctx, response, case) -> bool:
    """An error answer is a problem+json document whose ``status`` is the HTTP status and ``code`` names it."""
    if response.status_code < 400:
        return True
    assert response.headers.get("content-type", [""])[0].startswith(PROBLEM_JSON), response.headers
    body = json.loads(response.content)
    assert body["status"] == response.status_code and body["type"] == f"urn:neovasc:error:{body['code']}", body
    return True


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_openapi_conformance(app, case):
    case.call_and_validate(
        app=app,
        base_url=BASE_URL,
        headers={"Authorization": f"Bearer {KEY}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            problem_json,
        ],
    )
