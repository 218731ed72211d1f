"""The pipeline of one sample: scene -> tissue map -> B-mode -> picture -> colour, graphics -> screen crop."""

from __future__ import annotations

import cv2
import numpy as np

from . import beam, doppler, geometry, scene, screen
from .overlays import draw_overlays

GENERATOR_VERSION = "neovasc.beamsim/1"


def _blend_texture(grey: np.ndarray, tendon: np.ndarray, textures: list[np.ndarray] | None, seed: int) -> bool:
    """In ~30 % of samples blend a random crop of a real B-mode image into the tissue around the tendon.

    Uses its own generator so that passing textures leaves the rest of the sample unchanged. ``grey`` is the
    ``(R, C) uint8`` grid image, changed in place; the tendon (dilated by a few cells) is left untouched.
    """
    if not textures:
        return False
    rng = np.random.default_rng([seed, 0x7E7])
    if rng.random() >= 0.3:
        return False
    tex = textures[int(rng.integers(len(textures)))]
    th, tw = tex.shape[:2]
    ch, cw = max(8, int(th * rng.uniform(0.3, 0.8))), max(8, int(tw * rng.uniform(0.3, 0.8)))
    y, x = int(rng.integers(0, th - ch + 1)), int(rng.integers(0, tw - cw + 1))
    crop = cv2.resize(np.ascontiguousarray(tex[y : y + ch, x : x + cw]), grey.shape[::-1]).astype(np.float32)
    keep = cv2.dilate(tendon.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(np.float32)
    keep = cv2.GaussianBlur(keep, (0, 0), 2.0)
    keep[tendon] = 1.0
    w = float(rng.uniform(0.3, 0.7)) * (1.0 - keep)
    grey[:] = np.clip(grey * (1 - w) + crop * w + 0.5, 0, 255).astype(np.uint8)
    return True


def render(seed: int, size: tuple[int, int], textures: list[np.ndarray] | None) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(H, W, 3) uint8`` RGB image, ``(H, W) uint8`` mask and the params of the sample for ``seed``."""
    rng = np.random.default_rng(seed)
    plan = scene.draw_plan(rng)
    probe = geometry.draw_probe(rng, plan.depth_mm)
    g = geometry.make_grid(probe)
    tissue_map, anatomy = scene.paint(plan, g, rng)
    settings = beam.draw_settings(rng, plan.depth_mm)
    grey, formation = beam.form_image(tissue_map, g, settings, rng)
    textured = _blend_texture(grey, tissue_map.tendon, textures, seed)
    maps = geometry.scan_maps(probe)
    pic = cv2.cvtColor(geometry.to_picture(grey, probe, maps), cv2.COLOR_GRAY2RGB)  # (Hp, Wp, 3)
    mask = geometry.to_picture(tissue_map.tendon.astype(np.uint8) * 255, probe, maps) >= 128  # (Hp, Wp)
    field = maps[2] if maps is not None else np.ones(mask.shape, bool)
    mask &= field
    px_mm = probe.picture_hw[0] / probe.depth_mm
    colour = doppler.paint_colour(pic, mask, field, px_mm, rng)
    graphics = draw_overlays(pic, rng, probe.depth_mm, settings.focus_mm / probe.depth_mm)
    img, m, offsets = screen.crop(pic, mask.astype(np.uint8), rng)
    img, compression = screen.compress(img, rng)
    image, out_mask = screen.to_sample(img, m, size)
    tendon = anatomy["tendon"]
    params = {
        "generator": GENERATOR_VERSION, "seed": seed,
        "view": tendon["view"] if tendon else None, "shape": tendon["shape"] if tendon else None,
        "pathology": tendon["pathology"] if tendon else None, "kind": tendon["kind"] if tendon else None,
        "thickness_mm": tendon["thickness_mm"] if tendon else None, "depth_mm": tendon["depth_mm"] if tendon else None,
        "tendon": tendon, "field_depth_mm": probe.depth_mm, "convex": probe.convex,
        "picture_hw": list(probe.picture_hw), "grid_hw": list(probe.grid_hw), "plan_above": plan.above,
        "plan_below": plan.below, "bone": anatomy["bone"], "distractors": anatomy["distractors"],
        "formation": formation, "texture_blend": textured, "colour": colour, "overlays": graphics,
        "crop_offsets": offsets, "crop_hw": list(img.shape[:2]), "compression": compression,
    }  # fmt: skip
    return image, out_mask, _jsonable(params)


def _jsonable(obj: object) -> object:
    """Plain Python types only (numpy scalars, tuples -> float/int/list)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
