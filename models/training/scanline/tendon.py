"""Tendons and fibrillar bands (ligaments use the same painter without a label).

Sizes and looks from ../shared/anatomy.md: thickness 2-12 mm (Achilles midportion ~5 mm, +2.7 mm in
tendinopathy; patellar 3-5 mm; common extensor origin 3-5 mm, triangular); longitudinal = band of tightly
packed parallel bright fibre lines bounded by a thin paratenon line; transverse = ellipse or crescent of fine
bright dots, small ones 3-8 mm wide (finger flexors, long head of biceps, peroneals, tibialis posterior).
Anisotropy: fibres tilted away from perpendicular to the beam turn dark (cos^n fall-off, n 8-60).
Tendinopathy: fusiform thickening, focal hypoechoic areas, clefts (partial tears), calcifications that shadow.
"""

from __future__ import annotations

import cv2
import numpy as np

from .scene import Scene, fibre_profile, line_profile, smooth_noise, soft_band


def _centreline(rng: np.random.Generator, scene: Scene, z0: float, kind: str) -> np.ndarray:
    """Depth of the band's centre ``(1, Ws)`` mm for one of the longitudinal shapes."""
    x, w = scene.x, scene.width_mm
    u = x - w * rng.uniform(0.2, 0.8)
    zc = z0 + rng.normal(0, 0.06) * u
    if kind == "curved":
        zc = zc + rng.normal(0, 0.012) * u**2
    elif kind == "wavy":  # crimp / slack tendon
        zc = zc + rng.uniform(0.2, 1.2) * np.sin(2 * np.pi * u / rng.uniform(6, 25) + rng.uniform(0, 6.3))
    elif kind == "arc":  # over the humeral head / epicondyle / calcaneus, radius 12-40 mm
        r = rng.uniform(12, 40)
        a = np.minimum(np.abs(u), 0.6 * r)  # beyond 0.6 r continue along the tangent (slope 0.75)
        zc = z0 + r - np.sqrt(r**2 - a**2) + np.maximum(np.abs(u) - 0.6 * r, 0) * 0.75
    return zc.astype(np.float32)


def _place(
    rng: np.random.Generator, scene: Scene, z_top: float, z_bottom: float | None, size: float
) -> tuple[float, float]:
    """Random centre depth and (possibly shrunk) size of a structure between ``z_top`` and ``z_bottom`` mm.

    Why: a tendon drawn inside a bone's shadow or below the field would be labelled yet invisible. If the
    structure does not fit, it shrinks to the room there is and moves up toward the skin.
    """
    bottom = min(scene.depth_mm - 0.5, z_bottom if z_bottom is not None else np.inf)
    size = min(size, max(1.0, bottom - 0.8))
    top = max(0.3, min(z_top, bottom - size))
    lo, hi = top + size / 2, max(top + size / 2, bottom - size / 2)
    return float(rng.uniform(lo, hi)), float(size)


def _local_level(scene: Scene, inside: np.ndarray) -> float:
    """Mean diffuse echogenicity in a ~2 mm ring around ``inside``, so contrast is relative to the neighbours."""
    core = (inside > 0.5).astype(np.uint8)
    k = max(3, int(2.0 / min(scene.dx, scene.dz)) | 1)
    ring = cv2.dilate(core, np.ones((k, k), np.uint8)).astype(bool) & ~core.astype(bool)
    level = float(scene.diffuse[ring].mean()) if ring.any() else 0.35
    return float(np.clip(level, 0.15, 0.8))


def _texture(rng: np.random.Generator, scene: Scene, v: np.ndarray, thick: np.ndarray) -> np.ndarray:
    """Fibrillar lines following the band: a fibre profile over ``v`` in [-1, 1], broken along the length."""
    spacing_mm = rng.uniform(0.2, 0.7)
    prof = fibre_profile(rng, 512, spacing_mm / (float(thick.mean()) / 2), rng.uniform(0.02, 0.06))
    idx = np.clip((v + 1) * 255.5, 0, 511).astype(np.int32)
    breaks = np.clip(smooth_noise(rng, scene.shape, 1.0, rng.uniform(4, 20)) * 0.6 + 0.8, 0, 1.3)
    return prof[idx] * breaks


def _lesions(rng: np.random.Generator, scene: Scene, inside: np.ndarray) -> dict:
    """Hypoechoic foci, a cleft (partial tear) and calcifications with shadows, all inside ``inside``."""
    ys, xs = np.nonzero(inside > 0.5)
    out = {"hypo": 0, "cleft": False, "calc": 0}
    if ys.size == 0:
        return out
    z, x = scene.z, scene.x
    for _ in range(int(rng.choice([0, 0, 0, 0, 0, 1, 1, 2]))):  # most tendons here are not tendinopathic
        k = rng.integers(ys.size)
        cz, cx = (ys[k] + 0.5) * scene.dz, (xs[k] + 0.5) * scene.dx
        rz, rx = rng.uniform(0.5, 3), rng.uniform(1, 8)
        blob = np.exp(-(((z - cz) / rz) ** 2) - ((x - cx) / rx) ** 2) * inside * rng.uniform(0.4, 0.9)
        scene.diffuse *= 1 - blob * 0.8
        scene.specular *= 1 - blob
        out["hypo"] += 1
    if rng.random() < 0.15:
        k = rng.integers(ys.size)
        cz, cx, half = (ys[k] + 0.5) * scene.dz, (xs[k] + 0.5) * scene.dx, rng.uniform(2, 10)
        cleft = line_profile(z, cz + 0.05 * (x - cx), rng.uniform(0.15, 0.5)) * (np.abs(x - cx) < half) * inside
        scene.diffuse *= 1 - 0.9 * cleft
        scene.specular *= 1 - cleft
        out["cleft"] = True
    for _ in range(int(rng.choice([0] * 8 + [1, 2]))):
        k = rng.integers(ys.size)
        cz, cx, r = (ys[k] + 0.5) * scene.dz, (xs[k] + 0.5) * scene.dx, rng.uniform(0.2, 1.0)
        spot = np.exp(-(((z - cz) / (r * 0.6)) ** 2) - ((x - cx) / r) ** 2).astype(np.float32)
        scene.specular += spot * rng.uniform(2, 5)
        # absorb just behind the bright front face, so the spot itself stays bright and shadows below it
        behind = np.exp(-(((z - cz - r) / (r * 0.6)) ** 2) - ((x - cx) / r) ** 2).astype(np.float32)
        scene.absorb += behind * rng.uniform(0.3, 3)  # clean (dense) to partial shadows
        out["calc"] += 1
    return out


def longitudinal(
    rng: np.random.Generator, scene: Scene, z_top: float, z_bottom: float | None = None, *, label: bool = True
) -> dict:
    """A long-axis band (tendon, or ligament if not ``label``) between ``z_top`` and ``z_bottom`` mm; in place."""
    kind = str(rng.choice(["straight", "curved", "wavy", "arc"], p=[0.35, 0.25, 0.15, 0.25]))
    thick0 = float(np.clip(rng.uniform(2, 12) if label else rng.uniform(0.8, 3), 0.5, scene.depth_mm * 0.45))
    z0, thick0 = _place(rng, scene, z_top, min(scene.depth_mm * 0.85, z_bottom or np.inf), thick0)
    zc = _centreline(rng, scene, z0, kind)
    x = scene.x
    xs, xe = sorted(rng.uniform(-0.3, 1.3, 2) * scene.width_mm) if rng.random() < 0.45 else (-1.0, 1e3)
    taper = np.clip((xe - x) / rng.uniform(3, 15), 0.25, 1) * np.clip((x - xs) / rng.uniform(3, 15), 0.25, 1)
    fus = rng.uniform(0.1, 0.8) * np.exp(-(((x - rng.uniform(0, scene.width_mm)) / rng.uniform(5, 20)) ** 2))
    thick = (thick0 * taper * (1 + (fus if rng.random() < 0.3 else 0))).astype(np.float32)
    extent = ((x > xs) & (x < xe)).astype(np.float32)
    inside = soft_band(scene.z, zc, thick / 2, rng.uniform(0.05, 0.5)) * extent
    v = (scene.z - zc) / (thick / 2)
    slope = np.gradient(zc[0], scene.dx)[None, :]
    aniso = np.cos(np.arctan(slope)) ** rng.uniform(8, 60)  # fibres tilted off-perpendicular go dark
    contrast = float(np.exp(rng.uniform(np.log(1.2), np.log(3.0))))
    fib = _texture(rng, scene, v, thick)
    # Brightness comes mostly from the coherent fibre bundles; the diffuse part carries less of the contrast.
    level = _local_level(scene, inside)
    diffuse = level * rng.uniform(0.8, 1.2) * contrast**0.75 * (0.5 + 0.5 * aniso)
    scene.diffuse[:] = scene.diffuse * (1 - inside) + inside * diffuse
    fibres = fib * aniso * rng.uniform(0.5, 1.5) * contrast * level / 0.35
    scene.specular[:] = scene.specular * (1 - inside) + inside * fibres
    para = rng.uniform(0.3, 1.5) * extent * (0.3 + 0.7 * aniso)
    for sign in (-1, 1):
        scene.specular += para * line_profile(scene.z, zc + sign * (thick / 2 + 0.15), 0.1)
    info = {"kind": "longitudinal", "shape": kind, "thick_mm": thick0, "depth_mm": z0, "contrast": contrast}
    if label:
        scene.mask[inside > 0.5] = 1
        info["lesions"] = _lesions(rng, scene, inside)
    # Where an enthesis bone would sit: under the band, rising to meet its deep side where the band ends.
    rise = np.clip((xe - x) / rng.uniform(3, 12), 0, 1) if xe < scene.width_mm else 1.0
    info["bone_surface"] = zc + thick / 2 + rng.uniform(0.3, 3) * rise
    return info


def _outline(rng: np.random.Generator, kind: str, w: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed outline of a short-axis section around (0, 0), ``w`` x ``h`` mm; returns (x, z) arrays."""
    t = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    r = 1 + sum(rng.normal(0, 0.04) * np.cos(k * t + rng.uniform(0, 6.3)) for k in (2, 3, 4))
    x, z = w / 2 * np.cos(t) * r, h / 2 * np.sin(t) * r
    if kind == "lens":
        z = z * (1 - 0.6 * np.abs(np.cos(t)) ** 4)  # pointed ends
    elif kind == "kidney":
        z = z - h * 0.35 * np.exp(-(((t - 1.5 * np.pi) / 0.6) ** 2))
    elif kind == "crescent":
        z = np.where(np.sin(t) < 0, z * 0.2, z) + h * 0.3 * np.cos(t) ** 2
    elif kind == "triangle":
        corners = np.array([[0, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
        seg = (t / (2 * np.pi) * 3).astype(int) % 3
        f = (t / (2 * np.pi) * 3) % 1
        x = corners[seg, 0] * (1 - f) + corners[(seg + 1) % 3, 0] * f
        z = corners[seg, 1] * (1 - f) + corners[(seg + 1) % 3, 1] * f
    return x, z


def transverse(rng: np.random.Generator, scene: Scene, z_top: float, z_bottom: float | None = None) -> dict:
    """A short-axis section between ``z_top`` and ``z_bottom`` mm: dotted ("bristle") interior, thin rim."""
    kind = str(rng.choice(["oval", "flat", "lens", "kidney", "crescent", "triangle"]))
    small = rng.random() < 0.5
    w = float(rng.uniform(3, 8) if small else rng.uniform(6, 30))
    h = float(np.clip(w * rng.uniform(0.25, 0.9), 1.5, 12)) * (0.5 if kind == "flat" else 1)
    cz, h2 = _place(rng, scene, z_top, z_bottom, min(h, scene.depth_mm * 0.5))
    w, h = w * h2 / h, h2
    cx = float(rng.uniform(0.05, 0.95) * scene.width_mm)
    ox, oz = _outline(rng, kind, w, h)
    inside = scene.polygon(ox + cx, oz + cz)
    soft = cv2.GaussianBlur(inside, (0, 0), rng.uniform(0.3, 1.5))
    contrast = float(np.exp(rng.uniform(np.log(1.2), np.log(3.0))))
    # Fascicle bundles cut across: sparse bright dots, unevenly spread (heterogeneous echotexture).
    density = np.exp(rng.uniform(np.log(0.01), np.log(0.08))) * np.clip(smooth_noise(rng, scene.shape, 6, 6) + 1, 0, 2)
    dots = (rng.random(scene.shape) < density).astype(np.float32) * rng.uniform(0.6, 1.6)
    level = _local_level(scene, inside)
    scene.diffuse[:] = scene.diffuse * (1 - soft) + soft * level * rng.uniform(0.8, 1.2) * contrast**0.75
    scene.specular[:] = scene.specular * (1 - soft) + soft * dots * rng.uniform(0.5, 1.5) * contrast * level / 0.35
    rim = cv2.dilate(inside, np.ones((3, 3), np.uint8)) - inside
    scene.specular += cv2.GaussianBlur(rim, (0, 0), 0.7) * rng.uniform(0.0, 1.2)
    scene.mask[inside > 0.5] = 1
    return {"kind": "transverse", "shape": kind, "width_mm": w, "height_mm": h, "depth_mm": cz,
            "contrast": contrast, "lesions": _lesions(rng, scene, inside)}  # fmt: skip
