"""The HTTP service under load: N clients grading stills for D seconds against ``neovasc serve`` on loopback.

Starts ``neovasc serve`` on a free loopback port with the shipped tendon model (no keys: loopback only),
``--workers`` analyses at a time and room for every client's upload (``NEOVASC_MAX_UPLOADS_IN_FLIGHT`` =
``--clients``, so no request is refused as busy unless ``--in-flight`` says less). Each client keeps one
keep-alive connection and posts ``POST /v1/grade`` one request after another, going round a mix of
synthetic Doppler screens of three sizes (frames of the training generator as PNG); every
``--roi-every``-th request carries a drawn ``roi`` and skips the model. Requests in the first
``--warmup`` seconds are not counted. Reports requests, errors (any answer but 200, or a failed
connection), throughput, p50/p90/p99/max latency as the client sees it, and the server's resident memory at
rest and at its peak (``VmHWM`` of ``/proc/PID/status``). It is a script, not a timed test.

    python benchmarks/service_load.py [--clients 16] [--duration 120] [--workers 1] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from service_latency import multipart  # beside this script (a script's folder is on sys.path)

from models.training.synth import make_sample

ROOT = Path(__file__).resolve().parent.parent
SIZES = ((640, 480), (800, 600), (1024, 768))  # (width, height) of the screens posted
ROI_FRACTION = (0.2, 0.3, 0.8, 0.7)  # the drawn region, as fractions of width and height


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, workers: int, in_flight: int, batching: str) -> subprocess.Popen:
    """``neovasc serve`` with the shipped model, once ``/readyz`` answers."""
    env = {k: v for k, v in os.environ.items() if k != "NEOVASC_API_KEYS_FILE"}  # no keys: loopback only
    env.update(
        NEOVASC_AUTH="auto",
        NEOVASC_LOG_LEVEL="warning",
        NEOVASC_MAX_UPLOADS_IN_FLIGHT=str(in_flight),
        NEOVASC_SEGMENT_BATCHING=batching,
    )
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("the server did not become ready within 120 s")


def memory_mb(pid: int, field_name: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field_name} not in /proc/{pid}/status")


def requests_to_send() -> list[tuple[bytes, dict]]:
    """The mix: a screen of each size without a region, then the same with a drawn ``roi``."""
    bodies = []
    for i, (width, height) in enumerate(SIZES):
        frame = cv2.resize(make_sample(100 + i).image, (width, height), interpolation=cv2.INTER_LINEAR)
        ok, png = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError("PNG encoding failed")
        x0, y0, x1, y1 = ROI_FRACTION
        roi = f"{int(x0 * width)},{int(y0 * height)},{int(x1 * width)},{int(y1 * height)}"
        bodies.append((multipart("screen.png", png.tobytes(), "image/png"), roi))
    return bodies


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ms: float | None, error: str | None) -> None:
        with self.lock:
            if error is None:
                self.latencies_ms.append(ms)
            else:
                self.errors[error] = self.errors.get(error, 0) + 1


def client(port: int, index: int, bodies, roi_every: int, start_counting: float, stop: float, tally: Tally) -> None:
    """One client: requests back to back on a keep-alive connection until ``stop``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    sent = index  # clients start at different places in the mix
    while time.monotonic() < stop:
        (body, headers), roi = bodies[sent % len(bodies)]
        if roi_every and sent % roi_every == roi_every - 1:
            body, headers = _with_roi(body, headers, roi)
        sent += 1
        t0 = time.monotonic()
        error = None
        try:
            connection.request("POST", "/v1/grade", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                error = f"HTTP {response.status}"
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        if t0 >= start_counting:
            tally.add((time.monotonic() - t0) * 1000, error)
    connection.close()


def _with_roi(body: bytes, headers: dict, roi: str) -> tuple[bytes, dict]:
    """The same multipart body with a ``roi`` field in front of its closing boundary."""
    boundary = headers["Content-Type"].split("boundary=")[1]
    field_part = f'--{boundary}\r\nContent-Disposition: form-data; name="roi"\r\n\r\n{roi}\r\n'.encode()
    closing = f"--{boundary}--\r\n".encode()
    return body[: -len(closing)] + field_part + closing, headers


def run(args: argparse.Namespace) -> dict:
    bodies = requests_to_send()
    port = _free_port()
    server = start_server(port, args.workers, args.in_flight or args.clients, args.segment_batching)
    load_before = os.getloadavg()
    try:
        rest_mb = memory_mb(server.pid, "VmRSS")
        tally = Tally()
        begin = time.monotonic()
        start_counting, stop = begin + args.warmup, begin + args.warmup + args.duration
        threads = [
            threading.Thread(target=client, args=(port, i, bodies, args.roi_every, start_counting, stop, tally))
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - start_counting
        peak_mb = memory_mb(server.pid, "VmHWM")
        load_after = os.getloadavg()
    finally:
        server.terminate()
        server.wait(timeout=60)
    times = np.array(tally.latencies_ms or [float("nan")])
    answered = len(tally.latencies_ms)
    return {
        "clients": args.clients,
        "workers": args.workers,
        "segment_batching": args.segment_batching,
        "seconds": round(elapsed, 1),
        "requests": answered + sum(tally.errors.values()),
        "errors": tally.errors,
        "per_s": round(answered / elapsed, 2),
        "p50_ms": round(float(np.percentile(times, 50)), 1),
        "p90_ms": round(float(np.percentile(times, 90)), 1),
        "p99_ms": round(float(np.percentile(times, 99)), 1),
        "max_ms": round(float(times.max()), 1),
        "rss_rest_mb": round(rest_mb),
        "rss_peak_mb": round(peak_mb),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in load_after],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--duration", type=float, default=120.0, help="seconds counted, after --warmup")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of requests not counted")
    p.add_argument("--workers", type=int, default=1, help="NEOVASC_WORKERS of the server")
    p.add_argument("--in-flight", type=int, default=0, help="NEOVASC_MAX_UPLOADS_IN_FLIGHT (default: --clients)")
    p.add_argument("--segment-batching", choices=("auto", "on", "off"), default="auto")
    p.add_argument("--roi-every", type=int, default=5, help="every N-th request carries a drawn roi (0: none)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    row = run(args)
    if args.json:
        print(json.dumps(row))
        return 0
    print("| clients | workers | requests | errors | req/s | p50 ms | p90 ms | p99 ms | max ms | RSS rest / peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    errors = ", ".join(f"{k}: {v}" for k, v in row["errors"].items()) or "0"
    print(
        f"| {row['clients']} | {row['workers']} | {row['requests']} | {errors} | {row['per_s']} | {row['p50_ms']} | "
        f"{row['p90_ms']} | {row['p99_ms']} | {row['max_ms']} | {row['rss_rest_mb']} / {row['rss_peak_mb']} |"
    )
    print(f"load average before {row['load_before']}, after {row['load_after']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
