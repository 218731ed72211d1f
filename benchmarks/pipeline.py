"""End-to-end grading speed: ``analyze`` over whole clips, with the time of each step.

Clips are made here: an H.264 MP4 and a JPEG-baseline US multi-frame DICOM of synthetic tendon frames
(``models.training.synth``, colour flow painted in the tendon) scaled to ``--size``, ``--frames`` long. Each clip
is graded with a drawn rectangle (no model) and with the shipped tendon model, ``--repeats`` times;
the table gives the median frames per second of the whole call and the median milliseconds per frame
of each step (``Result.timing_ms``: decode, screen, segment, count, select, grade), so it shows which step
bounds a clip's grading on this machine.

    python benchmarks/pipeline.py [--frames 120] [--size 600x800] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time

import cv2
import numpy as np

from app.config import Settings
from app.pipeline import AnalyzeOptions, RoiSpec, analyze
from models.training.synth import make_sample

STEPS = ("decode", "screen", "segment", "count", "select", "grade")


def _frames(n: int, height: int, width: int, switch_every: int = 30) -> np.ndarray:
    """``(n, H, W, 3) uint8 RGB``: two synthetic frames, resized, with fresh grey noise on every frame; the
    picture switches to the other one every ``switch_every`` frames (a probe moved and back; 0: held still)."""
    base = [cv2.resize(make_sample(seed).image, (width, height), interpolation=cv2.INTER_LINEAR) for seed in (34, 6)]
    rng = np.random.default_rng(0)
    out = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        noise = rng.integers(-6, 7, (height, width, 1), dtype=np.int16)  # grey: chroma unchanged
        picture = (i // switch_every) % 2 if switch_every else 0
        out[i] = np.clip(base[picture] + noise, 0, 255)  # no two frames alike
    return out


def _mp4(frames: np.ndarray) -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "23"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def _dicom(frames: np.ndarray) -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    meta.MediaStorageSOPInstanceUID, meta.TransferSyntaxUID = generate_uid(), JPEGBaseline8Bit
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, "US"
    ds.Rows, ds.Columns, ds.NumberOfFrames, ds.FrameTime = *frames.shape[1:3], len(frames), 33.3
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_FULL_422", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    quality = [cv2.IMWRITE_JPEG_QUALITY, 90]
    ds.PixelData = encapsulate([cv2.imencode(".jpg", f[..., ::-1], quality)[1].tobytes() for f in frames])
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _run(data: bytes, options: AnalyzeOptions, settings: Settings, repeats: int) -> dict[str, float]:
    walls, steps = [], {step: [] for step in STEPS}
    frames = 0
    for _ in range(repeats):
        start = time.perf_counter()
        result = analyze(data, options, settings=settings)
        walls.append(time.perf_counter() - start)
        frames = len(result.frames)
        for step in STEPS:
            steps[step].append(result.timing_ms.get(step, 0.0) / frames)
    row = {"fps": frames / statistics.median(walls)}
    row.update({f"{step}_ms": statistics.median(values) for step, values in steps.items()})
    row["backend"], row["device"] = result.backend, result.device
    # what was measured, to compare runs on two devices: the same clip must give the same numbers
    row["colour_fraction"] = result.summary.colour_fraction
    row["doppler_px"] = result.summary.doppler_px
    row["outlines"] = result.roi.outlines
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--size", default="600x800", help="HxW")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--switch-every", type=int, default=30, help="frames between picture switches; 0: still")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.split("x"))
    frames = _frames(args.frames, height, width, args.switch_every)
    settings = Settings(device=args.device)
    roi = RoiSpec(rect=(width // 4, height // 3, 3 * width // 4, 2 * height // 3))
    rows = []
    for kind, data in (("h264-mp4", _mp4(frames)), ("jpeg-dicom", _dicom(frames))):
        analyze(data, AnalyzeOptions(roi=roi), settings=settings)  # load kernels and the model first
        analyze(data, AnalyzeOptions(), settings=settings)
        for region, options in (("rectangle", AnalyzeOptions(roi=roi)), ("model", AnalyzeOptions())):
            rows.append({"clip": kind, "region": region, **_run(data, options, settings, args.repeats)})
        rows[-1]["of_drawn"] = rows[-1]["fps"] / rows[-2]["fps"]  # the model path's speed, share of the drawn one
    if args.json:
        print(json.dumps({"frames": args.frames, "size": args.size, "results": rows}))
        return 0
    print(f"{args.frames} frames of {width}x{height}, median of {args.repeats}; ms per frame by step\n")
    print("| clip | region | fps | of drawn | " + " | ".join(STEPS) + " | outlines | backend |")
    print("|---|---|---|---|" + "---|" * len(STEPS) + "---|---|")
    for r in rows:
        cells = " | ".join(f"{r[f'{s}_ms']:.2f}" for s in STEPS)
        share = f"{100 * r['of_drawn']:.0f} %" if "of_drawn" in r else ""
        outlines = r["outlines"] if r["outlines"] is not None else ""
        print(f"| {r['clip']} | {r['region']} | {r['fps']:.0f} | {share} | {cells} | {outlines} | {r['backend']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
