"""Screen parsing speed: ``find_screen`` on real Doppler screens, at their own size and at 1080x1920.

The 1080x1920 screens are the real ones scaled by nearest neighbour (crisp lines, as a scanner draws them
at that size) onto a black 1920-wide canvas. Also times ``ColourBar.lut`` (the 64^3 table of the first
bar). Prints a Markdown table (median and best of ``--repeats`` runs, milliseconds).

    python benchmarks/screen.py [--repeats 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom import examples
from pydicom.pixels import apply_color_lut, pixel_array

from app.pipeline.screen.parse import find_screen

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata" / "dicom"
FILES = (
    "nemaWG04_US1_RLE.dcm",
    "barre_US-RGB-8-epicard.dcm",
    "orthanc_Issue19.dcm",
    "orthanc_TS_1.2.840.10008.1.2.4.50.dcm",
    "gdcm_US-PAL-8-10x-echo.dcm",
)
THRESHOLD = 40


def _frames(path: Path, count: int = 8) -> np.ndarray:
    ds = pydicom.dcmread(path)
    n = min(count, int(getattr(ds, "NumberOfFrames", 1) or 1))
    rgb = np.stack([pixel_array(ds, index=i) for i in range(n)]) if n > 1 else ds.pixel_array[None]
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        rgb = (apply_color_lut(rgb, ds) >> 8).astype(np.uint8)
    return np.ascontiguousarray(rgb)


def _full_hd(frames: np.ndarray) -> np.ndarray:
    height, width = frames.shape[1:3]
    scaled_width = min(1920, round(width * 1080 / height))
    out = np.zeros((frames.shape[0], 1080, 1920, 3), np.uint8)
    for i, frame in enumerate(frames):
        out[i, :, :scaled_width] = cv2.resize(frame, (scaled_width, 1080), interpolation=cv2.INTER_NEAREST)
    return out


def _time(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    inputs = {"pydicom jpeg2k (GE)": examples.jpeg2k.pixel_array[None]}
    inputs.update({name: _frames(REALDATA / name) for name in FILES if (REALDATA / name).exists()})
    rows = []
    for name, frames in inputs.items():
        for label, clip in (("native", frames), ("1080x1920", _full_hd(frames))):
            screen = find_screen(clip, THRESHOLD)
            median, best = _time(lambda clip=clip: find_screen(clip, THRESHOLD), args.repeats)
            lut_ms = None
            if screen.colour_bars and label == "native":
                lut_ms = _time(lambda s=screen: s.colour_bars[0].lut(THRESHOLD), max(1, args.repeats // 2))[0]
            rows.append({
                "input": name, "size": f"{clip.shape[1]}x{clip.shape[2]}", "frames": clip.shape[0],
                "median_ms": round(median, 1), "best_ms": round(best, 1), "mode": screen.mode,
                "boxes": [b.shape for b in screen.boxes], "bars": len(screen.colour_bars),
                "lut_ms": None if lut_ms is None else round(lut_ms, 1),
            })  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| input | size | frames | median ms | best ms | mode | boxes | bars | bar LUT ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        lut = "" if r["lut_ms"] is None else r["lut_ms"]
        boxes = ", ".join(r["boxes"])
        print(
            f"| {r['input']} | {r['size']} | {r['frames']} | {r['median_ms']} | {r['best_ms']} | {r['mode']} "
            f"| {boxes} | {r['bars']} | {lut} |"
        )


if __name__ == "__main__":
    main()
