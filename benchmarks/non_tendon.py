"""The tendon model on real images that show no tendon: does the pipeline refuse to grade them?

A heart, a carotid, a thyroid or a lymph node must end in ``no_tendon_found`` (or at least in
``low_confidence_tendon``), never in a confident grade. The inputs are real scanner files that nobody on
this project made (``../shared/realdata``, see its README):

* ``dicom/``: echocardiography (colour flow and B-mode clips), an epicardial power Doppler image, a lymph
  node (GE LOGIQ, small-parts preset), a thyroid B-mode and other non-tendon studies;
* ``screens/``: Mindray carotid screenshots (long and transverse axis) and a GE LOGIQ screen recording of
  the tibialis anterior muscle belly;
* ``usgra-seg/test/images``: 40 regional-anaesthesia B-mode images (nerves, vessels and muscle at the
  neck, axilla, elbow, groin and knee). These are not guaranteed tendon-free (an elbow or a knee view can
  hold a tendon edge), so they are reported apart.

Each file is graded by ``app.pipeline.run_analysis`` with the tendon model (no region drawn). Reported per
group: how many ended in ``no_tendon_found``, how many were graded with ``low_confidence_tendon``, how many
were graded with a confident outline, and the confidences.

    python benchmarks/non_tendon.py [--weights weights] [--realdata ../shared/realdata] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from app.config import Settings
from app.errors import NeovascError
from app.pipeline import AnalyzeOptions, run_analysis

REPO = Path(__file__).resolve().parents[1]
GROUPS = {
    "real files without a tendon": ("dicom/*.dcm", "screens/*.png", "screens/*.mov"),
    "regional-anaesthesia images (usgra-seg test)": ("usgra-seg/test/images/*.png",),
}


def grade(path: Path, settings: Settings) -> dict[str, Any]:
    """One file's outcome: ``no_tendon``, ``low_confidence``, ``confident`` or ``error``, and the model's
    confidence."""
    options = AnalyzeOptions(max_frames=16)
    try:
        result = run_analysis(path, options, None, settings).result
    except NeovascError as exc:
        return {"file": path.name, "outcome": "error", "code": exc.code, "confidence": None}
    codes = {w.code for w in result.warnings}
    confidence = result.roi.confidence if result.roi is not None else None
    if "no_tendon_found" in codes:
        outcome = "no_tendon"
    elif "low_confidence_tendon" in codes:
        outcome = "low_confidence"
    else:
        outcome = "confident"
    return {"file": path.name, "outcome": outcome, "code": None, "confidence": confidence}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    conf = [r["confidence"] for r in rows if r["confidence"] is not None]
    count = {k: sum(r["outcome"] == k for r in rows) for k in ("no_tendon", "low_confidence", "confident", "error")}
    return {
        "files": len(rows),
        **count,
        "median_confidence": round(statistics.median(conf), 3) if conf else None,
        "max_confidence": round(max(conf), 3) if conf else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=REPO / "weights", help="weights folder of the model to score")
    p.add_argument("--realdata", type=Path, default=REPO.parent / "shared" / "realdata", help="real files folder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true", help="print every file's outcome as JSON lines too")
    args = p.parse_args(argv)
    if not args.realdata.is_dir():
        print(f"no real files at {args.realdata}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    settings = Settings(weights_dir=args.weights, device=args.device)
    t0 = time.perf_counter()
    print(
        "| group | files | no tendon found | low confidence | graded, confident | errors | median conf. | max conf. |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for group, patterns in GROUPS.items():
        paths = sorted(path for pattern in patterns for path in args.realdata.glob(pattern))
        rows = [grade(path, settings) for path in paths]
        if args.json:
            for row in rows:
                print(json.dumps({"group": group, **row}), file=sys.stderr)
        s = summary(rows)
        print(
            f"| {group} | {s['files']} | {s['no_tendon']} | {s['low_confidence']} | {s['confident']} | "
            f"{s['error']} | {s['median_confidence']} | {s['max_confidence']} |"
        )
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
