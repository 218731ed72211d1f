"""Tendon segmentation speed: ``TendonSegmenter.predict`` on synthetic 256x256 Doppler frames.

Times whole ``predict`` calls (letterbox, channel derivation, the U-Net, mapping back, largest component)
on batches of distinct frames at the model's input size, and reports the median and best milliseconds per
frame. Uses the first model of ``--weights`` (default: the shipped ``weights/``).

    python benchmarks/segment.py [--batch 8] [--repeats 15] [--threads 2] [--device cpu] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from models import TendonSegmenter
from models.training.synth import make_dataset
from models.transforms import preprocess

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=REPO / "weights")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runtime", default="auto", choices=("auto", "torch"), help="auto: ONNX Runtime if shipped")
    parser.add_argument("--network-only", action="store_true", help="time predict_torch on model-ready tensors")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seg = TendonSegmenter.from_weights(args.weights, device=args.device, runtime=args.runtime)
    count = args.batch if args.network_only else args.batch * (args.repeats + 1)
    frames, _ = make_dataset(count, seed=99)  # distinct frames: no de-duplication
    seg.predict(frames[: args.batch], batch_size=args.batch)  # warm up
    per_frame = _network_times(seg, frames, args) if args.network_only else _predict_times(seg, frames, args)
    row = {
        "model": seg.name,
        "device": str(seg.device),
        "runtime": seg.runtime,
        "threads": args.threads,
        "batch": args.batch,
        "timed": "predict_torch" if args.network_only else "predict",
        "input": list(seg.args.input_size),
        "median_ms_per_frame": round(statistics.median(per_frame), 2),
        "best_ms_per_frame": round(min(per_frame), 2),
    }
    if args.json:
        print(json.dumps(row))
        return
    print("| model | device | runtime | threads | batch | timed | input | median ms/frame | best ms/frame |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(" | ".join(["", *(str(v) for v in row.values()), ""]).strip())


def _predict_times(seg: TendonSegmenter, frames, args) -> list[float]:
    """Milliseconds per frame of whole ``predict`` calls (host transforms, network, mapping back)."""
    times = []
    for r in range(1, args.repeats + 1):
        batch = frames[r * args.batch : (r + 1) * args.batch]
        start = time.perf_counter()
        seg.predict(batch, batch_size=args.batch)
        times.append((time.perf_counter() - start) * 1000 / args.batch)
    return times


def _network_times(seg: TendonSegmenter, frames, args) -> list[float]:
    """Milliseconds per frame of ``predict_torch`` on a batch already on the device (the network alone,
    float16 autocast on CUDA), synchronised before the clock is read."""
    x, _ = preprocess(frames[: args.batch], seg.args.input_size, seg.args.in_channels, seg.device)
    sync = torch.cuda.synchronize if seg.device.type == "cuda" else (lambda: None)
    seg.predict_torch(x)
    sync()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        seg.predict_torch(x)
        sync()
        times.append((time.perf_counter() - start) * 1000 / args.batch)
    return times


if __name__ == "__main__":
    main()
