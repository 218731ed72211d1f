"""A long clip graded in bounded memory: peak resident memory of ``neovasc grade`` on a long 1080p H.264 clip.

Writes an MP4 of ``--minutes`` of ``--size`` frames at ``--fps`` into a temporary folder, frame by frame (one
frame of ``benchmarks/pipeline.py``, a picture of the training generator, repeated: the probe held still),
then grades it with ``neovasc grade`` in a child process, every frame, with the
frame and total-pixel limits raised to let the whole clip through. ``--sweep N``: the probe moves to a new
picture every ``N`` frames instead (another picture of the training generator each time), so the tendon
model outlines again after every move: the outlines must not grow the memory either. Reports the clip, the
grading's wall time, frames per second and the child's peak resident memory (``ru_maxrss``), and the same for
a 10-second clip of the same frames, so that the two peaks can be compared: memory bounded by the batch, not
by the clip.

    python benchmarks/long_clip.py [--minutes 10] [--size 1080x1920] [--fps 30] [--roi] [--sweep N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
from pipeline import _frames  # beside this script (a script's folder is on sys.path)

from models.training.synth import make_sample

ROOT = Path(__file__).resolve().parent.parent


def write_clip(path: Path, frames: int, height: int, width: int, fps: int, sweep: int = 0) -> None:
    """An H.264 MP4 of ``frames`` frames of one picture, encoded one at a time (frames of fresh noise take x264
    longer to write than the clip lasts on two cores; every frame is still decoded, outlined or not, and
    counted). ``sweep``: every ``sweep`` frames another picture of the training generator (a seed of its own),
    so each move shows the model a picture it has not outlined before."""
    block = _frames(1, height, width, switch_every=0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        shown, moved = -1, block[0]
        for i in range(frames):
            if sweep and i // sweep != shown:
                shown = i // sweep
                moved = cv2.resize(make_sample(1000 + shown).image, (width, height), interpolation=cv2.INTER_LINEAR)
            picture = moved if sweep else block[i % len(block)]
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def grade(path: Path, roi: str | None) -> dict[str, float]:
    """Grade ``path`` in a child process; its wall time, frames and peak resident memory (MB)."""
    env = dict(os.environ, NEOVASC_MAX_FRAMES="1000000", NEOVASC_MAX_TOTAL_PIXELS=str(10**13))
    command = [sys.executable, "-m", "app.cli", "grade", "--quiet", str(path)]
    if roi:
        command[4:4] = ["--roi", roi]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KB on Linux, the largest child so far
    line = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    if done.returncode != 0 or not line.get("ok"):
        raise RuntimeError(f"grading failed ({done.returncode}): {done.stdout[-300:]} {done.stderr[-300:]}")
    frames = len(line.get("frames", []))
    outlines = (line.get("roi") or {}).get("outlines")
    return {
        "frames": frames, "seconds": wall, "fps": frames / wall, "peak_rss_mb": peak / 1024, "grew": peak > before,
        "outlines": outlines,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--size", default="1080x1920", help="HxW")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--roi", action="store_true", help="grade a drawn rectangle instead of the tendon model")
    p.add_argument("--sweep", type=int, default=0, metavar="N", help="a new picture every N frames (0: held still)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    height, width = (int(v) for v in args.size.split("x"))
    roi = f"{width // 4},{height // 3},{3 * width // 4},{2 * height // 3}" if args.roi else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="neovasc-long-") as folder:
        # the short clip first: ru_maxrss of the children only grows, so the long clip's peak is its own or larger
        for name, seconds in (("short", 10.0), ("long", 60.0 * args.minutes)):
            path = Path(folder) / f"{name}.mp4"
            frames = round(seconds * args.fps)
            start = time.perf_counter()
            write_clip(path, frames, height, width, args.fps, args.sweep)
            made = time.perf_counter() - start
            row = {"clip": name, "clip_frames": frames, "clip_mb": path.stat().st_size / 1e6, "encode_s": made}
            row.update(grade(path, roi))
            rows.append(row)
            path.unlink()
    if args.json:
        region = "rectangle" if roi else "model"
        print(json.dumps({"size": args.size, "fps": args.fps, "region": region, "sweep": args.sweep, "rows": rows}))
        return 0
    moving = f", a new picture every {args.sweep} frames" if args.sweep else ", the probe held still"
    print(f"{args.size} H.264 at {args.fps} frames/s, {'a drawn rectangle' if roi else 'the tendon model'}{moving}\n")
    print("| clip | frames | MB | graded frames | outlines | seconds | frames/s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['clip']} | {r['clip_frames']} | {r['clip_mb']:.0f} | {r['frames']} | {r['outlines'] or ''} | "
            f"{r['seconds']:.1f} | {r['fps']:.0f} | {r['peak_rss_mb']:.0f}"
            f"{'' if r['grew'] else ' (not above the short clip)'} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
