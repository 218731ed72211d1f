"""Scan conversion: from the beam-line grid to the picture grid, for linear, trapezoid and convex scans.

- linear (~70 %): lines parallel, the picture is the rectangle of the array footprint (25-50 mm) x depth.
- trapezoid / virtual convex (~15 %): outer lines steered outward from a virtual apex 30-120 mm above the
  skin, so the deep field is wider than the footprint (edge lines 8-25 deg).
- convex (~15 %): lines fan out from a curved array of radius 10-60 mm (micro-convex to abdominal curvilinear),
  total sector up to 70 deg; the picture is the fan's bounding box, black outside the fan.

Every mapping takes picture pixels to (lateral fraction, depth fraction) of the unsteered line grid, so the
tendon mask drawn on the scene grid goes through exactly the same warp as the echoes.
"""

from __future__ import annotations

import cv2
import numpy as np


def draw_geometry(rng: np.random.Generator, depth_mm: float, width_mm: float) -> dict:
    """Random scan geometry (JSON-able dict)."""
    kind = str(rng.choice(["linear", "trapezoid", "convex"], p=[0.7, 0.15, 0.15]))
    if kind == "trapezoid":
        edge = np.deg2rad(rng.uniform(8, 25))
        return {"kind": kind, "apex_mm": float(width_mm / 2 / np.tan(edge))}
    if kind == "convex":
        radius = float(rng.uniform(10, 60))
        return {"kind": kind, "radius_mm": radius, "half_angle": float(min(width_mm / 2 / radius, 0.61))}
    return {"kind": kind}


def _fractions(geom: dict, depth: float, width: float, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per picture pixel: lateral and depth fractions in the line grid (outside [0, 1] = no echo)."""
    h, w = hw
    py = (np.arange(h, dtype=np.float32)[:, None] + 0.5) / h
    px = (np.arange(w, dtype=np.float32)[None, :] + 0.5) / w
    if geom["kind"] == "linear":
        return np.broadcast_to(px, (h, w)), np.broadcast_to(py, (h, w))
    if geom["kind"] == "trapezoid":
        a = geom["apex_mm"]
        half = width / 2 * (a + depth) / a  # half width at the deepest row
        x, z = (px - 0.5) * 2 * half, py * depth
        x_skin = x * a / (z + a)  # where this pixel's line leaves the array
        along = z * np.sqrt(1 + (x / (z + a)) ** 2)  # distance along the tilted line: z / cos(theta)
        return x_skin / width + 0.5, along / depth
    r0, th = geom["radius_mm"], geom["half_angle"]
    half = (r0 + depth) * np.sin(th)
    top = r0 * np.cos(th)
    x, y = (px - 0.5) * 2 * half, top + py * (r0 + depth - top)
    r, theta = np.sqrt(x**2 + y**2), np.arctan2(x, y)
    return theta / (2 * th) + 0.5, (r - r0) / depth


def scan_convert(
    lines: np.ndarray, scene_mask: np.ndarray, geom: dict, depth: float, width: float, hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warp ``lines`` ``(n_lines, n_samples) float32`` and ``scene_mask`` ``(Hs, Ws) uint8`` to ``hw``.

    Returns ``(picture (H, W) float32 in [0, 1], mask (H, W) uint8 in {0, 1}, valid (H, W) bool)`` where
    ``valid`` marks pixels that carry echoes (inside the fan).
    """
    u, v = _fractions(geom, depth, width, hw)
    valid = (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
    nl, ns = lines.shape
    pic = cv2.remap(
        lines, (v * ns - 0.5).astype(np.float32), (u * nl - 0.5).astype(np.float32), cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    hs, ws = scene_mask.shape
    mask = cv2.remap(
        scene_mask, (u * ws - 0.5).astype(np.float32), (v * hs - 0.5).astype(np.float32), cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )  # fmt: skip
    return np.where(valid, pic, 0).astype(np.float32), (mask * valid).astype(np.uint8), valid
