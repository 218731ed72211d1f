"""The HTTP service as a Ray Serve application: one replica on a local Ray answers /healthz and grades a region.

Serve's controller, proxy and one replica start on a local Ray with 2 CPUs (about 15 s), hence the slow mark.
"""

from __future__ import annotations

import socket

import httpx
import pytest

from app.config import Settings
from app.errors import UsageError
from tests.app.batch.test_session import make_inputs

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")
ray_serve = pytest.importorskip("app.ray_serve")


@pytest.fixture
def service(empty_weights):
    """The address of a running Serve application with one replica (no model: regions only)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        settings = Settings(weights_dir=empty_weights, device="cpu")
        serve.run(ray_serve.application(settings, ray_serve.ServeOptions(replicas=1)), name="neovasc")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.mark.slow
def test_a_replica_answers_health_and_grades_a_region(service, tmp_path, rng):
    health = httpx.get(f"{service}/healthz", timeout=30)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    path = make_inputs(tmp_path, 2, rng)[1]
    files = {"file": (path.name, path.read_bytes(), "image/png")}
    answer = httpx.post(f"{service}/v1/grade", files=files, data={"roi": "20,30,120,90"}, timeout=60)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["ok"] and result["summary"]["doppler_px"] == 40 and result["roi"]["source"] == "user"
    refused = httpx.post(f"{service}/v1/grade", files=files, timeout=60)  # no region, and this service has no model
    assert refused.status_code == 422 and refused.json()["code"] == "no_tendon_model"


@pytest.mark.parametrize(
    ("args", "expected"),
    [({}, (1, 1.0, 0.0)), ({"replicas": "3", "cpus": "2", "gpus": "1"}, (3, 2.0, 1.0))],
    ids=["defaults", "given"],
)
def test_serve_options(args, expected):
    options = ray_serve.ServeOptions.from_args(args)
    assert (options.replicas, options.cpus, options.gpus) == expected


@pytest.mark.parametrize("args", [{"replica": "2"}, {"replicas": "0"}, {"gpus": "one"}], ids=["unknown", "zero", "nan"])
def test_bad_serve_options_are_refused(args):
    with pytest.raises(UsageError):
        ray_serve.ServeOptions.from_args(args)
