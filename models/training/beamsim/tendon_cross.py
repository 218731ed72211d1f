"""Transverse (short-axis) tendon sections: oval, flat oval, kidney, triangle, or a crescent over a head."""

from __future__ import annotations

import numpy as np

from .geometry import Grid
from .tendon_shape import Section


def _gauge(shape: str, u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Normalised radius of a section shape (< 1 inside) at normalised coordinates ``u`` (lateral), ``v``."""
    ellipse = np.sqrt(u * u + v * v)
    if shape == "kidney":  # an oval bent around a notch on its deep side
        bend = rng.uniform(0.3, 0.8)
        v2 = v + bend * (1 - u * u)
        return np.sqrt(u * u + v2 * v2 / (1 + bend) ** 2)
    if shape == "triangle":  # flat deep side, apex superficial (common extensor origin's beak)
        tri = np.maximum(v, 2 * np.abs(u) - v)
        return 0.75 * tri + 0.25 * ellipse
    return ellipse


def transverse(g: Grid, rng: np.random.Generator, shape: str, z0: float, th: float,
               extra: float) -> tuple[Section, dict]:  # fmt: skip
    """A tendon in short axis, superficial surface near depth ``z0`` (mm), ``th`` + ``extra`` mm thick."""
    th = th + extra
    if shape == "crescent":
        return _crescent(g, rng, z0, th)
    width = float(np.ptp(g.x))
    flat = {"oval": rng.uniform(1.2, 2.5), "flat": rng.uniform(2.5, 6), "kidney": rng.uniform(1.5, 3)}
    ratio = float(flat.get(shape, rng.uniform(1.2, 2.2)))
    half_w = 0.5 * th * ratio
    if rng.random() < 0.08:  # a section wider than the picture (e.g. a broad flat tendon close up)
        half_w = float(rng.uniform(0.55, 0.8) * width)
    cx = float(rng.uniform(-0.35, 0.35) * width)
    cz = z0 + 0.5 * th
    tilt = np.deg2rad(rng.uniform(-10, 10))
    dx, dz = g.x - cx, g.z - cz
    u = (dx * np.cos(tilt) + dz * np.sin(tilt)) / half_w
    v = (dz * np.cos(tilt) - dx * np.sin(tilt)) / (0.5 * th)
    rho = _gauge(shape, u, v, rng).astype(np.float32)
    inside = rho <= 1.0
    flat_top = np.full(g.shape, z0, np.float32)
    sec = Section(inside, rho, g.x.copy(), np.zeros(g.shape, np.float32), np.full(g.shape, th, np.float32),
                  flat_top, flat_top + np.float32(th), None)  # fmt: skip
    return sec, {"half_width_mm": half_w, "centre_x_mm": cx}


def _crescent(g: Grid, rng: np.random.Generator, z0: float, th: float) -> tuple[Section, dict]:
    """Supraspinatus in short axis: a crescent draped over the humeral head's cartilage."""
    radius = float(rng.uniform(12, 28))  # humeral head radius of curvature
    cart = float(rng.uniform(0.5, 2.0))
    span = float(rng.uniform(0.5, 1.1))  # half-angle of the crescent, radians
    hx = float(rng.uniform(-0.25, 0.25) * np.ptp(g.x))
    hz = z0 + radius + cart + th
    dx, dz = g.x - hx, hz - g.z
    r, ang = np.hypot(dx, dz), np.arctan2(dx, dz)
    taper = np.sqrt(np.clip(np.cos(0.5 * np.pi * ang / span), 0, None))
    inner = radius + cart
    local = th * taper
    frac = (r - inner) / np.maximum(local, 1e-3)
    inside = (frac >= 0) & (frac <= 1) & (np.abs(ang) < span) & (local > 0.3)
    rho = np.abs(2 * frac - 1).astype(np.float32)

    def surface(rad: float) -> np.ndarray:
        reach = np.minimum(np.abs(dx), rad * 0.999)
        return (hz - np.sqrt(rad * rad - reach * reach)).astype(np.float32)

    top = surface(inner + th)
    sec = Section(
        inside,
        rho,
        (ang * inner).astype(np.float32),
        np.zeros(g.shape, np.float32),
        local.astype(np.float32),
        top,
        surface(inner),
        surface(radius),
    )
    return sec, {"head_radius_mm": radius, "cartilage_mm": cart}  # fmt: skip
