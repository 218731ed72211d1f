"""The echo map of a held-out scene: every tissue's mean echo amplitude and scatterer statistics.

Tissues around the tendon follow the project's anatomy notes (``anatomy.md``): a bright skin line over
hypoechoic subcutaneous fat with thin bright septa; under the Achilles, Kager's fat pad and then the
flexor hallucis longus; under the patellar tendon Hoffa's fat pad; under the plantar fascia the short
flexor muscle; the supraspinatus under the deltoid with the subacromial bursa between them and the
humeral head's cartilage and bone beneath; the common extensor origin on the lateral epicondyle. Bone is
a bright cortex with an acoustic shadow; fluid (bursae, tears, a gel stand-off) is anechoic with a
little enhancement behind it; calcifications are bright with a shadow. The tendon is fibrillar in a
longitudinal view (parallel bright lines bounded by a bright paratenon) and a field of bright dots in a
transverse view, and darkens where its fibres tilt away from the beam (anisotropy).

Echo amplitudes are relative: 1 is fibrillar tendon, about 0.25 fat, 3 bone cortex.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.training.heldout.anatomy import Shape, band_centre, in_bone

__all__ = ["echo_map", "smooth_noise"]

FAT, MUSCLE, FLUID, CORTEX, SKIN = 0.22, 0.33, 0.02, 3.0, 1.5


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sz: float, sx: float) -> np.ndarray:
    """``(h, w) float32`` Gaussian noise smoothed by ``(sz, sx)`` grid pixels, rescaled to unit spread."""
    noise = rng.standard_normal(shape).astype(np.float32)
    out = cv2.GaussianBlur(noise, (0, 0), sigmaX=max(sx, 0.3), sigmaY=max(sz, 0.3))
    return out / (out.std() + 1e-6)


def _septa(rng, shape, ppm: float) -> np.ndarray:
    """Thin wavy bright lines, mostly horizontal: the connective septa of fat."""
    n = smooth_noise(rng, shape, 1.5 * ppm, 4.0 * ppm)
    gaps = smooth_noise(rng, shape, 2 * ppm, 2 * ppm) > 0.0  # septa are not endless
    return ((np.abs(n) < 0.05) & gaps).astype(np.float32)


def _striations(rng, x, z, angle: float, period: float) -> np.ndarray:
    """Bright perimysium lines of a pennate muscle at ``angle`` from horizontal, every ``period`` mm."""
    u = -x * np.sin(angle) + z * np.cos(angle)
    warp = smooth_noise(rng, x.shape, 8, 20) * 1.2
    lines = np.cos(2 * np.pi * u / period + warp) > 0.9
    return (lines & (smooth_noise(rng, x.shape, 6, 30) > -0.3)).astype(np.float32)


def echo_map(
    shape: Shape, x: np.ndarray, z: np.ndarray, ppm: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The scene on a grid of mm coordinates ``x, z (h, w)`` with ``ppm`` grid pixels per mm.

    Returns:
        ``echo (h, w) float32`` mean amplitude (shadows applied) and ``k (h, w) float32`` K-distribution shape.
    """
    plan = shape.plan
    hw = x.shape
    echo = np.full(hw, FAT, np.float32) * (1 + 1.5 * _septa(rng, hw, ppm))
    k = np.full(hw, 3.0, np.float32)
    absorb = np.full(hw, 0.004, np.float32)  # amplitude nepers per mm

    tendon = shape.field(x, z)
    deep_edge = _deep_edge(shape, x, z, tendon.inside)
    _deep_tissues(shape, x, z, deep_edge, echo, k, rng, ppm)
    bone = _bone(shape, x, z)
    echo[bone] = 0.05
    k[bone] = 2.0
    absorb[bone] = 6.0
    cortex = bone & ~_shifted(bone, round(0.6 * ppm))
    echo[cortex] = CORTEX
    if plan.kind == "supraspinatus":
        _shoulder(shape, x, z, echo, k, rng, ppm)

    # the tendon itself
    inside = tendon.inside
    fibres = _fibres(shape, tendon, x, z, rng, ppm)
    steer = rng.normal(0, 0.05)
    power = rng.uniform(4.0, 10.0)
    aniso = np.clip(np.cos(tendon.tilt - steer), 0, 1).astype(np.float32) ** power
    if plan.view == "transverse":
        aniso = np.full(hw, rng.uniform(0.45, 1.0), np.float32)  # the probe's tilt along the tendon
    echo[inside] = (fibres * aniso)[inside]
    k[inside] = 6.0
    absorb[inside] = 0.02
    if rng.random() < 0.75:  # a bright paratenon; lost in some diseased tendons
        ring = cv2.dilate(inside.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, int(0.3 * ppm)))
        ring = ring.astype(bool) & ~inside & ~bone
        echo[ring] = 1.6 * (0.5 + 0.5 * aniso[ring])

    for lesion in shape.lesions:
        m = lesion.contains(x, z) & inside
        echo[m] = echo[m] * 0.25 + 0.12 * (1 + smooth_noise(rng, hw, 2, 2)[m] * 0.3)
        k[m] = 2.0
    for tear in shape.tears:
        m = tear.contains(x, z) & inside
        echo[m], k[m], absorb[m] = FLUID, 5.0, -0.03
    for calc in shape.calcs:
        m = calc.contains(x, z) & inside
        echo[m], k[m], absorb[m] = 4.0, 20.0, rng.uniform(1.0, 3.0)

    # skin and the gel stand-off
    skin_top = plan.standoff_mm
    echo[(z >= skin_top) & (z < skin_top + 0.35)] = 2.2  # the entry echo
    dermis = (z >= skin_top + 0.35) & (z < skin_top + plan.skin_mm)
    echo[dermis] = SKIN * (0.6 + 0.4 * smooth_noise(rng, hw, 2, 6)[dermis].clip(-1, 1))
    echo[z < skin_top] = FLUID * 0.5
    absorb[z < skin_top] = 0.0

    transmitted = np.exp(-np.cumsum(absorb, axis=0) / ppm)
    transmitted = np.vstack([np.ones((1, hw[1]), np.float32), transmitted[:-1]])
    return (np.clip(echo, 0, None) * np.clip(transmitted, 0, 1.6)).astype(np.float32), k


def _shifted(mask: np.ndarray, rows: int) -> np.ndarray:
    """``mask`` moved down by ``rows`` (the cortex is the top ``rows`` of a bone)."""
    out = np.zeros_like(mask)
    out[rows:] = mask[: mask.shape[0] - rows]
    return out


def _deep_edge(shape: Shape, x: np.ndarray, z: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Depth (mm) of the tendon's deep surface at each column, extended flat beyond the tendon."""
    rows = np.where(inside.any(axis=0), inside.shape[0] - 1 - np.argmax(inside[::-1], axis=0), -1)
    cols = np.flatnonzero(rows >= 0)
    if cols.size == 0:
        return np.full(x.shape[1], shape.plan.top_mm + shape.plan.thickness_mm, np.float32)
    z_col = z[:, 0]
    edge = np.interp(np.arange(x.shape[1]), cols, z_col[rows[cols]])
    if shape.kind == "band":
        centre, _ = band_centre(shape.params, x[0])
        outside = ~np.isin(np.arange(x.shape[1]), cols)
        edge[outside] = (centre + shape.params["half"])[outside]
    return edge.astype(np.float32)


def _deep_tissues(shape, x, z, deep_edge, echo, k, rng, ppm) -> None:
    """Fat pads and muscle under the tendon, by tendon kind."""
    plan = shape.plan
    below = z > deep_edge[None, :] + 0.3
    kind = plan.kind
    if kind in ("achilles", "patellar"):
        pad = rng.uniform(4.0, 14.0) if kind == "achilles" else rng.uniform(6.0, 20.0)
        level = FAT * (1.0 if kind == "achilles" else 1.6)  # Hoffa's pad is brighter than Kager's
        fat = below & (z < deep_edge[None, :] + pad)
        septa = _septa(rng, x.shape, ppm)
        echo[fat] = (level * (1 + 3 * septa))[fat]
        muscle = below & ~fat
    else:
        muscle = below
    striae = _striations(rng, x, z, rng.uniform(0.1, 0.45) * rng.choice([-1, 1]), rng.uniform(1.5, 3.5))
    base = MUSCLE * (1 + 0.3 * smooth_noise(rng, x.shape, 3 * ppm, 6 * ppm))
    echo[muscle] = (base * (1 + 2.5 * striae))[muscle]
    k[muscle] = 12.0


def _bone(shape: Shape, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Bone under the tendon: the insertion's disc, the humeral head or epicondyle under an arc, and for
    deep pictures of other tendons nothing (their bones lie deeper than the field of view)."""
    p = shape.params
    if shape.kind == "band":
        return in_bone(p, x, z)
    if shape.kind == "arc":
        return np.hypot(x - p["cx"], z - p["cz"]) < p["bone"]
    return np.zeros(x.shape, bool)


def _shoulder(shape, x, z, echo, k, rng, ppm) -> None:
    """Deltoid over the supraspinatus, the subacromial bursa between them, cartilage over the head."""
    p, plan = shape.params, shape.plan
    r = np.hypot(x - p["cx"], z - p["cz"])
    outer = p["inner"] + plan.thickness_mm
    bursa = rng.uniform(0.3, 2.0)
    deltoid = (z > plan.standoff_mm + plan.skin_mm + rng.uniform(1.0, 3.0)) & (r > outer + bursa + 0.4)
    striae = _striations(rng, x, z, rng.uniform(-0.25, 0.25), rng.uniform(1.5, 3.0))
    echo[deltoid] = (MUSCLE * (1 + 2.5 * striae))[deltoid]
    k[deltoid] = 12.0
    theta = np.arctan2(x - p["cx"], p["cz"] - z)
    over = np.abs(theta - p["peak"]) < p["span"] * rng.uniform(0.9, 1.4)  # the bursa caps the tendon only
    sac = (r > outer + 0.2) & (r < outer + 0.2 + bursa) & over
    echo[sac], k[sac] = FLUID, 5.0
    wall = (((r > outer + 0.2 + bursa) & (r < outer + 0.45 + bursa)) | ((r > outer) & (r < outer + 0.2))) & over
    echo[wall] = 1.3
    cartilage = (r > p["bone"]) & (r < p["inner"])
    echo[cartilage], k[cartilage] = FLUID * 2, 5.0


def _fibres(shape, tendon, x, z, rng, ppm) -> np.ndarray:
    """Fibrillar lines along the tendon (longitudinal) or bright dots (transverse), around echo 1."""
    hw = x.shape
    if shape.plan.view == "transverse":
        dots = (rng.random(hw) < rng.uniform(0.04, 0.12) / max(ppm / 10, 0.5) ** 2).astype(np.float32)
        return 0.8 + 2.5 * dots * (0.5 + rng.random(hw))
    period = rng.uniform(0.22, 0.45)
    depth_mm = tendon.across * tendon.half_mm
    warp = smooth_noise(rng, hw, 0.5 * ppm, 6 * ppm) * 0.8
    lines = 0.5 + 0.5 * np.cos(2 * np.pi * depth_mm / period + warp)
    broken = smooth_noise(rng, hw, 0.3 * ppm, 2.5 * ppm) > -0.6  # fibrils end and begin again
    return (0.45 + 1.2 * lines**3 * broken).astype(np.float32)
