"""Several workers sharing one tendon model, with and without batching its calls across uploads: the same
Results as one worker, and the batching thread really carries the model's calls."""

from __future__ import annotations

import threading

import pytest

from app.api.state import batches_segmentation
from app.config import REPO_ROOT, Settings
from tests.conftest import png_bytes

from .conftest import keyed_client


@pytest.fixture(scope="module")
def screens() -> list[bytes]:
    from models.training.synth import make_sample

    return [png_bytes(make_sample(seed).image) for seed in (321, 322, 323, 324)]


def _grade_together(client, screens: list[bytes]) -> list[dict]:
    """POST every screen to /v1/grade at once, from one thread each; the Results' summaries and regions."""
    answers: list = [None] * len(screens)

    def grade(i: int) -> None:
        response = client.post("/v1/grade", files={"file": (f"s{i}.png", screens[i], "image/png")})
        assert response.status_code == 200, response.text
        body = response.json()
        answers[i] = {"summary": body["summary"], "roi": body["roi"], "frames": body["frames"]}

    threads = [threading.Thread(target=grade, args=(i,)) for i in range(len(screens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return answers


def test_workers_and_batched_segmentation_give_the_results_of_one_worker(keyed_settings, api_key, screens):
    shipped = keyed_settings.model_copy(update={"weights_dir": REPO_ROOT / "weights"})
    with keyed_client(shipped, api_key) as client:
        alone = [_grade_together(client, [screen])[0] for screen in screens]
    batched = shipped.model_copy(update={"workers": 2, "segment_batching": "on", "max_uploads_in_flight": 8})
    with keyed_client(batched, api_key) as client:
        ready = client.get("/readyz").json()
        together = _grade_together(client, screens)
        batcher = client.app.state.neovasc.segmenter.batcher
        calls, rows = batcher.calls, batcher.rows
    assert ready["workers"] == 2 and ready["segment_batching"] is True
    assert all(answer["roi"]["source"] == "model" for answer in alone)
    assert together == alone
    assert rows == len(screens) and 1 <= calls <= len(screens)  # one frame per still, all through the thread


@pytest.mark.parametrize(
    ("mode", "device", "workers", "expected"),
    [
        ("auto", "cuda", 2, True),
        ("auto", "cuda", 1, False),
        ("auto", "cpu", 4, False),
        ("on", "cpu", 1, True),
        ("off", "cuda", 4, False),
    ],
    ids=["auto-gpu-workers", "auto-gpu-one-worker", "auto-cpu", "on", "off"],
)
def test_when_segmentation_is_batched(mode, device, workers, expected):
    settings = Settings(segment_batching=mode, workers=workers, device="cpu")
    assert batches_segmentation(settings, device) is expected
