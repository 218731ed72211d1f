"""Lossy colour: the Doppler pixel count and the vessel count of compressed frames against the lossless ones.

Frames are made here: a 480 x 640 scanner screen with B-mode speckle, a white Doppler box and 1-10 vessels
(lines 1-6 px wide and round blobs of radius 1-6 px, slower at the walls than at the centre, plus a little
single-pixel colour noise) painted in one of the colour maps of :data:`MAPS`, with that map's colour bar beside
the picture or without one. Each frame is graded once as a lossless PNG still, the reference, and once per
lossy version:

* JPEG stills through OpenCV at quality 75, 85 and 95 (OpenCV's default 4:2:0 chroma sampling);
* one H.264 clip through PyAV (libx264, ``yuv420p``) at CRF 18, 23 and 28;
* one US multi-frame DICOM of JPEG baseline frames, ``YBR_FULL_422`` (OpenCV's 4:2:2 sampling, quality 90).

The whole frame is the region, so the count is the box's Doppler pixels, and every frame's counted pixels
come from the pipeline itself (``run_analysis`` with an observer). Every version is measured with today's
rules ("after") and with older ones ("before": ``--before table``, the per-pixel colour tables without
unmixing, or ``--before chroma``, the chroma rule and no vessel gap closing) in the same run, each against
the PNG graded by the same rules. Per codec, quality, map and bar the table gives the median signed error
of the Doppler pixel count, the 90th percentile of its absolute value, and the share of frames whose vessel
count equals the PNG's. Targets: median within +-3 %, 90th percentile within 6 %,
equal vessel counts on >= 90 % of the frames.

    python benchmarks/lossy_colour.py [--frames 16] [--maps all] [--seed 20260514] [--before table|chroma] [--json]
    python benchmarks/lossy_colour.py --unmix-timing       # what unmixing costs a frame
    python benchmarks/lossy_colour.py --real FILE...       # lossy copies of real lossless frames
    python benchmarks/lossy_colour.py --real FILE... --no-bar  # ... with their colour bars blacked out

Thresholds of the rule are set on frames of other seeds (``--seed``); the table in docs/benchmarks.md is the
default seed's.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from app.config import Settings
from app.pipeline import AnalyzeOptions, RoiSpec, run_analysis
from app.pipeline.grading.physical import vessel_gap_px, vessel_min_px
from app.pipeline.grading.scales import count_vessels

HEIGHT, WIDTH = 480, 640
PICTURE = (80, 40, 560, 440)  # x0, y0, x1, y1: the B-mode picture on the screen
BOX = (170, 90, 470, 350)  # the Doppler box inside it
BAR = (588, 160, 600, 320)  # the colour bar beside the picture (12 x 160 px: a third of the height)
SEED = 20260514

# A bluish grey map (--tint): the B-mode's blue and green raised by these shares of its level, as some scanners'
# tinted maps show grey (at level 175: 175, 177, 186, a chroma of 11, under the chroma rule's 40).
BLUISH = np.array([1.0, 1.012, 1.065], np.float32)

# Targets of the issue: |count error| median and 90th percentile, share of frames with equal vessel counts.
TARGET_MEDIAN, TARGET_P90, TARGET_VESSELS = 0.03, 0.06, 0.90


def _ramp(stops: list[tuple[float, tuple[int, int, int]]]) -> Callable[[np.ndarray], np.ndarray]:
    """A piecewise-linear colour map: value in 0..1 -> ``(..., 3) float32`` RGB through the given stops."""
    at = np.array([s for s, _ in stops], np.float32)
    colours = np.array([c for _, c in stops], np.float32)

    def colour(v: np.ndarray) -> np.ndarray:
        v = np.clip(v, 0.0, 1.0)
        return np.stack([np.interp(v, at, colours[:, c]) for c in range(3)], axis=-1).astype(np.float32)

    return colour


@dataclass(frozen=True)
class ColourMap:
    """A vendor-like Doppler map. Velocity maps are signed (toward: ``up``, away: ``down``); power maps use
    ``up`` alone. ``mirrored``: the power bar is drawn as one ramp mirrored about a black baseline (GE)."""

    name: str
    kind: str  # "velocity" | "power"
    up: Callable[[np.ndarray], np.ndarray]
    down: Callable[[np.ndarray], np.ndarray] | None = None
    mirrored: bool = False

    def paint(self, value: np.ndarray) -> np.ndarray:
        """``value (...) float32`` in -1..1 (signed velocity) or 0..1 (power) -> ``(..., 3) float32`` RGB."""
        up = self.up(np.abs(value))
        if self.down is None:
            return up
        return np.where(value[..., None] >= 0, up, self.down(np.abs(value)))

    def bar(self, length: int) -> np.ndarray:
        """``(length, 3) float32``: the legend from its top end to its bottom end."""
        t = np.linspace(1.0, -1.0, length, dtype=np.float32)
        if self.kind == "velocity":
            return self.paint(t)
        if self.mirrored:
            return self.up(np.abs(t))
        return self.up((t + 1) / 2)


MAPS = (
    ColourMap(
        "flow-red-blue",
        "velocity",
        _ramp(
            [(0.0, (0, 0, 0)), (0.15, (110, 0, 0)), (0.6, (230, 30, 10)), (0.85, (255, 170, 40)), (1, (255, 245, 120))]
        ),
        _ramp(
            [(0.0, (0, 0, 0)), (0.15, (0, 10, 120)), (0.6, (20, 80, 240)), (0.85, (40, 190, 255)), (1, (150, 250, 255))]
        ),
    ),
    ColourMap(
        "power-orange",
        "power",
        _ramp([(0.0, (0, 0, 0)), (0.12, (90, 0, 0)), (0.5, (220, 70, 0)), (0.8, (255, 170, 20)), (1, (255, 250, 150))]),
        mirrored=True,
    ),
    ColourMap(
        "power-magenta-gold",
        "power",
        _ramp(
            [(0.0, (20, 0, 30)), (0.15, (90, 0, 90)), (0.5, (200, 30, 170)), (0.8, (245, 130, 80)), (1, (255, 220, 60))]
        ),
    ),
)


def _speckle(rng: np.random.Generator) -> np.ndarray:
    """``(H, W) uint8`` B-mode: Rayleigh speckle over layered tissue, log-compressed, black outside the picture."""
    h, w = HEIGHT, WIDTH
    re = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 1.1, sigmaY=0.6)
    im = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 1.1, sigmaY=0.6)
    speckle = np.sqrt(re**2 + im**2)
    speckle /= speckle.mean()
    rows = np.arange(h, dtype=np.float32)[:, None]
    layers = 0.15 + 0.35 * np.sin(rows / rng.uniform(9, 20) + rng.uniform(0, 6)) ** 2  # fibre bands
    layers = layers + 0.5 * (np.abs(rows - rng.uniform(180, 300)) < rng.uniform(25, 45))  # the tendon
    db = 20 * np.log10(speckle * layers + 1e-3)
    dynamic_range, top = rng.uniform(45, 60), rng.uniform(14, 22)
    grey = np.clip((db - (top - dynamic_range)) / dynamic_range, 0, 1) * 255
    out = np.zeros((h, w), np.uint8)
    x0, y0, x1, y1 = PICTURE
    out[y0:y1, x0:x1] = grey[y0:y1, x0:x1].astype(np.uint8)
    return out


def _flow(rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """``(H, W) float32`` signed flow value (0: no flow) inside the box, and the number of vessels drawn."""
    x0, y0, x1, y1 = BOX
    flow = np.zeros((HEIGHT, WIDTH), np.float32)
    vessels = int(rng.integers(1, 11))
    for _ in range(vessels):
        layer = np.zeros((HEIGHT, WIDTH), np.uint8)
        if rng.random() < 0.75:  # a vessel: a wandering line
            x, y = rng.uniform(x0 + 20, x1 - 20), rng.uniform(y0 + 20, y1 - 20)
            angle, points = rng.uniform(0, 2 * np.pi), []
            for _ in range(int(rng.integers(4, 14))):
                points.append((x, y))
                angle += rng.normal(0, 0.4)
                step = rng.uniform(3, 7)
                x, y = x + step * np.cos(angle), y + step * np.sin(angle)
            cv2.polylines(layer, [np.round(points).astype(np.int32)], False, 1, int(rng.integers(1, 7)))
        else:  # a vessel cut across: a small round blob
            centre = (int(rng.uniform(x0 + 10, x1 - 10)), int(rng.uniform(y0 + 10, y1 - 10)))
            cv2.circle(layer, centre, int(rng.integers(1, 7)), 1, -1)
        layer[: y0 + 1], layer[y1 - 1 :], layer[:, : x0 + 1], layer[:, x1 - 1 :] = 0, 0, 0, 0
        inside = layer.astype(bool) & (flow == 0)
        depth = cv2.distanceTransform(layer, cv2.DIST_L2, 3)  # faster at the centre, slower at the walls
        peak = rng.uniform(0.35, 1.0)
        value = peak * (0.55 + 0.45 * np.clip(depth / 2.5, 0, 1))
        flow[inside] = (value if rng.random() < 0.6 else -value)[inside]
    noise = (rng.random(flow.shape) < rng.uniform(0, 0.0004)) & (flow == 0)  # colour noise: single pixels
    noise[: y0 + 1], noise[y1 - 1 :], noise[:, : x0 + 1], noise[:, x1 - 1 :] = False, False, False, False
    flow[noise] = rng.uniform(0.3, 0.7, int(noise.sum())) * rng.choice([-1, 1], int(noise.sum()))
    return flow, vessels


def make_frames(colour_map: ColourMap, count: int, bar: bool, seed: int = SEED, tint: bool = False) -> np.ndarray:
    """``(count, H, W, 3) uint8 RGB`` screens painted with ``colour_map``; the same speckle and flow for a
    given seed, map and count, with or without the colour bar, the B-mode grey or ``tint``-ed bluish."""
    rng = np.random.default_rng(seed)
    out = np.zeros((count, HEIGHT, WIDTH, 3), np.uint8)
    for i in range(count):
        grey = _speckle(rng)
        flow, _ = _flow(rng)
        if colour_map.kind == "power":
            flow = np.abs(flow)
        rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
        if tint:
            rgb *= BLUISH
        painted = flow != 0
        rgb[painted] = colour_map.paint(flow[painted])
        frame = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        bx0, by0, bx1, by1 = BOX
        cv2.rectangle(frame, (bx0, by0), (bx1 - 1, by1 - 1), (255, 255, 255), 1)
        cv2.putText(frame, "L12-5 TENDON  GN 62  PRF 0.8", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (220, 220, 220))
        if bar:
            x0, y0, x1, y1 = BAR
            legend = np.clip(np.rint(colour_map.bar(y1 - y0)), 0, 255).astype(np.uint8)
            frame[y0:y1, x0:x1] = legend[:, None, :]
        out[i] = frame
    return out


# --- codecs ------------------------------------------------------------------------------------------------------


def png(frame: np.ndarray) -> bytes:
    return cv2.imencode(".png", frame[..., ::-1])[1].tobytes()


def jpeg(frame: np.ndarray, quality: int, sampling: int = cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling]
    return cv2.imencode(".jpg", frame[..., ::-1], params)[1].tobytes()


def h264(frames: np.ndarray, crf: int) -> bytes:
    """An MP4 of ``frames`` through libx264 at ``crf``, ``yuv420p`` (PyAV's default BT.601 conversion)."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt, stream.options = "yuv420p", {"crf": str(crf)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def dicom_jpeg_422(frames: np.ndarray, quality: int = 90) -> bytes:
    """A US multi-frame DICOM of JPEG baseline frames stored as ``YBR_FULL_422`` (4:2:2 chroma)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    meta.MediaStorageSOPInstanceUID, meta.TransferSyntaxUID = generate_uid(), JPEGBaseline8Bit
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, "US"
    ds.Rows, ds.Columns, ds.NumberOfFrames, ds.FrameTime = *frames.shape[1:3], len(frames), 66.7
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_FULL_422", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = encapsulate([jpeg(f, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422) for f in frames])
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# --- measuring ---------------------------------------------------------------------------------------------------

BEFORE = {  # --before: the rules today's is compared with
    # the per-pixel colour tables, as lossy colour was counted before unmixing (NEOVASC_COLOUR_RULE=table)
    "table": {"colour_rule": "table"},
    # the chroma rule for every input and no vessel gap closing, as before any lossy rule
    "chroma": {"colour_rule": "chroma", "vessel_gap_px": 0, "vessel_gap_mm": 0.0},
}


def _measure(source: bytes, settings: Settings, size: tuple[int, int] = (HEIGHT, WIDTH)) -> list[tuple[int, int]]:
    """``(Doppler pixels, vessels)`` of every frame: the pipeline's own counted pixels (the whole frame is the
    region, so they are the box's), and its vessel rule on the box's coloured pixels (docs/grading.md)."""
    found: dict[int, tuple[int, np.ndarray]] = {}

    def keep(batch) -> None:
        for i, index in enumerate(batch.indices):
            rgb = batch.frames[i].astype(np.int16)
            coloured = (rgb.max(axis=2) - rgb.min(axis=2) > settings.chroma_threshold) & batch.in_box
            found[int(index)] = int(batch.doppler[i].sum()), coloured

    whole = AnalyzeOptions(roi=RoiSpec(rect=(0, 0, size[1], size[0])))
    calibration = run_analysis(source, whole, settings=settings, observer=keep).result.calibration
    min_px = vessel_min_px(calibration, settings.min_vessel_mm2, settings.min_vessel_px)
    gap = vessel_gap_px(calibration, settings.vessel_gap_mm, settings.vessel_gap_px)
    return [(found[i][0], count_vessels(found[i][1], min_px, gap)) for i in sorted(found)]


def _lossless(frames: np.ndarray, settings: Settings) -> list[tuple[int, int]]:
    return [_measure(png(frame), settings)[0] for frame in frames]


VERSIONS: tuple[tuple[str, int, Callable[[np.ndarray, Settings], list[tuple[int, int]]]], ...] = (
    *(("jpeg", q, lambda f, s, q=q: [_measure(jpeg(x, q), s)[0] for x in f]) for q in (75, 85, 95)),
    *(("h264", crf, lambda f, s, crf=crf: _measure(h264(f, crf), s)) for crf in (18, 23, 28)),
    ("dicom-jpeg-422", 90, lambda f, s: _measure(dicom_jpeg_422(f, 90), s)),
)


@dataclass(frozen=True)
class Row:
    codec: str
    quality: int
    colour_map: str
    bar: bool
    rule: str
    errors: tuple[float, ...]  # per frame: compressed / lossless Doppler pixels - 1
    vessels_equal: tuple[bool, ...]

    def stats(self) -> dict[str, float]:
        e = np.asarray(self.errors)
        return {
            "median": float(np.median(e)),
            "median_abs": float(np.median(np.abs(e))),
            "p90_abs": float(np.percentile(np.abs(e), 90)),
            "vessels_equal_share": float(np.mean(self.vessels_equal)),
        }

    def meets(self) -> bool:
        s = self.stats()
        equal = s["vessels_equal_share"]
        return abs(s["median"]) <= TARGET_MEDIAN and s["p90_abs"] <= TARGET_P90 and equal >= TARGET_VESSELS


def run(
    frames_per_set: int,
    maps: tuple[ColourMap, ...],
    log: Callable[[str], None] = lambda line: None,
    seed: int = SEED,
    before: str = "table",
    tint: bool = False,
) -> list[Row]:
    """Every codec and quality of :data:`VERSIONS`, map, with and without a bar, with today's rules ("after")
    and the ``before`` ones of :data:`BEFORE`."""
    rows = []
    rules = {"before": BEFORE[before], "after": {}}
    for colour_map in maps:
        for bar in (True, False):
            frames = make_frames(colour_map, frames_per_set, bar, seed, tint)
            for rule, overrides in rules.items():
                settings = Settings(device="cpu", **overrides)
                reference = _lossless(frames, settings)
                for codec, quality, measure in VERSIONS:
                    start = time.perf_counter()
                    got = measure(frames, settings)
                    errors = tuple(g[0] / max(r[0], 1) - 1 for g, r in zip(got, reference, strict=True))
                    equal = tuple(g[1] == r[1] for g, r in zip(got, reference, strict=True))
                    rows.append(Row(codec, quality, colour_map.name, bar, rule, errors, equal))
                    log(f"{colour_map.name} bar={bar} {rule} {codec} {quality}: {time.perf_counter() - start:.1f} s")
    return rows


def unmix_timing(frames_per_set: int, seed: int = SEED, repeats: int = 5) -> dict[str, float]:
    """What unmixing costs: ``ColourRule.counted`` on the decoded frames of the H.264 CRF 23 clip of each map
    with its bar, median ms a frame over ``repeats`` passes, beside the pixels that may hold paint per frame."""
    from app.pipeline.decode import decode
    from app.pipeline.measure import unmix_kernel
    from app.pipeline.measure.scan import ScanParams, set_up
    from app.pipeline.run import limits_from

    settings = Settings(device="cpu")
    times, held = [], []
    for colour_map in MAPS:
        clip = decode(h264(make_frames(colour_map, frames_per_set, True, seed), 23), limits_from(settings))
        decoded = np.concatenate([batch for _, batch in clip.batches(frames_per_set)])
        rule = set_up(clip, decoded, ScanParams(band_mm=2.0, band_px=20)).rule
        if rule.unmix is None:
            raise RuntimeError(f"{colour_map.name}: the clip was not unmixed")
        paint = rule.unmix.table.chroma.reshape(-1, 2)
        for frame in decoded:
            crop = np.ascontiguousarray(frame[rule.unmix.window])
            held.append(unmix_kernel.held_pixels(crop, paint, rule.unmix.table.bits)[0].size)
        rule.counted(decoded[:1])  # compiled (or loaded from numba's cache) before timing
        for _ in range(repeats):
            start = time.perf_counter()
            rule.counted(decoded)
            times.append((time.perf_counter() - start) * 1000 / decoded.shape[0])
    return {"ms_per_frame": float(np.median(times)), "held_px_median": float(np.median(held)), "frames": len(held)}


TWIN_COPIES: dict[str, Callable[[np.ndarray], bytes]] = {
    "jpeg 75": lambda f: jpeg(f, 75),
    "jpeg 90": lambda f: jpeg(f, 90),
    "jpeg 90 4:2:2": lambda f: jpeg(f, 90, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422),
    **{f"h264 {crf}": (lambda f, crf=crf: h264(np.stack([f] * 4), crf)) for crf in (18, 23, 28)},
}


Twin = tuple[str, int, str, float, float]  # file, lossless count, copy, count before, count after


def real_twins(paths: list[str], copies: tuple[str, ...] = tuple(TWIN_COPIES), no_bar: bool = False) -> list[Twin]:
    """Lossy copies of real lossless frames (the first frame of each file), made here: ``(file, lossless count,
    copy, before, after)``, the Doppler pixel count of each copy with the per-pixel tables (before) and with
    today's rules (after), against the lossless frame's chroma rule. The whole frame is the region; an H.264
    copy is four copies of the frame, their median taken. ``no_bar``: the colour bars the screen parser finds
    are blacked out first, so the copies are counted as a screen without a bar would be (the paint read from
    the frame itself)."""
    from app.pipeline.decode import decode
    from app.pipeline.run import limits_from
    from app.pipeline.screen.flow_pixels import without_legends
    from app.pipeline.screen.parse import find_screen

    rules = {r: Settings(device="cpu", colour_rule=r) for r in ("chroma", "table", "auto")}
    rows = []
    for path in paths:
        frame = next(iter(decode(path, limits_from(rules["chroma"])).batches(1)))[1][0]
        if no_bar:
            bars = find_screen(frame[None], rules["chroma"].chroma_threshold).colour_bars
            frame = without_legends(frame.copy(), bars)
        size = frame.shape[:2]
        reference = _measure(png(frame), rules["chroma"], size)[0][0]
        for name in copies:
            data = TWIN_COPIES[name](frame)
            counts = {r: float(np.median([c[0] for c in _measure(data, rules[r], size)])) for r in ("table", "auto")}
            before, after = counts["table"], counts["auto"]
            rows.append((path.rsplit("/", 1)[-1], reference, name, before, after))
    return rows


def twin_table(rows: list[Twin]) -> str:
    lines = ["| frame | lossless | copy | before (tables) | after (today) |", "|---|---|---|---|---|"]
    for name, reference, copy, before, after in rows:
        lines.append(
            f"| {name} | {reference} | {copy} | {before:.0f} ({before / reference - 1:+.1%}) "
            f"| {after:.0f} ({after / reference - 1:+.1%}) |"
        )
    return "\n".join(lines)


def _cells(row: Row) -> str:
    s = row.stats()
    return f"{100 * s['median']:+.1f} % | {100 * s['p90_abs']:.1f} % | {100 * s['vessels_equal_share']:.0f} %"


def table(rows: list[Row]) -> str:
    """Markdown: one line per codec, quality, map and bar; the old rule's columns beside today's."""
    by_key = {(r.codec, r.quality, r.colour_map, r.bar, r.rule): r for r in rows}
    lines = [
        "| codec | quality | map | bar | before: median | before: p90 abs | before: vessels equal "
        "| after: median | after: p90 abs | after: vessels equal | targets met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for codec, quality, colour_map, bar, rule in by_key:
        if rule != "after":
            continue
        before, after = (
            by_key[(codec, quality, colour_map, bar, "before")],
            by_key[(codec, quality, colour_map, bar, rule)],
        )
        lines.append(
            f"| {codec} | {quality} | {colour_map} | {'yes' if bar else 'no'} | {_cells(before)} | {_cells(after)} "
            f"| {'yes' if after.meets() else 'no'} |"
        )
    for rule in ("before", "after"):
        chosen = [r for r in rows if r.rule == rule]
        errors = np.abs(np.concatenate([r.errors for r in chosen]))
        equal = np.concatenate([r.vessels_equal for r in chosen])
        met = sum(r.meets() for r in chosen)
        lines.append(
            f"\n{rule}: all frames: median |error| {100 * np.median(errors):.1f} %, 90th percentile "
            f"{100 * np.percentile(errors, 90):.1f} %, vessel count equal on {100 * equal.mean():.0f} %; "
            f"targets met on {met} of {len(chosen)} rows"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16, help="frames per map, with and without a bar")
    parser.add_argument("--maps", default="all", help=f"comma-separated, of: {', '.join(m.name for m in MAPS)}")
    parser.add_argument("--seed", type=int, default=SEED, help="frames of another seed: for tuning, not reporting")
    parser.add_argument("--before", choices=sorted(BEFORE), default="table", help="the rules compared with today's")
    parser.add_argument("--unmix-timing", action="store_true", help="time unmixing (H.264 CRF 23, each map's bar)")
    parser.add_argument("--real", nargs="+", metavar="FILE", help="lossy copies of these real lossless frames")
    parser.add_argument("--no-bar", action="store_true", help="with --real: black out the frames' colour bars first")
    parser.add_argument("--tint", action="store_true", help="a bluish grey map instead of a grey one")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="log each measurement's time to stderr")
    args = parser.parse_args(argv)
    maps = MAPS if args.maps == "all" else tuple(m for m in MAPS if m.name in args.maps.split(","))
    log = (lambda line: print(line, file=sys.stderr)) if args.verbose else (lambda line: None)
    if args.real:
        print(twin_table(real_twins(args.real, no_bar=args.no_bar)))
        return 0
    if args.unmix_timing:
        timing = unmix_timing(args.frames, args.seed)
        print(
            json.dumps(timing)
            if args.json
            else f"unmixing: {timing['ms_per_frame']:.2f} ms a frame (median), "
            f"{timing['held_px_median']:.0f} pixels that may hold paint per frame (median of {timing['frames']})"
        )
        return 0
    rows = run(args.frames, maps, log, args.seed, args.before, args.tint)
    if args.json:
        print(json.dumps([{**r.__dict__, **r.stats()} for r in rows]))
        return 0
    print(f"{args.frames} frames of {WIDTH}x{HEIGHT} per map and bar; errors of the Doppler pixel count against the")
    print(
        "lossless PNG (median signed, 90th percentile of |error|), and the share of frames with equal vessel counts\n"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
