"""Painters for the firm and tubular structures: bone, cartilage, vessels and nerves.

Appearance is general sonographic knowledge: cortex is a bright sharp line with a clean acoustic shadow;
hyaline cartilage an anechoic 0.5-2 mm band over it; vessels anechoic tubes with bright walls (posterior
enhancement); nerves fascicular bundles (honeycomb in cross-section).
"""

from __future__ import annotations

import numpy as np

from .fields import band_line, lines, smooth_noise
from .geometry import Grid
from .tissue import Tissue


def bone(t: Tissue, g: Grid, rng: np.random.Generator, surface: np.ndarray, cartilage: float = 0.0) -> None:
    """Bone below ``surface`` (``(R, C)`` depth of the cortex, mm): a bright cortex line and a shadow beneath.

    ``cartilage`` > 0 lays an anechoic hyaline-cartilage band of that thickness (mm) over the cortex.
    """
    below = g.z >= surface
    t.fill(below, float(rng.uniform(0.005, 0.05)), density=3.0, atten=float(rng.uniform(30, 80)))
    w = max(0.6 * g.dz, float(rng.uniform(0.1, 0.3)))
    cortex = band_line(g.z, surface + w, w)
    t.add_line(cortex, float(rng.uniform(3.0, 8.0)), speckle=float(rng.uniform(0.5, 2.0)))
    if cartilage > 0:
        region = (g.z >= surface - cartilage) & ~below
        t.fill(region, float(rng.uniform(0.003, 0.03)), density=10.0, atten=0.5)
        t.add_line(band_line(g.z, surface - cartilage, max(g.dz * 0.6, 0.08)), float(rng.uniform(0.3, 1.2)))


def bone_surface(g: Grid, rng: np.random.Generator, kind: str, depth: float) -> tuple[np.ndarray, dict]:
    """A cortex surface ``(R, C) float32`` (mm) of the given kind, and what was drawn.

    ``kind``: "flat" (a long bone shaft), "curved" (a gentle convexity), "head" (a round head 8-30 mm in radius,
    e.g. the humeral head or an epicondyle) or "irregular" (an enthesis with spurs and erosions).
    """
    x = g.x
    if kind == "head":
        radius, hx = float(rng.uniform(8, 30)), float(rng.uniform(-0.3, 0.3) * np.ptp(x))
        dx = np.clip(np.abs(x - hx), 0, radius * 0.999)
        surf = depth + radius - np.sqrt(radius * radius - dx * dx)
        surf = np.where(np.abs(x - hx) < radius, surf, depth + radius + (np.abs(x - hx) - radius))
        return surf.astype(np.float32), {"kind": kind, "radius_mm": radius}
    tilt = np.tan(np.deg2rad(rng.uniform(-8, 8)))
    surf = depth + tilt * x
    if kind == "curved":
        surf = surf + float(rng.uniform(0.005, 0.03)) * x * x
    if kind == "irregular":
        surf = surf + float(rng.uniform(0.2, 0.8)) * np.abs(smooth_noise(rng, g.shape, 1e9, 1.2 / g.dx))
    return surf.astype(np.float32), {"kind": kind}


def vessel(t: Tissue, g: Grid, rng: np.random.Generator, z0: float, cross: bool) -> dict:
    """An anechoic vessel with bright walls centred at depth ``z0``: a tube along the picture or a circle."""
    radius = float(rng.uniform(0.5, 3.0))
    wall = max(0.6 * g.dz, 0.1)
    if cross:
        cx = float(rng.uniform(-0.4, 0.4) * np.ptp(g.x))
        r = np.hypot(g.x - cx, (g.z - z0) * float(rng.uniform(0.8, 1.2)))
        lumen = r < radius
        # Specular walls: bright where the beam meets them squarely (top and bottom), faint at the sides.
        wall_w = band_line(r, np.float32(radius), wall) * ((g.z - z0) / np.maximum(r, 1e-3)) ** 2
    else:
        centre = z0 + np.tan(np.deg2rad(rng.uniform(-10, 10))) * g.x
        d = np.abs(g.z - centre)
        lumen = d < radius
        wall_w = band_line(d, np.float32(radius), wall)
    t.fill(lumen, float(rng.uniform(0.002, 0.02)), density=10.0, atten=0.1)
    t.add_line(wall_w * ~lumen, float(rng.uniform(0.3, 1.2)), speckle=0.2)
    return {"radius_mm": radius, "cross": cross, "depth_mm": z0}


def nerve(t: Tissue, g: Grid, rng: np.random.Generator, z0: float, cross: bool) -> dict:
    """A peripheral nerve: hypoechoic fascicles in bright epineurium; parallel lines or a honeycomb oval."""
    half = float(rng.uniform(1.0, 3.5))
    bright, cell = float(rng.uniform(0.3, 0.7)), g.dz
    if cross:
        cx = float(rng.uniform(-0.4, 0.4) * np.ptp(g.x))
        aspect = float(rng.uniform(1.0, 2.5))
        rho = np.hypot((g.x - cx) / (half * aspect), (g.z - z0) / half)
        region = rho < 1.0
        fascicles = np.clip(smooth_noise(rng, g.shape, 0.5 / cell) - 0.2, 0, 1)  # dark dots ~0.5 mm
        echo = bright * (1 - 0.85 * np.minimum(fascicles * 2, 1))
        rim = band_line(rho, np.float32(1.0), 0.08)
    else:
        centre = z0 + np.tan(np.deg2rad(rng.uniform(-8, 8))) * g.x
        d = g.z - centre
        region = np.abs(d) < half
        u = d / float(rng.uniform(0.4, 0.9)) + 0.2 * smooth_noise(rng, g.shape, 3 / cell, 10 / cell)
        echo = bright * (0.2 + 0.8 * lines(u, 0.22))
        rim = band_line(np.abs(d), np.float32(half), 0.12)
    t.fill(region, echo.astype(np.float32), density=8.0)
    t.add_line(rim, float(rng.uniform(0.3, 1.0)))
    return {"half_mm": half, "cross": cross, "depth_mm": z0}
