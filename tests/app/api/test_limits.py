"""The body limit refuses oversized uploads with 413 before they are stored, declared or streamed."""

from __future__ import annotations

import asyncio
import json

from app.api.limits import BodySizeLimit


def test_declared_length_over_limit(small_client):
    response = small_client.post("/v1/grade", files={"file": ("big.png", b"\0" * 100_000, "image/png")})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "input_too_large"


def test_under_limit_passes(small_client):
    response = small_client.post(
        "/v1/grade", files={"file": ("small.png", b"\0" * 1000, "image/png")}, data={"roi": "0,0,1,1"}
    )
    assert response.status_code == 415  # reached the decoder


def _call(app, chunks: list[bytes], headers=()) -> list[dict]:
    """Drive an ASGI app directly with a chunked body; returns the messages sent."""
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/grade", "headers": list(headers)}
    asyncio.run(app(scope, receive, send))
    return sent


async def _reading_app(scope, receive, send):
    """Reads the whole body, then answers 200: the limit must cut in before the 200 goes out."""
    while True:
        message = await receive()
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_streamed_body_without_length_is_counted():
    sent = _call(BodySizeLimit(_reading_app, max_bytes=1000), [b"x" * 600, b"x" * 600])
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["code"] == "input_too_large"
    assert len(sent) == 2  # the app's own 200 never went out


def test_streamed_body_under_limit():
    sent = _call(BodySizeLimit(_reading_app, max_bytes=1000), [b"x" * 400, b"x" * 400])
    assert sent[0]["status"] == 200


def test_a_content_length_that_is_not_a_number_is_a_400_problem():
    for value in (b"abc", b"-5", b"9" * 5000):
        sent = _call(BodySizeLimit(_reading_app, max_bytes=1000), [b"x"], headers=[(b"content-length", value)])
        assert sent[0]["status"] == 400 and json.loads(sent[1]["body"])["code"] == "malformed_request"


def test_a_body_shorter_than_its_content_length_is_a_400_problem(client):
    """The client stops sending (here: the body ends) before the declared length: nothing is graded."""
    import asyncio

    sent: list[dict] = []
    messages = [{"type": "http.request", "body": b"--b\r\nContent-Disposition: form-data; name=", "more_body": True}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"multipart/form-data; boundary=b"),
               (b"content-length", b"5000"), (b"authorization", client.headers["authorization"].encode())]  # fmt: skip
    scope = {"type": "http", "method": "POST", "path": "/v1/grade", "headers": headers, "query_string": b"",
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5000), "scheme": "http", "http_version": "1.1",
             "root_path": ""}  # fmt: skip
    asyncio.run(client.app(scope, receive, send))
    assert sent[0]["status"] == 400 and json.loads(sent[1]["body"])["code"] == "malformed_request"


def test_a_chunked_upload_without_length_is_cut_off_at_the_limit(small_client):
    """httpx sends a generator body chunked, with no Content-Length: the running count stops it at the limit
    (the test client buffers the body itself; benchmarks/service_attacks.py measures a real server)."""

    def body():
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\n'
        for _ in range(64):  # 4 MiB offered against a 64 KiB limit
            yield b"\0" * 65536

    response = small_client.post(
        "/v1/grade", content=body(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 413 and response.json()["code"] == "input_too_large"
    assert "unknown number of" in response.json()["detail"]
