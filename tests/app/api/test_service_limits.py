"""Bounded work: uploads in flight, time limits that stop the pipeline, clients that leave, sampled long clips,
and /metrics."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import numpy as np
import pytest

from app.api.limits import UploadGate
from app.api.metrics import Metrics
from app.api.state import ServiceState
from app.errors import Cancelled, RequestTimeout
from app.pipeline import AnalyzeOptions, RoiSpec, run_analysis
from app.pipeline.cancel import StopFlag
from tests.conftest import mp4_bytes, png_bytes

from .conftest import keyed_client


def _spin(stop: StopFlag, finished: threading.Event) -> None:
    """Work that checks its stop flag every 10 ms, as the pipeline does between batches."""
    try:
        while True:
            stop.check()
            time.sleep(0.01)
    finally:
        finished.set()


def test_the_time_limit_answers_at_once_and_stops_the_work(settings):
    state = ServiceState(settings=settings)
    stop, finished = StopFlag(deadline_s=0.2), threading.Event()
    started = time.monotonic()
    with pytest.raises(RequestTimeout, match=r"time limit of 0\.2 s"):
        asyncio.run(state.run_stoppable(_spin, stop, finished, stop=stop, poll_s=0.02))
    assert time.monotonic() - started < 1.0
    assert finished.wait(1.0)  # the worker thread left the work: the pool is free again
    state.close()


def test_a_client_that_leaves_stops_the_work(settings):
    state = ServiceState(settings=settings)
    stop, finished = StopFlag(), threading.Event()
    polls = []

    async def disconnected() -> bool:
        polls.append(1)
        return len(polls) >= 3

    with pytest.raises(Cancelled, match="closed the connection"):
        asyncio.run(state.run_stoppable(_spin, stop, finished, stop=stop, disconnected=disconnected, poll_s=0.02))
    assert finished.wait(1.0)
    state.close()


def test_the_scan_stops_between_batches_and_reports_progress():
    """130 frames of 32x32 in batches of 64: stopped after the first batch, never reaching the second."""
    frames = np.zeros((130, 32, 32, 3), np.uint8)
    stop, seen = StopFlag(), []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        stop.stop(Cancelled("test"))

    options = AnalyzeOptions(roi=RoiSpec.from_text("0,0,16,16"), device="cpu")
    with pytest.raises(Cancelled):
        run_analysis(frames, options, stop=stop, progress=progress)
    assert seen == [(64, 130)]


def test_progress_counts_the_sampled_frames():
    seen = []
    options = AnalyzeOptions(roi=RoiSpec.from_text("0,0,16,16"), device="cpu", every=3)
    run_analysis(np.zeros((130, 32, 32, 3), np.uint8), options, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (44, 44)


def test_a_grade_past_its_time_limit_is_a_504_problem(keyed_settings, api_key, doppler_image):
    settings = keyed_settings.model_copy(update={"request_timeout_s": 0.001})
    image, _ = doppler_image
    with keyed_client(settings, api_key) as client:
        files = {"file": ("f.png", png_bytes(image), "image/png")}
        response = client.post("/v1/grade", files=files, data={"roi": "20,30,120,90"})
    assert response.status_code == 504 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "request_timeout"


def test_a_long_clip_is_graded_when_sampling_brings_it_under_the_pixel_limit(keyed_settings, api_key, rng):
    settings = keyed_settings.model_copy(update={"max_total_pixels": 120 * 160 * 6})
    clip = mp4_bytes(rng, frames=12)
    with keyed_client(settings, api_key) as client:
        post = lambda **form: client.post(  # noqa: E731
            "/v1/grade", files={"file": ("c.mp4", clip, "video/mp4")}, data={"roi": "10,10,150,110", **form}
        )
        refused = post()
        assert refused.status_code == 413 and "NEOVASC_MAX_TOTAL_PIXELS" in refused.json()["detail"]
        for form in ({"max_frames": "6"}, {"every": "2"}):
            response = post(**form)
            assert response.status_code == 200, response.text
            assert response.json()["summary"]["frames_analysed"] == 6


def _drive(app, requests: int, release: asyncio.Event) -> list[list[dict]]:
    """``requests`` POSTs at once through ``app``; answers as sent."""
    answers: list[list[dict]] = [[] for _ in range(requests)]

    async def one(i: int) -> None:
        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            answers[i].append(message)

        scope = {"type": "http", "method": "POST", "path": "/v1/grade", "headers": []}
        await app(scope, receive, send)

    async def main() -> None:
        tasks = [asyncio.create_task(one(i)) for i in range(requests)]
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    return answers


def test_uploads_beyond_the_cap_are_503_with_retry_after():
    release = asyncio.Event()

    async def slow_app(scope, receive, send):
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    metrics = Metrics()
    answers = _drive(UploadGate(slow_app, limit=2, metrics=metrics), 3, release)
    statuses = sorted(sent[0]["status"] for sent in answers)
    assert statuses == [200, 200, 503]
    busy = next(sent for sent in answers if sent[0]["status"] == 503)
    assert dict(busy[0]["headers"])[b"retry-after"] == b"5"
    assert json.loads(busy[1]["body"])["code"] == "service_busy"
    assert metrics.uploads_in_flight == 0  # released when each answer ended


def test_metrics_need_a_key_and_count_requests_errors_and_frames(client, keyed_settings, doppler_image):
    from fastapi.testclient import TestClient

    from .conftest import BASE_URL

    image, _ = doppler_image
    client.get("/readyz")
    client.post("/v1/grade", files={"file": ("x.png", b"nope", "image/png")}, data={"roi": "0,0,1,1"})
    client.post("/v1/grade", files={"file": ("f.png", png_bytes(image), "image/png")}, data={"roi": "20,30,120,90"})
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'neovasc_requests_total{method="GET",route="/readyz",status="200"} 1' in text
    assert 'neovasc_requests_total{method="POST",route="/v1/grade",status="415"} 1' in text
    assert 'neovasc_errors_total{code="unsupported_input"} 1' in text
    assert "neovasc_frames_graded_total 1" in text
    assert 'neovasc_request_duration_seconds_bucket{route="/readyz",le="+Inf"} 1' in text
    assert 'neovasc_device_info{device="cpu"} 1' in text and "neovasc_uploads_in_flight 0" in text
    assert 'neovasc_jobs{state="queued"} 0' in text
    with TestClient(client.app, base_url=BASE_URL) as anonymous:
        assert anonymous.get("/metrics").status_code == 401
