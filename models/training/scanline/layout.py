"""Whole scene: background (layered anatomy or a real tissue map), look-alikes, then the tendon.

Field of view: depth 12-60 mm (MSK linear probes are used at 2-4 cm, ../shared/anatomy.md; shallow zooms on
fingers and deep views of the shoulder widen the range), footprint 20-50 mm (38-50 mm linear arrays, zoomed
pictures show less). About 10 % of scenes have no tendon (mask all zero).

Real tissue maps (``textures``): a crop of a real B-mode picture, blurred well past its speckle size (so only
its echogenicity layout is left: fascia lines, muscle, vessels) and turned from grey back into amplitude;
the tendon is then painted into it and the whole picture formed by our own beam, so there is no seam.
"""

from __future__ import annotations

import cv2
import numpy as np

from .lookalikes import LOOKALIKES, neighbour_lines
from .scene import Scene, line_profile
from .tendon import longitudinal, transverse
from .tissue import bone, fascia, muscle, skin_and_fat, wavy

SCENE_SHAPE = (288, 256)  # rows (depth) x columns; ~0.05-0.2 mm per pixel over the field sizes above


def _content(img: np.ndarray) -> np.ndarray:
    """Crop a real picture to its non-black part (screens letterbox the B-mode in black)."""
    rows = np.nonzero(img.mean(1) > 6)[0]
    cols = np.nonzero(img.mean(0) > 6)[0]
    if rows.size < 8 or cols.size < 8:
        return img
    return img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def texture_background(rng: np.random.Generator, scene: Scene, textures: list[np.ndarray]) -> dict:
    """Echogenicity from a random crop / flip / scale of a real picture; paints the whole scene."""
    k = int(rng.integers(len(textures)))
    img = np.asarray(textures[k])
    if img.ndim == 3:  # tolerate an RGB(A) picture: its grey is the mean of the colour planes
        img = img[..., :3].mean(-1)
    if img.ndim != 2 or min(img.shape) < 8:
        raise ValueError(f"textures[{k}] must be a grey (h, w) image of at least 8x8, got shape {img.shape}")
    img = _content(np.clip(img, 0, 255).astype(np.uint8))
    h, w = img.shape[:2]
    fh, fw = rng.uniform(0.4, 1.0, 2)
    ch, cw = max(4, int(h * fh)), max(4, int(w * fw))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = img[y0 : y0 + ch, x0 : x0 + cw].astype(np.float32) / 255
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    hs, ws = scene.shape
    grey = cv2.resize(np.ascontiguousarray(crop), (ws, hs), interpolation=cv2.INTER_AREA)
    sigma = float(rng.uniform(2, 4)) * max(hs / ch, 1.0)  # beyond the source speckle size
    smooth = cv2.GaussianBlur(grey, (0, 0), sigma)
    ridge = np.clip(smooth - cv2.GaussianBlur(smooth, (0, 0), sigma * 4), 0, None)
    dr = float(rng.uniform(30, 50))  # the source's display dynamic range, undone to get amplitude
    amp = 10 ** ((smooth / max(float(smooth.max()), 1e-3) - 1) * dr / 20)
    scene.diffuse[:] = amp / max(float(np.median(amp)), 1e-4) * rng.uniform(0.25, 0.45)
    scene.specular[:] = ridge / max(float(ridge.max()), 1e-4) * rng.uniform(0.5, 2.5)
    if rng.random() < 0.5:
        scene.specular += rng.uniform(0.8, 2) * line_profile(scene.z, np.full_like(scene.x, 0.4), 0.12)
    return {"texture_index": k, "crop": [y0, x0, ch, cw], "blur_px": sigma, "dr_db": dr}


def layered_background(rng: np.random.Generator, scene: Scene) -> tuple[dict, float, float]:
    """Skin, fat, fascia, muscle, sometimes deep bone; returns (params, top and bottom depth for a tendon, mm)."""
    top = skin_and_fat(rng, scene)
    fz = top.pop("fascia_z")
    muscle_info = muscle(rng, scene, fz)
    fascia(rng, scene, fz)
    top["muscle"] = muscle_info
    bottom = scene.depth_mm
    if rng.random() < 0.4:
        surface = wavy(rng, scene.x, scene.depth_mm * rng.uniform(0.55, 0.95), rng.uniform(0, 3))
        top["bone"] = bone(rng, scene, surface)
        bottom = float(surface.min()) - 0.5  # a tendon in the bone's shadow would be invisible
    under_skin = top["gel_mm"] + top["skin_mm"] + 0.3
    return top, float(under_skin if rng.random() < 0.2 else np.mean(fz)), bottom


def build_scene(rng: np.random.Generator, textures: list[np.ndarray] | None) -> tuple[Scene, dict]:
    """Draw a full scene; returns it and a JSON-able description."""
    depth = float(rng.uniform(12, 60) if rng.random() < 0.3 else rng.uniform(18, 40))
    width = float(rng.uniform(20, 50))
    scene = Scene(depth, width, SCENE_SHAPE)
    info: dict = {"depth_mm": depth, "width_mm": width}
    if textures and rng.random() < 0.35:
        info["texture"] = texture_background(rng, scene, textures)
        z_top, z_bottom = float(rng.uniform(0.5, depth * 0.5)), depth
    else:
        info["texture"] = None
        info["background"], z_top, z_bottom = layered_background(rng, scene)
    names = sorted(LOOKALIKES)
    picks = rng.choice(names, size=int(rng.integers(1, 6)), replace=True)
    info["lookalikes"] = [LOOKALIKES[str(n)](rng, scene) for n in picks]
    info["tendon"] = None
    if rng.random() < 0.9:
        if rng.random() < 0.6:
            t = longitudinal(rng, scene, z_top, z_bottom)
            surface = t.pop("bone_surface")
            if rng.random() < 0.35:  # enthesis / bony prominence under the tendon
                t["bone"] = bone(rng, scene, surface)
        else:
            t = transverse(rng, scene, z_top, z_bottom)
        if rng.random() < 0.6:
            t["neighbours"] = neighbour_lines(rng, scene)
        info["tendon"] = t
    return scene, info
