"""Structures that are bright, round or fibrous like a tendon but are not one (never labelled).

Sizes from standard MSK ultrasound anatomy: peripheral nerves 2-8 mm, honeycomb of hypoechoic fascicles
(0.3-1.2 mm) in hyperechoic epineurium; vessels 1-8 mm anechoic lumen with a bright wall, veins compressible
(flattened ovals), with posterior acoustic enhancement; ligaments 1-3 mm fibrillar bands between bones;
bursae a thin anechoic lens (< 2 mm) next to a tendon; fat lobules hypoechoic with bright septa.
"""

from __future__ import annotations

import cv2
import numpy as np

from .scene import Scene, line_profile, paint, smooth_noise
from .tendon import longitudinal
from .tissue import fascia, ridges


def _ellipse(scene: Scene, cx: float, cz: float, rx: float, rz: float, angle: float) -> np.ndarray:
    """Filled, slightly rotated ellipse as a ``(Hs, Ws) float32`` weight (soft by half a pixel)."""
    c, s = np.cos(angle), np.sin(angle)
    u = ((scene.x - cx) * c + (scene.z - cz) * s) / rx
    v = (-(scene.x - cx) * s + (scene.z - cz) * c) / rz
    r = np.sqrt(u**2 + v**2)
    return np.clip((1 - r) * min(rx, rz) / max(scene.dx, scene.dz) + 0.5, 0, 1).astype(np.float32)


def nerve(rng: np.random.Generator, scene: Scene) -> dict:
    """Short-axis nerve: bright epineurium ellipse holding dark fascicles (honeycomb), 2-8 mm."""
    w = float(rng.uniform(2, 8))
    h = w * float(rng.uniform(0.4, 0.9))
    cx, cz = float(rng.uniform(0, scene.width_mm)), float(rng.uniform(h, scene.depth_mm * 0.9))
    ang = float(rng.normal(0, 0.2))
    body = _ellipse(scene, cx, cz, w / 2, h / 2, ang)
    paint(scene, body, rng.uniform(0.5, 1.0))
    scene.specular += body * rng.uniform(0.2, 0.8)
    n = int(rng.integers(3, 22))
    for _ in range(n):
        r = rng.uniform(0.3, 0.75) * np.sqrt(rng.random())
        t = rng.uniform(0, 2 * np.pi)
        fx, fz = cx + r * w / 2 * np.cos(t), cz + r * h / 2 * np.sin(t)
        size = rng.uniform(0.15, 0.6) * min(1.0, w / 4)
        fas = _ellipse(scene, fx, fz, size, size * rng.uniform(0.6, 1), 0.0) * body
        scene.diffuse *= 1 - 0.85 * fas
        scene.specular *= 1 - fas
    return {"kind": "nerve", "width_mm": w, "fascicles": n}


def vessel(rng: np.random.Generator, scene: Scene) -> dict:
    """Anechoic vessel, round (short axis, veins flattened) or tubular (long axis), with a bright wall."""
    d = float(rng.uniform(1, 8))
    cx, cz = float(rng.uniform(0, scene.width_mm)), float(rng.uniform(d, scene.depth_mm * 0.9))
    if rng.random() < 0.6:
        lumen = _ellipse(scene, cx, cz, d / 2, d / 2 * rng.uniform(0.3, 1.0), rng.normal(0, 0.2))
        kind = "round"
    else:
        zc = cz + rng.normal(0, 0.1) * (scene.x - cx)
        lumen = np.clip((d / 2 - np.abs(scene.z - zc)) / scene.dz + 0.5, 0, 1).astype(np.float32)
        kind = "tube"
    wall = cv2.dilate(lumen, np.ones((3, 3), np.uint8)) - lumen
    paint(scene, lumen, rng.uniform(0.0, 0.05))
    scene.specular += wall * rng.uniform(0.3, 1.5)
    scene.absorb -= lumen * 0.015  # fluid attenuates less than tissue: posterior enhancement
    return {"kind": "vessel", "shape": kind, "diameter_mm": d}


def bursa(rng: np.random.Generator, scene: Scene) -> dict:
    """A thin anechoic lens, 0.3-2 mm thick and 5-25 mm long."""
    t, length = float(rng.uniform(0.3, 2)), float(rng.uniform(5, 25))
    cx, cz = float(rng.uniform(0, scene.width_mm)), float(rng.uniform(2, scene.depth_mm * 0.8))
    lens = _ellipse(scene, cx, cz, length / 2, t / 2, rng.normal(0, 0.1))
    paint(scene, lens, 0.03)
    return {"kind": "bursa", "thick_mm": t, "length_mm": length}


def fat_lobules(rng: np.random.Generator, scene: Scene) -> dict:
    """A patch of fat (Kager's, Hoffa's): hypoechoic with bright septa running in many directions."""
    w, h = float(rng.uniform(6, 30)), float(rng.uniform(3, 15))
    cx, cz = float(rng.uniform(0, scene.width_mm)), float(rng.uniform(h / 2, scene.depth_mm))
    patch = _ellipse(scene, cx, cz, w / 2, h / 2, rng.normal(0, 0.3))
    patch = patch * np.clip(smooth_noise(rng, scene.shape, 8, 8) + 1.2, 0, 1)
    paint(scene, patch, rng.uniform(0.15, 0.4))
    sep = ridges(rng, scene, rng.uniform(-1.2, 1.2), rng.uniform(1, 3), 0.08)
    sep = np.maximum(sep, ridges(rng, scene, rng.uniform(-1.2, 1.2), rng.uniform(1, 4), 0.08))
    scene.specular += patch * sep * rng.uniform(0.4, 1.5)
    return {"kind": "fat", "width_mm": w}


def extra_fascia(rng: np.random.Generator, scene: Scene) -> dict:
    """An extra fascia / aponeurosis line somewhere in the scene (often right next to the tendon)."""
    z0 = float(rng.uniform(2, scene.depth_mm * 0.9))
    centre = (z0 + rng.normal(0, 0.08) * (scene.x - scene.width_mm / 2)).astype(np.float32)
    if rng.random() < 0.5:  # a plain bright line only (paratenon-like)
        scene.specular += rng.uniform(0.5, 2.0) * line_profile(scene.z, centre, rng.uniform(0.08, 0.25))
        return {"kind": "line", "depth_mm": z0}
    return fascia(rng, scene, centre)


def ligament(rng: np.random.Generator, scene: Scene) -> dict:
    """A thin fibrillar band like a tendon, unlabelled (ligament / retinaculum)."""
    info = longitudinal(rng, scene, float(rng.uniform(1, scene.depth_mm * 0.6)), label=False)
    info.pop("bone_surface")
    info["kind"] = "ligament"
    return info


def neighbour_lines(rng: np.random.Generator, scene: Scene) -> list[dict]:
    """Fascia / aponeurosis / retinaculum lines hugging the tendon above or below, 0.2-3 mm away, unlabelled.

    Why: in real scans the brightest fibrous lines next to a tendon are its neighbours (paratenon, crural fascia,
    the soleus aponeurosis under the Achilles); they must not be mistaken for tendon edges.
    """
    m = scene.mask.astype(bool)
    cols = np.nonzero(m.any(0))[0]
    if cols.size == 0:
        return []
    rows = np.arange(scene.shape[0])[:, None]
    top = (np.where(m, rows, scene.shape[0]).min(0) + 0.0) * scene.dz
    bottom = (np.where(m, rows, -1).max(0) + 1.0) * scene.dz
    out = []
    for _ in range(int(rng.choice([1, 1, 2, 3]))):
        above = bool(rng.random() < 0.5)
        gap = float(rng.uniform(0.2, 3.0))
        edge = top[cols] - gap if above else bottom[cols] + gap
        path = np.interp(np.arange(scene.shape[1]), cols, edge)[None, :].astype(np.float32)
        thick = float(rng.uniform(0.3, 1.5))
        weight = line_profile(scene.z, path, thick / 2.5) * (1 - m)
        scene.specular += weight * rng.uniform(0.6, 2.0)
        scene.diffuse += weight * 0.3
        out.append({"kind": "neighbour_line", "above": above, "gap_mm": gap, "thick_mm": thick})
    return out


LOOKALIKES = {
    "nerve": nerve,
    "vessel": vessel,
    "bursa": bursa,
    "fat": fat_lobules,
    "fascia": extra_fascia,
    "ligament": ligament,
}
