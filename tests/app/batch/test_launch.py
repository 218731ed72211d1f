"""``--ray`` before any input is graded: ray imported only when asked for, named errors without it or a cluster."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

import app.batch
from app import cli
from tests.app.batch.test_session import make_inputs
from tests.app.test_cli import _isolated_settings  # noqa: F401 - the autouse fixture


def _usage_error(argv: list[str], capsys) -> dict:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == cli.EXIT_USAGE
    return json.loads(capsys.readouterr().err.strip().splitlines()[-1])["error"]


def test_ray_is_not_imported_without_ray(tmp_path, rng):
    """The command line, the batch package and a whole batch run without importing ray."""
    path = make_inputs(tmp_path / "in", 1, rng)[0]
    code = (
        "import sys; from app import cli; "
        f"cli.main(['grade', {str(path)!r}, '--roi', '20,30,120,90', '--out', {str(tmp_path / 'r.jsonl')!r}]); "
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith(('ray.', 'app.batch.ray_run'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_ray_without_the_extra_is_a_named_error(tmp_path, rng, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as it does without the extra
    monkeypatch.delitem(sys.modules, "app.batch.ray_run", raising=False)  # imported by an earlier test
    monkeypatch.delattr(app.batch, "ray_run", raising=False)
    path = make_inputs(tmp_path / "in", 1, rng)[0]
    out = tmp_path / "r.jsonl"
    out.write_text("kept\n")
    error = _usage_error(["grade", str(path), "--ray", "auto", "--out", str(out)], capsys)
    assert error["code"] == "ray_not_installed" and "neovasc[ray]" in error["message"]
    assert out.read_text() == "kept\n", "--out is left as it was"


def test_an_address_where_no_cluster_answers_is_a_named_error(tmp_path, rng, capsys):
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = make_inputs(tmp_path / "in", 1, rng)[0]
    error = _usage_error(["grade", str(path), "--ray", f"127.0.0.1:{port}"], capsys)
    assert error["code"] == "ray_unavailable" and f"127.0.0.1:{port}" in error["message"]
    assert _usage_error(["grade", str(path), "--ray", "head-node"], capsys)["code"] == "ray_unavailable"
