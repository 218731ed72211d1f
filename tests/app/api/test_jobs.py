"""/v1/jobs: queued, run in the worker pool, polled, cancelled, owned by the key that made them, bounded."""

from __future__ import annotations

import threading
import time

import pytest

from app.api.job_queue import JobQueue
from app.errors import JobNotFound, ServiceBusy
from app.pipeline.cancel import StopFlag
from tests.conftest import mp4_bytes, png_bytes

from .conftest import keyed_client

PROBLEM = "application/problem+json"


def _submit(client, data: bytes, name: str = "frame.png", **form):
    return client.post("/v1/jobs", files={"file": (name, data, "application/octet-stream")}, data=form)


def _wait(client, url: str, states=("done", "failed", "cancelled"), timeout_s: float = 20.0) -> dict:
    # generous: a loaded machine (the first clip of a process builds the colour tables) must not fail it
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if body["state"] in states:
            return body
        time.sleep(0.02)
    raise AssertionError(f"job still {body['state']} after {timeout_s} s")


def test_a_job_is_accepted_polled_and_done(client, doppler_image):
    image, _ = doppler_image
    response = _submit(client, png_bytes(image), roi="20,30,120,90")
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == job["status_url"] == f"/v1/jobs/{job['id']}"
    assert job["state"] in ("queued", "running", "done")
    done = _wait(client, job["status_url"])
    assert done["state"] == "done" and done["error"] is None
    assert done["result"]["ok"] is True and done["result"]["summary"]["colour_fraction"] > 0
    assert done["progress"] == {"frames_done": 1, "frames_total": 1}


def test_a_clip_job_reports_progress_by_frames_after_sampling(client, rng):
    job = _submit(client, mp4_bytes(rng, frames=12), name="clip.mp4", roi="10,10,150,110", every=3).json()
    done = _wait(client, job["status_url"])
    assert done["state"] == "done", done
    assert done["progress"] == {"frames_done": 4, "frames_total": 4}
    assert done["result"]["summary"]["frames_analysed"] == 4


def test_a_failed_job_carries_its_problem(client):
    job = _submit(client, b"not an image at all", roi="0,0,1,1").json()
    failed = _wait(client, job["status_url"])
    assert failed["state"] == "failed" and failed["result"] is None
    assert failed["error"]["code"] == "unsupported_input" and failed["error"]["status"] == 415


def test_form_errors_are_answered_before_queueing(client):
    response = _submit(client, b"x", roi="0,0,1")
    assert response.status_code == 422 and response.json()["code"] == "invalid_roi"


def test_another_key_sees_no_job(keyed_settings, api_key, keys_file, doppler_image):
    from app.api.keys import key_hash, new_key, read_keys, write_keys

    other = new_key()
    write_keys(keys_file, {**read_keys(keys_file), "third": key_hash(other)})
    image, _ = doppler_image
    with keyed_client(keyed_settings, api_key) as owner:
        job = _submit(owner, png_bytes(image), roi="20,30,120,90").json()
        stranger = {"Authorization": f"Bearer {other}"}
        assert owner.get("/readyz", headers=stranger).status_code == 200  # a valid key of this service
        for method in ("get", "delete"):
            response = getattr(owner, method)(job["status_url"], headers=stranger)
            assert response.status_code == 404 and response.json()["code"] == "job_not_found"
        assert _wait(owner, job["status_url"])["state"] == "done"


def test_a_queued_job_is_cancelled_at_once(client, doppler_image):
    release = threading.Event()
    state = client.app.state.neovasc
    state.pool.submit(release.wait, 5)  # the one worker is busy
    try:
        image, _ = doppler_image
        job = _submit(client, png_bytes(image), roi="20,30,120,90").json()
        assert client.get(job["status_url"]).json()["state"] == "queued"
        cancelled = client.delete(job["status_url"])
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        assert cancelled.json()["error"]["code"] == "cancelled"
    finally:
        release.set()
    time.sleep(0.05)
    assert client.get(job["status_url"]).json()["state"] == "cancelled"  # the worker did not run it


def test_the_job_queue_is_bounded_with_retry_after(keyed_settings, api_key, doppler_image):
    settings = keyed_settings.model_copy(update={"max_jobs": 1})
    release = threading.Event()
    image, _ = doppler_image
    with keyed_client(settings, api_key) as client:
        client.app.state.neovasc.pool.submit(release.wait, 5)
        try:
            assert _submit(client, png_bytes(image), roi="20,30,120,90").status_code == 202
            refused = _submit(client, png_bytes(image), roi="20,30,120,90")
            assert refused.status_code == 503 and refused.headers["content-type"] == PROBLEM
            assert refused.json()["code"] == "service_busy" and int(refused.headers["retry-after"]) > 0
        finally:
            release.set()


def test_finished_jobs_expire_after_the_ttl():
    now = [0.0]
    queue = JobQueue(max_jobs=1, ttl_s=10, clock=lambda: now[0])
    job = queue.add("k", None, StopFlag())
    with pytest.raises(ServiceBusy):
        queue.add("k", None, StopFlag())
    queue.cancel(job.id, "k")  # queued: cancelled at once, and room for another
    assert job.state == "cancelled" and queue.add("k", None, StopFlag()).state == "queued"
    now[0] = 11.0
    with pytest.raises(JobNotFound):
        queue.get(job.id, "k")


def test_a_malformed_job_id_is_422(client):
    response = client.get("/v1/jobs/not-an-id")
    assert response.status_code == 422 and response.json()["code"] == "invalid_request"


def test_a_stray_trailing_slash_is_not_found_as_problem_json(client):
    """``/v1/jobs/`` is no route: a 404 problem+json, not a bodyless redirect to ``/v1/jobs``."""
    response = client.get("/v1/jobs/", follow_redirects=False)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json" and response.json()["status"] == 404
