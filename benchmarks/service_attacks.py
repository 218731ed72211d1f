"""The HTTP service under hostile or careless clients: each attack of the service review, against a real server.

Starts ``neovasc serve`` on a free loopback port (no keys: loopback only; no tendon model: every request
carries a ``roi``), then runs each attack in turn while a thread polls ``GET /healthz`` every 50 ms and
another samples the server's resident memory (``/proc/PID/status``, Linux) every 20 ms. For each attack
it reports what the server answered, the peak RSS of the server process and the worst ``/healthz``
latency during the attack.

    python benchmarks/service_attacks.py [--scale 1.0] [--json]

``--scale`` multiplies the attack sizes (uploads, bombs, frame counts); the server's limits are set
small to match (``LIMITS`` below), so a run takes about a minute on a 2-core machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import http.client
import io
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MB = 1 << 20
LIMITS = {  # the server's settings for this run (NEOVASC_*)
    "NEOVASC_MAX_UPLOAD_BYTES": str(64 * MB),
    "NEOVASC_MAX_DECODED_BYTES": str(64 * MB),
    "NEOVASC_MAX_UPLOADS_IN_FLIGHT": "4",
    "NEOVASC_REQUEST_TIMEOUT_S": "5",
    "NEOVASC_MAX_FRAMES": "3000",
    "NEOVASC_WORKERS": "1",
    "NEOVASC_KEEP_ALIVE_S": "5",
    "NEOVASC_MAX_CONNECTIONS": "64",
}


@dataclass
class Watch:
    """Peak RSS of the server and worst /healthz latency while an attack runs."""

    pid: int
    port: int
    peak_rss: int = 0
    worst_health_s: float = 0.0
    health_failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Watch:
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._rss, self._health)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _rss(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_rss = max(self.peak_rss, rss(self.pid))

    def _health(self) -> None:
        while not self._stop.wait(0.05):
            started = time.perf_counter()
            try:
                status, _ = request(self.port, "GET", "/healthz", timeout=30)
                if status != 200:
                    self.health_failures += 1
            except OSError:
                self.health_failures += 1
            self.worst_health_s = max(self.worst_health_s, time.perf_counter() - started)


def rss(pid: int) -> int:
    """Resident bytes of ``pid`` now (0 once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def request(
    port: int, method: str, path: str, body: bytes = b"", headers=None, timeout: float = 60
) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data) if data else {}
        except ValueError:
            return response.status, {"text": data[:200].decode("latin-1")}
    finally:
        connection.close()


def multipart(data: bytes, name: str, **fields: str) -> tuple[bytes, dict]:
    boundary = "neovascbenchboundary"
    field_head = f'--{boundary}\r\nContent-Disposition: form-data; name="{{}}"\r\n\r\n{{}}\r\n'
    parts = [field_head.format(key, value).encode() for key, value in fields.items()]
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
    body = b"".join(parts) + head + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def grade(port: int, data: bytes, name: str, timeout: float = 120, **fields: str) -> tuple[int, dict]:
    body, headers = multipart(data, name, roi=fields.pop("roi", "0,0,8,8"), **fields)
    return request(port, "POST", "/v1/grade", body, headers, timeout)


# --- inputs -------------------------------------------------------------------------------------------


def deflate_bomb(inflated: int) -> bytes:
    """A deflated DICOM whose dataset inflates to about ``inflated`` bytes of zero pixels."""
    from pydicom import dcmread
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, generate_uid

    rows = cols = 1024
    frames = max(1, inflated // (rows * cols * 3))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.3.1", generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, frames
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.PixelData = bytes(rows * cols * 3 * frames)
    plain = io.BytesIO()
    ds.save_as(plain, enforce_file_format=True)
    ds = dcmread(io.BytesIO(plain.getvalue()))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def png_bomb(side: int) -> bytes:
    """A PNG that declares ``side`` x ``side`` RGBA 16-bit and holds a few bytes of zeros."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\0" * (1 + side * 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def mp4(frames: int, height: int, width: int, rate: int = 30) -> bytes:
    import av

    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for _ in range(frames):
            image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


# --- attacks ------------------------------------------------------------------------------------------


def attack_deflate_bomb(port: int, scale: float) -> Callable[[], str]:
    data = deflate_bomb(int(512 * MB * scale))

    def send() -> str:
        status, body = grade(port, data, "bomb.dcm")
        return f"{len(data) // 1024} KB file inflating to {int(512 * scale)} MB: {status} {body.get('code')}"

    return send


def attack_png_bomb(port: int, scale: float) -> Callable[[], str]:
    side = 4096
    data = png_bomb(side)

    def send() -> str:
        status, body = grade(port, data, "bomb.png")
        declared = f"{side}x{side} RGBA16 (134 MB decoded)"
        return f"{len(data) // 1024} KB PNG declaring {declared}: {status} {body.get('code')}"

    return send


def attack_queued_uploads(port: int, scale: float) -> Callable[[], str]:
    size = int(48 * MB * scale)
    data = mp4(300, 240, 320)  # a clip that keeps the one worker busy for a while
    padded = data + b"\0" * max(0, size - len(data))  # trailing bytes: same work, a large upload
    return lambda: _queued(port, padded, size)


def _queued(port: int, padded: bytes, size: int) -> str:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: grade(port, padded, "big.mp4", timeout=300)[0], range(8)))
    counts = {status: answers.count(status) for status in sorted(set(answers))}
    return f"8 uploads of {size // MB} MB at once: statuses {counts}"


def attack_chunked(port: int, scale: float) -> Callable[[], str]:
    """A chunked multipart body with no Content-Length, sent until the server answers or closes."""
    return lambda: _chunked(port)


def _chunked(port: int) -> str:
    limit = int(LIMITS["NEOVASC_MAX_UPLOAD_BYTES"])
    head = (
        b"POST /v1/grade HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
    )
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\n'
    sent, answer, chunk = 0, b"", b"\0" * (256 * 1024)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + f"{len(part):x}\r\n".encode() + part + b"\r\n")
        sock.settimeout(0.001)
        while sent < 4 * limit and not answer:
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
            except TimeoutError:
                pass  # the server is not reading: see whether it has answered
            except OSError:  # closed or reset by the server
                break
            with contextlib.suppress(TimeoutError):
                answer = sock.recv(4096) or b"(closed)"
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            answer = answer if answer.startswith(b"HTTP") else sock.recv(4096) or answer
    status = answer.split(b"\r\n", 1)[0].decode("latin-1") if answer else "no answer"
    return f"chunked body, limit {limit // MB} MB: answered '{status}' after {sent // MB} MB sent"


def attack_abandoned(port: int, scale: float) -> Callable[[], str]:
    """Two slow clips posted and abandoned after 0.5 s, then a small request timed."""
    clip = mp4(int(900 * scale), 480, 640)
    return lambda: _abandoned(port, clip)


def _abandoned(port: int, clip: bytes) -> str:
    body, headers = multipart(clip, "long.mp4", roi="0,0,64,64")
    for _ in range(2):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/v1/grade", body=body, headers=headers)
        time.sleep(0.5)
        connection.sock.close()  # the client leaves without reading the answer
    started = time.perf_counter()
    status, _ = grade(port, png_bytes(), "small.png", roi="0,0,8,8")
    took = time.perf_counter() - started
    return f"2 abandoned {len(clip) // 1024} KB clips, then a small PNG: {status} in {took:.1f} s"


def attack_tiny_frames(port: int, scale: float) -> Callable[[], str]:
    frames = int(3000 * scale)
    data = mp4(frames, 16, 16)
    return lambda: _tiny_frames(port, data, frames)


def _tiny_frames(port: int, data: bytes, frames: int) -> str:
    started = time.perf_counter()
    status, body = grade(port, data, "tiny.mp4", roi="0,0,8,8")
    code = body.get("code") or f"{body.get('summary', {}).get('frames_analysed')} frames measured"
    took = time.perf_counter() - started
    return f"{len(data) // 1024} KB MP4 of {frames} 16x16 frames: {status} {code} in {took:.1f} s"


def attack_slow_clients(port: int, scale: float) -> Callable[[], str]:
    """Connections that send headers and then a body one byte a second."""
    return lambda: _slow_clients(port, int(100 * scale))


def _slow_clients(port: int, count: int) -> str:
    sockets = []
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"POST /v1/grade HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n")
            sockets.append(sock)
        except OSError:
            break
    for _ in range(5):
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.sendall(b"x")
        time.sleep(1)
    started = time.perf_counter()
    status, _ = grade(port, png_bytes(), "small.png", roi="0,0,8,8")
    took = time.perf_counter() - started
    for sock in sockets:
        sock.close()
    return f"{len(sockets)} slow-body connections held 5 s; a small PNG meanwhile: {status} in {took:.2f} s"


def png_bytes() -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", np.full((64, 64, 3), 128, np.uint8))
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG")
    return data.tobytes()


# Each attack builds its payload first and returns the call that sends it: only the sending is watched, as
# building a payload in this process (a 512 MB deflate, a clip encoded) would also delay the /healthz poller.
ATTACKS: dict[str, Callable[[int, float], Callable[[], str]]] = {
    "deflate bomb": attack_deflate_bomb,
    "PNG bomb": attack_png_bomb,
    "queued large uploads": attack_queued_uploads,
    "chunked upload without length": attack_chunked,
    "abandoned slow requests": attack_abandoned,
    "clip of many tiny frames": attack_tiny_frames,
    "slow-body clients": attack_slow_clients,
}


def start_server(weights: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **LIMITS, "NEOVASC_WEIGHTS_DIR": str(weights), "NEOVASC_DEVICE": "cpu"}
    env.pop("NEOVASC_API_KEYS_FILE", None)
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/healthz", timeout=2)[0] == 200:
                return server, port
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply attack sizes (default 1.0)")
    parser.add_argument("--json", action="store_true", help="one JSON line per attack")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as weights:
        server, port = start_server(Path(weights))
        try:
            baseline = rss(server.pid)
            print(f"server pid {server.pid}, port {port}, RSS at rest {baseline / MB:.0f} MB; limits {LIMITS}")
            for name, attack in ATTACKS.items():
                send = attack(port, args.scale)
                with Watch(server.pid, port) as watch:
                    outcome = send()
                    time.sleep(0.5)
                row = {
                    "attack": name,
                    "outcome": outcome,
                    "peak_rss_mb": round(watch.peak_rss / MB),
                    "worst_healthz_s": round(watch.worst_health_s, 3),
                    "healthz_failures": watch.health_failures,
                }
                if args.json:
                    print(json.dumps(row))
                else:
                    print(f"| {name} | {outcome} | {row['peak_rss_mb']} MB | {row['worst_healthz_s']:.3f} s |")
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
