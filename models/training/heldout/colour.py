"""Doppler colour of the held-out family: vendor-like colour maps, and vessels placed apart from the tendon.

Colour maps (``anatomy.md``, Doppler screen conventions), each jittered a little per case:

* ``colour_flow``: red toward the probe and blue away (inverted in a quarter of cases), brighter with
  speed, yellow and cyan at the ends of the scale;
* ``power_orange``: one ramp, dark red -> orange -> yellow (GE-like power Doppler);
* ``power_magenta_gold``: one ramp, magenta -> pink -> gold;
* ``slow_flow_mono``: a monochrome blue ramp for slow-flow imaging, from steel blue to pale blue. A pure
  white map would carry no colour at all, so the pale end keeps a clear blue tint.

Every map keeps a chroma (max - min of R, G, B) of at least ``MIN_CHROMA``, so each painted pixel is a
Doppler pixel on screen and the truth is the painted set.

Where the colour goes is drawn independently of how the tendon looks: ``none`` (a normal or treated
tendon), ``inside`` (vessels entering from the deep side and running into the tendon, across the fibres,
sometimes branching, as neovessels do), ``around`` (peritendinous vessels within a few mm that never
enter), ``outside`` (vessels and arteries away from the tendon) and ``scattered`` (anywhere in the box,
blind to the anatomy), alone or combined. Vessels pulsate from frame to frame; some clips hold one flash
frame (colour over most of the box) and some boxes show colour noise (never in a case without colour).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["MAPS", "MIN_CHROMA", "PLACEMENTS", "ColourMap", "colour_map", "draw_placement", "flow_frames"]

MIN_CHROMA = 60
# anchors from the low to the high end of each ramp; a signed map lists the toward side and the away side
_ANCHORS: dict[str, tuple[list[tuple[int, int, int]], ...]] = {
    "colour_flow": (
        [(110, 0, 0), (200, 12, 10), (245, 80, 20), (255, 190, 40), (255, 240, 120)],
        [(0, 12, 110), (10, 45, 200), (30, 115, 250), (60, 200, 255), (150, 235, 255)],
    ),
    "power_orange": ([(90, 12, 0), (165, 35, 0), (230, 105, 0), (255, 170, 25), (255, 230, 105)],),
    "power_magenta_gold": ([(110, 0, 110), (190, 20, 150), (230, 60, 110), (240, 140, 40), (250, 210, 60)],),
    "slow_flow_mono": ([(30, 40, 125), (50, 80, 185), (90, 140, 235), (140, 190, 255), (175, 215, 255)],),
}
MAPS = tuple(_ANCHORS)
PLACEMENTS = ("none", "inside", "around", "outside", "scattered")
# (parts, probability): combinations of placements and how often each is drawn
_PLACEMENT_MIX = (
    (("none",), 0.25),
    (("inside",), 0.22),
    (("inside", "around"), 0.12),
    (("around",), 0.1),
    (("outside",), 0.12),
    (("scattered",), 0.11),
    (("inside", "outside"), 0.08),
)


@dataclass(frozen=True)
class ColourMap:
    """A lookup table from flow level to RGB: ``lut (256, 3) uint8``; signed maps put zero at 128."""

    name: str
    lut: np.ndarray
    signed: bool

    def paint(self, level: np.ndarray) -> np.ndarray:
        """Levels (power 0..1, or velocity -1..1 for a signed map) -> ``(..., 3) uint8`` RGB."""
        if self.signed:
            index = np.where(level >= 0, 128 + np.round(np.clip(level, 0, 1) * 127), 127 + np.round(level * 127))
        else:
            index = np.round(np.clip(level, 0, 1) * 255)
        return self.lut[np.clip(index, 0, 255).astype(np.intp)]


def _ramp(anchors: list[tuple[int, int, int]], count: int, jitter: np.ndarray) -> np.ndarray:
    pts = np.clip(np.asarray(anchors, np.float32) + jitter[: len(anchors)], 0, 255)
    t = np.linspace(0, len(pts) - 1, count)
    return np.stack([np.interp(t, np.arange(len(pts)), pts[:, c]) for c in range(3)], axis=1)


def colour_map(name: str, rng: np.random.Generator) -> ColourMap:
    """The map ``name`` with its anchors moved by up to 12 levels (vendors differ); chroma stays high."""
    ramps = _ANCHORS[name]
    jitter = rng.uniform(-12, 12, (5, 3)).astype(np.float32)
    if len(ramps) == 2:
        toward, away = ramps if rng.random() < 0.75 else ramps[::-1]
        lut = np.concatenate([_ramp(away, 128, jitter)[::-1], _ramp(toward, 128, jitter)])
    else:
        lut = _ramp(ramps[0], 256, jitter)
    lut = np.round(lut).astype(np.int32)
    low = lut.max(1) - lut.min(1) < MIN_CHROMA
    lut[low] = _saturate(lut[low])
    return ColourMap(name, lut.astype(np.uint8), signed=len(ramps) == 2)


def _saturate(rgb: np.ndarray) -> np.ndarray:
    """Push colours apart from their grey until their chroma is ``MIN_CHROMA``."""
    grey = rgb.mean(1, keepdims=True)
    spread = rgb - grey
    scale = MIN_CHROMA / np.maximum(spread.max(1, keepdims=True) - spread.min(1, keepdims=True), 1)
    return np.clip(grey + spread * scale, 0, 255).round().astype(np.int32)


def draw_placement(rng: np.random.Generator) -> tuple[str, ...]:
    """Where the colour goes, drawn without looking at the tendon."""
    parts, weights = zip(*_PLACEMENT_MIX, strict=True)
    return parts[int(rng.choice(len(parts), p=np.asarray(weights) / sum(weights)))]


@dataclass(frozen=True)
class _Vessel:
    """A vessel drawn once: its window in the picture and a flow profile there (1 on the axis, 0 at the
    wall, NaN outside), scaled each frame by the vessel's pulsating strength."""

    window: tuple[slice, slice]
    profile: np.ndarray
    peak: float
    sign: float
    phase: float


def _vessel(points: np.ndarray, radius: float, forbid: np.ndarray, **kw) -> _Vessel | None:
    """Rasterise a centre line of ``radius`` pixels (blooming included) as a parabolic flow profile."""
    h, w = forbid.shape
    pad = int(np.ceil(radius)) + 2
    x0, y0 = max(int(points[:, 0].min()) - pad, 0), max(int(points[:, 1].min()) - pad, 0)
    x1, y1 = min(int(points[:, 0].max()) + pad + 1, w), min(int(points[:, 1].max()) + pad + 1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    line = np.full((y1 - y0, x1 - x0), 255, np.uint8)
    cv2.polylines(line, [points - np.array([x0, y0], np.int32)], False, 0, 1)
    dist = cv2.distanceTransform(line, cv2.DIST_L2, 3)
    profile = np.sqrt(1 - (np.minimum(dist, radius) / radius) ** 2)  # far from the line: 0 (then NaN below)
    profile[(dist > radius) | forbid[y0:y1, x0:x1]] = np.nan
    return _Vessel((slice(y0, y1), slice(x0, x1)), profile.astype(np.float32), **kw)


def _path(rng, start: np.ndarray, heading: float, length_px: float, step: float, wiggle: float) -> np.ndarray:
    """A random walk with persistent direction: ``(k, 2)`` points from ``start``."""
    steps = max(2, int(length_px / step))
    turns = np.cumsum(rng.normal(0, wiggle, steps))
    angles = heading + turns
    moves = np.stack([np.cos(angles), np.sin(angles)], axis=1) * step
    return np.round(start + np.vstack([[0, 0], np.cumsum(moves, axis=0)])).astype(np.int32)


def _pick(rng, candidates: np.ndarray) -> np.ndarray | None:
    """One ``(x, y)`` of a boolean map's True pixels, or None."""
    ys, xs = np.nonzero(candidates)
    if len(xs) == 0:
        return None
    i = rng.integers(len(xs))
    return np.array([xs[i], ys[i]], np.float64)


def _vessels(rng, part: str, tendon: np.ndarray, box: np.ndarray, ppm: float) -> list[_Vessel]:
    """The vessels of one placement, in picture pixels. ``around`` vessels never enter the tendon and
    ``outside`` ones keep 2 mm from it; ``inside`` ones run into it from below or along its fibres."""
    outside = cv2.distanceTransform((~tendon).astype(np.uint8), cv2.DIST_L2, 5) / ppm  # mm to the tendon
    forbid = {"around": tendon, "outside": outside < 2.0}.get(part, np.zeros_like(tendon))
    counts = [1, 2, 4, 7, 11, 16, 24] if part == "inside" else [1, 2, 3, 5, 8, 12, 18]
    amount = int(rng.choice(counts, p=[0.12, 0.14, 0.16, 0.18, 0.16, 0.14, 0.1]))
    shift = max(1, int(0.4 * ppm))
    deep_border = tendon & ~np.vstack([tendon[shift:], np.zeros((shift, tendon.shape[1]), bool)])
    out: list[_Vessel] = []
    for _ in range(amount):
        width_mm = rng.uniform(0.2, 0.7)
        if part == "inside":
            if rng.random() < 0.7:  # from the deep side, across the fibres
                start = _pick(rng, deep_border & box)
                if start is not None:
                    start[1] += rng.uniform(0.5, 2.0) * ppm
                heading, length = -np.pi / 2 + rng.normal(0, 0.45), rng.uniform(2.0, 9.0)
            else:  # along the fibres within the tendon
                start = _pick(rng, tendon & box)
                heading, length = rng.choice([0, np.pi]) + rng.normal(0, 0.25), rng.uniform(1.5, 7.0)
        elif part == "around":
            start = _pick(rng, (outside > 0.3) & (outside < 2.5) & box)
            heading, length = rng.choice([0, np.pi]) + rng.normal(0, 0.35), rng.uniform(3.0, 12.0)
        elif part == "outside":
            start = _pick(rng, (outside > 4.0) & box)
            heading, length = rng.uniform(0, 2 * np.pi), rng.uniform(3.0, 20.0)
            if rng.random() < 0.2:  # an artery: wide, long, mostly horizontal
                width_mm, heading, length = rng.uniform(1.2, 2.5), rng.normal(0, 0.15), rng.uniform(15, 40)
        else:  # scattered: anywhere in the box
            start = _pick(rng, box)
            heading, length = rng.uniform(0, 2 * np.pi), rng.uniform(2.0, 10.0)
        if start is None:
            continue
        points = _path(rng, start, heading, length * ppm, max(1.0, 0.4 * ppm), 0.12)
        sign = -np.sign(np.sin(heading)) or 1.0  # flow toward the probe (upward on screen) is positive
        if rng.random() < 0.3:
            sign = -sign  # veins run the other way
        radius = max(0.8, width_mm * ppm / 2 * rng.uniform(1.0, 1.6))  # colour blooms past the lumen
        kw = {"peak": rng.uniform(0.35, 1.0), "sign": sign, "phase": rng.uniform(0, 6.3)}
        vessel = _vessel(points, radius, forbid, **kw)
        if vessel is not None:
            out.append(vessel)
        if vessel is not None and part == "inside" and rng.random() < 0.3:  # a branch from its middle
            mid = points[len(points) // 2].astype(np.float64)
            turn = rng.choice([-1, 1]) * rng.uniform(0.5, 1.1)
            branch = _path(rng, mid, heading + turn, length * ppm * 0.5, max(1.0, 0.4 * ppm), 0.15)
            kw["peak"] *= 0.8
            extra = _vessel(branch, max(0.8, radius * 0.7), forbid, **kw)
            if extra is not None:
                out.append(extra)
    return out


def flow_frames(
    rng: np.random.Generator,
    placement: tuple[str, ...],
    tendon: np.ndarray,
    box: np.ndarray,
    ppm: float,
    frames: int,
    signed: bool,
) -> tuple[np.ndarray, int | None]:
    """Flow levels of every frame, ``(N, h, w) float32`` (NaN where no colour is shown), and the index of
    the flash frame (None without one).

    Args:
        placement: the parts of :data:`PLACEMENTS` drawn for this case.
        tendon, box: ``(h, w) bool`` in picture pixels; colour is shown inside ``box`` only, whatever
            the tendon does.
        ppm: picture pixels per mm.
        signed: velocity levels (-1..1) rather than power levels (0..1).
    """
    h, w = box.shape
    vessels = [v for part in placement if part != "none" for v in _vessels(rng, part, tendon, box, ppm)]
    silent = placement == ("none",)  # a normal or treated tendon: no colour at all, not even noise
    noise = rng.random() < 0.2 and not silent
    flash_at = int(rng.integers(frames)) if frames > 2 and rng.random() < 0.25 and not silent else -1
    inner = cv2.erode(box.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2).astype(bool)
    out = np.full((frames, h, w), np.nan, np.float32)
    for f in range(frames):
        level = np.zeros((h, w), np.float32)
        cycle = 2 * np.pi * f / max(frames, 4)
        for v in vessels:
            strength = v.peak * (0.65 + 0.35 * np.cos(cycle + v.phase))
            if strength < 0.3:
                continue  # a small vessel that is not seen in diastole
            patch = strength * (0.3 + 0.7 * v.profile) * rng.uniform(0.8, 1.2, v.profile.shape)
            patch[~(v.profile > rng.uniform(0, 0.35, v.profile.shape))] = 0  # a ragged edge; NaN outside
            if signed:
                patch *= v.sign
            window = level[v.window]
            np.copyto(window, patch, where=np.abs(patch) > np.abs(window))
        if noise:
            specks = (rng.random((h, w)) < 0.002) & inner
            level[specks] = rng.uniform(0.2, 0.5, int(specks.sum())) * (rng.choice([-1, 1]) if signed else 1)
        if f == flash_at:
            cloud = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 3 * ppm)
            flash = cloud > np.quantile(cloud[inner], 0.35) if inner.any() else np.zeros((h, w), bool)
            tone = rng.uniform(0.15, 0.45) * (rng.choice([-1, 1]) if signed else 1)
            level = np.where(flash & (level == 0), tone, level)
        shown = (level != 0) & inner
        out[f][shown] = level[shown]
    return out, (flash_at if flash_at >= 0 else None)
