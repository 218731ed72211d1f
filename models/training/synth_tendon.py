"""The tendon of a synthetic frame: its thickness, its shape in the longitudinal and transverse views (domes over
a bony head included), its fibrillar texture and its pathology.

Part of the training generator (``models.training.synth``, whose docstring gives the ranges and their
sources); every function draws from the frame's own random generator, in the generator's order.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.training.synth_draws import curve, smooth_noise

__all__ = ["TENDONS", "THICKNESS_MM", "longitudinal", "pathology_texture", "tendon_texture", "transverse"]

# Normal maximal thickness (mm) per tendon kind; see the module docstring for sources.
TENDONS: dict[str, tuple[float, float]] = {
    "achilles": (4.0, 7.0),
    "patellar": (3.0, 5.0),
    "extensor": (3.0, 5.0),
    "plantar": (3.0, 4.0),
}
THICKNESS_MM = (2.0, 12.0)  # thin plantar fascia / patellar tendon to a swollen Achilles


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


def longitudinal(rng, h: int, w: int, ppm: float, top_edge: float, p: dict, dome: float):
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
        course = rng.uniform(-0.08, 0.08) * (x - w / 2) + curve(rng, w, 0.01 * h)
    elif shape == "curved":
        course = curve(rng, w, rng.uniform(0.05, 0.18) * h)
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
        bone = bottom + rng.uniform(2.0, 10.0) * ppm + curve(rng, w, rng.uniform(0, 0.1) * h)
    yy = np.arange(h, dtype=np.float32)[:, None]
    inside = (yy >= top[None]) & (yy <= bottom[None])
    inside[:, :x0] = False
    inside[:, x1:] = False
    p["thickness_mm"] = round(float((bottom - top)[x0:x1].max() / ppm), 2)
    return inside, top, bottom, centre, bone


def transverse(rng, h: int, w: int, ppm: float, top_edge: float, p: dict, dome: float):
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
        bone = np.full(w, b + rng.uniform(2.0, 8.0) * ppm, np.float32) + curve(rng, w, 0.05 * h)
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


def tendon_texture(rng, h: int, w: int, ppm: float, centre: np.ndarray, view: str) -> np.ndarray:
    """Fibrils that follow the tendon's course (longitudinal) or bright dots (transverse), around 0.55."""
    if view == "transverse":
        dots = smooth_noise(rng, (h, w), rng.uniform(0.06, 0.15) * ppm, rng.uniform(0.06, 0.15) * ppm)
        return 0.45 + rng.uniform(0.08, 0.35) * np.clip(dots, -1.5, 2.5)
    field = smooth_noise(rng, (2 * h, w), rng.uniform(1.0, 4.0) * ppm, rng.uniform(0.05, 0.15) * ppm)
    map_x = np.broadcast_to(np.arange(w, dtype=np.float32)[None], (h, w))
    map_y = (np.arange(h, dtype=np.float32)[:, None] - centre[None] + h).astype(np.float32)  # along the course
    fib = cv2.remap(field, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), cv2.INTER_LINEAR)
    return 0.55 + rng.uniform(0.08, 0.4) * np.clip(fib, -1.5, 2.5)  # from faint to plain fibrils


def pathology_texture(rng, tex: np.ndarray, tendon: np.ndarray, top, bottom, ppm: float, p: dict):
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
        mix = smooth_noise(rng, (h, w), rng.uniform(0.3, 1.0) * ppm, rng.uniform(0.3, 1.0) * ppm)
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
