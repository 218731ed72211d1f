"""The scene: which structures lie where. A plan is drawn in millimetres first (it fixes the field depth),
then painted onto the grid of the drawn probe.

Thickness ranges: anatomy.md for the Achilles (4-7 mm, insertion ~4 mm), plantar fascia (3-4 mm), patellar
(3-5 mm) and common extensor origin (3-5 mm) tendons, tendinopathy adding 1-6 mm; supraspinatus 4-7 mm and
the layers around are general sonographic anatomy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import structures, tissue
from .fields import wave
from .geometry import Grid
from .tendon import PATHOLOGIES, paint_tendon
from .tendon_cross import transverse
from .tendon_shape import CROSS_SHAPES, LONG_SHAPES, Section, longitudinal
from .tissue import Tissue

# kind: (normal thickness range mm, longitudinal shapes, transverse shapes, tissue layers below)
KINDS: dict[str, tuple[tuple[float, float], tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "achilles": ((4.0, 7.0), ("straight", "curved", "wavy", "insertion", "drape"), ("oval", "flat", "kidney"),
                 ("fatpad", "pennate")),
    "patellar": ((3.0, 5.0), ("straight", "curved", "insertion"), ("flat", "oval"), ("fatpad",)),
    "plantar": ((2.5, 4.5), ("straight", "insertion", "curved"), ("flat",), ("parallel", "cross")),
    "extensor": ((3.0, 5.0), ("drape", "insertion", "straight"), ("triangle", "oval"), ("pennate",)),
    "supraspinatus": ((4.0, 7.0), ("arc", "arc", "insertion"), ("crescent",), ()),
    "generic": ((2.0, 10.0), LONG_SHAPES, CROSS_SHAPES, ("pennate", "parallel", "cross", "fat", "fatpad")),
}  # fmt: skip
MUSCLES = ("pennate", "parallel", "cross")


@dataclass
class Plan:
    """What a scene holds, in millimetres (JSON-friendly fields)."""

    depth_mm: float
    standoff_mm: float
    skin_mm: float
    above: list[tuple[str, float]]
    below: list[tuple[str, float]]
    tendon: dict[str, object] | None
    deep_bone: str | None
    distractors: list[str] = field(default_factory=list)


def _tendon_plan(rng: np.random.Generator) -> dict[str, object]:
    """Kind, view, shape, pathology and thickness of the tendon."""
    kind = str(rng.choice(list(KINDS), p=[0.22, 0.15, 0.12, 0.12, 0.14, 0.25]))
    (lo, hi), longs, crosses, _ = KINDS[kind]
    view = "longitudinal" if rng.random() < 0.6 else "transverse"
    shape = str(rng.choice(longs if view == "longitudinal" else crosses))
    if kind == "generic" and view == "longitudinal" and shape == "arc" and rng.random() < 0.5:
        shape = "straight"
    patho = str(rng.choice(PATHOLOGIES, p=[0.3, 0.14, 0.1, 0.12, 0.1, 0.08, 0.08, 0.08]))
    thick = float(rng.uniform(lo, hi))
    thickened = patho in ("fusiform", "focal") or (patho != "normal" and rng.random() < 0.2)
    extra = float(rng.uniform(1, 6)) if thickened else 0.0  # tendinopathy adds 1-6 mm (anatomy.md)
    if view == "transverse":
        thick = min(thick + extra, 12.0)
        extra = 0.0
    return {"kind": kind, "view": view, "shape": shape, "pathology": patho, "thickness_mm": thick,
            "thickening_mm": extra}  # fmt: skip


def draw_plan(rng: np.random.Generator) -> Plan:
    """Draw a scene; ~10 % hold no tendon (muscle, fat, bone, nerve or vessel scenes only)."""
    tendon = _tendon_plan(rng) if rng.random() >= 0.1 else None
    kind = str(tendon["kind"]) if tendon else "none"
    standoff = float(rng.uniform(2, 10)) if rng.random() < 0.15 else 0.0
    skin = float(rng.uniform(1, 2))
    fat = float(np.exp(rng.uniform(np.log(0.3), np.log(15))))  # subcutaneous fat 0.3-15 mm
    above: list[tuple[str, float]] = [("fatpad" if kind == "plantar" else "fat", fat)]
    if kind == "supraspinatus" or (kind in ("generic", "none") and rng.random() < 0.35):
        above.append((str(rng.choice(MUSCLES[:2])), float(rng.uniform(3, 12))))  # e.g. deltoid
    if kind == "supraspinatus" and rng.random() < 0.8:
        above.append(("bursa", float(rng.uniform(0.4, 2.0))))  # subacromial-subdeltoid bursa
    below_kinds = KINDS[kind][3] if tendon else ("pennate", "parallel", "cross", "fat", "fatpad")
    below = [(str(k), float(rng.uniform(4, 20))) for k in below_kinds if rng.random() < 0.85]
    if kind in ("generic", "none"):
        n = int(rng.integers(1, 4))
        below = [(str(rng.choice(below_kinds)), float(rng.uniform(3, 15))) for _ in range(n)]
    top = standoff + skin + sum(t for _, t in above)
    need = top + (float(tendon["thickness_mm"]) + float(tendon["thickening_mm"]) if tendon else 3.0) + 1.5
    depth = max(float(rng.uniform(10, 60)), need + float(rng.uniform(0.5, 8)))
    if depth > 60:  # keep within 60 mm by trimming the fat
        above[0] = (above[0][0], max(0.3, above[0][1] - (depth - 60)))
        depth = 60.0
    bone = str(rng.choice(["flat", "curved", "irregular", "head"])) if rng.random() < 0.4 else None
    distractors = [d for d, p in (("vessel", 0.45), ("nerve", 0.25), ("vessel2", 0.15)) if rng.random() < p]
    return Plan(depth, standoff, skin, above, below, tendon, bone, distractors)


def paint(plan: Plan, g: Grid, rng: np.random.Generator) -> tuple[Tissue, dict[str, object]]:
    """Paint the plan onto the grid; returns the tissue map and what was drawn."""
    t = Tissue.blank(g.shape)
    skin_top = plan.standoff_mm + wave(g.x, rng, float(rng.uniform(0, 0.4)), (20, 80))
    skin_bottom = skin_top + plan.skin_mm
    z0 = plan.standoff_mm + plan.skin_mm + sum(th for _, th in plan.above)
    sec, info = _section(plan, g, rng, z0)
    top = sec.top if sec else np.full(g.shape, z0, np.float32) + wave(g.x, rng, 1.0, (15, 60))
    start = sec.bottom if sec and plan.tendon["view"] == "longitudinal" else top + 0.3
    _paint_below(t, g, rng, plan, start)
    _paint_above(t, g, rng, plan, skin_bottom, top)
    placed = _distractors(t, g, rng, plan, skin_bottom, top)
    if plan.standoff_mm > 0:
        tissue.gel(t, g, skin_top)
    tissue.skin(t, g, rng, skin_top, plan.skin_mm)
    bone_info = _bones(t, g, rng, plan, sec, info, np.maximum(start, sec.bottom) if sec else start)
    if sec is not None:
        info.update(paint_tendon(t, g, rng, sec, str(plan.tendon["view"]), str(plan.tendon["pathology"])))
        info.update(plan.tendon, depth_mm=float(z0))
    return t, {"tendon": info if sec is not None else None, "bone": bone_info, "distractors": placed}


def _section(plan: Plan, g: Grid, rng: np.random.Generator, z0: float) -> tuple[Section | None, dict]:
    """The tendon's section for the plan (None without a tendon)."""
    if plan.tendon is None:
        return None, {}
    td = plan.tendon
    args = (g, rng, str(td["shape"]), z0, float(td["thickness_mm"]), float(td["thickening_mm"]))
    if td["view"] == "longitudinal":
        return longitudinal(*args, str(td["pathology"]))
    return transverse(*args)


def _paint_layer(t: Tissue, g: Grid, rng: np.random.Generator, kind: str, region: np.ndarray) -> None:
    if kind in ("fat", "fatpad"):
        tissue.fat(t, g, rng, region, pad=kind == "fatpad")
    elif kind in MUSCLES:
        tissue.muscle(t, g, rng, region, kind)


def _paint_below(t: Tissue, g: Grid, rng: np.random.Generator, plan: Plan, start: np.ndarray) -> None:
    """Layers below the tendon, following its deep surface, then muscle down to the field's bottom."""
    z = start
    for kind, th in [*plan.below, (str(rng.choice(MUSCLES)), 1e3)]:
        bottom = z + th + wave(g.x, rng, float(rng.uniform(0, 1.5)), (15, 60))
        _paint_layer(t, g, rng, kind, tissue.layer(g, z, bottom))
        if rng.random() < 0.5:  # a bright fascia between layers
            t.add_line(structures.band_line(g.z, z, max(g.dz, 0.12)), float(rng.uniform(0.3, 1.5)))
        z = bottom


def _paint_above(t: Tissue, g: Grid, rng: np.random.Generator, plan: Plan, skin_bottom: np.ndarray,
                 top: np.ndarray) -> None:  # fmt: skip
    """Layers between the skin and the tendon, stacked up from the tendon's superficial surface."""
    z = top
    for i, (kind, th) in enumerate(reversed(plan.above)):
        upper = skin_bottom if i == len(plan.above) - 1 else z - th
        if kind == "bursa":
            tissue.bursa(t, g, rng, z - th, th)
        else:
            _paint_layer(t, g, rng, kind, tissue.layer(g, upper, z))
        z = upper


def _distractors(t: Tissue, g: Grid, rng: np.random.Generator, plan: Plan, skin_bottom: np.ndarray,
                 top: np.ndarray) -> list[dict]:  # fmt: skip
    """Vessels and nerves in the fat or below the tendon: look-alikes a naive model confuses with tendon."""
    placed = []
    for name in plan.distractors:
        deep = rng.random() < 0.6
        lo = float(np.median(top)) + (6 if deep else -6)
        z0 = (
            float(rng.uniform(min(lo, plan.depth_mm - 2), plan.depth_mm - 2))
            if deep
            else float(rng.uniform(float(np.median(skin_bottom)) + 1, max(lo, float(np.median(skin_bottom)) + 1.5)))
        )
        cross = bool(rng.random() < 0.5)
        painter = structures.nerve if name == "nerve" else structures.vessel
        placed.append({"what": name.rstrip("2"), **painter(t, g, rng, z0, cross)})
    return placed


def _bones(t: Tissue, g: Grid, rng: np.random.Generator, plan: Plan, sec: Section | None, info: dict,
           start: np.ndarray) -> dict | None:  # fmt: skip
    """The bone the tendon lies on (insertion, drape, head), else sometimes a deep bone."""
    if sec is not None and sec.bone is not None:
        structures.bone(t, g, rng, sec.bone, cartilage=float(info.get("cartilage_mm", 0.0)))
        return {"kind": "under_tendon"}
    if plan.deep_bone is None:
        return None
    depth = float(np.median(start)) + float(rng.uniform(2, 25))
    if depth > plan.depth_mm - 1:
        return None
    surf, bone_info = structures.bone_surface(g, rng, plan.deep_bone, depth)
    structures.bone(t, g, rng, surf, cartilage=float(rng.uniform(0.5, 2)) if rng.random() < 0.3 else 0.0)
    return bone_info
