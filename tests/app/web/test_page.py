"""The web page at ``/``: served without a key, with the right types, and nothing loaded from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.auth import is_open
from app.main import WEB_DIR
from app.pipeline.outputs.table import CSV_COLUMNS

STATIC_FILES = sorted(p.name for p in WEB_DIR.iterdir() if p.is_file())
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
# Any absolute URL: the page must work with no internet, so it names no host at all.
EXTERNAL_URL = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}|https?://", re.IGNORECASE)


def test_page_served_without_a_key(anonymous: TestClient) -> None:
    response = anonymous.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert '<script type="module" src="/ui/app.js">' in response.text


@pytest.mark.parametrize("name", STATIC_FILES, ids=STATIC_FILES)
def test_static_file_served_without_a_key(anonymous: TestClient, name: str) -> None:
    response = anonymous.get(f"/ui/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(TYPES[Path(name).suffix])
    assert response.content == (WEB_DIR / name).read_bytes()


def test_reference_page_served_without_a_key(anonymous: TestClient) -> None:
    """``/docs``: the service's own API reference page; the OpenAPI document it reads still needs a key."""
    response = anonymous.get("/docs")
    assert response.status_code == 200 and response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert '<script type="module" src="/ui/reference.js">' in response.text
    assert anonymous.get("/openapi.json").status_code == 401
    assert anonymous.get("/redoc").status_code == 401  # FastAPI's CDN pages stay off


@pytest.mark.parametrize("page_path", ["/", "/docs"])
def test_page_references_only_its_own_files(anonymous: TestClient, page_path: str) -> None:
    page = anonymous.get(page_path).text
    for src in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert src.startswith(("/ui/", "data:")) or src == "/", src  # "/": the reference links the page
        if src.startswith("/ui/"):
            assert anonymous.get(src).status_code == 200, src


@pytest.mark.parametrize("name", STATIC_FILES, ids=STATIC_FILES)
def test_no_external_url(name: str) -> None:
    text = (WEB_DIR / name).read_text(encoding="utf-8")
    assert EXTERNAL_URL.findall(text) == []


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [("/v1/results/" + "0" * 32 + "/overlay.png", 401, "unauthorized"),
     ("/ui/missing.js", 404, "not_found"), ("/openapi.json", 401, "unauthorized")],
    ids=["api-route", "missing-file", "openapi"],
)  # fmt: skip
def test_only_the_page_is_open(anonymous: TestClient, path: str, status: int, code: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("path", "open_"),
    [("/", True), ("/docs", True), ("/healthz", True), ("/ui/app.js", True), ("/ui/", True), ("/ui/../v1/grade", False),
     ("/ui", False), ("/uix/app.js", False), ("/v1/grade", False), ("/index.html", False)],
)  # fmt: skip
def test_open_paths(path: str, open_: bool) -> None:
    """Raw ASGI paths are not normalised: a ``..`` segment under /ui/ is not let through."""
    assert is_open(path) is open_


def test_page_answers_only_allowed_hosts(anonymous: TestClient) -> None:
    response = anonymous.get("/", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_page_not_in_openapi(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/docs" not in paths
    assert not any(path.startswith("/ui") for path in paths)


def test_csv_columns_match_the_batch_csv() -> None:
    """The page builds the CSV itself; its columns are those of ``neovasc grade --out x.csv``."""
    script = (WEB_DIR / "csv.js").read_text(encoding="utf-8")
    block = re.search(r"export const CSV_COLUMNS = \[(.*?)\];", script, re.DOTALL)
    assert block is not None
    assert tuple(re.findall(r'"([a-z0-9_]+)"', block.group(1))) == CSV_COLUMNS
