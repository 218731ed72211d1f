"""Tendon geometry of the held-out family: which tendon, which view, what shape and what is wrong with it.

Figures follow the project's anatomy notes (``anatomy.md``: appearance, thickness, neovessels):

* thickness (maximal, anterior-posterior): Achilles midportion 4-7 mm normal, tendinopathy adding about
  2.7 mm; plantar fascia 3-4 mm normal, thicker than 4 mm in fasciitis; patellar tendon 3-5 mm; common
  extensor origin 3-5 mm (a triangular tendon on the lateral epicondyle). The supraspinatus is not in the
  notes; 4-6 mm is assumed here. Any tendon may be drawn as thin as 2 mm or swollen to 12 mm;
* longitudinal view: a band, straight, gently curved, convex over bone (supraspinatus over the humeral
  head, common extensor origin over the epicondyle) or ending on bone at an insertion (calcaneus,
  patella); transverse view: an ellipse, a flat oval or a crescent;
* pathology: fusiform thickening (spindle-shaped, both surfaces), focal thickening (one surface),
  hypoechoic areas, heterogeneous echotexture, partial tears (an anechoic cleft from a surface or inside),
  calcifications (bright foci with a shadow). Anisotropy, where the fibres curve away from the beam, is
  applied in :mod:`.tissue`.

All lengths are in millimetres: ``x`` across the picture, ``z`` down from its top edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "KINDS",
    "PATHOLOGIES",
    "Ellipse",
    "Plan",
    "Shape",
    "TendonField",
    "band_centre",
    "draw_plan",
    "in_bone",
    "shape_of",
]

# name -> (normal thickness range mm, longitudinal shapes, transverse shapes)
KINDS: dict[str, tuple[tuple[float, float], tuple[str, ...], tuple[str, ...]]] = {
    "achilles": ((4.0, 7.0), ("straight", "curved", "insertion"), ("oval", "kidney")),
    "patellar": ((3.0, 5.0), ("straight", "insertion"), ("flat",)),
    "plantar_fascia": ((3.0, 4.0), ("straight", "insertion"), ("flat",)),
    "common_extensor": ((3.0, 5.0), ("convex",), ("oval",)),
    "supraspinatus": ((4.0, 6.0), ("convex",), ("crescent",)),
}
PATHOLOGIES = ("normal", "fusiform", "focal", "hypoechoic", "heterogeneous", "partial_tear", "calcification")
# extra thickness of a diseased tendon, mm: tendinopathy adds 2.7 mm on average at the Achilles midportion
SWELLING_MM = (1.0, 6.0)
MIN_MM, MAX_MM = 2.0, 12.0


@dataclass(frozen=True)
class Ellipse:
    """A rotated ellipse in mm: centre, semi-axes and the angle of ``ax`` from the x axis (radians)."""

    cx: float
    cz: float
    ax: float
    az: float
    angle: float = 0.0

    def contains(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.angle), np.sin(self.angle)
        u, v = (x - self.cx) * c + (z - self.cz) * s, -(x - self.cx) * s + (z - self.cz) * c
        return (u / self.ax) ** 2 + (v / self.az) ** 2 < 1


@dataclass(frozen=True)
class Plan:
    """What one case shows: the tendon, its view, shape, pathology and where it lies.

    ``top_mm`` is the depth of the tendon's upper surface where it is thickest; ``standoff_mm`` a gel
    layer above the skin (0: none); ``subcut_mm`` the fat (and, for the supraspinatus, deltoid) between
    the skin and the tendon.
    """

    kind: str
    view: str
    shape: str
    pathology: str
    thickness_mm: float
    depth_mm: float
    width_mm: float
    standoff_mm: float
    skin_mm: float
    subcut_mm: float
    top_mm: float
    side: int  # +1: an insertion or taper on the right of the picture, -1 on the left


@dataclass
class TendonField:
    """The tendon on a grid: inside, position across (-1 upper surface .. +1 deep surface), along (mm)
    and the fibres' tilt from horizontal (radians; 0 in a transverse view)."""

    inside: np.ndarray
    across: np.ndarray
    along: np.ndarray
    tilt: np.ndarray
    half_mm: np.ndarray  # local half thickness, mm


@dataclass
class Shape:
    """A tendon outline with its pathology regions, evaluated on any grid of mm coordinates."""

    plan: Plan
    kind: str  # "band", "arc" or "section"
    params: dict[str, float]
    lesions: list[Ellipse] = field(default_factory=list)  # hypoechoic areas
    tears: list[Ellipse] = field(default_factory=list)
    calcs: list[Ellipse] = field(default_factory=list)

    def field(self, x: np.ndarray, z: np.ndarray) -> TendonField:
        return {"band": _band_field, "arc": _arc_field, "section": _section_field}[self.kind](self, x, z)

    def mask(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        return self.field(x, z).inside


def draw_plan(rng: np.random.Generator, depth_mm: float, width_mm: float) -> Plan:
    """A random tendon for a picture of ``depth_mm`` x ``width_mm``."""
    kind = str(rng.choice(list(KINDS)))
    normal, long_shapes, trans_shapes = KINDS[kind]
    view = "longitudinal" if rng.random() < 0.6 else "transverse"
    shape = str(rng.choice(long_shapes if view == "longitudinal" else trans_shapes))
    pathology = str(rng.choice(PATHOLOGIES, p=[0.22, 0.16, 0.12, 0.14, 0.12, 0.12, 0.12]))
    thickness = rng.uniform(*normal)
    if pathology != "normal" and rng.random() < 0.8:
        thickness += rng.uniform(*SWELLING_MM)
    if rng.random() < 0.1:
        thickness = rng.uniform(MIN_MM, 3.0)  # a thin tendon (atrophic, or after treatment)
    thickness = float(np.clip(thickness, MIN_MM, MAX_MM))
    standoff = float(rng.uniform(3.0, 10.0)) if rng.random() < 0.15 else 0.0
    skin = float(rng.uniform(0.8, 2.2))
    subcut = float(rng.uniform(0.0, 0.6)) if rng.random() < 0.2 else float(rng.uniform(1.0, 12.0))
    if kind == "supraspinatus":
        subcut += float(rng.uniform(4.0, 12.0))  # the deltoid lies over it
    room = depth_mm - 3.0 - thickness - standoff - skin
    subcut = float(min(subcut, max(room, 0.0)))
    return Plan(
        kind, view, shape, pathology, thickness, depth_mm, width_mm, standoff, skin, subcut,
        top_mm=standoff + skin + subcut, side=int(rng.choice([-1, 1])),
    )  # fmt: skip


def shape_of(plan: Plan, rng: np.random.Generator) -> Shape:
    """The tendon outline and pathology regions of ``plan``."""
    if plan.view == "transverse" and plan.shape != "crescent":
        shape = _section(plan, rng)
    elif plan.shape in ("convex", "crescent"):
        shape = _arc(plan, rng)
    else:
        shape = _band(plan, rng)
    _add_pathology(shape, rng)
    return shape


def _band(plan: Plan, rng: np.random.Generator) -> Shape:
    """A longitudinal band along ``z = c0 + slope (x - xm) + curve (x - xm)^2`` with a thickness profile."""
    w, half = plan.width_mm, plan.thickness_mm / 2
    bulge = 0.0
    if plan.pathology == "fusiform":
        bulge = rng.uniform(0.35, 0.8)  # the spindle's thickest part is thickness; the ends are thinner
    params = {
        "xm": rng.uniform(0.3, 0.7) * w,
        "centre": plan.top_mm + half,
        "slope": rng.uniform(-0.12, 0.12),
        "curve": rng.choice([-1, 1]) / (2 * rng.uniform(30.0, 90.0)) if plan.shape == "curved" else 0.0,
        "half": half / (1 + bulge),
        "bulge": bulge,
        "bulge_x": rng.uniform(0.3, 0.7) * w,
        "bulge_w": rng.uniform(5.0, 14.0),
        "focal_side": float(rng.choice([-1, 1])),
        "focal": 0.0,
        "bend_side": 0.0,
        "bone_x": 0.0,
        "bone_z": -1e3,
        "bone_r": 0.0,
    }
    if plan.pathology == "focal":
        params["half"] = half / 1.6
        params["focal"] = 0.6 * half / 1.6 * 2
        params["bulge_w"] = rng.uniform(2.5, 5.0)
    if plan.shape == "insertion":
        _insertion(plan, params, rng)
    return Shape(plan, "band", {k: float(v) for k, v in params.items()})


def _insertion(plan: Plan, p: dict[str, float], rng: np.random.Generator) -> None:
    """The band's end on bone (calcaneus, patella): the centre line bends down toward a bone disc that
    cuts the tendon off, so the fibres tilt (and darken) as they reach the enthesis."""
    w, half = plan.width_mm, plan.thickness_mm / 2
    end = w * rng.uniform(0.65, 0.9) if plan.side > 0 else w * rng.uniform(0.1, 0.35)
    bend = rng.uniform(6.0, 15.0)  # the last mm before the bone, where the fibres turn down
    p["xm"] = end - plan.side * bend
    p["slope"] = 0.0
    p["curve"] = np.tan(np.radians(rng.uniform(15.0, 40.0))) / (2 * bend)
    p["bend_side"] = float(plan.side)
    drop = p["curve"] * bend**2
    room = plan.depth_mm - 2.0 - (p["centre"] + half)
    if drop > room:  # keep the enthesis inside the picture
        p["curve"] *= max(room, 0.5) / drop
    centre_end = p["centre"] + p["curve"] * bend**2
    radius = rng.uniform(8.0, 16.0)
    p["bone_r"] = radius
    p["bone_x"] = end + plan.side * 0.7 * radius
    p["bone_z"] = centre_end + np.sqrt(1 - 0.49) * radius + 0.3 * half


def in_bone(p: dict[str, float], x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Inside the bone disc of an insertion (never true without one)."""
    return (x - p["bone_x"]) ** 2 + (z - p["bone_z"]) ** 2 < p["bone_r"] ** 2


def band_centre(p: dict[str, float], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre line depth and slope of a band at ``x``."""
    dx = x - p["xm"]
    if p["bend_side"]:  # an insertion bends on one side of ``xm`` only
        dx = np.maximum(dx * p["bend_side"], 0) * p["bend_side"]
    return p["centre"] + p["slope"] * dx + p["curve"] * dx * dx, p["slope"] + 2 * p["curve"] * dx


def _band_field(shape: Shape, x: np.ndarray, z: np.ndarray) -> TendonField:
    p = shape.params
    centre, slope = band_centre(p, x)
    cos = 1 / np.sqrt(1 + slope * slope)
    d = (z - centre) * cos  # distance from the centre line, across the fibres
    gauss = np.exp(-(((x - p["bulge_x"]) / p["bulge_w"]) ** 2))
    upper = p["half"] * (1 + p["bulge"] * gauss) + (p["focal"] * gauss if p["focal_side"] < 0 else 0)
    lower = p["half"] * (1 + p["bulge"] * gauss) + (p["focal"] * gauss if p["focal_side"] > 0 else 0)
    inside = (d > -upper) & (d < lower) & ~in_bone(p, x, z)
    if p["bend_side"]:
        inside &= (x - p["bone_x"]) * p["bend_side"] < 0  # nothing beyond the enthesis
    across = np.where(d < 0, d / np.maximum(upper, 1e-3), d / np.maximum(lower, 1e-3))
    return TendonField(inside, across, x.copy(), np.arctan(slope) * np.ones_like(x), np.where(d < 0, upper, lower))


def _arc(plan: Plan, rng: np.random.Generator) -> Shape:
    """A tendon lying over a convex bone (humeral head, epicondyle): an annular band around a circle.

    The longitudinal supraspinatus tapers to a beak at its insertion; the common extensor origin is
    triangular, thickest distally and thin where it arises from the epicondyle; the transverse
    supraspinatus is a crescent over the head that thins at both ends.
    """
    radius = rng.uniform(18.0, 28.0) if plan.kind == "supraspinatus" else rng.uniform(12.0, 25.0)
    cartilage = rng.uniform(0.8, 2.0) if plan.kind == "supraspinatus" else 0.0
    inner = radius + cartilage
    top = plan.top_mm
    apex = inner + plan.thickness_mm  # the outer surface's highest point lies at depth ``top``
    span = rng.uniform(0.35, 0.7)  # radians either side of the apex, before the taper
    params = {
        "cx": rng.uniform(0.35, 0.65) * plan.width_mm,
        "cz": top + apex,
        "bone": radius,
        "inner": inner,
        "thick": plan.thickness_mm,
        "span": span,
        "fusiform": rng.uniform(0.3, 0.7) if plan.pathology == "fusiform" else 0.0,
        "peak": rng.uniform(-0.4, 0.4) * span,
    }
    return Shape(plan, "arc", {k: float(v) for k, v in params.items()})


def _arc_field(shape: Shape, x: np.ndarray, z: np.ndarray) -> TendonField:
    p, plan = shape.params, shape.plan
    dx, dz = x - p["cx"], p["cz"] - z
    r = np.hypot(dx, dz)
    theta = np.arctan2(dx, dz)  # 0 straight up from the centre; positive to the right
    t = theta * plan.side / p["span"]  # -1 .. 1 along the tendon, +1 toward the insertion or origin
    if plan.shape == "crescent":
        profile = np.clip(1 - np.abs(t) ** 4, 0, 1) ** 0.5
    elif plan.kind == "common_extensor":
        profile = np.clip((1 - t) / 2, 0, 1) ** 0.7 * (t > -1.3)  # triangular: thin at the epicondyle end
    else:  # beak at the greater tuberosity, muscle beyond the junction at t = -1
        profile = np.where(t < 0, (t > -1).astype(float), np.clip(1 - t, 0, 1) ** 0.6)
    swell = 1 + p["fusiform"] * np.exp(-(((theta - p["peak"]) / (0.35 * p["span"])) ** 2))
    thick = p["thick"] * profile * swell / (1 + p["fusiform"])
    outer = p["inner"] + thick
    inside = (r > p["inner"]) & (r < outer) & (dz > 0) & (thick > 0.05)
    half = np.maximum(thick / 2, 1e-3)
    across = (p["inner"] + half - r) / half  # +1 at the deep (bone) side
    return TendonField(inside, across, p["inner"] * theta, theta, half)


def _section(plan: Plan, rng: np.random.Generator) -> Shape:
    """A transverse cross-section: an oval (Achilles, common extensor), a kidney (Achilles with a concave
    deep side) or a flat oval (patellar tendon, plantar fascia), with small wobbles of its outline."""
    b = plan.thickness_mm / 2
    ratio = {"flat": rng.uniform(3.5, 7.0), "kidney": rng.uniform(1.6, 2.6)}.get(plan.shape, rng.uniform(1.2, 2.2))
    if plan.pathology in ("fusiform", "focal", "heterogeneous"):
        ratio = max(1.1, ratio * rng.uniform(0.6, 0.85))  # a swollen tendon rounds up
    a = min(b * ratio, 0.45 * plan.width_mm)
    params = {
        "cx": rng.uniform(0.3, 0.7) * plan.width_mm,
        "cz": plan.top_mm + b,
        "a": a,
        "b": b,
        "power": 3.0 if plan.shape == "flat" else 2.0,
        "w2": rng.uniform(-0.06, 0.06),
        "w3": rng.uniform(-0.05, 0.05),
        "p2": rng.uniform(0, 2 * np.pi),
        "p3": rng.uniform(0, 2 * np.pi),
        "dent": rng.uniform(0.15, 0.35) if plan.shape == "kidney" else 0.0,
        "focal": rng.uniform(0.25, 0.5) if plan.pathology == "focal" else 0.0,
        "focal_at": rng.uniform(0, 2 * np.pi),
    }
    return Shape(plan, "section", {k: float(v) for k, v in params.items()})


def _section_field(shape: Shape, x: np.ndarray, z: np.ndarray) -> TendonField:
    p = shape.params
    u, v = (x - p["cx"]) / p["a"], (z - p["cz"]) / p["b"]
    phi = np.arctan2(v, u)
    rho = (np.abs(u) ** p["power"] + np.abs(v) ** p["power"]) ** (1 / p["power"])
    wobble = 1 + p["w2"] * np.cos(2 * phi + p["p2"]) + p["w3"] * np.cos(3 * phi + p["p3"])
    wobble += p["focal"] * np.exp(-((np.angle(np.exp(1j * (phi - p["focal_at"])))) ** 2) / 0.3)
    dent = p["dent"] * np.exp(-((u / 0.45) ** 2)) * (v > 0)  # the concave deep side of a kidney shape
    inside = (rho < wobble) & ~((v > 0) & (v > 1 - 2 * dent) & (rho > 0.2))
    return TendonField(inside, np.clip(v, -1, 1), x.copy(), np.zeros_like(x), p["b"] * np.ones_like(x))


def _add_pathology(shape: Shape, rng: np.random.Generator) -> None:
    """Hypoechoic areas, tears and calcifications placed inside the tendon (on a 0.1 mm probe grid)."""
    plan = shape.plan
    xs = np.arange(0.05, plan.width_mm, 0.1, dtype=np.float32)
    zs = np.arange(0.05, plan.depth_mm, 0.1, dtype=np.float32)
    gx, gz = np.meshgrid(xs, zs)
    f = shape.field(gx, gz)
    where = np.argwhere(f.inside)
    if len(where) == 0:
        return

    def spot() -> tuple[float, float, float]:
        i, j = where[rng.integers(len(where))]
        return float(xs[j]), float(zs[i]), float(f.half_mm[i, j])

    kind = plan.pathology
    if kind in ("hypoechoic", "fusiform", "focal") and (kind == "hypoechoic" or rng.random() < 0.5):
        for _ in range(int(rng.integers(1, 3))):
            x, z, half = spot()
            shape.lesions.append(Ellipse(x, z, rng.uniform(1.5, 6.0), half * rng.uniform(0.4, 0.9), rng.normal(0, 0.2)))
    if kind == "heterogeneous":
        for _ in range(int(rng.integers(2, 6))):
            x, z, half = spot()
            shape.lesions.append(Ellipse(x, z, rng.uniform(0.6, 2.5), half * rng.uniform(0.2, 0.5), rng.normal(0, 0.4)))
    if kind == "partial_tear":
        x, z, half = spot()
        if rng.random() < 0.5:  # a cleft from a surface, across part of the thickness
            sign = rng.choice([-1, 1])
            depth = half * rng.uniform(0.6, 1.4)
            shape.tears.append(
                Ellipse(x, z + sign * (half - depth / 2), rng.uniform(0.3, 0.9), depth, rng.normal(0, 0.3))
            )
        else:  # an intrasubstance split along the fibres
            shape.tears.append(Ellipse(x, z, rng.uniform(3.0, 9.0), rng.uniform(0.25, 0.6), rng.normal(0, 0.1)))
    if kind == "calcification":
        for _ in range(int(rng.integers(1, 4))):
            x, z, _ = spot()
            size = rng.uniform(0.5, 2.2)
            shape.calcs.append(Ellipse(x, z, size, size * rng.uniform(0.4, 0.8), rng.normal(0, 0.3)))
