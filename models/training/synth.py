"""Synthetic Doppler ultrasound screens of tendons with exact tendon masks, deterministic by seed.

No public tendon ultrasound data set with outlines exists, so the segmentation model learns from frames built
here. The generator spans what real scanning shows, and above all places the Doppler colour **independently
of the tendon**: the network must find the tendon from its B-mode appearance, with colour as something that
may cover it, lie beside it or be absent. Version 3 widens the appearance: the tendon's brightness against
the tissue around it, its texture and its border are drawn from wide ranges, so that the outline is learnt
from borders and texture and not from "the brightest band", and some frames hold no tendon at all. A run
may ask for tendons draped along the arc of a round bony head (``SynthRanges.dome_share``, ``synth_tendon``) and
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

The tendon is drawn in ``models.training.synth_tendon``, the colour in ``models.training.synth_doppler`` and the
scanner around the picture in ``models.training.synth_screen``. The screen (``SynthRanges.view == "screen"``),
or the picture alone cut as the pipeline cuts it with each side off by -4 to +3 % (``"picture"``), is then
letterboxed to ``SynthRanges.size`` exactly as the predictor letterboxes a frame, the mask with it.
``TRAIN_RANGES`` and ``HELDOUT_RANGES`` are disjoint in
field of view, thickness scale, gain and dynamic range (``--test synth-heldout``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from models.training import synth_doppler, synth_screen, synth_tendon
from models.training.synth_doppler import PLACEMENTS
from models.training.synth_draws import curve, draw, pick, smooth_noise
from models.training.synth_tendon import TENDONS, THICKNESS_MM
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


def _septa(rng: np.random.Generator, shape: tuple[int, int], count: int, px_per_mm: float) -> np.ndarray:
    """Thin bright, roughly horizontal wavy lines (fat septa), values in [0, 1]."""
    h, w = shape
    out = np.zeros(shape, np.float32)
    xs = np.arange(w)
    width = max(1, round(0.15 * px_per_mm))
    for _ in range(count):
        y = rng.uniform(0, h) + curve(rng, w, rng.uniform(0.3, 2.0) * px_per_mm)
        x0, x1 = sorted(rng.integers(0, w, 2))
        pts = np.stack([xs[x0 : x1 + 1], y[x0 : x1 + 1]], axis=1).astype(np.int32)
        cv2.polylines(out, [pts], False, float(rng.uniform(0.4, 1.0)), width)
    return cv2.GaussianBlur(out, (0, 0), 0.7)


def _vessel(rng: np.random.Generator, echo: np.ndarray, ppm: float, view: str) -> np.ndarray:
    """An anechoic vessel 3-8 mm across with bright walls (an artery or vein seen along or across)."""
    h, w = echo.shape
    radius = rng.uniform(1.5, 4.0) * ppm
    cy = rng.uniform(0.25, 0.75) * h
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if view == "transverse":
        dist = np.hypot(xx - rng.uniform(0.2, 0.8) * w, (yy - cy) * rng.uniform(1.0, 1.4))
    else:
        dist = np.abs(yy - cy - curve(rng, w, 0.05 * h)[None])
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
        tendon, top, bottom, centre, bone = synth_tendon.longitudinal(rng, h, w, ppm, top_edge, p, dome)
    else:
        tendon, top, bottom, centre, bone = synth_tendon.transverse(rng, h, w, ppm, top_edge, p, dome)
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
    striation = 0.5 + 0.5 * np.clip(smooth_noise(rng, (h, w), rng.uniform(1.0, 4.0) * ppm, 0.15 * ppm), -1, 2)
    echo = np.where(yy >= muscle_y, rng.uniform(0.08, 0.2) + rng.uniform(0.2, 0.4) * striation, echo)
    if p["no_tendon"]:  # fat, muscle, bone and perhaps a vessel alone: nothing to outline
        tendon = np.zeros_like(tendon)
        if rng.random() < 0.6:
            echo = _vessel(rng, echo, ppm, p["view"])
    tex = synth_tendon.tendon_texture(rng, h, w, ppm, centre, p["view"])
    tex = tex * float(np.clip(ratio * level / max(float(tex[tendon].mean()) if tendon.any() else 0.5, 1e-3), 0.2, 2.5))
    tex, shade = synth_tendon.pathology_texture(rng, tex, tendon, top, bottom, ppm, p)
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
        "pathology": pick(rng, PATHOLOGIES),
        "no_tendon": bool(rng.random() < ranges.no_tendon_share),
        "fov_mm": draw(rng, ranges.fov_mm),
        "thickness_scale": draw(rng, ranges.thickness_scale),
        "gain_db": draw(rng, ranges.gain_db),
        "dynamic_range_db": draw(rng, ranges.dynamic_range_db),
    }
    layout = synth_screen.layout(rng, int(draw(rng, ranges.screen_height)))
    ih, iw = layout["picture"]
    p["screen"] = layout["screen"]
    ppm = ih / float(p["fov_mm"])
    echo, tendon = _anatomy(rng, ih, iw, ppm, p, ranges.dome_share)
    grey = _bmode(rng, echo, ppm, p)
    if textures and rng.random() < 0.4:
        grey = _blend_texture(rng, grey, tendon, textures)
    rgb, box = synth_doppler.doppler(rng, grey, tendon, ppm, p)
    layout["box"] = box
    screen, mask = synth_screen.screen(rng, rgb, tendon.astype(np.uint8), p, layout, synth_doppler.bar_colours)
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
