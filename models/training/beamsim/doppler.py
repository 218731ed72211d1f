"""Doppler colour: a colour box and flow signal placed without looking at the tendon's texture.

Only the tendon's outline is used, to put vessels inside it (entering from the deep side, perpendicular to
the fibres, branching - anatomy.md "Neovessels"), around it (within 1-3 mm, never entering), outside it
(> 2 mm away) or anywhere in the box. The box itself is placed independently of the tendon.
"""

from __future__ import annotations

import cv2
import numpy as np

from .colour_maps import flow_lut, power_lut
from .fields import smooth_noise, smoothstep

PLACEMENTS = ("inside", "around", "outside", "scatter")


def _box(rng: np.random.Generator, hp: int, wp: int) -> np.ndarray:
    """A colour box: rectangle or steered parallelogram, ``(4, 2) int32`` (x, y) corners."""
    bw, bh = rng.uniform(0.25, 0.95) * wp, rng.uniform(0.2, 0.85) * hp
    x0, y0 = rng.uniform(0, wp - bw), rng.uniform(0, hp - bh)
    shift = np.tan(np.deg2rad(rng.uniform(10, 25))) * bh * rng.choice([-1, 1]) if rng.random() < 0.3 else 0.0
    x0 = float(np.clip(x0, max(0, -shift), min(wp - bw, wp - bw - shift)))
    pts = [(x0, y0), (x0 + bw, y0), (x0 + bw + shift, y0 + bh), (x0 + shift, y0 + bh)]
    return np.round(pts).astype(np.int32)


def _vessel_path(rng: np.random.Generator, start: np.ndarray, angle: float, length: float) -> np.ndarray:
    """A wiggly polyline of ``length`` px from ``start`` (x, y) heading ``angle`` (radians, 0 = up)."""
    n = 6
    steps = angle + np.cumsum(rng.normal(0, 0.25, n))
    seg = length / n
    d = np.stack([np.sin(steps) * seg, -np.cos(steps) * seg], axis=1)
    return np.round(np.vstack([start, start + np.cumsum(d, axis=0)])).astype(np.int32)


def _draw_vessel(vel: np.ndarray, pw: np.ndarray, path: np.ndarray, width: int, speed: float) -> None:
    cv2.polylines(vel, [path], False, float(speed), max(1, width), cv2.LINE_AA)
    cv2.polylines(pw, [path], False, 1.0, max(1, width), cv2.LINE_AA)


def _inside(vel, pw, mask, rng, px_mm: float, amount: float) -> None:
    """Neovessels entering the tendon from its deep side and running perpendicular to the fibres, branching."""
    cols = np.nonzero(mask.any(axis=0))[0]
    if cols.size == 0:
        return
    for _ in range(max(1, int(amount * 10))):
        c = int(rng.choice(cols))
        rows = np.nonzero(mask[:, c])[0]
        bottom, thick = rows.max(), rows.max() - rows.min() + 1
        start = np.array([c, bottom + rng.uniform(0, 1.5) * px_mm], np.float32)
        length = thick * rng.uniform(0.3, 0.95) + (start[1] - bottom)
        path = _vessel_path(rng, start, rng.normal(0, 0.3), length)
        width = round(rng.uniform(0.25, 0.9) * px_mm)
        speed = rng.uniform(0.2, 1.6) * rng.choice([-1, 1])
        _draw_vessel(vel, pw, path, width, speed)
        for _ in range(int(rng.integers(0, 3))):  # branches
            k = int(rng.integers(1, len(path) - 1))
            branch = _vessel_path(rng, path[k].astype(np.float32), rng.choice([-1, 1]) * rng.uniform(0.5, 1.1),
                                  length * rng.uniform(0.2, 0.5))  # fmt: skip
            _draw_vessel(vel, pw, branch, max(1, width - 1), speed * 0.8)


def _blobs(vel, pw, region, rng, px_mm: float, amount: float) -> None:
    """Vessel segments and blobs at random points of ``region`` (``(h, w) bool``)."""
    ys, xs = np.nonzero(region)
    if ys.size == 0:
        return
    for _ in range(max(1, int(amount * 10))):
        i = int(rng.integers(ys.size))
        start = np.array([xs[i], ys[i]], np.float32)
        speed = rng.uniform(0.2, 1.6) * rng.choice([-1, 1])
        if rng.random() < 0.5:
            axes = (max(1, int(rng.uniform(0.3, 1.3) * px_mm)), max(1, int(rng.uniform(0.2, 0.7) * px_mm)))
            ang = float(rng.uniform(0, 180))
            cv2.ellipse(vel, (int(start[0]), int(start[1])), axes, ang, 0, 360, float(speed), -1, cv2.LINE_AA)
            cv2.ellipse(pw, (int(start[0]), int(start[1])), axes, ang, 0, 360, 1.0, -1, cv2.LINE_AA)
        else:
            path = _vessel_path(rng, start, rng.uniform(0, 2 * np.pi), rng.uniform(1, 8) * px_mm)
            _draw_vessel(vel, pw, path, round(rng.uniform(0.3, 1.2) * px_mm), speed)


def _rings(mask: np.ndarray, px_mm: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(around, outside) regions: a ring out to 1-3 mm around the tendon (a gap kept), and pixels > 2 mm away."""
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3) / px_mm  # mm to the tendon
    around = (dist > rng.uniform(0.4, 1.0)) & (dist <= rng.uniform(1.5, 3.0))
    return around, dist > rng.uniform(2.2, 3.5)


def _signal(mask: np.ndarray, box: np.ndarray, rng: np.random.Generator, px_mm: float,
            placements: list[str], amount: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Velocity (signed) and power canvases ``(h, w) float32`` for the chosen placements, inside ``box``."""
    h, w = mask.shape
    vel, pw = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    around, outside = _rings(mask, px_mm, rng) if mask.any() else (np.zeros_like(mask), np.ones_like(mask))
    regions = {"inside": mask, "around": around, "outside": outside, "scatter": np.ones_like(mask)}
    for name in placements:
        v, p = np.zeros_like(vel), np.zeros_like(pw)
        if name == "inside":
            _inside(v, p, mask, rng, px_mm, amount)
            if amount > 0.8 and rng.random() < 0.5:  # colour saturating much of the tendon
                p = np.maximum(p, (smooth_noise(rng, (h, w), 3 * px_mm) > -0.3) * mask)
                v = np.where(v == 0, p * rng.uniform(0.3, 1.0) * rng.choice([-1, 1]), v)
        else:
            _blobs(v, p, regions[name] & box, rng, px_mm, amount)
        keep = regions[name] | (name == "inside")  # inside vessels may start just below the tendon
        vel += v * keep
        pw = np.maximum(pw, p * keep)
    return vel, pw


def _noise_and_flash(vel, pw, box, rng, px_mm: float) -> dict:
    """Colour-noise specks and, sometimes, a motion flash colouring much of the box."""
    info = {"specks": False, "flash": False}
    if rng.random() < 0.4:
        specks = (rng.random(box.shape, dtype=np.float32) < rng.uniform(0.0005, 0.004)) & box
        specks = cv2.dilate(specks.astype(np.uint8), np.ones((2, 2), np.uint8)).astype(bool)
        vel[specks] = rng.uniform(-1, 1, int(specks.sum()))
        pw[specks] = np.maximum(pw[specks], 0.5)
        info["specks"] = True
    if rng.random() < 0.07:  # flash artefact (anatomy.md: probe/patient motion at low PRF)
        f = smooth_noise(rng, box.shape, 4 * px_mm) > rng.uniform(-1.0, 0.2)
        f &= box
        pw[f] = np.maximum(pw[f], 0.8)
        vel[f] = rng.uniform(0.3, 1.0) * rng.choice([-1, 1])
        info["flash"] = True
    return info


def _outline(img: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> str:
    """Thin grey/white/yellow/green box outline, sometimes dotted, sometimes none."""
    style = str(rng.choice(["solid", "dotted", "none"], p=[0.6, 0.25, 0.15]))
    colour = [(170, 170, 170), (235, 235, 235), (220, 220, 40), (40, 200, 60)][int(rng.integers(4))]
    thick = int(rng.integers(1, 3))
    if style == "solid":
        cv2.polylines(img, [box], True, colour, thick, cv2.LINE_8)
    elif style == "dotted":
        for a, b in zip(box, np.roll(box, -1, axis=0), strict=True):
            n = max(2, int(np.hypot(*(b - a)) / 6))
            for p in np.linspace(a, b, n).astype(int):
                cv2.circle(img, (int(p[0]), int(p[1])), thick // 2 + 1, colour, -1)
    return style


def paint_colour(img: np.ndarray, mask: np.ndarray, field: np.ndarray, px_mm: float,
                 rng: np.random.Generator) -> dict:  # fmt: skip
    """Paint Doppler colour in place on the picture ``img`` ``(Hp, Wp, 3) uint8 RGB``.

    ``mask`` ``(Hp, Wp) bool`` is the tendon, ``field`` the ultrasound field. Returns what was drawn.
    """
    hp, wp = mask.shape
    if rng.random() < 0.35:  # no colour; some of these without any box
        box_drawn = rng.random() < 0.6
        if box_drawn:
            _outline(img, _box(rng, hp, wp), rng)
        return {"box": bool(box_drawn), "placements": [], "map": None}
    poly = _box(rng, hp, wp)
    box = np.zeros((hp, wp), np.uint8)
    cv2.fillPoly(box, [poly], 1)
    box = box.astype(bool) & field
    k = int(rng.integers(1, 4))
    placements = sorted(set(rng.choice(PLACEMENTS, k, p=[0.4, 0.2, 0.25, 0.15]).tolist()))
    amount = float(np.exp(rng.uniform(np.log(0.05), np.log(1.2))))  # one thin vessel .. saturating
    vel, pw = _signal(mask, box, rng, px_mm, placements, amount)
    extra = _noise_and_flash(vel, pw, box, rng, px_mm)
    vel *= box
    pw *= box
    name, lut = power_lut(rng) if rng.random() < 0.5 else flow_lut(rng)
    _blend(img, vel, pw, name, lut, px_mm, rng)
    style = _outline(img, poly, rng)
    return {"box": True, "outline": style, "placements": placements, "amount": amount, "map": name, **extra}


def _blend(img: np.ndarray, vel: np.ndarray, pw: np.ndarray, name: str, lut: np.ndarray, px_mm: float,
           rng: np.random.Generator) -> None:  # fmt: skip
    """Replace grey by colour where there is signal, with soft (anti-aliased) or hard edges."""
    ys, xs = np.nonzero(pw > 0.02)
    if ys.size == 0:
        return
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    p, v = pw[y0:y1, x0:x1], vel[y0:y1, x0:x1]
    if rng.random() < 0.6:  # smeared like a coarse colour grid resampled
        sig = float(rng.uniform(0.6, 2.0))
        p, v = cv2.GaussianBlur(p, (0, 0), sig), cv2.GaussianBlur(v, (0, 0), sig)
    grain = 1 + 0.35 * smooth_noise(rng, p.shape, float(rng.uniform(0.3, 1.0)) * px_mm)  # Doppler signal varies within
    v = v / np.maximum(p, 1e-3) * (0.45 + 0.55 * p) * grain  # slower at the vessel edges
    p = p * np.clip(grain, 0.3, 1.3)
    if name.startswith("flow"):
        v = np.where(np.abs(v) > 1, (v + 1) % 2 - 1, v)  # aliasing: red next to blue
        idx = np.clip((v + 1) * 127.5, 0, 255).astype(np.int32)
    else:
        idx = np.clip(p * rng.uniform(0.7, 1.0) * 255 + np.abs(v) * 40, 0, 255).astype(np.int32)
    soft = rng.random() < 0.5
    alpha = smoothstep((p - 0.25) / 0.3) if soft else (p > 0.4).astype(np.float32)
    sub = img[y0:y1, x0:x1].astype(np.float32)
    out = sub * (1 - alpha[..., None]) + lut[idx] * alpha[..., None]
    img[y0:y1, x0:x1] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
