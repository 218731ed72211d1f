"""Coloured calipers on the held-out family: how often the screen parser finds them, and what it takes.

    python benchmarks/calipers.py --split test --n 120

Each case is decoded as the product decodes it and its screen parsed from its first frames
(``find_screen``, as a run does). The truth comes from the lossless frames the case was made from: "marks"
are the coloured pixels (chroma above 40) that are not flow (calipers, their coloured distance labels,
other coloured marks). Per file format:

* cases with marks inside the Doppler box (10 px or more), and those of them where a caliper was found;
* the share of those marks' pixels left out (within 2 px of a left-out pixel: a lossy codec moves them);
* calipers found anywhere on the picture, and those of them not on marks (most of their pixels more than
  2 px from every mark: taken from flow or tissue; should be none); flow pixels left out (should be none).

Choose on ``--split val``; report ``--split test``.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import cv2
import numpy as np

from app.config import Settings
from app.pipeline.decode import decode
from app.pipeline.run import limits_from
from app.pipeline.screen.parse import find_screen
from models.training.heldout import iter_heldout

THRESHOLD = 40
MIN_MARKS = 10
NEAR_PX = 2


def _square(radius: int) -> np.ndarray:
    return np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("test", "val"), default="test")
    parser.add_argument("--n", type=int, default=120)
    parser.add_argument("--seed", type=int, default=None, help="first case seed (default: the split's first)")
    args = parser.parse_args(argv)
    limits = limits_from(Settings(device="cpu"))
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for case in iter_heldout(args.n, args.seed, split=args.split):
        clip = decode(case.data, limits, case.name)
        frames = clip.read(0, min(4, clip.num_frames))
        lossless = case.frames[0]
        if frames.shape[1:] != lossless.shape:
            continue
        screen = find_screen(frames, THRESHOLD, clip.regions)
        chroma = lossless.max(axis=2).astype(np.int16) - lossless.min(axis=2)
        coloured = (chroma > THRESHOLD) & ~case.flow[0]  # the marks, anywhere on the frame
        coloured_near = cv2.dilate(coloured.view(np.uint8), _square(NEAR_PX)) > 0
        left = np.zeros(lossless.shape[:2], bool)
        wrong = 0
        for caliper in screen.calipers:
            ys, xs = caliper.pixels[:, 0], caliper.pixels[:, 1]
            left[ys, xs] = True
            wrong += coloured_near[ys, xs].mean() < 0.5  # most of it on no mark: taken from flow or tissue
        marks = coloured & case.box
        near = cv2.dilate(left.view(np.uint8), _square(NEAR_PX)) > 0
        for key in (case.meta["format"], "all"):
            row = rows[key]
            row["cases"] += 1
            row["calipers"] += len(screen.calipers)
            row["wrong"] += wrong
            row["flow_px"] += int((left & case.flow[0]).sum())
            if marks.sum() >= MIN_MARKS:
                row["marked"] += 1
                row["found"] += bool(screen.calipers)
                row["marks_px"] += int(marks.sum())
                row["marks_left"] += int((marks & near).sum())
    print(
        "| format | cases | with marks in the box | of them, a caliper found | marks' pixels in the box left out ",
        end="",
    )
    print("| calipers found | of them, not on marks | flow px left out |")
    print("|---|---|---|---|---|---|---|---|")
    for key in sorted(rows, key=lambda k: (k == "all", k)):
        row = rows[key]
        share = f"{100 * row['marks_left'] / row['marks_px']:.0f} %" if row["marks_px"] else "-"
        print(
            f"| {key} | {row['cases']:.0f} | {row['marked']:.0f} | {row['found']:.0f} | {share} | "
            f"{row['calipers']:.0f} | {row['wrong']:.0f} | {row['flow_px']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
