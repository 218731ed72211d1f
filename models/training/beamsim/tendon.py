"""Tendon appearance: fibrillar echotexture, anisotropy, borders and pathology, painted into the tissue map.

Sources: anatomy.md (fibrillar pattern, paratenon, bristle pattern in short axis, anisotropy, tendinopathy:
fusiform/focal thickening, hypoechoic areas with the fibrillar pattern lost, calcifications, neovessels);
partial tears as anechoic clefts is general sonographic knowledge.
"""

from __future__ import annotations

import cv2
import numpy as np

from .fields import band_line, lines, points, smooth_noise, smoothstep
from .geometry import Grid
from .tendon_shape import Section
from .tissue import Tissue

PATHOLOGIES = ("normal", "fusiform", "focal", "hypoechoic", "heterogeneous", "tear", "calcification", "vessels")


def _surround(t: Tissue, g: Grid, mask: np.ndarray) -> float:
    """Mean echo in a ring ~2 mm wide around the tendon (the reference for its relative echogenicity)."""
    k = max(3, round(2.0 / g.dz) | 1)
    ring = cv2.dilate(mask.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool) & ~mask
    return float(np.mean(t.echo[ring])) if ring.any() else 0.25


def _anisotropy(sec: Section, g: Grid, rng: np.random.Generator, view: str) -> tuple[np.ndarray, dict]:
    """Echo factor cos(psi)^k, psi the angle between the fibres and the beam's perpendicular; ``(R, C)``.

    Tendon backscatter is specular-like and falls steeply once the fibres tilt from perpendicular to the beam
    (anatomy.md: "turns artificially dark"); k 6-24 makes a 20-30 degree tilt lose most of the echo.
    """
    tilt = float(np.deg2rad(rng.uniform(0, 8) * rng.choice([-1, 1])))
    k = float(rng.uniform(6, 24))
    if view == "transverse":  # fibres cross the plane: only the probe's out-of-plane tilt matters
        tilt = float(np.deg2rad(rng.uniform(0, 18)))
        psi = np.full(g.shape, tilt, np.float32)
    else:
        psi = sec.fibre + g.beam + tilt  # a fibre perpendicular to a beam at angle b has slope -tan(b)
    factor = np.maximum(np.abs(np.cos(psi)) ** k, 0.03).astype(np.float32)
    return factor, {"tilt_deg": float(np.rad2deg(tilt)), "exponent": k}


def _fibrils(sec: Section, g: Grid, rng: np.random.Generator, view: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Fibrillar pattern in [0, 1] ``(R, C)``, its specular share, and its strength (0 = plain)."""
    strength = float(rng.choice([0.0, rng.uniform(0.2, 0.6), rng.uniform(0.6, 1.0)], p=[0.15, 0.35, 0.5]))
    if view == "transverse":  # "bristle": fine bright dots
        dots = np.abs(points(rng, g.shape, float(rng.uniform(0.02, 0.1))))
        return dots, dots, strength
    spacing = max(float(rng.uniform(0.25, 0.7)), 2.2 * g.dz)  # fascicle bundles, wider on coarse grids
    jitter = 0.15 * smooth_noise(rng, g.shape, 1.0 / g.dz, 8.0 / g.dx)
    pattern = lines(sec.across * sec.thick / spacing + jitter, float(rng.uniform(0.18, 0.32)))
    gate = np.clip(smooth_noise(rng, g.shape, 1.0 / g.dz, float(rng.uniform(2, 12)) / g.dx) + 1.3, 0, 1)
    pattern *= gate
    return pattern, pattern, strength


def _depth_inside(sec: Section, view: str) -> np.ndarray:
    """Distance from the tendon's border inward, mm; ``(R, C) float32``."""
    if view == "transverse":
        return (1 - sec.across) * 0.5 * sec.thick
    return np.minimum(sec.across, 1 - sec.across) * sec.thick


def paint_tendon(t: Tissue, g: Grid, rng: np.random.Generator, sec: Section, view: str, patho: str) -> dict:
    """Paint the tendon (mask ``sec.inside``) over the tissue map; returns what was drawn."""
    mask = sec.inside
    surround = _surround(t, g, mask)
    hypo = rng.random() < 0.1  # hypoechoic tendinopathy: slightly darker than bright surroundings
    ratio = float(rng.uniform(0.55, 0.95) if hypo else np.exp(rng.uniform(np.log(1.2), np.log(8.0))))
    base = max(surround, 0.08) * ratio
    aniso, aniso_info = _anisotropy(sec, g, rng, view)
    pattern, spec, strength = _fibrils(sec, g, rng, view)
    if hypo:
        strength *= 0.3
    echo = base * (1 - 0.6 * strength + 1.6 * strength * pattern)
    coh = strength * float(rng.uniform(0.2, 1.2)) * base * spec
    density = float(rng.uniform(1.0, 4.0) if view == "transverse" else rng.uniform(5, 25))
    echo, coh = _pathology(echo, coh, t, g, rng, sec, patho)
    echo *= aniso
    coh *= aniso * aniso
    blur = float(np.exp(rng.uniform(np.log(0.05), np.log(1.5))))  # sharp to blurred borders, mm
    w = smoothstep(_depth_inside(sec, view) / blur) * mask
    t.echo[:] = t.echo * (1 - w) + echo * w
    t.density[mask] = density
    t.coherent[:] = t.coherent * (1 - w) + coh * w
    t.atten[mask] = np.maximum(t.atten[mask], 1.2)
    t.tendon[:] = mask
    para = _paratenon(t, g, rng, sec, view, aniso, base)
    return {"echo_ratio": ratio, "hypoechoic": bool(hypo), "fibrils": strength, "border_blur_mm": blur,
            "paratenon": para, "anisotropy": aniso_info}  # fmt: skip


def _paratenon(t: Tissue, g: Grid, rng: np.random.Generator, sec: Section, view: str, aniso: np.ndarray,
               base: float) -> bool:  # fmt: skip
    """Bright paratenon lines on the surfaces (longitudinal) or a bright rim (transverse), in some cases."""
    if rng.random() < 0.45:
        return False
    amp = float(rng.uniform(0.5, 2.5)) * max(base, 0.2)
    w = max(0.6 * g.dz, 0.08)
    if view == "transverse":
        t.add_line(band_line(sec.across, np.float32(1.0), w / max(float(sec.thick.mean()), 1.0)) * aniso, amp)
        return True
    depth = sec.across * sec.thick
    near = (sec.across > -0.5) & (sec.across < 1.5) & (sec.thick > 0.3)
    line = band_line(depth, np.float32(0.0), w) + band_line(depth, sec.thick, w)
    t.add_line(line * near * aniso, amp)
    return True


def _pathology(echo: np.ndarray, coh: np.ndarray, t: Tissue, g: Grid, rng: np.random.Generator, sec: Section,
               patho: str) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Hypoechoic areas, heterogeneous echotexture, tears, calcifications, intratendinous vessels."""
    mask = sec.inside
    if patho == "heterogeneous":
        echo = echo * np.exp(0.5 * smooth_noise(rng, g.shape, 1.5 / g.dz, 3.0 / g.dx))
    if patho in ("hypoechoic", "fusiform", "focal", "tear") and rng.random() < 0.8:
        for _ in range(int(rng.integers(1, 4))):
            blob = _blob(g, rng, mask, (0.8, 4.0), (0.5, 2.5))
            echo = echo * (1 - blob * rng.uniform(0.5, 0.9))
            coh = coh * (1 - blob)
    if patho == "tear":  # anechoic cleft along the fibres or from a surface
        blob = _blob(g, rng, mask, (1.5, 8.0), (0.15, 0.6))
        echo = echo * (1 - 0.97 * blob)
        coh = coh * (1 - blob)
    if patho == "calcification":
        for _ in range(int(rng.integers(1, 5))):
            spot = _blob(g, rng, mask, (0.3, 1.5), (0.3, 1.2)) > 0.5
            coh = coh + 4.0 * spot
            t.atten[spot] = float(rng.uniform(15, 60))  # acoustic shadow behind calcium
    if patho == "vessels":
        for _ in range(int(rng.integers(1, 4))):
            ves = _blob(g, rng, mask, (0.15, 0.4), (0.8, 3.0))
            echo = echo * (1 - 0.9 * ves)
    return echo, coh


def _blob(g: Grid, rng: np.random.Generator, mask: np.ndarray, half_x: tuple, half_z: tuple) -> np.ndarray:
    """A soft ellipse (half-axes drawn in ``half_x``/``half_z`` mm) centred on a random tendon cell; (R, C)."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return np.zeros(g.shape, np.float32)
    i = int(rng.integers(rows.size))
    x0, z0 = g.x[rows[i], cols[i]], g.z[rows[i], cols[i]]
    a, b = rng.uniform(*half_x), rng.uniform(*half_z)
    d2 = ((g.x - x0) / a) ** 2 + ((g.z - z0) / b) ** 2
    return (smoothstep((1.0 - d2) / 0.5) * mask).astype(np.float32)
