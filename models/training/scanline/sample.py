"""One training sample end to end: scene -> beam lines -> scan conversion -> Doppler -> overlays -> codec."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .beam import draw_beam, form_image
from .codecs import encode
from .doppler import paint_doppler
from .geometry import draw_geometry, scan_convert
from .layout import build_scene
from .overlays import add_overlays

GENERATOR_VERSION = "neovasc.scanline/1"


@dataclass(frozen=True)
class ScanSample:
    """``image`` ``(H, W, 3) uint8`` RGB, ``mask`` ``(H, W) uint8`` in {0, 1} (1 = tendon), ``params`` JSON-able."""

    image: np.ndarray
    mask: np.ndarray
    params: dict


def _jsonable(obj: object) -> object:
    """Numpy scalars/arrays and tuples -> plain Python, recursively."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _grey_to_rgb(rng: np.random.Generator, pic: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Grey ``(H, W)`` in [0, 1] -> ``(H, W, 3) float32`` in [0, 255]; some scanners tint the grey map."""
    tint = [1.0, 1.0, 1.0] if rng.random() < 0.8 else [float(v) for v in rng.uniform(0.9, 1.0, 3)]
    return pic[..., None] * np.asarray(tint, np.float32) * 255, tint


def make_sample(seed: int, size: tuple[int, int] = (256, 256), textures: list[np.ndarray] | None = None) -> ScanSample:
    """A pure function of ``seed``, ``size`` ``(H, W)`` and ``textures`` (real grey B-mode ``(h, w) uint8``)."""
    h, w = int(size[0]), int(size[1])
    if h < 8 or w < 8:
        raise ValueError(f"size must be at least (8, 8), got {size!r}")
    rng = np.random.default_rng(seed)
    scene, scene_info = build_scene(rng, textures)
    args = draw_beam(rng, scene.depth_mm)
    lines = form_image(scene, args, rng)  # (n_lines, n_samples)
    geom = draw_geometry(rng, scene.depth_mm, scene.width_mm)
    pic, mask, valid = scan_convert(lines, scene.mask, geom, scene.depth_mm, scene.width_mm, (h, w))
    rgb, tint = _grey_to_rgb(rng, pic)
    rgb, doppler = paint_doppler(rng, rgb, mask, valid)
    image = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    image, mask, overlays = add_overlays(rng, image, mask)
    image, codec = encode(rng, image)
    params = {
        "generator": GENERATOR_VERSION, "seed": int(seed), "size": [h, w], "scene": scene_info,
        "beam": args.to_dict(), "geometry": geom, "tint": tint, "doppler": doppler, "overlays": overlays,
        "codec": codec, "has_tendon": bool(mask.any()),
    }  # fmt: skip
    return ScanSample(image=np.ascontiguousarray(image), mask=mask.astype(np.uint8), params=_jsonable(params))


def make_dataset(
    count: int, seed: int, size: tuple[int, int] = (256, 256), textures: list[np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` samples from seeds ``seed * 1_000_033 + i``.

    Returns ``(N, H, W, 3) uint8`` RGB images and ``(N, H, W) uint8`` masks in {0, 1}.
    """
    h, w = int(size[0]), int(size[1])
    images = np.zeros((count, h, w, 3), np.uint8)
    masks = np.zeros((count, h, w), np.uint8)
    for i in range(count):
        s = make_sample(seed * 1_000_033 + i, (h, w), textures)
        images[i], masks[i] = s.image, s.mask
    return images, masks
