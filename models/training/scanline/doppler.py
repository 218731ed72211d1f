"""Doppler colour painted over the grey picture, drawn independently of where the tendon is.

Sources: ../shared/anatomy.md. Neovessels enter the tendon from its deep (ventral) side, often perpendicular
to the fibres, tortuous and branching; vessels also run around the tendon (paratenon, fat pads) and anywhere
else; low-PRF slow-flow settings (EULAR 2014) add noise-like dots and flash. Colour only shows inside the
colour box (a rectangle or a steered parallelogram, 20-90 % of the picture per side). Colour flow maps: red
toward / blue away, brighter and yellow/cyan at the scale ends, sometimes inverted; power maps: one hue ramp
(dark red-orange-yellow, red-yellow-white, magenta). About 30 % of pictures have no colour at all; about 3 %
show a flash artefact.
"""

from __future__ import annotations

import cv2
import numpy as np

SOURCES = ("inside", "around", "outside", "dots")


def _walk(rng: np.random.Generator, start: np.ndarray, heading: float, steps: int, step: float) -> np.ndarray:
    """A tortuous vessel path: ``(steps, 2)`` float (x, y) points starting at ``start``."""
    ang = heading + np.cumsum(rng.normal(0, 0.35, steps))
    pts = np.stack([np.cos(ang), np.sin(ang)], 1) * step
    return np.asarray(start, dtype=np.float64) + np.concatenate([[[0.0, 0.0]], np.cumsum(pts, 0)[:-1]])


def _vessels(rng: np.random.Generator, flow: np.ndarray, starts: np.ndarray, heading: float, n: int) -> None:
    """Draw ``n`` branching vessels from random ``starts`` ``(k, 2)`` (x, y) into ``flow`` (signed speed)."""
    if len(starts) == 0:
        return
    scale = max(flow.shape) / 256
    for _ in range(n):
        p0 = starts[rng.integers(len(starts))]
        speed = float(rng.uniform(0.2, 1.0) * rng.choice([-1, 1]))
        path = _walk(rng, p0, heading + rng.normal(0, 0.5), int(rng.integers(4, 30)), 2.0 * scale)
        branches = [path]
        if rng.random() < 0.5:
            k = int(rng.integers(1, len(path)))
            branches.append(_walk(rng, path[k], heading + rng.normal(0, 1.0), int(rng.integers(3, 15)), 2 * scale))
        for br in branches:
            pts = np.round(br * 4).astype(np.int32).reshape(-1, 1, 2)
            width = max(1, round(rng.uniform(0.6, 3) * scale))
            cv2.polylines(flow, [pts], False, speed * 0.6, width + 1, cv2.LINE_8, shift=2)
            cv2.polylines(flow, [pts], False, speed, max(1, width - 1), cv2.LINE_8, shift=2)


def _flow_map(rng: np.random.Generator, mask: np.ndarray, sources: list[str]) -> np.ndarray:
    """Signed flow ``(H, W) float32`` in [-1, 1], 0 = no colour, from the chosen sources."""
    h, w = mask.shape
    flow = np.zeros((h, w), np.float32)
    amount = float(np.exp(rng.uniform(np.log(1), np.log(12))))  # a single vessel up to a dense network
    if "inside" in sources and mask.any():
        deep = mask.astype(bool) & ~np.roll(mask.astype(bool), -2, axis=0)  # lower border of the tendon
        ys, xs = np.nonzero(deep)
        _vessels(rng, flow, np.stack([xs, ys], 1).astype(float), -np.pi / 2, int(np.ceil(amount)))
    if "around" in sources and mask.any():
        ring = cv2.dilate(mask, np.ones((9, 9), np.uint8)) - mask
        ys, xs = np.nonzero(ring)
        _vessels(rng, flow, np.stack([xs, ys], 1).astype(float), rng.uniform(0, 2 * np.pi), int(np.ceil(amount / 2)))
    if "outside" in sources:
        ys, xs = np.nonzero(mask == 0)
        _vessels(rng, flow, np.stack([xs, ys], 1).astype(float), rng.uniform(0, 2 * np.pi), int(np.ceil(amount / 2)))
    if "dots" in sources:
        dots = rng.random((h, w)) < np.exp(rng.uniform(np.log(3e-4), np.log(0.01)))
        dots = cv2.dilate(dots.astype(np.uint8), np.ones((2, 2), np.uint8)).astype(bool)
        flow[dots] = rng.uniform(-0.7, 0.7, int(dots.sum()))
    if "flash" in sources:  # probe/patient motion at low PRF: a frame where much of the box lights up
        field = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), max(h, w) / 30)
        field = field / max(float(np.abs(field).max()), 1e-6)
        flow = np.where((flow == 0) & (np.abs(field) > rng.uniform(0.2, 0.5)), field * 0.6, flow)
    return flow.astype(np.float32)


def _box(rng: np.random.Generator, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Colour box as a filled ``(H, W) bool`` map and its 4 corners ``(4, 2) int32`` (x, y)."""
    h, w = hw
    bw, bh = rng.uniform(0.2, 0.9) * w, rng.uniform(0.2, 0.9) * h
    x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
    shear = np.tan(np.deg2rad(rng.choice([-20, 20]) * rng.uniform(0.6, 1.2))) if rng.random() < 0.25 else 0.0
    corners = np.array([[x0, y0], [x0 + bw, y0], [x0 + bw + shear * bh, y0 + bh], [x0 + shear * bh, y0 + bh]])
    box = np.zeros((h, w), np.uint8)
    cv2.fillPoly(box, [np.round(corners).astype(np.int32)], 1)
    return box.astype(bool), np.round(corners).astype(np.int32)


def _colours(rng: np.random.Generator, flow: np.ndarray) -> tuple[np.ndarray, str]:
    """Map signed flow to RGB ``(..., 3) float32`` in [0, 255] with a random, jittered colour map."""
    kind = str(rng.choice(["flow", "power_orange", "power_white", "power_magenta"], p=[0.5, 0.2, 0.15, 0.15]))
    a = np.clip(np.abs(flow), 0, 1)[..., None]
    if kind == "flow":
        pos = np.array([140, 0, 0]) + a * np.array([115, 0, 0]) + np.clip(a - 0.7, 0, 1) / 0.3 * np.array([0, 230, 0])
        neg = np.array([0, 0, 140]) + a * np.array([0, 40, 115]) + np.clip(a - 0.7, 0, 1) / 0.3 * np.array([0, 200, 0])
        sign = np.sign(flow)[..., None] * (-1 if rng.random() < 0.3 else 1)
        rgb = np.where(sign >= 0, pos, neg)
    elif kind == "power_orange":
        rgb = np.array([120, 0, 0]) + a * np.array([135, 200, 40])
    elif kind == "power_white":
        rgb = np.array([150, 0, 0]) + a * np.array([105, 255, 0]) + np.clip(a - 0.75, 0, 1) * np.array([0, 0, 600])
    else:
        rgb = np.array([120, 0, 110]) + a * np.array([135, 60, 145])
    return np.clip(rgb * rng.uniform(0.85, 1.15, 3), 0, 255).astype(np.float32), kind


def paint_doppler(
    rng: np.random.Generator, rgb: np.ndarray, mask: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, dict]:
    """Paint colour on ``rgb`` ``(H, W, 3) float32`` [0, 255]; returns (new rgb, params)."""
    if rng.random() < 0.3:
        return rgb, {"sources": [], "pixels": 0, "in_mask": 0}
    k = int(rng.choice([1, 1, 2, 3]))
    sources = sorted(str(s) for s in rng.choice(SOURCES, size=k, replace=False, p=[0.35, 0.25, 0.25, 0.15]))
    if rng.random() < 0.04:
        sources.append("flash")
    box, corners = _box(rng, mask.shape)
    flow = _flow_map(rng, mask, sources)
    on = (flow != 0) & box & valid
    colours, cmap = _colours(rng, flow)
    alpha = 1.0 if rng.random() < 0.7 else float(rng.uniform(0.6, 0.9))
    out = rgb.copy()
    out[on] = alpha * colours[on] + (1 - alpha) * rgb[on]
    if rng.random() < 0.6:  # the box outline
        col = [(200, 200, 200), (255, 255, 255), (230, 220, 60)][int(rng.integers(3))]
        outline = np.zeros(mask.shape, np.uint8)
        cv2.polylines(outline, [corners.reshape(-1, 1, 2)], True, 1, 1)
        if rng.random() < 0.4:  # dotted
            outline[(np.indices(mask.shape).sum(0) // 3) % 2 == 0] = 0
        out[outline.astype(bool)] = col
    info = {"sources": sources, "colour_map": cmap, "alpha": alpha, "box": corners.tolist(),
            "pixels": int(on.sum()), "in_mask": int((on & (mask > 0)).sum())}  # fmt: skip
    return out, info
