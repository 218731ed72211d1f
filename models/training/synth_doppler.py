"""The Doppler colour of a synthetic frame: where it goes (drawn apart from the tendon's looks), the colour box,
the vessels or saturating blobs, colour noise and flash, and the vendor-like colour maps and their bars.

Part of the training generator (``models.training.synth``, whose docstring gives the ranges and their
sources); every function draws from the frame's own random generator, in the generator's order.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.training.synth_draws import pick, smooth_noise

__all__ = ["PLACEMENTS", "bar_colours", "doppler"]

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


def bar_colours(ramp: np.ndarray, p: dict) -> np.ndarray:
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
    speed = smooth_noise(rng, (h, w), 3 * ppm, 3 * ppm) * 0.25 + rng.uniform(0.4, 0.8)
    if rng.random() < 0.18:  # a lot: colour saturating much of the region
        blobs = smooth_noise(rng, (h, w), rng.uniform(0.5, 2.0) * ppm, rng.uniform(0.5, 2.0) * ppm)
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
    signs = np.where(smooth_noise(rng, (h, w), 2 * ppm, 2 * ppm) > rng.uniform(-1.5, 0.5), sign, -sign)
    return np.where((layer > 0) & allowed, signs * np.clip(speed, 0.1, 1.0), 0).astype(np.float32)


def doppler(rng: np.random.Generator, grey: np.ndarray, tendon: np.ndarray, ppm: float, p: dict):
    """RGB picture with the colour box and the colour painted; returns ``(rgb, box outline or None)``."""
    h, w = grey.shape
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    placement = pick(rng, PLACEMENTS)
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
        flash = (smooth_noise(rng, (h, w), 2 * ppm, 2 * ppm) > rng.uniform(-0.5, 0.5)) & box
        flow = np.where(flash & (flow == 0), 0.5 * np.sign(smooth_noise(rng, (h, w), ppm, ppm)), flow)
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
