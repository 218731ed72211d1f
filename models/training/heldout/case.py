"""One held-out case from its seed: plan the scene, image it, colour it, put it on a screen, write the file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from models.training.heldout.anatomy import draw_plan, shape_of
from models.training.heldout.colour import MAPS, colour_map, draw_placement, flow_frames
from models.training.heldout.formats import CLIP_FORMATS, STILL_FORMATS, encode
from models.training.heldout.screens import box_polygon, draw_screen, render
from models.training.heldout.speckle import bmode, decorrelate, draw_beam, envelope, log_compress, scatterers
from models.training.heldout.tissue import echo_map

__all__ = ["DEFAULT_BACKGROUNDS", "GENERATOR", "BackgroundUnavailable", "HeldoutCase", "make_case"]

GENERATOR = "neovasc.heldout/1"
_STREAM = 0x48454C44  # mixed into every case's seed so that no other generator's seed gives the same draws
SIM_MAX_PPM = 14.0  # simulation grid pixels a mm at most; larger pictures are resampled from it
BACKGROUND_SHARE = 0.25
# real B-mode images (usgra-seg test split, CC-BY 4.0) beside the repository, as this project keeps them
DEFAULT_BACKGROUNDS = Path(__file__).resolve().parents[4] / "shared" / "realdata" / "usgra-seg" / "test" / "images"


class BackgroundUnavailable(RuntimeError):
    """The case draws a real B-mode background and the background folder is missing or empty."""


@dataclass(frozen=True, eq=False)
class HeldoutCase:
    """One screen capture with its truth.

    Attributes:
        seed: the case seed (its split follows from it, see the package docstring).
        frames: ``(N, H, W, 3) uint8 RGB``, the screen before encoding (N = 1 for a still).
        tendon: ``(H, W) bool``, the tendon (the same on every frame: the probe is still).
        doppler: ``(N, H, W) bool``, Doppler pixels inside the tendon on each frame.
        flow: ``(N, H, W) bool``, every Doppler pixel on each frame (inside the box only).
        box: ``(H, W) bool``, the Doppler box's interior.
        picture: ``(x0, y0, x1, y1)``, the ultrasound picture on the screen (x1, y1 exclusive).
        data: the encoded file; ``name`` its file name.
        meta: what was drawn: view, kind, shape, pathology, thickness_mm, depth_mm, colour_map,
            placement, format, layout, size, frames, flash_frame (a motion flash, or None), background...
    """

    seed: int
    frames: np.ndarray
    tendon: np.ndarray
    doppler: np.ndarray
    flow: np.ndarray
    box: np.ndarray
    picture: tuple[int, int, int, int]
    data: bytes
    name: str
    meta: dict[str, object] = field(default_factory=dict)

    def colour_fraction(self, frame: int) -> float | None:
        """True colour fraction on ``frame``: Doppler pixels in the tendon inside the box over the tendon's
        pixels inside the box; None when no tendon pixel lies in the box."""
        denominator = int((self.tendon & self.box).sum())
        return int((self.doppler[frame] & self.box).sum()) / denominator if denominator else None

    def peak_colour_fraction(self) -> float | None:
        """The highest true colour fraction over the frames that are not a motion flash: the amount of
        Doppler signal a reader would grade."""
        values = [self.colour_fraction(f) for f in range(len(self.frames)) if f != self.meta.get("flash_frame")]
        values = [v for v in values if v is not None]
        return max(values) if values else None


def _grid(height: int, width: int, ppm: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in mm, ``(x, z)`` each ``(height, width) float32``."""
    z, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return (x + 0.5) / ppm, (z + 0.5) / ppm


def _choose_format(rng: np.random.Generator, size: tuple[int, int]) -> tuple[str, int]:
    """A still (PNG, JPEG, DICOM) or a clip of 3-8 frames (MP4, DICOM); large uncompressed clips are JPEG."""
    if rng.random() < 0.55:
        return str(rng.choice(STILL_FORMATS, p=[0.3, 0.35, 0.2, 0.15])), 1
    fmt = str(rng.choice(CLIP_FORMATS, p=[0.5, 0.2, 0.3]))
    if fmt == "dicom" and size[0] > 768:
        fmt = "dicom_jpeg"
    return fmt, int(rng.integers(3, 9))


def _background(rng: np.random.Generator, folder: Path | None, size: tuple[int, int]) -> tuple[np.ndarray, str] | None:
    """A real B-mode image cropped to its picture and resized to ``size``, or None when not drawn."""
    wanted, pick, crop = rng.random() < BACKGROUND_SHARE, rng.random(), rng.random(4)
    if not wanted:
        return None
    files = sorted(folder.glob("*.png")) if folder is not None and folder.is_dir() else []
    if not files:
        raise BackgroundUnavailable(f"no real B-mode images in {folder}")
    path = files[int(pick * len(files))]
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    rows, cols = np.flatnonzero(image.mean(1) > 8), np.flatnonzero(image.mean(0) > 8)
    image = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = image.shape
    aspect = size[1] / size[0]
    ch, cw = (h, min(w, int(h * aspect))) if w / h > aspect else (min(h, int(w / aspect)), w)
    y0, x0 = int(crop[0] * (h - ch)), int(crop[1] * (w - cw))
    image = image[y0 : y0 + ch, x0 : x0 + cw]
    if crop[2] < 0.5:
        image = image[:, ::-1]
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR), path.name


def _blend(grey: np.ndarray, real: np.ndarray, tendon: np.ndarray, top_px: int, ppm: float) -> np.ndarray:
    """The real image outside the tendon's neighbourhood (a 1.5-4 mm ramp) and below the skin."""
    near = cv2.distanceTransform((~tendon).astype(np.uint8), cv2.DIST_L2, 5) / ppm
    weight = np.clip((near - 1.5) / 2.5, 0, 1)
    weight[:top_px] = 0
    outside = weight > 0.5
    if outside.any():  # bring the real image's tissue toward the simulated brightness, within limits
        ratio = (np.median(grey[outside]) + 1) / (np.median(real[outside]) + 1)
        real = real.astype(np.float32) * float(np.clip(ratio, 0.7, 1.4))
    return np.clip(grey * (1 - weight) + real * weight, 0, 255).astype(np.uint8)


def make_case(seed: int, backgrounds: Path | None = DEFAULT_BACKGROUNDS) -> HeldoutCase:
    """The case of ``seed``: the same seed always gives the same case (and the same file bytes).

    Raises:
        BackgroundUnavailable: the case uses a real background and ``backgrounds`` holds no image.
    """
    rng = np.random.default_rng(np.random.SeedSequence([_STREAM, seed]))
    depth = float(rng.uniform(15.0, 55.0))
    screen = draw_screen(rng, aspect=float(rng.uniform(0.9, 1.7)))
    x0, y0, x1, y1 = screen.picture
    ph, pw = y1 - y0, x1 - x0
    real = _background(rng, backgrounds, (ph, pw))  # first: a case that cannot be made stops here
    ppm = ph / depth
    plan = draw_plan(rng, depth, pw / ppm)
    shape = shape_of(plan, rng)
    sim_ppm = min(ppm, SIM_MAX_PPM)
    echo, k = echo_map(shape, *_grid(round(depth * sim_ppm), round(plan.width_mm * sim_ppm), sim_ppm), sim_ppm, rng)
    beam = draw_beam(rng, depth)
    fmt, count = _choose_format(rng, screen.size)
    tendon = shape.mask(*_grid(ph, pw, ppm))
    cmap = colour_map(str(rng.choice(MAPS)), rng)
    placement = draw_placement(rng)
    box_corners = box_polygon(rng, (ph, pw), tendon)
    box = cv2.fillPoly(np.zeros((ph, pw), np.uint8), [box_corners], 1).astype(bool)
    flow, flash = flow_frames(rng, placement, tendon, box, ppm, count, cmap.signed)
    meta: dict[str, object] = {
        "generator": GENERATOR, "view": plan.view, "kind": plan.kind, "shape": plan.shape,
        "pathology": plan.pathology, "thickness_mm": round(plan.thickness_mm, 2), "depth_mm": round(depth, 1),
        "standoff_mm": round(plan.standoff_mm, 1), "top_mm": round(plan.top_mm, 1), "colour_map": cmap.name,
        "placement": "+".join(placement), "layout": screen.layout, "size": list(screen.size), "frames": count,
        "format": fmt, "focus_mm": round(beam.focus_mm, 1), "signed": cmap.signed, "flash_frame": flash,
        "background": None if real is None else real[1],
    }  # fmt: skip
    canvas, overlay, covered = render(screen, box_corners, tendon, cmap.lut, rng, meta)
    tint = 1 - rng.uniform(0, 0.07, 3) if rng.random() < 0.2 else np.ones(3)  # a faintly tinted grey map
    unit, density = scatterers(rng, k)
    keep = rng.uniform(0.85, 0.97)
    frames = np.empty((count, *screen.size, 3), np.uint8)
    for f in range(count):
        if f:
            unit = decorrelate(rng, unit, keep)
        grey = bmode(log_compress(envelope(echo, unit, density, beam, sim_ppm, rng), beam, sim_ppm), (ph, pw))
        if real is not None:
            grey = _blend(grey, real[0], tendon, int((plan.standoff_mm + plan.skin_mm + 1) * ppm), ppm)
        picture = np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)
        shown = ~np.isnan(flow[f])
        picture[shown] = cmap.paint(flow[f][shown])
        frames[f] = canvas
        frames[f, y0:y1, x0:x1] = picture
        frames[f][covered] = overlay[covered]
    full_tendon = np.zeros(screen.size, bool)
    full_tendon[y0:y1, x0:x1] = tendon
    full_box = np.zeros(screen.size, bool)
    full_box[y0:y1, x0:x1] = box
    painted = np.zeros((count, *screen.size), bool)
    painted[:, y0:y1, x0:x1] = ~np.isnan(flow)
    painted &= ~covered
    data, written = encode(frames, fmt, rng, seed=seed, picture=screen.picture, mm_per_px=1 / ppm)
    meta.update(written)
    ext = {"png": "png", "jpeg": "jpg", "mp4": "mp4"}.get(fmt, "dcm")
    return HeldoutCase(
        seed=seed, frames=frames, tendon=full_tendon, doppler=painted & full_tendon, flow=painted, box=full_box,
        picture=screen.picture, data=data, name=f"heldout-{seed:05d}.{ext}", meta=meta,
    )  # fmt: skip
