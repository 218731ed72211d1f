"""Synthetic Doppler ultrasound frames of tendons with exact tendon masks, deterministic by seed.

No public tendon ultrasound dataset exists, so the segmentation model learns from frames built here from the
appearance described in ``docs``/anatomy notes (high-frequency linear probe, 2-5 cm depth):

* tissue layers top to bottom: bright skin line, hypoechoic subcutaneous fat with thin bright septa, the
  tendon (longitudinal: a band of parallel bright fibrils bounded by the bright paratenon; transverse: an
  ellipse or crescent of bright dots), a hypoechoic fat pad with septa (Kager's / Hoffa's), striated muscle,
  and bone as a bright curved cortex with an acoustic shadow beneath it;
* tendinopathy: fusiform thickening with focal hypoechoic areas; anisotropy darkening where fibres curve;
* image formation: Rayleigh speckle on an echogenicity map, depth attenuation, log compression with a random
  gain and dynamic range;
* Doppler: a colour box (rectangle or steered parallelogram) with vessels entering the tendon from its deep
  side and running through the fat pad, painted in colour-flow or power maps of several vendors, noise
  speckles and occasional flash; the paint covers tendon pixels, so the model must see the tendon through it;
* scanner screen: black margins, text, a colour bar and a depth scale; JPEG or video-like (4:2:0 chroma +
  coarse JPEG) compression.

Parameter ranges live in ``SynthRanges``; ``TRAIN_RANGES`` and ``HELDOUT_RANGES`` are disjoint in field of
view, tendon thickness, gain and dynamic range, so the held-out test measures generalisation to unseen
settings. Anatomical numbers come from normative thickness studies (Achilles midportion median ~5 mm,
4-7 mm; plantar fascia 3-4 mm; patellar and common extensor 3-5 mm; tendinopathy adds ~1.4-2.7 mm).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = [
    "GENERATOR_VERSION",
    "HELDOUT_RANGES",
    "TENDONS",
    "TRAIN_RANGES",
    "SynthRanges",
    "SynthSample",
    "make_dataset",
    "make_sample",
]

GENERATOR_VERSION = "neovasc.synth/1"

# Normal maximal thickness (mm) per tendon kind; see the module docstring for sources.
TENDONS: dict[str, tuple[float, float]] = {
    "achilles": (4.0, 7.0),
    "patellar": (3.0, 5.0),
    "extensor": (3.0, 5.0),
    "plantar": (3.0, 4.0),
}


@dataclass(frozen=True)
class SynthRanges:
    """Parameter ranges of the generator; each field is a tuple of ``(low, high)`` intervals to draw from.

    Attributes:
        fov_mm: displayed imaging depth in mm (the image area's height).
        thickness_scale: multiplier on the normal thickness range of the tendon kind.
        gain_db: overall gain offset in dB.
        dynamic_range_db: log-compression dynamic range in dB.
    """

    fov_mm: tuple[tuple[float, float], ...] = ((25.0, 40.0),)
    thickness_scale: tuple[tuple[float, float], ...] = ((0.85, 1.15),)
    gain_db: tuple[tuple[float, float], ...] = ((-6.0, 6.0),)
    dynamic_range_db: tuple[tuple[float, float], ...] = ((50.0, 70.0),)
    size: tuple[int, int] = field(default=(256, 256))


TRAIN_RANGES = SynthRanges()
# Held-out: every range lies outside the training ranges (shallower and deeper fields of view, thinner and
# thicker tendons, lower and higher gain, narrower and wider dynamic range).
HELDOUT_RANGES = SynthRanges(
    fov_mm=((20.0, 25.0), (40.0, 45.0)),
    thickness_scale=((0.75, 0.85), (1.15, 1.25)),
    gain_db=((-9.0, -6.0), (6.0, 9.0)),
    dynamic_range_db=((45.0, 50.0), (70.0, 75.0)),
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


def _septa(rng: np.random.Generator, shape: tuple[int, int], count: int) -> np.ndarray:
    """Thin bright, roughly horizontal wavy lines (fat septa), values in [0, 1]."""
    h, w = shape
    out = np.zeros(shape, np.float32)
    xs = np.arange(w)
    for _ in range(count):
        y = rng.uniform(0, h) + _curve(rng, w, rng.uniform(2, 10))
        x0, x1 = sorted(rng.integers(0, w, 2))
        pts = np.stack([xs[x0 : x1 + 1], y[x0 : x1 + 1]], axis=1).astype(np.int32)
        cv2.polylines(out, [pts], False, float(rng.uniform(0.4, 1.0)), 1)
    return cv2.GaussianBlur(out, (0, 0), 0.7)


def _tendon_geometry(rng: np.random.Generator, kind: str, view: str, h: int, w: int, px_per_mm: float, p: dict):
    """Tendon mask ``(h, w) bool`` plus its top/bottom curves (longitudinal) and a fibre-direction hint."""
    lo, hi = TENDONS[kind]
    thick_mm = rng.uniform(lo, hi) * p["thickness_scale"]
    if p["thickened"]:
        thick_mm += rng.uniform(1.4, 3.5)
    p["thickness_mm"] = round(float(thick_mm), 2)
    thick = thick_mm * px_per_mm
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    top_min = p["skin_px"] + rng.uniform(2.0, 6.0) * px_per_mm  # below skin + subcutaneous fat
    if view == "transverse":
        cx = rng.uniform(0.3, 0.7) * w
        ry = thick / 2
        rx = ry * rng.uniform(1.8, 4.0) if kind != "extensor" else ry * rng.uniform(1.3, 2.2)
        rx = min(rx, 0.42 * w)
        cy = max(top_min + ry, min(h * 0.75 - ry, top_min + ry + rng.uniform(0, 4) * px_per_mm))
        inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
        if rng.random() < 0.35:  # crescent: a concave deep border
            inside &= ((xx - cx) / (rx * 0.9)) ** 2 + ((yy - cy - ry * 1.3) / (ry * 0.9)) ** 2 > 1.0
        return inside, cy - ry, cy + ry, (cx, cy, rx, ry)
    center = top_min + thick / 2 + rng.uniform(0, 3) * px_per_mm + _curve(rng, w, rng.uniform(0, 0.12) * h)
    profile = np.ones(w, np.float32)
    if p["thickened"]:  # fusiform: a spindle-shaped widening centred somewhere in the view
        mu, sd = rng.uniform(0.2, 0.8) * w, rng.uniform(0.15, 0.35) * w
        base = rng.uniform(0.55, 0.8)
        profile = base + (1 - base) * np.exp(-0.5 * ((np.arange(w) - mu) / sd) ** 2)
    if kind == "extensor":  # triangular: thins toward its origin
        profile = profile * np.linspace(rng.uniform(0.5, 0.8), 1.0, w)[:: int(rng.choice([-1, 1]))]
    half = thick / 2 * profile
    top, bottom = center - half, center + half
    x0, x1 = 0, w
    if rng.random() < 0.3:  # the tendon ends (insertion or out of plane) inside the view
        if rng.random() < 0.5:
            x0 = int(rng.uniform(0.05, 0.3) * w)
        else:
            x1 = int(rng.uniform(0.7, 0.95) * w)
    inside = (yy >= top[None]) & (yy <= bottom[None]) & (xx >= x0) & (xx < x1)
    p["tendon_x_range"] = (x0, x1)
    return inside, top, bottom, None


def _echo_map(rng: np.random.Generator, kind: str, view: str, h: int, w: int, px_per_mm: float, p: dict):
    """Echogenicity map (linear amplitude) and the tendon mask, before speckle and log compression."""
    yy = np.arange(h, dtype=np.float32)[:, None]
    skin_px = rng.uniform(0.6, 1.2) * px_per_mm
    p["skin_px"] = skin_px
    tendon, _top, bottom, ellipse = _tendon_geometry(rng, kind, view, h, w, px_per_mm, p)
    echo = np.full((h, w), rng.uniform(0.05, 0.12), np.float32)
    # Subcutaneous fat and the deep fat pad: hypoechoic with thin bright septa.
    echo += rng.uniform(0.15, 0.4) * _septa(rng, (h, w), int(rng.integers(4, 14)))
    # Deep region: fat pad (hypoechoic, septa) then muscle (medium, striated).
    deep_top = (bottom if ellipse is None else np.full(w, bottom, np.float32))[None] + 1
    muscle_y = deep_top + rng.uniform(3, 10) * px_per_mm
    striation = 0.5 + 0.5 * np.clip(_smooth_noise(rng, (h, w), rng.uniform(6, 20), 0.8), -1, 2)
    muscle = (yy >= muscle_y) * (0.25 + 0.25 * striation)
    echo = np.where(yy >= muscle_y, 0.12 + muscle, echo)
    # Tendon texture: fibrils along the tendon (longitudinal) or bright dots (transverse).
    if view == "longitudinal":
        fib = _smooth_noise(rng, (h, w), rng.uniform(8, 25), rng.uniform(0.5, 0.9))
        tex = 0.55 + 0.35 * np.clip(fib, -1.5, 2.5)
    else:
        dots = _smooth_noise(rng, (h, w), 0.8, 0.8)
        tex = 0.45 + 0.3 * np.clip(dots, -1.5, 2.5)
    tex *= rng.uniform(0.7, 1.3)
    if p["thickened"]:  # focal hypoechoic areas where the fibrillar pattern is lost
        blobs = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 6)
        blobs = np.clip((blobs - blobs.std() * 0.6) / (blobs.std() + 1e-6), 0, 1)
        tex *= 1 - rng.uniform(0.4, 0.8) * blobs
    if view == "longitudinal" and rng.random() < 0.4:  # anisotropy: one end darker
        ramp = np.linspace(0, 1, w, dtype=np.float32)[None] ** rng.uniform(2, 5)
        tex *= 1 - rng.uniform(0.3, 0.6) * (ramp if rng.random() < 0.5 else ramp[:, ::-1])
    echo = np.where(tendon, tex, echo)
    # Paratenon: thin bright lines just outside the tendon border.
    edge = cv2.dilate(tendon.astype(np.uint8), np.ones((3, 3), np.uint8)) - tendon.astype(np.uint8)
    echo += edge.astype(np.float32) * rng.uniform(0.3, 0.8)
    # Skin: bright line at the top.
    echo = np.where(yy < skin_px, 0.9, echo)
    # Bone: bright curved cortex with a shadow beneath it (calcaneus, patella, epicondyle).
    if rng.random() < 0.6:
        x0 = int(rng.uniform(0.0, 0.6) * w)
        x1 = min(w, x0 + int(rng.uniform(0.3, 0.7) * w))
        xs = np.arange(x0, x1)
        bone_top = float(np.max(bottom) if ellipse is None else bottom) + rng.uniform(1, 8) * px_per_mm
        arc = bone_top + _curve(rng, x1 - x0, rng.uniform(0, 0.15) * h)
        rng.random(4)  # unused draws, kept so frames stay identical to generator version 1
        arc = np.maximum(arc, (bottom[xs] if ellipse is None else bottom) + 2)
        cortex = np.abs(yy - arc[None]) < rng.uniform(1.0, 2.5)
        below = yy > arc[None] + 2
        echo[:, x0:x1] = np.where(below, echo[:, x0:x1] * rng.uniform(0.03, 0.15), echo[:, x0:x1])
        echo[:, x0:x1] = np.where(cortex & ~tendon[:, x0:x1], 1.4, echo[:, x0:x1])
    return np.clip(echo, 0.01, None), tendon


def _bmode(rng: np.random.Generator, echo: np.ndarray, p: dict) -> np.ndarray:
    """Speckle, depth attenuation and log compression -> ``(h, w) uint8`` grey B-mode."""
    h, w = echo.shape
    # Rayleigh speckle: magnitude of a complex Gaussian blurred to the resolution cell (wider laterally).
    cell_x, cell_y = rng.uniform(0.8, 1.6), rng.uniform(0.5, 1.0)
    re = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), cell_x, sigmaY=cell_y)
    im = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), cell_x, sigmaY=cell_y)
    speckle = np.sqrt(re**2 + im**2)
    speckle /= speckle.mean() + 1e-6
    atten = np.exp(-rng.uniform(0.0, 1.2) * np.linspace(0, 1, h, dtype=np.float32))[:, None]
    amp = echo * speckle * atten
    db = 20 * np.log10(amp + 1e-4)
    dr, gain = p["dynamic_range_db"], p["gain_db"]
    top = 20 * np.log10(1.2) - gain
    grey = (db - (top - dr)) / dr
    grey = np.clip(grey, 0, 1) ** rng.uniform(0.8, 1.3)
    return (grey * 255).astype(np.uint8)


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


def _vessels(rng: np.random.Generator, shape, tendon: np.ndarray, box, px_per_mm: float, p: dict) -> np.ndarray:
    """Flow map ``(h, w) float32``: signed velocity in [-1, 1] on vessel pixels, 0 elsewhere."""
    x0, y0, x1, y1 = box
    flow = np.zeros(shape, np.float32)
    ys, xs = np.nonzero(tendon[y0:y1, x0:x1])
    n = int(rng.choice([0, 1, 2, 3, 5, 8, 12], p=[0.12, 0.14, 0.16, 0.16, 0.16, 0.14, 0.12]))
    p["vessels"] = n
    for _ in range(n):
        if len(ys) and rng.random() < 0.8:  # start deep to the tendon and grow up into it
            i = int(rng.integers(len(ys)))
            x, y = float(xs[i] + x0), float(y0 + ys[i] + rng.uniform(2, 10) * px_per_mm * 0.5)
        else:  # a peritendinous vessel somewhere in the box
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        sign = float(rng.choice([-1.0, 1.0]))
        speed = rng.uniform(0.3, 1.0)
        angle = -np.pi / 2 + rng.normal(0, 0.5)
        width = int(rng.integers(1, 4))
        pts = [(x, y)]
        for _ in range(int(rng.integers(5, 25))):
            angle += rng.normal(0, 0.35)
            step = rng.uniform(2, 5)
            x, y = x + step * np.cos(angle), y + step * np.sin(angle)
            pts.append((x, y))
        arr = np.asarray(pts, np.float32).round().astype(np.int32)
        layer = np.zeros(shape, np.uint8)
        cv2.polylines(layer, [arr], False, 1, width)
        vel = speed * (0.6 + 0.4 * rng.random())
        flow = np.where((layer > 0) & (flow == 0), sign * vel, flow)
    # Colour noise speckles and, rarely, a flash artefact over much of the box.
    noise = rng.random(shape) < rng.uniform(0, 0.004)
    flow = np.where(noise & (flow == 0), rng.uniform(-0.6, 0.6, shape).astype(np.float32), flow)
    if rng.random() < 0.05:
        flash = _smooth_noise(rng, shape, 8, 8) > rng.uniform(-0.5, 0.5)
        flow = np.where(flash & (flow == 0), 0.5 * np.sign(_smooth_noise(rng, shape, 4, 4)), flow)
        p["flash"] = True
    inside = np.zeros(shape, bool)
    inside[y0:y1, x0:x1] = True
    flow[~inside] = 0
    # Blur slightly: Doppler blobs are wider than one pixel and soft-edged.
    soft = cv2.GaussianBlur(flow, (0, 0), 0.8)
    return np.where(np.abs(soft) > 0.08, soft, 0).astype(np.float32)


def _paint_doppler(rng: np.random.Generator, grey: np.ndarray, tendon: np.ndarray, px_per_mm: float, p: dict):
    """RGB frame with a Doppler box and colour painted over flow pixels; returns ``(rgb, box)``."""
    h, w = grey.shape
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    mode = str(rng.choice(["none", "colour_flow", "colour_flow", "power", "power"], p=[0.1, 0.2, 0.2, 0.25, 0.25]))
    p["doppler"] = mode
    if mode == "none":
        return rgb, None
    bw, bh = int(rng.uniform(0.35, 0.9) * w), int(rng.uniform(0.35, 0.8) * h)
    bx, by = int(rng.uniform(0, w - bw)), int(rng.uniform(0, 0.3) * h)
    box = (bx, by, bx + bw, min(h, by + bh))
    flow = _vessels(rng, (h, w), tendon, box, px_per_mm, p)
    v = np.abs(flow)
    if mode == "colour_flow":
        colour = _cmap_colour_flow(v, flow)
    else:
        name = str(rng.choice(list(_POWER_MAPS)))
        p["colour_map"] = name
        colour = _cmap_power(v, name)
    painted = v > 0
    rgb[painted] = colour[painted]
    outline = (200, 200, 200) if rng.random() < 0.5 else (255, 255, 255)
    x0, y0, x1, y1 = box
    if rng.random() < 0.5:
        cv2.rectangle(rgb, (x0, y0), (x1 - 1, y1 - 1), outline, 1)
    else:  # steered parallelogram
        shift = int(rng.uniform(-0.2, 0.2) * (y1 - y0))
        pts = np.array([[x0, y0], [x1, y0], [x1 + shift, y1], [x0 + shift, y1]], np.int32)
        cv2.polylines(rgb, [pts], True, outline, 1)
    return rgb, box


def _screen(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray, p: dict):
    """Place the image area on a black scanner screen with text, a colour bar and a depth scale."""
    size_h, size_w = p["size"]
    screen = np.zeros((size_h, size_w, 3), np.uint8)
    full = np.zeros((size_h, size_w), np.uint8)
    ih, iw = image.shape[:2]
    top, left = p["area_top"], p["area_left"]
    screen[top : top + ih, left : left + iw] = np.clip(image, 0, 255).astype(np.uint8)
    full[top : top + ih, left : left + iw] = mask
    font = cv2.FONT_HERSHEY_SIMPLEX
    for _ in range(int(rng.integers(1, 5))):
        text = "".join(rng.choice(list("ABCDEFGHKLMNPRSTUVXZ0123456789 .%:-"), int(rng.integers(3, 10))))
        org = (
            int(rng.uniform(0, size_w * 0.7)),
            int(rng.choice([rng.uniform(6, top + 6), rng.uniform(size_h - 4, size_h)])),
        )
        cv2.putText(screen, text, org, font, rng.uniform(0.22, 0.35), (230, 230, 230), 1, cv2.LINE_AA)
    if p["doppler"] != "none":  # colour bar beside the image
        bx = int(rng.uniform(2, max(3, left - 8))) if left > 10 else size_w - 8
        ramp = np.linspace(1, -1, 48, dtype=np.float32)
        if p["doppler"] == "colour_flow":
            bar = _cmap_colour_flow(np.abs(ramp), ramp)
        else:
            bar = _cmap_power((ramp + 1) / 2, str(p.get("colour_map", "power_ge")))
        y0 = int(rng.uniform(top, max(top + 1, size_h - 60)))
        screen[y0 : y0 + 48, bx : bx + 5] = np.clip(bar, 0, 255).astype(np.uint8)[:, None, :]
    # Depth scale: ticks along the right edge of the image area.
    sx = min(size_w - 2, left + iw + 2)
    for k, y in enumerate(np.linspace(top, top + ih - 1, int(rng.integers(4, 9)))):
        cv2.line(screen, (sx, int(y)), (sx + (3 if k % 2 else 1), int(y)), (200, 200, 200), 1)
    return screen, full


def _compress(rng: np.random.Generator, rgb: np.ndarray, p: dict) -> np.ndarray:
    """JPEG (quality 30-95) or video-like compression (4:2:0 chroma then a coarse JPEG)."""
    kind = str(rng.choice(["none", "jpeg", "video"], p=[0.2, 0.45, 0.35]))
    p["compression"] = kind
    img = np.clip(rgb, 0, 255).astype(np.uint8)
    if kind == "none":
        return img
    if kind == "video":
        ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)
        h, w = img.shape[:2]
        small = cv2.resize(ycc[..., 1:], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        ycc[..., 1:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        img = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
        quality = int(rng.integers(25, 60))
    else:
        quality = int(rng.integers(30, 96))
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - cv2 always encodes uint8 RGB
        return img
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def _blend_texture(rng: np.random.Generator, grey: np.ndarray, tendon: np.ndarray, textures) -> np.ndarray:
    """Blend a crop of a real B-mode image into the tissue around (not inside) the tendon."""
    tex = textures[int(rng.integers(len(textures)))]
    h, w = grey.shape
    th, tw = tex.shape
    y, x = int(rng.integers(0, max(1, th - h))), int(rng.integers(0, max(1, tw - w)))
    crop = cv2.resize(tex[y : y + h, x : x + w], (w, h)).astype(np.float32)
    alpha = rng.uniform(0.2, 0.5)
    mixed = (1 - alpha) * grey + alpha * crop
    return np.where(tendon, grey, mixed).astype(np.uint8)


def make_sample(seed: int, ranges: SynthRanges = TRAIN_RANGES, textures=None) -> SynthSample:
    """One synthetic frame, a pure function of ``seed``, ``ranges`` and ``textures``.

    Args:
        seed: any non-negative int; the same seed always gives the same frame.
        ranges: parameter ranges (``TRAIN_RANGES`` or ``HELDOUT_RANGES``).
        textures: optional list of ``(H, W) uint8`` real B-mode images blended into the background.

    Returns:
        ``SynthSample`` with ``image (H, W, 3) uint8 RGB`` and ``mask (H, W) uint8`` in {0, 1}.
    """
    rng = np.random.default_rng(seed)
    size_h, size_w = ranges.size
    kind = str(rng.choice(list(TENDONS)))
    view = "longitudinal" if rng.random() < 0.65 else "transverse"
    p: dict[str, object] = {
        "seed": int(seed),
        "kind": kind,
        "view": view,
        "fov_mm": _draw(rng, ranges.fov_mm),
        "thickness_scale": _draw(rng, ranges.thickness_scale),
        "gain_db": _draw(rng, ranges.gain_db),
        "dynamic_range_db": _draw(rng, ranges.dynamic_range_db),
        "thickened": bool(rng.random() < 0.4),
        "size": (size_h, size_w),
    }
    # Image area inside the screen: 70-100 % of the height, leaving margins for the scanner UI.
    ih = int(rng.uniform(0.7, 1.0) * size_h)
    iw = int(min(size_w, ih * rng.uniform(0.8, 1.4)))
    p["area_top"] = int(rng.integers(0, size_h - ih + 1))
    p["area_left"] = int(rng.integers(0, size_w - iw + 1))
    px_per_mm = ih / p["fov_mm"]
    echo, tendon = _echo_map(rng, kind, view, ih, iw, px_per_mm, p)
    grey = _bmode(rng, echo, p)
    if textures and rng.random() < 0.5:
        grey = _blend_texture(rng, grey, tendon, textures)
    rgb, _ = _paint_doppler(rng, grey, tendon, px_per_mm, p)
    screen, mask = _screen(rng, rgb, tendon.astype(np.uint8), p)
    image = _compress(rng, screen, p)
    p.pop("skin_px", None)
    return SynthSample(image=image, mask=mask, params=p)


def make_dataset(
    count: int, seed: int, ranges: SynthRanges = TRAIN_RANGES, textures=None
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` frames from seeds ``seed * 1_000_003 + i``.

    Returns:
        ``(N, H, W, 3) uint8 RGB`` images and ``(N, H, W) uint8`` masks (1 = tendon).
    """
    samples = [make_sample(seed * 1_000_003 + i, ranges, textures) for i in range(count)]
    return np.stack([s.image for s in samples]), np.stack([s.mask for s in samples])
