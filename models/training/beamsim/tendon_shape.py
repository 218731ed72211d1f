"""Tendon geometry: where the tendon's cross-section lies in the picture, and its fibre direction.

A longitudinal tendon is a band about a centreline ``zc(x)`` with a thickness profile ``th(x)`` measured
across the fibres (straight, gently curved, wavy, draped over a bony prominence, ending on bone at an
insertion) or an arc band over a round head. A transverse tendon is an oval, flat oval, kidney, triangle,
or a crescent over the humeral head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fields import smoothstep
from .geometry import Grid

LONG_SHAPES = ("straight", "curved", "wavy", "drape", "arc", "insertion")
CROSS_SHAPES = ("oval", "flat", "kidney", "triangle", "crescent")


@dataclass
class Section:
    """A tendon's cross-section on the grid; arrays ``(R, C)``.

    inside: bool mask. across: float32, 0 at the superficial surface to 1 at the deep one (longitudinal) or
    the normalised radius, 0 at the centre to 1 at the rim (transverse). along: float32 mm along the fibres.
    fibre: float32 fibre angle from horizontal, radians (0 in a transverse view). thick: float32 local
    thickness, mm. top / bottom: float32 depth (mm) of the superficial / deep surface, extended across the
    whole picture so that the layers around can follow it. bone: float32 cortex depth the tendon lies on, or
    None.
    """

    inside: np.ndarray
    across: np.ndarray
    along: np.ndarray
    fibre: np.ndarray
    thick: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    bone: np.ndarray | None


def thickness_profile(xs: np.ndarray, th: float, extra: float, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Thickness along the tendon (``xs`` mm, 1-D) with ``extra`` mm of fusiform or focal thickening."""
    prof = np.full_like(xs, th)
    if extra > 0 and kind in ("fusiform", "focal"):
        length = rng.uniform(8, 25) if kind == "fusiform" else rng.uniform(2, 6)  # spindle vs focal nodule
        centre = rng.uniform(np.percentile(xs, 25), np.percentile(xs, 75))
        prof += extra * np.exp(-(((xs - centre) / length) ** 2))
    return prof


def _centreline(xs: np.ndarray, shape: str, z0: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Depth of the tendon's centre along ``xs`` for the graph shapes; 1-D float64 and what was drawn."""
    half = 0.5 * float(np.ptp(xs))
    zc = z0 + np.tan(np.deg2rad(rng.uniform(-6, 6))) * xs
    info: dict[str, object] = {}
    if shape == "curved":
        sag = rng.uniform(-3, 3)
        zc = zc + sag * (xs / half) ** 2
    elif shape == "wavy":
        zc = zc + rng.uniform(0.3, 1.5) * np.sin(2 * np.pi * xs / rng.uniform(10, 35) + rng.uniform(0, 6.3))
    elif shape == "drape":  # convex over a bony prominence: highest over it
        x0 = rng.uniform(-0.3, 0.3) * half
        zc = z0 + min(rng.uniform(1.5, 7.0), 0.3 * half) * ((xs - x0) / half) ** 2
    return zc, info


def _graph_section(g: Grid, xs: np.ndarray, zc: np.ndarray, th: np.ndarray) -> Section:
    """Rasterise a band about the centreline ``zc`` (1-D over ``xs``) with perpendicular thickness ``th``."""
    slope = np.gradient(zc, xs)
    fibre1 = np.arctan(slope)
    half_v = 0.5 * th / np.cos(fibre1)  # vertical half-thickness of a tilted band
    zc_g = np.interp(g.x, xs, zc).astype(np.float32)
    hv_g = np.interp(g.x, xs, half_v).astype(np.float32)
    top, bottom = zc_g - hv_g, zc_g + hv_g
    across = (g.z - top) / np.maximum(bottom - top, 1e-3)
    inside = (across >= 0) & (across <= 1) & (hv_g > 0.05)
    fibre = np.interp(g.x, xs, fibre1).astype(np.float32)
    along = (g.x / np.cos(fibre)).astype(np.float32)
    thick = np.interp(g.x, xs, th).astype(np.float32)
    return Section(inside, across.astype(np.float32), along, fibre, thick, top, bottom, None)


def _ends(xs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Thickness factor (1-D) that lets each end span the picture or taper out inside it."""
    factor = np.ones_like(xs)
    names = []
    lo, hi = xs[0], xs[-1]
    for side in (-1, 1):
        if rng.random() < 0.6:
            names.append("spans")
            continue
        names.append("tapers")
        end = rng.uniform(0.3, 0.85) * side * (hi - lo) / 2  # the end lies inside the picture
        taper = rng.uniform(2, 10)
        factor *= smoothstep((side * (end - xs)) / taper)
    return factor, names


def longitudinal(g: Grid, rng: np.random.Generator, shape: str, z0: float, th: float, extra: float,
                 patho: str) -> tuple[Section, dict]:  # fmt: skip
    """A tendon in long axis whose superficial surface lies near depth ``z0`` (mm), ``th`` mm thick."""
    if shape == "arc":
        return _arc(g, rng, z0, th, extra, patho)
    lo, hi = float(g.x.min()) - 2, float(g.x.max()) + 2
    xs = np.linspace(lo, hi, 512)
    prof = thickness_profile(xs, th, extra, patho, rng)
    zc, info = _centreline(xs, shape, z0 + 0.5 * th, rng)
    if patho == "focal" and rng.random() < 0.5:  # thickening towards one surface only (e.g. deep, patellar)
        zc = zc + 0.5 * (prof - th) * rng.choice([-1.0, 1.0])
    bone = None
    if shape == "insertion":
        return _insertion(g, rng, xs, zc, prof, info)
    factor, ends = _ends(xs, rng)
    sec = _graph_section(g, xs, zc, prof * factor)
    if shape == "drape":
        bone = sec.bottom + float(rng.uniform(0.3, 3.0))
    sec.bone = bone
    info.update(ends=ends)
    return sec, info


def _insertion(g: Grid, rng: np.random.Generator, xs: np.ndarray, zc: np.ndarray, prof: np.ndarray,
               info: dict) -> tuple[Section, dict]:  # fmt: skip
    """The tendon bends down and ends on bone: the fibres curve into the cortex (enthesis)."""
    side = float(rng.choice([-1.0, 1.0]))
    s = side * xs
    half = 0.5 * float(np.ptp(xs))
    s_end = rng.uniform(0.2, 0.8) * half
    bend = rng.uniform(4, 14)
    dive = rng.uniform(1.0, 6.0)
    u = np.clip((s - (s_end - bend)) / bend, 0, None)
    zc = zc + dive * u * u
    factor, _ = _ends(xs, rng)
    keep = np.where(s <= s_end, 1.0, 0.0) * np.where(s < 0, factor, 1.0)
    sec = _graph_section(g, xs, zc, prof * keep)
    # Cortex (e.g. the calcaneus): a rounded bone under the last centimetres only, its surface meeting the fibres'
    # ends and falling away from the tendon proximally, leaving room for a bursa / fat pad (Kager's) above it.
    i_end = int(np.argmin(np.abs(s - s_end)))
    z_end = zc[i_end] + 0.5 * prof[i_end]
    deep = zc + 0.5 * prof
    radius = rng.uniform(6, 20)
    before = z_end + rng.uniform(0.3, 2.0) + np.clip(s_end - s, 0, None) ** 2 / (2 * radius)
    before = np.maximum(before, deep + 0.3)
    past = z_end - np.tan(np.deg2rad(rng.uniform(-10, 30))) * (s - s_end)
    surf1 = np.where(s <= s_end, before, np.minimum(past, deep))
    sec.bone = np.interp(g.x, xs, surf1).astype(np.float32)
    info.update(ends=["inserts"], dive_mm=float(dive))
    return sec, info


def _arc(g: Grid, rng: np.random.Generator, z0: float, th: float, extra: float,
         patho: str) -> tuple[Section, dict]:  # fmt: skip
    """A tendon following a round head's arc (supraspinatus over the humeral head), cartilage beneath it."""
    radius = float(rng.uniform(8, 30))  # humeral head / condyle radius of curvature
    cart = float(rng.uniform(0.5, 2.0))  # hyaline cartilage over the head
    hx = float(rng.uniform(-0.3, 0.3) * np.ptp(g.x))
    r_out = radius + cart + th
    hz = z0 + r_out
    dx, dz = g.x - hx, hz - g.z
    r = np.hypot(dx, dz)
    ang = np.arctan2(dx, dz)  # 0 at the top of the dome
    span = float(rng.uniform(0.5, 1.4))
    xs = r_out * np.linspace(-1.6, 1.6, 256)
    prof = thickness_profile(xs, th, extra, patho, rng)
    th_g = np.interp(ang * r_out, xs, prof).astype(np.float32)
    taper = smoothstep((span - np.abs(ang)) / 0.25)
    outer = radius + cart + th_g
    across = ((outer - r) / np.maximum(th_g, 1e-3)).astype(np.float32)
    inside = (across >= 0) & (across <= 1) & (taper > 0.5) & (g.z < hz)
    reach = np.clip(np.abs(dx), 0, None)

    def surface(rad: np.ndarray | float) -> np.ndarray:
        return (hz - np.sqrt(np.clip(rad * rad - np.minimum(reach, rad * 0.999) ** 2, 0, None))).astype(np.float32)

    top, bottom = surface(outer), surface(radius + cart)
    sec = Section(inside, across, (ang * r_out).astype(np.float32), ang.astype(np.float32), th_g, top, bottom,
                  surface(np.float32(radius)))  # fmt: skip
    return sec, {"head_radius_mm": radius, "cartilage_mm": cart, "ends": ["arc"]}
