"""Synthetic Doppler ultrasound screens of tendons with exact tendon masks, deterministic by seed.

No public tendon ultrasound data set with outlines exists, so the segmentation model learns from frames built
here. The generator spans what real scanning shows, and above all places the Doppler colour **independently
of the tendon**: the network must find the tendon from its B-mode appearance, with colour as something that
may cover it, lie beside it or be absent. Version 3 widens the appearance: the tendon's brightness against
the tissue around it, its texture and its border are drawn from wide ranges, so that the outline is learnt
from borders and texture and not from "the brightest band", and some frames hold no tendon at all. A run
may ask for tendons draped along the arc of a round bony head (``SynthRanges.dome_share``, ``_dome``) and
for more frames without a tendon (``SynthRanges.no_tendon_share``); both default to the frames of version 3.
Figures are from the project's anatomy notes (``shared/anatomy.md``: normative thickness studies, the
appearance of tendons and neovessels, Doppler screen conventions); the ranges below are deliberately wider
than the normal values, to cover disease and scanning habits.

* **Tendon** (``TENDONS``, normal maximal thickness): Achilles midportion 4-7 mm (median about 5 mm,
  2.5th-97.5th percentile 4-7 mm), patellar 3-5 mm, common extensor origin 3-5 mm (triangular, thinning
  toward its origin), plantar fascia 3-4 mm; a draw from that range times ``thickness_scale``, plus the
  thickening of the pathology (tendinopathy adds on average 1.4-2.7 mm; swollen tendons more), clipped to
  ``THICKNESS_MM`` = 2-12 mm. Longitudinal view (60 %): a band of parallel fibrils (from faint to plain)
  that follow the tendon's course, bounded by a bright paratenon in 60 % of frames, straight, curved,
  convex over bone (a tendon draped over a bony head with its cartilage) or ending on bone (insertion,
  with the cortex rising to meet it);
  transverse view: an oval, flat, crescent or kidney section of bright dots (in a fifth of the frames
  up to 1.5 times the picture's width, running off its sides). With ``dome_share`` (0 by default) that
  share of the tendons, in both views, are a **dome**: a band draped along the arc of a round bony head
  8-30 mm in radius (lateral epicondyle to humeral head: the common extensor origin, the supraspinatus)
  over 0.5-2 mm of hypoechoic cartilage, following it down the head's sides until the arc is steeper
  than 50-70 degrees or leaves the picture, often under a thin dark bursa; it can span the picture's
  width and fill much of its height.
* **Contrast** (``contrast``): the tendon's mean echo is 3-8 times the tissue around it ("high", 40 %),
  1.8-3 times ("medium", 35 %) or only 1.25-1.8 times, over brighter fat ("low", 25 %: hypoechoic
  tendinopathy, bright fat pads); its border sharp or blurred over 0.1-0.5 mm.
* **No tendon** (``no_tendon``, ``NO_TENDON_SHARE`` = 8 %): the same tissues without the tendon, often
  with an anechoic vessel 3-8 mm across with bright walls; the mask is empty.
* **Depth**: a gel stand-off (2-8 mm of anechoic gel above the skin line) in 12 % of frames; subcutaneous
  fat 0.2-1 mm (the tendon right under the skin line) in a quarter, else 1-10 mm; field of view
  (``fov_mm``) 15-50 mm, the tendon kept above 92 % of it.
* **Pathology** (``PATHOLOGIES``): normal; fusiform (spindle-shaped) thickening; focal thickening of a
  short segment; hypoechoic areas where the fibrillar pattern is lost; heterogeneous echotexture; partial
  tears (an anechoic cleft from a surface, or a split along the fibres; the outline is still the tendon's);
  calcifications (bright foci with an acoustic shadow beneath). Anisotropy: where the fibres tilt away
  from the beam (curves, convex shapes, one end of the view) the tendon turns dark.
* **Tissues**: skin line, hypoechoic subcutaneous fat with septa, a deep fat pad (Kager's / Hoffa's) with
  septa, striated muscle, bone cortex with its shadow; in 40 % of frames (with ``textures``) a real B-mode
  image is blended into the tissue around (not inside) the tendon.
* **Image formation**: Rayleigh or K-distributed speckle (a resolution cell of 0.12-0.5 mm across and
  0.06-0.3 mm in depth), depth attenuation, log compression with random gain and dynamic range, a grey
  map gamma and, sometimes, speckle reduction.
* **Doppler** (placement drawn first, without looking at the tendon's texture): no vessel in 36 % of
  frames (half of them without a colour box, so no colour at all; in the other half only the colour-noise
  speckles that half of all boxes carry, in some 1 in 20 a flash); else inside the tendon (vessels
  entering from the deep side, across the fibres, as neovessels do), around it (within 1-3 mm, never
  entering: vessels are clipped to their region), outside it (at least 2 mm away), scattered anywhere in
  the box, or combinations; from one thin vessel up to colour saturating most of the region, plus colour
  noise and flash. The box (rectangle or steered parallelogram) covers all, part or none of the tendon.
  Colour flow red/blue (yellow/cyan ends, inverted in a quarter) and power maps (dark red-orange-yellow,
  magenta, gold, blue slow flow), each jittered.
* **Screen** (``models.training.synth_screen``): any resolution (``screen_height`` 240-600 px) and aspect
  (0.7-1.9 wide to high), black, dark grey or dark blue backgrounds, header banners and side panels with
  parameter text, colour bar, depth scale and focus marker; over the picture calipers with dotted lines,
  arrows, typed labels, an orientation mark and a body marker.
* **Files**: none (PNG), JPEG (quality 40-95), H.264-like (4:2:0 chroma, a soft deblocked luma, coarse
  blocks, sometimes encoded at a lower resolution) or DICOM JPEG baseline (4:2:2 chroma, quality 75-95).

The screen (``SynthRanges.view == "screen"``), or the picture alone cut as the pipeline cuts it with each
side off by -4 to +3 % (``"picture"``), is then letterboxed to ``SynthRanges.size`` exactly as the
predictor letterboxes a frame, the mask with it. ``TRAIN_RANGES`` and ``HELDOUT_RANGES`` are disjoint in
field of view, thickness scale, gain and dynamic range (``--test synth-heldout``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from models.training import synth_screen
from models.transforms import letterbox

__all__ = [
    "GENERATOR_VERSION",
    "HELDOUT_RANGES",
    "PATHOLOGIES",
    "PLACEMENTS",
    "TENDONS",
    "THICKNESS_MM",
    "TRAIN_RANGES",
    "VIEWS",
    "SynthRanges",
    "SynthSample",
    "make_dataset",
    "make_sample",
]

GENERATOR_VERSION = "neovasc.synth/3"

# Normal maximal thickness (mm) per tendon kind; see the module docstring for sources.
TENDONS: dict[str, tuple[float, float]] = {
    "achilles": (4.0, 7.0),
    "patellar": (3.0, 5.0),
    "extensor": (3.0, 5.0),
    "plantar": (3.0, 4.0),
}
THICKNESS_MM = (2.0, 12.0)  # thin plantar fascia / patellar tendon to a swollen Achilles
PATHOLOGIES: dict[str, float] = {
    "normal": 0.24,
    "fusiform": 0.14,
    "focal": 0.12,
    "hypoechoic": 0.12,
    "heterogeneous": 0.12,
    "partial_tear": 0.13,
    "calcification": 0.13,
}
NO_TENDON_SHARE = 0.08  # frames of tissue without a tendon: the model must learn to find nothing
# Where the colour goes, drawn before and apart from everything the tendon looks like.
PLACEMENTS: dict[str, float] = {
    "none": 0.36,
    "inside": 0.14,
    "around": 0.1,
    "outside": 0.1,
    "scattered": 0.1,
    "inside+around": 0.1,
    "inside+outside": 0.1,
}


@dataclass(frozen=True)
class SynthRanges:
    """Parameter ranges of the generator; each field is a tuple of ``(low, high)`` intervals to draw from.

    Attributes:
        fov_mm: displayed imaging depth in mm (the picture's height).
        thickness_scale: multiplier on the normal thickness range of the tendon kind.
        gain_db: overall gain offset in dB.
        dynamic_range_db: log-compression dynamic range in dB.
        screen_height: height of the rendered screen in pixels (before letterboxing to ``size``).
        size: ``(H, W)`` of the returned frame: the model input.
        view: ``"screen"`` (the whole screen is letterboxed to ``size``) or ``"picture"`` (the ultrasound
            picture alone, each side moved by -4 to +3 % of its size: the pipeline's crop and its errors).
        dome_share: share of tendons draped along the arc of a round bony head (``_dome``); 0 keeps the
            other shapes' draws exactly as without the option.
        no_tendon_share: share of frames without a tendon (``NO_TENDON_SHARE`` unless a run asks for more);
            the draw takes one random number either way, so a frame that keeps its tendon is the same frame.
    """

    fov_mm: tuple[tuple[float, float], ...] = ((15.0, 50.0),)
    thickness_scale: tuple[tuple[float, float], ...] = ((0.6, 1.4),)
    gain_db: tuple[tuple[float, float], ...] = ((-8.0, 8.0),)
    dynamic_range_db: tuple[tuple[float, float], ...] = ((45.0, 75.0),)
    screen_height: tuple[tuple[float, float], ...] = ((240.0, 600.0),)
    size: tuple[int, int] = field(default=(256, 256))
    view: str = "screen"
    dome_share: float = 0.0
    no_tendon_share: float = NO_TENDON_SHARE


VIEWS = ("screen", "picture")
TRAIN_RANGES = SynthRanges()
# Held-out: every range lies outside the training ranges (shallower and deeper fields of view, thinner and
# thicker tendons, lower and higher gain, narrower and wider dynamic range).
HELDOUT_RANGES = SynthRanges(
    fov_mm=((11.0, 15.0), (50.0, 60.0)),
    thickness_scale=((0.5, 0.6), (1.4, 1.5)),
    gain_db=((-11.0, -8.0), (8.0, 11.0)),
    dynamic_range_db=((40.0, 45.0), (75.0, 80.0)),
)


@dataclass(frozen=True)
class SynthSample:
    """One frame: ``image (H, W, 3) uint8 RGB``, ``mask (H, W) uint8`` (1 = tendon) and its parameters."""

    image: np.ndarray
    mask: np.ndarray
    params: dict[str, object]


def _draw(rng: np.random.Generator, intervals: tuple[tuple[float, float], ...]) -> float:
    lo, hi = intervals[int(rng.integers(len(intervals)))]
    return float(rng.uniform(lo, hi))


def _pick(rng: np.random.Generator, table: dict[str, float]) -> str:
    names = list(table)
    weights = np.asarray([table[n] for n in names], np.float64)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sx: float, sy: float) -> np.ndarray:
    """Zero-mean unit-variance Gaussian noise blurred by ``(sx, sy)`` pixels (anisotropic texture)."""
    noise = rng.standard_normal(shape).astype(np.float32)
    out = cv2.GaussianBlur(noise, (0, 0), sigmaX=max(sx, 0.3), sigmaY=max(sy, 0.3))
    return out / (out.std() + 1e-6)


def _curve(rng: np.random.Generator, w: int, amplitude: float) -> np.ndarray:
    """A smooth random curve over ``w`` columns (quadratic + slow wave), in pixels."""
    x = np.linspace(-1.0, 1.0, w, dtype=np.float32)
    a, b = rng.uniform(-1, 1, 2) * amplitude
    phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.5)
    return a * x**2 + b * x + 0.3 * amplitude * np.sin(freq * np.pi * x + phase)


def _septa(rng: np.random.Generator, shape: tuple[int, int], count: int, px_per_mm: float) -> np.ndarray:
    """Thin bright, roughly horizontal wavy lines (fat septa), values in [0, 1]."""
    h, w = shape
    out = np.zeros(shape, np.float32)
    xs = np.arange(w)
    width = max(1, round(0.15 * px_per_mm))
    for _ in range(count):
        y = rng.uniform(0, h) + _curve(rng, w, rng.uniform(0.3, 2.0) * px_per_mm)
        x0, x1 = sorted(rng.integers(0, w, 2))
        pts = np.stack([xs[x0 : x1 + 1], y[x0 : x1 + 1]], axis=1).astype(np.int32)
        cv2.polylines(out, [pts], False, float(rng.uniform(0.4, 1.0)), width)
    return cv2.GaussianBlur(out, (0, 0), 0.7)


def _thickness(rng: np.random.Generator, kind: str, pathology: str, scale: float) -> tuple[float, float]:
    """Base and peak thickness in mm (the peak differs for fusiform and focal thickening)."""
    lo, hi = TENDONS[kind]
    base = rng.uniform(lo, hi) * scale
    if pathology in ("hypoechoic", "heterogeneous", "partial_tear", "calcification"):
        base += rng.uniform(0.0, 2.0)  # tendinopathy: +1.4-2.7 mm on average (anatomy notes)
    peak = base
    if pathology == "fusiform":
        base += rng.uniform(0.5, 2.5)
        peak = base + rng.uniform(1.5, 6.0)
    elif pathology == "focal":
        peak = base + rng.uniform(1.0, 5.0)
    lo_mm, hi_mm = THICKNESS_MM
    base = float(np.clip(base, lo_mm, hi_mm))
    return base, float(np.clip(peak, base, hi_mm))


def _shape(rng: np.random.Generator, shares: dict[str, float], dome: float) -> str:
    """One of ``shares``' shapes, or ``"dome"`` with probability ``dome`` (the others scaled to make room; the
    same draw, so a share of 0 picks what the shapes alone would)."""
    names, p = list(shares), [v * (1.0 - dome) for v in shares.values()]
    if dome > 0:
        names, p = [*names, "dome"], [*p, dome]
    return str(rng.choice(names, p=p))


def _longitudinal(rng, h: int, w: int, ppm: float, top_edge: float, p: dict, dome: float):
    """Mask and its top/bottom/centre curves ``(w,)`` for a longitudinal tendon; bone curve or None."""
    base, peak = _thickness(rng, p["kind"], p["pathology"], p["thickness_scale"])
    shape = _shape(rng, {"straight": 0.35, "curved": 0.3, "convex": 0.2, "insertion": 0.15}, dome)
    p["shape"] = shape
    x = np.arange(w, dtype=np.float32)
    half = np.full(w, base * ppm / 2, np.float32)
    if p["pathology"] == "fusiform":
        mu, sd = rng.uniform(0.2, 0.8) * w, rng.uniform(0.15, 0.35) * w
        half += (peak - base) * ppm / 2 * np.exp(-0.5 * ((x - mu) / sd) ** 2)
    bump = np.zeros(w, np.float32)
    if p["pathology"] == "focal":
        mu, sd = rng.uniform(0.15, 0.85) * w, rng.uniform(0.04, 0.12) * w
        bump = (peak - base) * ppm * np.exp(-0.5 * ((x - mu) / sd) ** 2)
    if p["kind"] == "extensor":  # triangular: thins toward its origin
        half *= np.linspace(rng.uniform(0.55, 0.85), 1.0, w)[:: int(rng.choice([-1, 1]))]
    if shape == "dome":
        return _dome(rng, h, w, ppm, top_edge, half + bump / 2, p)
    if shape == "straight":
        course = rng.uniform(-0.08, 0.08) * (x - w / 2) + _curve(rng, w, 0.01 * h)
    elif shape == "curved":
        course = _curve(rng, w, rng.uniform(0.05, 0.18) * h)
    elif shape == "convex":  # draped over a bony head: highest in the middle of the head
        xc = rng.uniform(0.3, 0.7) * w
        course = rng.uniform(0.1, 0.35) * h * ((x - xc) / w) ** 2 * 4
    else:
        course = rng.uniform(-0.05, 0.05) * (x - w / 2)
    course = course - course.min()
    top = top_edge + course
    centre = top + half
    up = rng.random() < 0.5  # the focal bulge grows toward the skin or the deep side
    top, bottom = centre - half - (bump if up else 0), centre + half + (0 if up else bump)
    limit = 0.92 * h
    shift = max(0.0, float(bottom.max() - limit))
    top, bottom, centre = top - shift, bottom - shift, centre - shift
    top = np.maximum(top, p["skin_px"] + 1)
    x0, x1 = 0, w
    bone = None
    if shape == "insertion":  # the tendon ends on bone inside the view
        cut = int(rng.uniform(0.45, 0.85) * w)
        if rng.random() < 0.5:
            x1 = cut
            rise = np.clip((x - cut) / (0.1 * w), 0, 1)
        else:
            x0 = w - cut
            rise = np.clip((x0 - x) / (0.1 * w), 0, 1)
        gap = rng.uniform(0.3, 1.5) * ppm
        bone = bottom + gap - rise * (bottom - centre + gap)
    elif shape == "convex":
        bone = bottom + rng.uniform(0.5, 2.0) * ppm  # cartilage between tendon and cortex
    elif rng.random() < 0.35:
        bone = bottom + rng.uniform(2.0, 10.0) * ppm + _curve(rng, w, rng.uniform(0, 0.1) * h)
    yy = np.arange(h, dtype=np.float32)[:, None]
    inside = (yy >= top[None]) & (yy <= bottom[None])
    inside[:, :x0] = False
    inside[:, x1:] = False
    p["thickness_mm"] = round(float((bottom - top)[x0:x1].max() / ppm), 2)
    return inside, top, bottom, centre, bone


def _transverse(rng, h: int, w: int, ppm: float, top_edge: float, p: dict, dome: float):
    """Mask and top/bottom/centre curves ``(w,)`` of a transverse section; bone curve or None."""
    _base, peak = _thickness(rng, p["kind"], p["pathology"], p["thickness_scale"])
    shape = _shape(rng, {"oval": 0.4, "flat": 0.2, "crescent": 0.2, "kidney": 0.2}, dome)
    p["shape"] = shape
    if shape == "dome":  # supraspinatus over the humeral head: a band along the head's whole arc
        return _dome(rng, h, w, ppm, top_edge, np.full(w, peak * ppm / 2, np.float32), p)
    ry = peak * ppm / 2
    ratio = {"oval": (1.3, 3.0), "flat": (3.0, 6.0), "crescent": (2.5, 5.0), "kidney": (1.6, 2.6)}[shape]
    rx = min(ry * rng.uniform(*ratio), (0.45 if rng.random() < 0.8 else 0.75) * w)  # may run off the sides
    cx = rng.uniform(0.25, 0.75) * w
    cy = min(top_edge + ry, 0.92 * h - ry)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    bone = None
    if shape == "crescent":  # draped over a round head: a concave deep border
        inside &= ((xx - cx) / (rx * 1.1)) ** 2 + ((yy - cy - ry * 1.4) / (ry * 1.1)) ** 2 > 1.0
        xs = np.arange(w, dtype=np.float32)
        head = cy + ry * 1.4 - ry * 1.1 * np.sqrt(np.clip(1 - ((xs - cx) / (rx * 1.1)) ** 2, 0, 1))
        bone = np.where(np.abs(xs - cx) < rx * 1.1, head + rng.uniform(0.5, 1.5) * ppm, np.nan)
    elif shape == "kidney":
        inside &= ((xx - cx) / (rx * 0.35)) ** 2 + ((yy - cy - ry) / (ry * 0.5)) ** 2 > 1.0
    inside[yy < p["skin_px"] + 1] = False
    rows = np.nonzero(inside.any(axis=1))[0]
    t, b = (float(rows[0]), float(rows[-1])) if len(rows) else (cy - ry, cy + ry)
    p["thickness_mm"] = round((b - t) / ppm, 2)
    if bone is None and rng.random() < 0.35:
        bone = np.full(w, b + rng.uniform(2.0, 8.0) * ppm, np.float32) + _curve(rng, w, 0.05 * h)
    return inside, np.full(w, t, np.float32), np.full(w, b, np.float32), np.full(w, cy, np.float32), bone


def _dome(rng, h: int, w: int, ppm: float, top_edge: float, half: np.ndarray, p: dict):
    """A tendon draped over a round bony head along its arc (supraspinatus, common extensor origin).

    The head is a circle of radius 8-30 mm (lateral epicondyle to humeral head) whose top lies under the
    tendon and a 0.5-2 mm hypoechoic cartilage layer; the tendon follows the arc down the head's sides
    until the arc is steeper than 50-70 degrees or leaves the picture, so it can span the picture's width
    and fill much of its height. Returns what ``_longitudinal`` returns.
    """
    x = np.arange(w, dtype=np.float32)
    radius = rng.uniform(8.0, 30.0) * ppm
    cartilage = rng.uniform(0.5, 2.0) * ppm
    xc = rng.uniform(0.15, 0.85) * w
    thick = 2 * half
    apex = int(np.clip(round(xc), 0, w - 1))
    yc = top_edge + float(thick[apex]) + cartilage + radius
    dx = np.clip(np.abs(x - xc) / radius, 0, 1)
    head = (yc - radius * np.sqrt(1 - dx**2)).astype(np.float32)
    steep = np.arcsin(dx) > np.deg2rad(rng.uniform(50.0, 70.0))
    bottom = head - cartilage
    top = np.maximum(bottom - thick, p["skin_px"] + 1)
    centre = (top + bottom) / 2
    yy = np.arange(h, dtype=np.float32)[:, None]
    inside = (yy >= top[None]) & (yy <= bottom[None]) & ~steep[None]
    bone = np.where(dx < 1, head, np.nan).astype(np.float32)
    cols = np.nonzero(inside.any(axis=0))[0]
    p["thickness_mm"] = round(float(thick[cols].max() / ppm), 2) if len(cols) else 0.0
    return inside, top, bottom, centre, bone


def _tendon_texture(rng, h: int, w: int, ppm: float, centre: np.ndarray, view: str) -> np.ndarray:
    """Fibrils that follow the tendon's course (longitudinal) or bright dots (transverse), around 0.55."""
    if view == "transverse":
        dots = _smooth_noise(rng, (h, w), rng.uniform(0.06, 0.15) * ppm, rng.uniform(0.06, 0.15) * ppm)
        return 0.45 + rng.uniform(0.08, 0.35) * np.clip(dots, -1.5, 2.5)
    field = _smooth_noise(rng, (2 * h, w), rng.uniform(1.0, 4.0) * ppm, rng.uniform(0.05, 0.15) * ppm)
    map_x = np.broadcast_to(np.arange(w, dtype=np.float32)[None], (h, w))
    map_y = (np.arange(h, dtype=np.float32)[:, None] - centre[None] + h).astype(np.float32)  # along the course
    fib = cv2.remap(field, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), cv2.INTER_LINEAR)
    return 0.55 + rng.uniform(0.08, 0.4) * np.clip(fib, -1.5, 2.5)  # from faint to plain fibrils


def _pathology(rng, tex: np.ndarray, tendon: np.ndarray, top, bottom, ppm: float, p: dict):
    """Apply the pathology to the tendon texture; returns the texture and an echo multiplier (shadows)."""
    h, w = tex.shape
    shade = np.ones((h, w), np.float32)
    kind = p["pathology"]
    ys, xs = np.nonzero(tendon)
    if not len(ys):
        return tex, shade
    if kind in ("hypoechoic", "fusiform", "focal"):
        blobs = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), rng.uniform(0.8, 2.5) * ppm)
        blobs = np.clip((blobs - blobs.std() * rng.uniform(0.3, 1.0)) / (blobs.std() + 1e-6), 0, 1)
        tex = tex * (1 - rng.uniform(0.4, 0.85) * blobs)
    if kind == "heterogeneous":
        mix = _smooth_noise(rng, (h, w), rng.uniform(0.3, 1.0) * ppm, rng.uniform(0.3, 1.0) * ppm)
        tex = tex * np.clip(1 + rng.uniform(0.3, 0.6) * mix, 0.2, 2.0)
    if kind == "partial_tear":
        layer = np.zeros((h, w), np.uint8)
        width = max(1, round(rng.uniform(0.4, 1.5) * ppm))
        i = int(rng.integers(len(ys)))
        x = int(xs[i])
        if rng.random() < 0.5:  # a cleft from the superficial or deep surface into the tendon
            from_top = rng.random() < 0.5
            y0 = float(top[x] if from_top else bottom[x])
            depth = rng.uniform(0.3, 0.8) * float(bottom[x] - top[x])
            y1 = y0 + depth if from_top else y0 - depth
            dx = rng.uniform(-1.0, 1.0) * depth
            cv2.line(layer, (x, int(y0)), (int(x + dx), int(y1)), 1, width)
        else:  # a split along the fibres
            length = int(rng.uniform(0.15, 0.5) * w)
            frac = rng.uniform(0.3, 0.7)
            pts = [
                (xx, top[xx] + frac * (bottom[xx] - top[xx]))
                for xx in range(max(0, x - length // 2), min(w, x + length // 2))
            ]
            if len(pts) > 1:
                cv2.polylines(layer, [np.asarray(pts, np.float32).round().astype(np.int32)], False, 1, width)
        tex = np.where(layer > 0, tex * rng.uniform(0.02, 0.15), tex)
    if kind == "calcification":
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(len(ys)))
            ax, ay = rng.uniform(0.3, 1.5, 2) * ppm
            cy, cx = int(ys[i]), int(xs[i])
            spot = np.zeros((h, w), np.uint8)
            cv2.ellipse(spot, (cx, cy), (max(1, int(ax)), max(1, int(ay))), float(rng.uniform(0, 180)), 0, 360, 1, -1)
            tex = np.where(spot > 0, rng.uniform(1.6, 3.0), tex)
            x0, x1 = max(0, int(cx - ax)), min(w, int(cx + ax) + 1)
            shade[int(cy + ay) + 1 :, x0:x1] *= rng.uniform(0.05, 0.35)
    return tex, shade


def _vessel(rng: np.random.Generator, echo: np.ndarray, ppm: float, view: str) -> np.ndarray:
    """An anechoic vessel 3-8 mm across with bright walls (an artery or vein seen along or across)."""
    h, w = echo.shape
    radius = rng.uniform(1.5, 4.0) * ppm
    cy = rng.uniform(0.25, 0.75) * h
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if view == "transverse":
        dist = np.hypot(xx - rng.uniform(0.2, 0.8) * w, (yy - cy) * rng.uniform(1.0, 1.4))
    else:
        dist = np.abs(yy - cy - _curve(rng, w, 0.05 * h)[None])
    wall = max(1.0, 0.3 * ppm)
    echo = np.where(dist < radius, rng.uniform(0.0, 0.03), echo)
    return np.where((dist >= radius) & (dist < radius + wall), rng.uniform(0.5, 1.2), echo).astype(np.float32)


def _anatomy(rng: np.random.Generator, h: int, w: int, ppm: float, p: dict, dome: float):
    """Echogenicity map (linear amplitude) and tendon mask of the picture, before speckle."""
    yy = np.arange(h, dtype=np.float32)[:, None]
    gel = rng.uniform(2.0, 8.0) * ppm if rng.random() < 0.12 else 0.0
    p["standoff_mm"] = round(gel / ppm, 1)
    skin = gel + rng.uniform(0.6, 1.5) * ppm
    p["skin_px"] = skin
    fat_mm = rng.uniform(0.2, 1.0) if rng.random() < 0.25 else rng.uniform(1.0, 10.0)
    p["depth_mm"] = round(float(skin / ppm + fat_mm), 1)
    top_edge = skin + fat_mm * ppm
    if p["view"] == "longitudinal":
        tendon, top, bottom, centre, bone = _longitudinal(rng, h, w, ppm, top_edge, p, dome)
    else:
        tendon, top, bottom, centre, bone = _transverse(rng, h, w, ppm, top_edge, p, dome)
    # Contrast with the tissue around, as a ratio of mean echo: a bright tendon in dark fat ("high"), or
    # one barely brighter than a bright fat pad or a hypoechoic tendinopathic one ("low"), so that the
    # outline is learnt from texture and borders, not from brightness alone.
    p["contrast"] = str(rng.choice(["high", "medium", "low"], p=[0.4, 0.35, 0.25]))
    ratio = rng.uniform(*{"high": (3.0, 8.0), "medium": (1.8, 3.0), "low": (1.25, 1.8)}[p["contrast"]])
    level = rng.uniform(0.05, 0.14) if p["contrast"] == "high" else rng.uniform(0.08, 0.3)
    echo = np.full((h, w), level, np.float32)
    echo += rng.uniform(0.15, 0.45) * _septa(rng, (h, w), int(rng.integers(4, 16)), ppm)
    # Deep: fat pad then striated muscle (or muscle straight away).
    muscle_y = bottom[None] + rng.uniform(0.5, 10.0) * ppm
    striation = 0.5 + 0.5 * np.clip(_smooth_noise(rng, (h, w), rng.uniform(1.0, 4.0) * ppm, 0.15 * ppm), -1, 2)
    echo = np.where(yy >= muscle_y, rng.uniform(0.08, 0.2) + rng.uniform(0.2, 0.4) * striation, echo)
    if p["no_tendon"]:  # fat, muscle, bone and perhaps a vessel alone: nothing to outline
        tendon = np.zeros_like(tendon)
        if rng.random() < 0.6:
            echo = _vessel(rng, echo, ppm, p["view"])
    tex = _tendon_texture(rng, h, w, ppm, centre, p["view"])
    tex = tex * float(np.clip(ratio * level / max(float(tex[tendon].mean()) if tendon.any() else 0.5, 1e-3), 0.2, 2.5))
    tex, shade = _pathology(rng, tex, tendon, top, bottom, ppm, p)
    p["anisotropy"] = bool(rng.random() < 0.35)
    if p["anisotropy"]:  # fibres tilted away from the beam look dark
        if p["view"] == "longitudinal":
            slope = np.abs(np.gradient(centre))
            tilt = np.clip(slope / max(float(slope.max()), 0.15), 0, 1)
            ramp = np.linspace(0, 1, w, dtype=np.float32) ** rng.uniform(2, 5)
            tilt = np.maximum(tilt, ramp if rng.random() < 0.5 else ramp[::-1])
        else:
            xs = np.arange(w, dtype=np.float32)
            cols = np.nonzero(tendon.any(axis=0))[0]
            mid, span = (cols.mean(), max(1.0, np.ptp(cols) / 2)) if len(cols) else (w / 2, w / 2)
            tilt = np.clip(np.abs(xs - mid) / span, 0, 1) ** 2
        tex = tex * (1 - rng.uniform(0.4, 0.8) * tilt[None])
    if rng.random() < 0.5:  # a border blurred over 0.1-0.5 mm, else a sharp one
        alpha = cv2.GaussianBlur(tendon.astype(np.float32), (0, 0), max(0.5, rng.uniform(0.1, 0.5) * ppm))
        echo = alpha * tex + (1 - alpha) * echo
    else:
        echo = np.where(tendon, tex, echo)
    if rng.random() < 0.6:  # paratenon: thin bright lines along the border, faint to plain
        grow = max(1, round(0.2 * ppm))
        ring = cv2.dilate(tendon.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0
        echo = np.where(ring & ~tendon, echo + rng.uniform(0.05, 0.8), echo)
    if p.get("shape") == "dome" and rng.random() < 0.6:  # a bursa: a thin dark layer over the tendon
        gap, layer = rng.uniform(0.0, 0.4) * ppm, rng.uniform(0.3, 1.5) * ppm
        bursa = (yy >= top[None] - gap - layer) & (yy < top[None] - gap) & ~tendon
        echo = np.where(bursa, echo * rng.uniform(0.05, 0.3), echo)
    if bone is not None:  # cortex with its shadow; cartilage (hypoechoic) between it and the tendon
        valid = ~np.isnan(bone)
        bone_c = np.where(valid, bone, np.inf).astype(np.float32)
        cortex = (np.abs(yy - bone_c[None]) < max(1.0, rng.uniform(0.3, 0.8) * ppm)) & ~tendon
        below = yy > bone_c[None] + 1
        echo = np.where(below, echo * rng.uniform(0.02, 0.15), echo)
        echo = np.where(cortex, rng.uniform(1.2, 2.0), echo)
    echo = echo * shade
    echo = np.where(yy < skin, rng.uniform(0.7, 1.1), echo)
    echo = np.where(yy < gel, rng.uniform(0.0, 0.02), echo)
    return np.clip(echo, 0.005, None), tendon


def _bmode(rng: np.random.Generator, echo: np.ndarray, ppm: float, p: dict) -> np.ndarray:
    """Speckle, depth attenuation and log compression -> ``(h, w) uint8`` grey B-mode."""
    h, w = echo.shape
    cell_x, cell_y = max(0.5, rng.uniform(0.12, 0.5) * ppm), max(0.4, rng.uniform(0.06, 0.3) * ppm)
    re = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), cell_x, sigmaY=cell_y)
    im = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), cell_x, sigmaY=cell_y)
    speckle = np.sqrt(re**2 + im**2)
    speckle /= speckle.mean() + 1e-6
    if rng.random() < 0.5:  # K-distributed: a Gamma-distributed scatterer density under the speckle
        a = rng.uniform(1.0, 10.0)
        speckle *= np.sqrt(rng.gamma(a, 1.0 / a, (h, w))).astype(np.float32)
    atten = np.exp(-rng.uniform(0.0, 1.5) * np.linspace(0, 1, h, dtype=np.float32))[:, None]
    amp = echo * speckle * atten
    db = 20 * np.log10(amp + 1e-4)
    dr, gain = p["dynamic_range_db"], p["gain_db"]
    top = 20 * np.log10(1.2) - gain
    grey = np.clip((db - (top - dr)) / dr, 0, 1) ** rng.uniform(0.7, 1.4)
    out = (grey * 255).astype(np.uint8)
    if rng.random() < 0.4:  # speckle reduction
        out = cv2.medianBlur(out, 3) if rng.random() < 0.5 else cv2.GaussianBlur(out, (0, 0), 0.8)
    return out


# Colour maps: value in [0, 1] -> RGB. Colour flow is signed (red toward, blue away); power is one ramp.
def _cmap_colour_flow(v: np.ndarray, signed: np.ndarray) -> np.ndarray:
    pos = np.stack([120 + 135 * v, 200 * np.clip(v - 0.6, 0, 1) * 2.5, 30 * v], -1)  # red -> yellow
    neg = np.stack([20 * v, 80 + 175 * np.clip(v - 0.5, 0, 1) * 2, 140 + 115 * v], -1)  # blue -> cyan
    return np.where(signed[..., None] >= 0, pos, neg)


_POWER_MAPS = {
    "power_ge": ((90, 0, 0), (255, 120, 0), (255, 255, 90)),  # dark red -> orange -> yellow
    "power_magenta": ((90, 0, 90), (230, 40, 200), (255, 190, 255)),
    "power_gold": ((110, 60, 0), (230, 170, 20), (255, 240, 150)),
    "smi_blue": ((20, 40, 120), (60, 140, 255), (200, 235, 255)),
}


def _cmap_power(v: np.ndarray, name: str) -> np.ndarray:
    lo, mid, hi = (np.asarray(c, np.float32) for c in _POWER_MAPS[name])
    a = np.clip(v * 2, 0, 1)[..., None]
    b = np.clip(v * 2 - 1, 0, 1)[..., None]
    return np.where(v[..., None] < 0.5, lo + (mid - lo) * a, mid + (hi - mid) * b)


def _bar_colours(ramp: np.ndarray, p: dict) -> np.ndarray:
    """A colour bar's colours for ``ramp (n,)`` (1 to -1): the frame's velocity or power map."""
    if p["doppler"] == "colour_flow":
        return _cmap_colour_flow(np.abs(ramp), ramp)
    return _cmap_power((ramp + 1) / 2, str(p.get("colour_map", "power_ge")))


def _regions(tendon: np.ndarray, ppm: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Where each placement may put colour: in the tendon, within 1-3 mm around it, >= 2 mm away."""
    dist = cv2.distanceTransform((~tendon).astype(np.uint8), cv2.DIST_L2, 3)  # px from the tendon
    return {
        "inside": tendon,
        "around": (~tendon) & (dist <= rng.uniform(1.0, 3.0) * ppm),
        "outside": dist >= 2.0 * ppm,
        "scattered": np.ones_like(tendon),
    }


def _flow(rng: np.random.Generator, region: np.ndarray, box: np.ndarray, ppm: float, part: str) -> np.ndarray:
    """Signed velocity in [-1, 1] on the vessel pixels of one placement (vessels or saturating blobs)."""
    h, w = region.shape
    allowed = region & box
    flow = np.zeros((h, w), np.float32)
    ys, xs = np.nonzero(allowed)
    if not len(ys):
        return flow
    sign = float(rng.choice([-1.0, 1.0]))
    speed = _smooth_noise(rng, (h, w), 3 * ppm, 3 * ppm) * 0.25 + rng.uniform(0.4, 0.8)
    if rng.random() < 0.18:  # a lot: colour saturating much of the region
        blobs = _smooth_noise(rng, (h, w), rng.uniform(0.5, 2.0) * ppm, rng.uniform(0.5, 2.0) * ppm)
        cover = blobs > np.quantile(blobs[allowed], rng.uniform(0.05, 0.7))
        flow = np.where(cover & allowed, sign * np.clip(speed, 0.1, 1.0), 0).astype(np.float32)
        return flow
    layer = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.choice([1, 2, 3, 4, 6, 9, 14]))):
        i = int(rng.integers(len(ys)))
        x, y = float(xs[i]), float(ys[i])
        # neovessels enter from the deep side and run across the fibres; others run any way
        angle = -np.pi / 2 + rng.normal(0, 0.5) if part == "inside" else rng.uniform(0, 2 * np.pi)
        width = max(1, round(rng.uniform(0.2, 0.8) * ppm))
        pts = [(x, y)]
        for _ in range(int(rng.integers(4, 20))):
            angle += rng.normal(0, 0.35)
            step = rng.uniform(0.3, 1.0) * ppm
            x, y = x + step * np.cos(angle), y + step * np.sin(angle)
            pts.append((x, y))
        cv2.polylines(layer, [np.asarray(pts, np.float32).round().astype(np.int32)], False, 1, width)
    signs = np.where(_smooth_noise(rng, (h, w), 2 * ppm, 2 * ppm) > rng.uniform(-1.5, 0.5), sign, -sign)
    return np.where((layer > 0) & allowed, signs * np.clip(speed, 0.1, 1.0), 0).astype(np.float32)


def _doppler(rng: np.random.Generator, grey: np.ndarray, tendon: np.ndarray, ppm: float, p: dict):
    """RGB picture with the colour box and the colour painted; returns ``(rgb, box outline or None)``."""
    h, w = grey.shape
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    placement = _pick(rng, PLACEMENTS)
    p["placement"] = placement
    if placement == "none" and rng.random() < 0.5:
        p["doppler"] = "none"
        p["box"] = None
        return rgb, None
    mode = "colour_flow" if rng.random() < 0.45 else "power"
    p["doppler"] = mode
    bw, bh = int(rng.uniform(0.25, 1.0) * w), int(rng.uniform(0.25, 1.0) * h)
    bx, by = int(rng.uniform(0, w - bw + 1)), int(rng.uniform(0, h - bh + 1))
    x0, y0, x1, y1 = bx, by, bx + bw, by + bh
    if rng.random() < 0.35:  # the box drawn around the whole tendon (a careful sonographer)
        rows, cols = np.nonzero(tendon.any(axis=1))[0], np.nonzero(tendon.any(axis=0))[0]
        if len(rows):
            x0, x1 = min(x0, int(cols[0])), max(x1, int(cols[-1]) + 1)
            y0, y1 = min(y0, int(rows[0])), max(y1, int(rows[-1]) + 1)
    shift = int(rng.uniform(-0.25, 0.25) * (y1 - y0)) if rng.random() < 0.4 else 0  # steered
    corners = np.array([[x0, y0], [x1, y0], [x1 + shift, y1], [x0 + shift, y1]], np.int32)
    box = np.zeros((h, w), np.uint8)
    cv2.fillPoly(box, [corners], 1)
    box = box > 0
    tendon_px = int(tendon.sum())
    covered = float((tendon & box).sum()) / max(1, tendon_px)
    p["box_covers"] = "all" if covered > 0.98 else "none" if covered < 0.02 else "part"
    flow = np.zeros((h, w), np.float32)
    if placement != "none":
        regions = _regions(tendon, ppm, rng)
        for part in placement.split("+"):
            new = _flow(rng, regions[part], box, ppm, part)
            flow = np.where(flow == 0, new, flow)
    if rng.random() < 0.5:  # colour noise speckles
        noise = (rng.random((h, w)) < rng.uniform(0, 0.01)) & box
        flow = np.where(noise & (flow == 0), rng.uniform(-0.6, 0.6, (h, w)).astype(np.float32), flow)
    if rng.random() < 0.05:  # flash: motion colours much of the box for a frame
        flash = (_smooth_noise(rng, (h, w), 2 * ppm, 2 * ppm) > rng.uniform(-0.5, 0.5)) & box
        flow = np.where(flash & (flow == 0), 0.5 * np.sign(_smooth_noise(rng, (h, w), ppm, ppm)), flow)
        p["flash"] = True
    soft = cv2.GaussianBlur(flow, (0, 0), max(0.5, 0.1 * ppm))
    flow = np.where(np.abs(soft) > 0.08, soft, 0).astype(np.float32)
    v = np.clip(np.abs(flow), 0, 1)
    if mode == "colour_flow":
        signed = -flow if rng.random() < 0.25 else flow
        colour = _cmap_colour_flow(v, signed)
    else:
        name = str(rng.choice(list(_POWER_MAPS)))
        p["colour_map"] = name
        colour = _cmap_power(v, name)
    colour = np.clip(colour * rng.uniform(0.85, 1.1, 3).astype(np.float32), 0, 255)  # vendor jitter
    painted = v > 0
    p["colour_in_tendon"] = round(float((painted & tendon).sum()) / max(1, tendon_px), 3)
    if rng.random() < 0.15:  # some scanners blend the colour with the grey
        alpha = rng.uniform(0.7, 0.9)
        rgb[painted] = alpha * colour[painted] + (1 - alpha) * rgb[painted]
    else:
        rgb[painted] = colour[painted]
    p["box"] = corners.tolist()
    return rgb, corners


def _blend_texture(rng: np.random.Generator, grey: np.ndarray, tendon: np.ndarray, textures) -> np.ndarray:
    """Blend a crop of a real B-mode image into the tissue around (not inside) the tendon."""
    tex = textures[int(rng.integers(len(textures)))]
    h, w = grey.shape
    th, tw = tex.shape
    y, x = int(rng.integers(0, max(1, th - h))), int(rng.integers(0, max(1, tw - w)))
    crop = cv2.resize(tex[y : y + h, x : x + w], (w, h)).astype(np.float32)
    alpha = rng.uniform(0.2, 0.6)
    mixed = (1 - alpha) * grey + alpha * crop
    return np.where(tendon, grey, mixed).astype(np.uint8)


def make_sample(seed: int, ranges: SynthRanges = TRAIN_RANGES, textures=None) -> SynthSample:
    """One synthetic frame, a pure function of ``seed``, ``ranges`` and ``textures``.

    Args:
        seed: any non-negative int; the same seed always gives the same frame.
        ranges: parameter ranges (``TRAIN_RANGES`` or ``HELDOUT_RANGES``).
        textures: optional list of ``(H, W) uint8`` real B-mode images blended into the background.

    Returns:
        ``SynthSample`` with ``image (H, W, 3) uint8 RGB`` and ``mask (H, W) uint8`` in {0, 1} at
        ``ranges.size``: the rendered screen letterboxed like the predictor's input.
    """
    if ranges.view not in VIEWS:
        raise ValueError(f"SynthRanges.view must be one of {VIEWS}, got {ranges.view!r}")
    rng = np.random.default_rng(seed)
    p: dict[str, object] = {
        "seed": int(seed),
        "generator": GENERATOR_VERSION,
        "kind": str(rng.choice(list(TENDONS))),
        "view": "longitudinal" if rng.random() < 0.6 else "transverse",
        "pathology": _pick(rng, PATHOLOGIES),
        "no_tendon": bool(rng.random() < ranges.no_tendon_share),
        "fov_mm": _draw(rng, ranges.fov_mm),
        "thickness_scale": _draw(rng, ranges.thickness_scale),
        "gain_db": _draw(rng, ranges.gain_db),
        "dynamic_range_db": _draw(rng, ranges.dynamic_range_db),
    }
    layout = synth_screen.layout(rng, int(_draw(rng, ranges.screen_height)))
    ih, iw = layout["picture"]
    p["screen"] = layout["screen"]
    ppm = ih / float(p["fov_mm"])
    echo, tendon = _anatomy(rng, ih, iw, ppm, p, ranges.dome_share)
    grey = _bmode(rng, echo, ppm, p)
    if textures and rng.random() < 0.4:
        grey = _blend_texture(rng, grey, tendon, textures)
    rgb, box = _doppler(rng, grey, tendon, ppm, p)
    layout["box"] = box
    screen, mask = synth_screen.screen(rng, rgb, tendon.astype(np.uint8), p, layout, _bar_colours)
    screen = synth_screen.compress(rng, screen, p)
    if ranges.view == "picture":
        screen, mask = synth_screen.picture_crop(rng, screen, mask, layout)
    image, _ = letterbox(screen[None], tuple(ranges.size))
    boxed_mask, _ = letterbox((mask * 255)[None, ..., None], tuple(ranges.size))
    p.pop("skin_px", None)
    return SynthSample(image=image[0], mask=(boxed_mask[0, ..., 0] >= 128).astype(np.uint8), params=p)


def make_dataset(
    count: int, seed: int, ranges: SynthRanges = TRAIN_RANGES, textures=None
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` frames from seeds ``seed * 1_000_003 + i``.

    Returns:
        ``(N, H, W, 3) uint8 RGB`` images and ``(N, H, W) uint8`` masks (1 = tendon).
    """
    samples = [make_sample(seed * 1_000_003 + i, ranges, textures) for i in range(count)]
    return np.stack([s.image for s in samples]), np.stack([s.mask for s in samples])
