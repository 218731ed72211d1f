"""Single-client latency of the HTTP service: one still graded with the tendon model, and a clip's time to
result, against a real server on loopback.

Starts ``neovasc serve`` on a free loopback port with the shipped model (no keys: loopback only), waits
until ``/readyz`` reports the model loaded, sends ``--warmup`` requests that are not counted, then
``--requests`` ``POST /v1/grade`` of synthetic Doppler stills as PNG (``--stills heldout``: the 480x640
screens among the first 40 held-out val cases, in turn; ``synth``: one frame of the training generator
scaled to 640x640; no region: the model outlines the tendon), one after another, and reports p50, p90,
p99 and the worst of the wall-clock time per request as the client sees it. Then it grades one MPEG-4
clip of ``--clip-frames`` frames (the first still with fresh grey noise) once and reports its time to
result.

    python benchmarks/service_latency.py [--requests 200] [--clip-frames 60] [--stills heldout] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
from decode_video import make_clip  # beside this script (a script's folder is on sys.path)

from models.training.heldout.case import make_case
from models.training.synth import make_sample

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "NEOVASC_API_KEYS_FILE"}  # no keys: loopback only
    env.update(NEOVASC_AUTH="auto", NEOVASC_LOG_LEVEL="warning")
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            status, body = request(port, "GET", "/readyz")
            if status == 200 and json.loads(body).get("ready"):
                return server
        except OSError:
            pass
        time.sleep(0.3)
    server.kill()
    raise RuntimeError("the server did not become ready within 120 s")


def request(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def multipart(name: str, data: bytes, content_type: str) -> tuple[bytes, dict]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def timed_grade(port: int, body: bytes, headers: dict) -> float:
    t0 = time.perf_counter()
    status, answer = request(port, "POST", "/v1/grade", body, headers)
    elapsed = (time.perf_counter() - t0) * 1000
    if status != 200 or not json.loads(answer).get("ok"):
        raise RuntimeError(f"grading failed: HTTP {status} {answer[:200]!r}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--clip-frames", type=int, default=60)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--stills",
        choices=("heldout", "synth"),
        default="heldout",
        help="heldout: the 480x640 screens among the first 40 held-out val cases, in turn; synth: one frame of the "
        "training generator scaled to 640x640",
    )
    args = p.parse_args(argv)
    if args.stills == "heldout":
        frames = [
            case.frames[0] for case in (make_case(seed) for seed in range(40)) if case.frames.shape[1:3] == (480, 640)
        ]
        label = f"{len(frames)} held-out 480x640 PNG screens in turn, tendon model"
    else:
        frames = [cv2.resize(make_sample(5).image, (640, 640), interpolation=cv2.INTER_LINEAR)]
        label = "640x640 PNG (training generator, scaled), tendon model"
    stills = []
    for frame in frames:
        ok, png = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError("PNG encoding failed")
        stills.append(multipart("still.png", png.tobytes(), "image/png"))
    frame = frames[0]
    rng = np.random.default_rng(0)
    noise = [rng.integers(-6, 7, (*frame.shape[:2], 1), dtype=np.int16) for _ in range(args.clip_frames)]
    clip = make_clip("mpeg4-mp4", [np.clip(frame + n, 0, 255).astype(np.uint8) for n in noise])
    clip_body, clip_headers = multipart("clip.mp4", clip, "video/mp4")
    port = _free_port()
    server = start_server(port)
    try:
        for i in range(args.warmup):
            timed_grade(port, *stills[i % len(stills)])
        times = np.array([timed_grade(port, *stills[i % len(stills)]) for i in range(args.requests)])
        clip_ms = timed_grade(port, clip_body, clip_headers)
    finally:
        server.terminate()
        server.wait(timeout=30)
    row = {
        "still": label,
        "requests": args.requests,
        "p50_ms": round(float(np.percentile(times, 50)), 1),
        "p90_ms": round(float(np.percentile(times, 90)), 1),
        "p99_ms": round(float(np.percentile(times, 99)), 1),
        "max_ms": round(float(times.max()), 1),
        "clip_frames": args.clip_frames,
        "clip_ms": round(clip_ms, 1),
    }
    if args.json:
        print(json.dumps(row))
        return 0
    print("| still | requests | p50 ms | p90 ms | p99 ms | max ms | clip frames | clip time to result ms |")
    print("|---|---|---|---|---|---|---|---|")
    print(" | ".join(["", *(str(v) for v in row.values()), ""]).strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
