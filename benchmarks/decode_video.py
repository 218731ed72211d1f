"""Video decode speed: neovasc's PyAV decoder against ``cv2.VideoCapture`` on the same files.

Clips of 1080x1920 are made here with PyAV (B-mode-like speckle that drifts from frame to frame, with
a Doppler-coloured box): H.264 (libx264, CRF 23) in MP4, MPEG-4 part 2 in MP4 and MJPEG in AVI. The
readers decode every frame of the same file in the same run, their repeats interleaved so that load
from other processes falls on all of them alike. Prints a Markdown table, median (best) of
``--repeats`` runs:

* ``probe ms``: ``decode()`` alone (headers, limits, packet count; no frame converted);
* ``neovasc``: ``decode()`` then every frame as RGB through ``Clip.batches`` (``--batch`` frames a
  batch): decoding, YUV -> RGB by the numba kernel of ``app/pipeline/decode/yuv.py`` and the consumer
  on three threads;
* ``neovasc swscale``: the same with the kernel off (``video_frames.YUV_KERNEL = False``): swscale converts,
  the reference the kernel has to beat to stay;
* ``PyAV decode only``: the same decoder settings, frames left in YUV (what the RGB step costs);
* ``OpenCV read``: ``cv2.VideoCapture.read`` over the file (BGR, its own YUV conversion);
* ``vs OpenCV``: neovasc's median fps over OpenCV's.

Each cell gives frames per second, median (best), and the process's CPU time a frame over all its
threads (steadier than wall time on a shared machine). ``--jit`` first times the kernel's first call
in fresh processes: compiling into an empty cache, then loading from it.

    python benchmarks/decode_video.py [--frames 120] [--repeats 5] [--batch 16] [--jit] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import av
import cv2
import numpy as np

from app.pipeline.decode import Limits, decode, video_frames

LIMITS = Limits(max_bytes=1 << 32, max_frame_pixels=4096 * 4096, max_frames=100_000, max_total_pixels=10**11)
CASES = {  # name -> (container, codec, pixel format, encoder options)
    "h264-mp4": ("mp4", "libx264", "yuv420p", {"crf": "23", "preset": "veryfast"}),
    "mpeg4-mp4": ("mp4", "mpeg4", "yuv420p", {"qscale": "4"}),
    "mjpeg-avi": ("avi", "mjpeg", "yuvj420p", {"qscale": "4"}),
}


def _frames(count: int, height: int, width: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    speckle = cv2.GaussianBlur(rng.integers(0, 255, (height, width + count * 4), dtype=np.uint8), (5, 5), 0)
    frames = []
    for i in range(count):
        grey = speckle[:, i * 4 : i * 4 + width]
        frame = np.repeat(grey[..., None], 3, axis=-1)
        frame[height // 3 : height // 2, width // 3 : width // 2] = (220, 40, 30) if i % 2 else (30, 60, 220)
        frames.append(frame)
    return frames


def make_clip(case: str, frames: list[np.ndarray], rate: int = 30) -> bytes:
    container_format, codec, pix_fmt, options = CASES[case]
    height, width = frames[0].shape[:2]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.thread_type = "AUTO"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


def _timed(read) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process, every thread) of one call."""
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    read()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return wall, after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime


def _neovasc(data: bytes, frames: int, size: int, kernel: bool = True) -> None:
    before, video_frames.YUV_KERNEL = video_frames.YUV_KERNEL, kernel
    try:
        clip = decode(data, LIMITS, name="bench")
        assert sum(batch.shape[0] for _, batch in clip.batches(size)) == clip.num_frames == frames
    finally:
        video_frames.YUV_KERNEL = before


def _probe(data: bytes, frames: int) -> None:
    assert decode(data, LIMITS, name="bench").num_frames == frames


def _decode_only(data: bytes, frames: int) -> None:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        assert sum(1 for _ in container.decode(stream)) == frames


def _opencv(path: Path, frames: int) -> None:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    assert count == frames, (count, frames)


_FIRST_CALL = """
import time, numpy as np
from app.pipeline.decode import yuv
planes = (np.full((17, 33), 90, np.uint8), np.full((9, 17), 128, np.uint8), np.full((9, 17), 128, np.uint8))
start = time.perf_counter()
yuv.yuv_to_rgb(planes, "yuv420p", yuv.coefficients("bt709", "limited"), np.empty((17, 33, 3), np.uint8))
print(time.perf_counter() - start)
"""


def jit_cost() -> tuple[float, float]:
    """Seconds of the kernel's first call in a fresh process: (empty cache: compile, then: cache load)."""
    with tempfile.TemporaryDirectory() as cache:
        env = os.environ | {"NUMBA_CACHE_DIR": cache}
        root = Path(__file__).resolve().parents[1]
        cold, warm = (
            float(
                subprocess.run(
                    [sys.executable, "-c", _FIRST_CALL], env=env, cwd=root, capture_output=True, check=True, text=True
                ).stdout
            )
            for _ in range(2)
        )
    return cold, warm


def _summary(frames: int, runs: list[tuple[float, float]]) -> str:
    """``fps median (best), CPU ms a frame`` over the runs."""
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    fps = f"{frames / statistics.median(walls):.0f} ({frames / min(walls):.0f})"
    return f"{fps}, {1000 * statistics.median(cpus) / frames:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16, help="frames a batch for Clip.batches")
    parser.add_argument("--jit", action="store_true", help="time the kernel's first call (compile, cache load)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    jit = jit_cost() if args.jit else None
    frames = _frames(args.frames, args.height, args.width)
    readers = {
        "probe": lambda data, path: _probe(data, args.frames),
        "neovasc": lambda data, path: _neovasc(data, args.frames, args.batch),
        "neovasc swscale": lambda data, path: _neovasc(data, args.frames, args.batch, kernel=False),
        "PyAV decode only": lambda data, path: _decode_only(data, args.frames),
        "OpenCV read": lambda data, path: _opencv(path, args.frames),
    }
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for case in CASES:
            data = make_clip(case, frames)
            path = Path(folder) / f"clip.{CASES[case][0]}"
            path.write_bytes(data)
            readers["neovasc"](data, path)  # warm-up: the kernel's first call, the OS file cache
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in readers}
            for _ in range(args.repeats):  # interleaved: load from other processes falls on every reader alike
                for name, read in readers.items():
                    runs[name].append(_timed(partial(read, data, path)))
            row = {"clip": case, "MB": round(len(data) / 1e6, 1)}
            row["probe ms"] = round(1000 * statistics.median(w for w, _ in runs.pop("probe")), 1)
            row |= {name: _summary(args.frames, runs[name]) for name in runs}
            ratio = statistics.median(w for w, _ in runs["OpenCV read"]) / statistics.median(
                w for w, _ in runs["neovasc"]
            )
            rows.append(row | {"vs OpenCV": f"{ratio:.2f}x"})
    if args.json:
        print(json.dumps({"jit_s": jit, "rows": rows}, indent=2))
        return
    if jit:
        print(f"kernel first call in a fresh process: {jit[0]:.2f} s compiling, {jit[1]:.2f} s from the cache")
    print(f"{args.frames} frames of {args.width}x{args.height}, batches of {args.batch}; fps median (best) of ", end="")
    print(f"{args.repeats}, CPU ms a frame\n")
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row.values()) + " |")


if __name__ == "__main__":
    main()
