"""Layered soft tissue around the tendon: gel, skin, fat with septa, fascia, muscle, bone.

Sizes follow ../shared/anatomy.md and standard MSK ultrasound texts (high-frequency linear probe, depth
2-4 cm): skin 1-2 mm with a bright double line; subcutaneous fat 1-12 mm, hypoechoic with thin bright
septa; deep fascia 0.5-1.5 mm bright band; muscle hypoechoic with bright perimysium lines 1-3 mm apart,
parallel or pennate (pennation 5-30 deg); bone cortex a bright line with an acoustic shadow below, often
with hyaline cartilage (anechoic, 1-3 mm) on top. Gel stand-off pads are 2-10 mm and anechoic.
All functions paint into a :class:`Scene` in place and return a JSON-able dict of what they drew.
"""

from __future__ import annotations

import numpy as np

from .scene import Scene, line_profile, paint, smooth_noise, soft_band


def wavy(rng: np.random.Generator, x: np.ndarray, z0: float, amp: float) -> np.ndarray:
    """A gently curved depth profile ``(1, Ws)`` around ``z0`` mm (tilt, bow and a long wave)."""
    w = float(x.max())
    u = x / w - 0.5
    tilt = rng.normal(0, 0.08) * w
    bow = rng.normal(0, 0.08) * w
    wave = amp * np.sin(2 * np.pi * u * rng.uniform(0.3, 1.5) + rng.uniform(0, 6.3))
    return (z0 + tilt * u + bow * (u**2 - 1 / 12) + wave).astype(np.float32)


def ridges(rng: np.random.Generator, scene: Scene, angle: float, spacing: float, width: float) -> np.ndarray:
    """Parallel broken bright lines (perimysium, septa) at ``angle`` rad from horizontal, ``(Hs, Ws)`` in [0, 1].

    The lines wander (smooth jitter) and fade in and out along their length, as fibro-adipose septa do.
    """
    hs, ws = scene.shape
    w = scene.z * np.cos(angle) - scene.x * np.sin(angle)  # distance across the lines, mm
    jitter = smooth_noise(rng, (hs, ws), 8, 40) * spacing * 0.25
    phase = (w + jitter) / spacing + rng.uniform(0, 1)
    d = (phase - np.round(phase)) * spacing  # signed mm to the nearest line
    keep = np.clip(smooth_noise(rng, (hs, ws), 4, 40) * 1.5 + rng.uniform(-0.3, 1.0), 0, 1)
    return (np.exp(-0.5 * (d / width) ** 2) * keep).astype(np.float32)


def skin_and_fat(rng: np.random.Generator, scene: Scene) -> dict:
    """Gel pad (sometimes), skin double line, subcutaneous fat with septa; returns the fascia depth too."""
    z, x = scene.z, scene.x
    gel = float(rng.uniform(2, 10)) if rng.random() < 0.15 else 0.0
    skin = float(rng.uniform(0.8, 2.0))
    fat = float(rng.uniform(0.5, 12.0) * rng.uniform(0.4, 1.0))
    top = wavy(rng, x, gel + 0.3, 0.1) if gel else np.full_like(x, 0.3)
    paint(scene, (z < top).astype(np.float32), 0.0)  # gel: anechoic
    paint(scene, soft_band(z, top + skin / 2, np.full_like(x, skin / 2), 0.2), rng.uniform(0.6, 1.0))
    scene.specular += rng.uniform(1.0, 2.5) * line_profile(z, top, 0.12)
    scene.specular += rng.uniform(0.5, 1.5) * line_profile(z, top + skin, 0.15)
    fascia = wavy(rng, x, gel + skin + fat + 0.3, rng.uniform(0, 1.5))
    fat_w = ((z > top + skin) & (z < fascia)).astype(np.float32)
    paint(scene, fat_w, rng.uniform(0.2, 0.45))
    septa = ridges(rng, scene, rng.uniform(-0.5, 0.5), rng.uniform(1.5, 5), rng.uniform(0.06, 0.15))
    scene.specular += fat_w * septa * rng.uniform(0.3, 1.2)
    return {"gel_mm": gel, "skin_mm": skin, "fat_mm": fat, "fascia_z": fascia}


def fascia(rng: np.random.Generator, scene: Scene, centre: np.ndarray, thick: float | None = None) -> dict:
    """A bright fascia / aponeurosis band along ``centre`` (``(1, Ws)`` mm), 0.5-1.5 mm thick."""
    t = float(thick if thick is not None else rng.uniform(0.4, 1.5))
    band = soft_band(scene.z, centre, np.full_like(centre, t / 2), 0.1)
    paint(scene, band, rng.uniform(0.6, 1.1))
    scene.specular += band * rng.uniform(0.5, 1.8) * np.clip(smooth_noise(rng, scene.shape, 2, 20) + 1.5, 0, 2)
    return {"kind": "fascia", "thick_mm": t}


def muscle(rng: np.random.Generator, scene: Scene, top: np.ndarray) -> dict:
    """Muscle below ``top`` (mm): parallel or bipennate fascicles with bright perimysium lines."""
    z = scene.z
    below = soft_band(z, (top + scene.depth_mm * 2) / 2, (scene.depth_mm * 2 - top) / 2, 0.3)
    paint(scene, below, rng.uniform(0.2, 0.5))
    spacing, width = float(rng.uniform(0.8, 3.5)), float(rng.uniform(0.06, 0.18))
    gain = float(rng.uniform(0.3, 1.5))
    kind = str(rng.choice(["parallel", "pennate", "bipennate"], p=[0.4, 0.35, 0.25]))
    a = float(rng.uniform(0.08, 0.5)) * float(rng.choice([-1, 1]))
    if kind == "parallel":
        lines = ridges(rng, scene, float(rng.normal(0, 0.08)), spacing, width)
    elif kind == "pennate":
        lines = ridges(rng, scene, a, spacing, width)
    else:  # two halves converging on a central aponeurosis
        mid = wavy(rng, scene.x, float(top.mean()) + rng.uniform(4, 20), 0.5)
        up = (z < mid).astype(np.float32)
        lines = up * ridges(rng, scene, a, spacing, width) + (1 - up) * ridges(rng, scene, -a, spacing, width)
        fascia(rng, scene, mid)
    scene.specular += below * lines * gain
    return {"kind": "muscle", "pattern": kind, "angle_rad": a, "spacing_mm": spacing}


def bone(rng: np.random.Generator, scene: Scene, surface: np.ndarray | None = None) -> dict:
    """Bone cortex along ``surface`` (``(1, Ws)`` mm): bright line, dark shadowed marrow, optional cartilage."""
    z = scene.z
    if surface is None:
        surface = wavy(rng, scene.x, scene.depth_mm * rng.uniform(0.55, 0.95), rng.uniform(0, 3))
    keep = 1.0 - scene.mask  # never paint over a tendon already drawn above the bone
    cart = float(rng.uniform(1, 3)) if rng.random() < 0.35 else 0.0
    if cart:
        paint(scene, soft_band(z, surface - cart / 2, np.full_like(surface, cart / 2), 0.15) * keep, 0.03)
    inside = (z > surface).astype(np.float32) * keep
    paint(scene, inside, 0.2)
    scene.specular += rng.uniform(2.0, 5.0) * line_profile(z, surface, rng.uniform(0.1, 0.3)) * keep
    scene.absorb += inside * rng.uniform(0.4, 2.0)  # cortex reflects nearly all energy: shadow below
    return {"kind": "bone", "cartilage_mm": cart}
