"""``neovasc serve``'s uvicorn: requests its HTTP parser refuses are answered with problem+json, and the header
limit holds. A real server on a free loopback port, in a thread, with the options ``neovasc serve`` uses."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import uvicorn

from app.api.server import BUSY, BUSY_RETRY_S, UNPARSABLE, uvicorn_options
from app.main import create_app


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def port(settings):
    yield from _serve(settings.model_copy(update={"max_header_bytes": 4096}))


@pytest.fixture
def port_of_two(settings):
    """A server that takes at most two connections or requests at once."""
    yield from _serve(settings.model_copy(update={"max_connections": 2}))


def _serve(settings):
    settings = settings.model_copy(update={"port": _free_port(), "log_level": "error"})
    server = uvicorn.Server(uvicorn.Config(create_app(settings), **uvicorn_options(settings)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield settings.port
    server.should_exit = True
    thread.join(10)


def _exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` on a fresh connection and read until the server closes it: status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(raw)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


MALFORMED = {
    "length not a number": b"POST /v1/grade HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\nxyz",
    "two lengths": b"POST /v1/grade HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nxyz",
    "broken chunk": b"POST /v1/grade HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxyz\r\n",
    "not http": b"HELLO\r\n\r\n",
    # a header block still incomplete past NEOVASC_MAX_HEADER_BYTES (4096 here): refused before it ends
    "header block too large": b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 8192,
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_unparsable_requests_get_problem_json(port, raw):
    status, headers, body = _exchange(port, raw)
    assert status == 400
    assert headers["content-type"] == "application/problem+json" and headers["connection"] == "close"
    assert json.loads(body) == {
        "type": "urn:neovasc:error:malformed_request",
        "title": "Malformed request",
        "status": 400,
        "detail": UNPARSABLE,
        "code": "malformed_request",
    }


def test_a_well_formed_request_still_reaches_the_app(port):
    raw = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 2048 + b"\r\nConnection: close\r\n\r\n"
    status, headers, body = _exchange(port, raw)
    assert status == 200 and json.loads(body)["status"] == "ok" and "x-request-id" in headers


def test_a_request_beyond_the_connection_limit_gets_problem_json(port_of_two):
    """Two idle connections held open (slow clients); a third connection's request gets a problem+json 503."""
    held = [socket.create_connection(("127.0.0.1", port_of_two), timeout=10) for _ in range(2)]
    try:
        time.sleep(0.2)  # the server has accepted both
        raw = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        status, headers, body = _exchange(port_of_two, raw)
    finally:
        for connection in held:
            connection.close()
    assert status == 503 and headers["content-type"] == "application/problem+json"
    assert headers["retry-after"] == str(BUSY_RETRY_S)
    problem = json.loads(body)
    assert problem["code"] == "service_busy" and problem["detail"] == BUSY
    time.sleep(0.2)  # the held connections are gone: requests are served again
    status, _, _ = _exchange(port_of_two, raw)
    assert status == 200


def test_serve_refuses_a_worker_count_out_of_range(capsys):
    from app.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--workers", "65"])
    assert stopped.value.code == 2
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["error"]["code"] == "usage_error" and "--workers" in line["error"]["message"]
