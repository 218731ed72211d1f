"""Archive grading: ``neovasc grade --jobs 1`` against ``--jobs N`` and ``--ray``, and a resume check after a kill.

Makes ``--inputs`` synthetic inputs in a temporary folder: stills (PNG frames of the training generator,
``models.training.synth.make_sample``) and, every ``--clip-every``-th input, a short MPEG-4 clip of
``--clip-frames`` such frames (encoded with ``decode_video.make_clip``). Then:

1. grades the folder with ``neovasc grade`` in a separate process, once per ``--jobs`` value and, with
   ``--ray auto|ADDRESS``, once more on Ray (``--ray``, one actor per CPU or GPU of the cluster), and
   reports files per second and frames per second of the whole command (start-up, Ray's included, and
   model load included, as an archive run pays them); ``--cores`` (paired with ``--jobs``) pins each
   ``--jobs`` run to that many cores, for per-core scaling: ``--jobs 1,2 --cores 1,2`` times one worker
   on one core against two workers on two (each worker computes with ``cores // jobs`` threads);
2. starts ``--jobs`` (the last value) again with ``--out``, stops it with ``--signal`` (TERM or KILL)
   once about half the lines are written, runs it again with ``--resume``, and checks that every input
   ends with exactly one line, that no line written before the stop was graded again, and how many
   inputs the stop cost.

    python benchmarks/archive.py [--inputs 500] [--jobs 1,2] [--cores 1,2] [--ray auto] [--clip-every 4]
                                 [--clip-frames 24] [--roi x0,y0,x1,y1] [--signal TERM] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from decode_video import make_clip

from models.training.synth import make_sample

GRADE = [sys.executable, "-m", "app.cli", "grade"]


def make_inputs(folder: Path, count: int, clip_every: int, clip_frames: int) -> int:
    """Write ``count`` inputs into ``folder``; returns the frames they hold in all."""
    frames_total = 0
    rng = np.random.default_rng(0)
    for i in range(count):
        image = make_sample(i).image  # (H, W, 3) uint8 RGB
        if clip_every and i % clip_every == clip_every - 1:
            noise = [rng.integers(-6, 7, (*image.shape[:2], 1), dtype=np.int16) for _ in range(clip_frames)]
            clip = [np.clip(image + n, 0, 255).astype(np.uint8) for n in noise]  # grey noise: chroma unchanged
            (folder / f"clip-{i:04d}.mp4").write_bytes(make_clip("mpeg4-mp4", clip))
            frames_total += clip_frames
        else:
            cv2.imwrite(str(folder / f"still-{i:04d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            frames_total += 1
    return frames_total


def _lines(out: Path) -> list[dict]:
    """The complete lines of a JSON-lines output (a line cut by a kill is left out)."""
    if not out.is_file():
        return []
    text = out.read_text(encoding="utf-8")
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


def pinned(cores: int | None) -> list[int] | None:
    """The first ``cores`` CPUs this process may run on (None: no pinning)."""
    if cores is None:
        return None
    available = sorted(os.sched_getaffinity(0))
    if not 1 <= cores <= len(available):
        raise SystemExit(f"--cores {cores}: this process may run on {len(available)} CPU(s)")
    return available[:cores]


def timed_run(
    folder: Path, out: Path, jobs: int | None, extra: list[str], ray: str | None = None, cores: int | None = None
) -> dict:
    """Grade ``folder`` once with ``--jobs jobs`` (or ``--ray ray``); files/s and frames/s of the whole command.

    ``cores``: run the command on that many CPUs only (its affinity, which neovasc shares among its workers).
    """
    how = ["--jobs", str(jobs)] if ray is None else ["--ray", ray]
    cpus = pinned(cores)
    start = time.perf_counter()
    proc = subprocess.run(
        [*GRADE, str(folder), *how, "--out", str(out), "--quiet", *extra], capture_output=True, text=True, check=False,
        preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
    )  # fmt: skip
    wall = time.perf_counter() - start
    lines = _lines(out)
    frames = sum((line.get("summary") or {}).get("frames_analysed") or 0 for line in lines)
    label = f"--ray {ray}" if ray else f"--jobs {jobs}" + ("" if cores is None else f" on {cores} core(s)")
    return {
        "run": label, "cores": len(cpus) if cpus else len(os.sched_getaffinity(0)), "exit": proc.returncode,
        "inputs": len(lines),
        "ok": sum(line["ok"] for line in lines),
        "frames": frames, "seconds": wall, "files_per_s": len(lines) / wall, "frames_per_s": frames / wall,
    }  # fmt: skip


def resume_check(folder: Path, out: Path, count: int, jobs: int, stop: signal.Signals, extra: list[str]) -> dict:
    """Stop a run half way with ``stop``, resume it, and count what was lost and what was graded twice."""
    command = [*GRADE, str(folder), "--jobs", str(jobs), "--out", str(out), "--quiet", *extra]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and len(_lines(out)) < count // 2:
        time.sleep(0.2)
    running = proc.poll() is None  # False: the run ended before the stop (too few inputs to stop half way)
    proc.send_signal(stop)
    proc.wait()
    before = _lines(out)
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, check=False)
    after = _lines(out)
    paths = [line["batch"]["path"] for line in after]
    written = {line["batch"]["path"] for line in before}
    graded_again = sum(line["batch"]["path"] in written for line in after[len(before) :])
    return {
        "signal": stop.name, "stopped_while_running": running, "lines_before_stop": len(before),
        "resume_exit": resumed.returncode, "lines_after_resume": len(after), "inputs": count,
        "distinct_inputs": len(set(paths)),
        "graded_again": graded_again, "earlier_lines_kept": after[: len(before)] == before,
        "lost": count - len(set(paths)),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=500)
    parser.add_argument("--jobs", default="1,2", help="comma-separated --jobs values to time")
    parser.add_argument(
        "--cores", default=None, help="comma-separated, one per --jobs value: pin that run to that many cores"
    )
    parser.add_argument("--ray", default=None, metavar="auto|ADDRESS", help="time a --ray run too (neovasc[ray])")
    parser.add_argument("--clip-every", type=int, default=4, help="every N-th input is a clip (0: stills only)")
    parser.add_argument("--clip-frames", type=int, default=24)
    parser.add_argument("--roi", default=None, help="grade a drawn rectangle instead of the tendon model")
    parser.add_argument("--signal", choices=("TERM", "KILL"), default="TERM", help="how the resume check stops")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    extra = ["--roi", args.roi] if args.roi else []
    jobs = [int(value) for value in args.jobs.split(",")]
    cores: list[int | None] = [int(value) for value in args.cores.split(",")] if args.cores else [None] * len(jobs)
    if len(cores) != len(jobs):
        parser.error(f"--cores needs one value per --jobs value ({len(jobs)}), got {args.cores!r}")
    with tempfile.TemporaryDirectory(prefix="neovasc-archive-") as tmp:
        folder = Path(tmp) / "inputs"
        folder.mkdir()
        frames = make_inputs(folder, args.inputs, args.clip_every, args.clip_frames)
        runs = [
            timed_run(folder, Path(tmp) / f"jobs{n}-{i}.jsonl", n, extra, cores=c)
            for i, (n, c) in enumerate(zip(jobs, cores, strict=True))
        ]
        if args.ray:
            runs.append(timed_run(folder, Path(tmp) / "ray.jsonl", None, extra, args.ray))
        stop = signal.Signals[f"SIG{args.signal}"]
        resume = resume_check(folder, Path(tmp) / "resume.jsonl", args.inputs, jobs[-1], stop, extra)
    report = {"inputs": args.inputs, "frames": frames, "cpus": os.cpu_count(), "runs": runs, "resume": resume}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.inputs} inputs, {frames} frames, {os.cpu_count()} CPUs\n")
    print("| run | seconds | files/s | frames/s | ok | exit |")
    print("|---|---|---|---|---|---|")
    for r in runs:
        rates = f"{r['files_per_s']:.2f} | {r['frames_per_s']:.1f}"
        print(f"| `{r['run']}` | {r['seconds']:.1f} | {rates} | {r['ok']} | {r['exit']} |")
    print(f"\nresume after SIG{args.signal}: {json.dumps(resume)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
