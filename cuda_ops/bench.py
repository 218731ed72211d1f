"""Benchmark of the counting backends against the machine's own bandwidth ceiling, in one run.

    python -m cuda_ops.bench [--json] [--quick] [--backends reference,cpu,triton] [--sizes 600x800,1080x1920]

Each row times one backend on one device over a batch of synthetic frames (grey speckle with
Doppler-coloured blobs, a label map like the pipeline's: a Doppler box holding a tendon band and a
peritendinous band, covering ``--coverage`` of the frame). Frames are resident on the row's device.

* ``fps``: frames per second of the whole :func:`cuda_ops.count_doppler` call, median of the repeats.
* ``gbps``: ``fps`` x the input bytes per frame (``H * W * 3`` + the label map's bytes per frame), so
  a backend that skips unlabelled pixels shows more than it read (the CPU kernel does; see
  ``coverage``).
* ``ceiling_gbps``: measured on the row's device during that row's repeats (one sample before each
  repeat, median): on the CPU a streaming read of ``--ceiling-mb`` on every core; on a GPU a
  device-to-device copy, counted as bytes read + bytes written.
* ``fraction`` = ``gbps / ceiling_gbps``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from . import cpu_kernel
from .dispatch import BACKENDS, count_doppler
from .jit import cached_njit, prange
from .lut import DopplerLUT, chroma_as_table, chroma_lut

DEFAULT_SIZES = ((600, 800), (1080, 1920))
DEFAULT_BATCH = 64
DEFAULT_REPEATS = 5
DEFAULT_COVERAGE = 0.2
REFERENCE_BUDGET_S = 15.0  # the torch reference gets fewer repeats once a row has taken this long


@dataclass(frozen=True)
class Row:
    backend: str
    device: str
    height: int
    width: int
    batch: int
    fps: float
    gbps: float
    ceiling_gbps: float
    fraction: float
    coverage: float
    lut: str
    repeats: int


def synthetic_batch(n: int, h: int, w: int, coverage: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(N, H, W, 3) uint8`` RGB frames and a ``(1, H, W) uint8`` label map covering ``coverage`` of it."""
    rng = np.random.default_rng(seed)
    grey = rng.integers(0, 256, size=(n, h, w, 1), dtype=np.uint8)
    frames = np.repeat(grey, 3, axis=3)  # R = G = B: chroma 0
    box_h, box_w = max(1, round(h * math.sqrt(coverage))), max(1, round(w * math.sqrt(coverage)))
    y0, x0 = (h - box_h) // 2, (w - box_w) // 2
    labels = np.zeros((1, h, w), dtype=np.uint8)
    labels[0, y0 : y0 + box_h, x0 : x0 + box_w] = 3  # rest of the Doppler box
    band = (y0 + box_h * 3 // 10, y0 + box_h * 7 // 10)  # tendon rows, with a band above and below
    inner = (x0 + box_w // 20, x0 + box_w - box_w // 20)
    labels[0, band[0] - box_h // 10 : band[1] + box_h // 10, inner[0] : inner[1]] = 2
    labels[0, band[0] : band[1], inner[0] : inner[1]] = 1
    for i in range(n):  # a few saturated blobs per frame: ~5 % of the box is Doppler
        for _ in range(6):
            by, bx = rng.integers(y0, y0 + box_h), rng.integers(x0, x0 + box_w)
            bh, bw = max(1, box_h // 10), max(1, box_w // 12)
            frames[i, by : by + bh, bx : bx + bw] = rng.choice([(220, 40, 30), (40, 90, 230), (250, 200, 40)])
    return frames, labels


@cached_njit()
def _read_words(words):
    total = np.uint64(0)
    for i in range(words.shape[0]):
        total += words[i]
    return total


@cached_njit(parallel=True)
def _read_all(words, chunks):
    """Sum of ``words`` in ``chunks`` parts spread over every thread."""
    step = (words.shape[0] + chunks - 1) // chunks
    partial = np.zeros(chunks, np.uint64)
    for c in prange(chunks):
        partial[c] = _read_words(words[c * step : min(words.shape[0], (c + 1) * step)])
    return partial.sum()


class CpuCeiling:
    """Streaming read of a large buffer on every core (uint64 loads summed: memory-bound, not compute)."""

    def __init__(self, megabytes: int):
        self.words = np.ones(max(1, megabytes) * (1 << 20) // 8, dtype=np.uint64)
        self.sample()  # compile, and fault the pages in

    def sample(self) -> float:
        start = time.perf_counter()
        if cpu_kernel.unavailable_reason() is None:
            _read_all(self.words, 64)
        else:  # without numba: numpy's reduction, one core, well below the hardware's rate
            np.bitwise_xor.reduce(self.words)
        return self.words.nbytes / (time.perf_counter() - start) / 1e9


class CudaCeiling:
    """Device-to-device copy of a large buffer: bytes read + bytes written per second."""

    def __init__(self, megabytes: int, device: torch.device):
        self.src = torch.ones(max(1, megabytes) << 20, dtype=torch.uint8, device=device)
        self.dst = torch.empty_like(self.src)
        self.sample()

    def sample(self) -> float:
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        self.dst.copy_(self.src)
        stop.record()
        stop.synchronize()
        return 2 * self.src.numel() / (start.elapsed_time(stop) / 1e3) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    backend: str,
    frames: torch.Tensor,
    labels: torch.Tensor,
    lut: DopplerLUT,
    *,
    ceiling: Callable[[], float],
    repeats: int,
    budget_s: float = math.inf,
) -> tuple[float, float, int]:
    """Median fps and median ceiling (GB/s) over ``repeats`` timed calls (fewer once ``budget_s`` is spent)."""
    device = frames.device
    count_doppler(frames[:1], labels[:1], lut, backend=backend)  # compile / warm up
    fps, ceilings, spent = [], [], 0.0
    for _ in range(repeats):
        ceilings.append(ceiling())
        _sync(device)
        start = time.perf_counter()
        count_doppler(frames, labels, lut, backend=backend)
        _sync(device)
        elapsed = time.perf_counter() - start
        fps.append(frames.shape[0] / elapsed)
        spent += elapsed
        if spent > budget_s:
            break
    return statistics.median(fps), statistics.median(ceilings), len(fps)


def run(
    backends: Sequence[str],
    *,
    sizes: Sequence[tuple[int, int]],
    batch: int,
    repeats: int,
    coverages: Sequence[float],
    lut: DopplerLUT,
    ceiling_mb: int,
    log: Callable[[str], None] = lambda _: None,
) -> tuple[list[Row], dict[str, str]]:
    """Measure every available (backend, device) pair; returns the rows and why the others were skipped."""
    plan, skipped = _plan(backends)
    ceilings = {}
    for device in dict.fromkeys(d for _, d in plan):
        ceilings[device] = CpuCeiling(ceiling_mb) if device == "cpu" else CudaCeiling(ceiling_mb, torch.device(device))
    rows = []
    for (h, w), coverage in itertools.product(sizes, coverages):
        frames, labels = synthetic_batch(batch, h, w, coverage)
        bytes_per_frame = frames[0].nbytes + labels.nbytes / batch
        for name, device in plan:
            log(f"{name} on {device}, {h}x{w}, coverage {coverage:g} ...")
            budget = REFERENCE_BUDGET_S if name == "reference" else math.inf
            frames_d, labels_d = torch.from_numpy(frames).to(device), torch.from_numpy(labels).to(device)
            fps, ceiling, done = measure(
                name, frames_d, labels_d, lut, ceiling=ceilings[device].sample, repeats=repeats, budget_s=budget
            )
            del frames_d, labels_d  # free device memory before the next row
            gbps = fps * bytes_per_frame / 1e9
            row = Row(
                backend=name, device=device, height=h, width=w, batch=batch, fps=fps, gbps=gbps,
                ceiling_gbps=ceiling, fraction=gbps / ceiling, coverage=coverage, lut=lut.describe(), repeats=done,
            )  # fmt: skip
            rows.append(row)
    return rows, skipped


def _plan(backends: Sequence[str]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(backend, device) pairs to measure, and the reason for each backend left out."""
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    plan, skipped = [], {}
    for name in backends:
        if name not in BACKENDS:
            raise SystemExit(f"unknown backend {name!r}; known backends: {', '.join(sorted(BACKENDS))}")
        runs_on = [d for d in devices if d in BACKENDS[name].device_types]  # never the interpreter's CPU mode
        reason = BACKENDS[name].unavailable_reason()
        if not runs_on:
            reason = f"pending: needs a {'/'.join(BACKENDS[name].device_types)} device, none in this run"
        if reason is not None:
            skipped[name] = reason
            continue
        plan += [(name, d) for d in runs_on]
    return plan, skipped


def _format(rows: Sequence[Row], skipped: dict[str, str], jit: dict[str, float]) -> str:
    head = f"{'backend':10} {'device':7} {'size':>10} {'cover':>5} {'batch':>5} {'fps':>10} {'GB/s':>8} "
    head += f"{'ceiling':>8} {'fraction':>8} {'x ref':>8}"
    first = ", ".join(f"{kind} {seconds:.2f} s" for kind, seconds in jit.items()) or "not run"
    lines = [f"machine: {machine()}", f"cpu kernel first call (compile or cache load): {first}", head]
    reference = {(r.device, r.height, r.width, r.coverage): r.fps for r in rows if r.backend == "reference"}
    for r in rows:
        ratio = reference.get((r.device, r.height, r.width, r.coverage))
        lines.append(
            f"{r.backend:10} {r.device:7} {f'{r.height}x{r.width}':>10} {r.coverage:5.2f} {r.batch:5d} {r.fps:10.1f} "
            f"{r.gbps:8.2f} {r.ceiling_gbps:8.2f} {r.fraction:8.1%} {(r.fps / ratio if ratio else math.nan):8.1f}"
        )
    lines += [f"{name}: skipped ({why})" for name, why in skipped.items()]
    return "\n".join(lines)


def machine() -> str:
    """CPU model, core count and GPU name, for the report."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{model}, {torch.get_num_threads()} threads; {gpu}"


def _sizes(text: str) -> list[tuple[int, int]]:
    try:
        return [tuple(int(v) for v in part.lower().split("x", 1)) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes look like 600x800,1080x1920; got {text!r}") from None


def _coverages(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"coverages are shares in (0, 1] like 0.2,1; got {text!r}")
    return values


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cuda_ops.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help='print one JSON object {"results": [...]}')
    parser.add_argument("--quick", action="store_true", help="batch 16, 3 repeats, 256 MB ceiling buffer")
    parser.add_argument("--backends", default="reference,cpu,triton", help="comma-separated backend names")
    parser.add_argument("--sizes", type=_sizes, default=list(DEFAULT_SIZES), help="HxW,HxW (default 600x800,1080x1920)")
    parser.add_argument("--batch", type=int, default=None, help=f"frames per call (default {DEFAULT_BATCH})")
    parser.add_argument("--repeats", type=int, default=None, help=f"timed calls per row (default {DEFAULT_REPEATS})")
    parser.add_argument(
        "--coverage", type=_coverages, default=[DEFAULT_COVERAGE], help="labelled share(s) of the frame, e.g. 0.2,1"
    )
    parser.add_argument("--lut", choices=("chroma", "table"), default="chroma", help="colour rule to count with")
    parser.add_argument("--ceiling-mb", type=int, default=None, help="ceiling buffer size (default 1024)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cuda_ops.bench`` (and the app's ``neovasc bench count``): measure, print, return 0."""
    args = _parser().parse_args(argv)
    batch = args.batch or (16 if args.quick else DEFAULT_BATCH)
    repeats = args.repeats or (3 if args.quick else DEFAULT_REPEATS)
    ceiling_mb = args.ceiling_mb or (256 if args.quick else 1024)
    lut = chroma_lut() if args.lut == "chroma" else chroma_as_table()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    jit = cpu_kernel.warm_up() if "cpu" in backends and cpu_kernel.unavailable_reason() is None else {}
    log = (lambda _: None) if args.json else (lambda text: print(text, file=sys.stderr))
    rows, skipped = run(
        backends, sizes=args.sizes, batch=batch, repeats=repeats, coverages=args.coverage, lut=lut,
        ceiling_mb=ceiling_mb, log=log,
    )  # fmt: skip
    if args.json:
        print(json.dumps({"results": [asdict(r) for r in rows], "skipped": skipped, "machine": machine()}))
    else:
        print(_format(rows, skipped, jit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
