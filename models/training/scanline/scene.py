"""The tissue scene: echogenicity maps on a physical (depth x lateral) grid in millimetres.

A scene holds what the beam will later sample, all ``(Hs, Ws) float32`` on a grid that spans
``depth_mm`` x ``width_mm`` (row 0 = skin contact, column 0 = left end of the array):

- ``diffuse``: amplitude of the random (sub-resolution) scatterers, i.e. the speckle brightness.
  Rough scale: gel 0, fluid 0.02, fat/muscle 0.3-0.6, tendon 0.5-1.2.
- ``specular``: amplitude of coherent reflectors (interfaces that are larger than the wavelength:
  skin, fascia, septa, fibre bundles, bone cortex). These come back as continuous bright lines.
- ``absorb``: extra attenuation in nepers per mm (bone, calcification), which casts acoustic shadows
  along the beam direction when the beam module integrates it.
- ``mask``: ``uint8`` in {0, 1}, 1 where the tendon is.

The scene is laid out in the array's own coordinates (lateral position along the probe face, depth along
the beam). For a convex or trapezoid scan the scan converter bends it with the fan, as tissue under a
curved footprint does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class Scene:
    """Mutable scene maps on a ``(Hs, Ws)`` grid; see the module docstring for units."""

    depth_mm: float
    width_mm: float
    shape: tuple[int, int]
    diffuse: np.ndarray = field(init=False)
    specular: np.ndarray = field(init=False)
    absorb: np.ndarray = field(init=False)
    mask: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        """Start as uniform soft tissue (diffuse 0.4), no reflectors, no absorbers, no tendon."""
        hs, ws = self.shape
        self.diffuse = np.full((hs, ws), 0.4, np.float32)
        self.specular = np.zeros((hs, ws), np.float32)
        self.absorb = np.zeros((hs, ws), np.float32)
        self.mask = np.zeros((hs, ws), np.uint8)

    @property
    def dz(self) -> float:
        """Millimetres per scene row."""
        return self.depth_mm / self.shape[0]

    @property
    def dx(self) -> float:
        """Millimetres per scene column."""
        return self.width_mm / self.shape[1]

    @property
    def z(self) -> np.ndarray:
        """Row depths, ``(Hs, 1) float32`` in mm."""
        return ((np.arange(self.shape[0], dtype=np.float32) + 0.5) * self.dz)[:, None]

    @property
    def x(self) -> np.ndarray:
        """Column positions, ``(1, Ws) float32`` in mm from the left end of the array."""
        return ((np.arange(self.shape[1], dtype=np.float32) + 0.5) * self.dx)[None, :]

    def to_px(self, x_mm: np.ndarray, z_mm: np.ndarray) -> np.ndarray:
        """Polygon vertices in mm -> ``(N, 1, 2) int32`` scene pixel coordinates for ``cv2.fillPoly``."""
        pts = np.stack([np.asarray(x_mm) / self.dx, np.asarray(z_mm) / self.dz], axis=-1)
        return np.round(pts * 4).astype(np.int32).reshape(-1, 1, 2)  # 2 fractional bits (shift=2)

    def polygon(self, x_mm: np.ndarray, z_mm: np.ndarray) -> np.ndarray:
        """Filled polygon as a ``(Hs, Ws) float32`` 0/1 map."""
        out = np.zeros(self.shape, np.uint8)
        cv2.fillPoly(out, [self.to_px(x_mm, z_mm)], 1, lineType=cv2.LINE_8, shift=2)
        return out.astype(np.float32)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sy: float, sx: float) -> np.ndarray:
    """Gaussian-correlated noise with unit standard deviation, ``(h, w) float32``; sigmas in pixels.

    Drawn on a grid coarsened by about half the smaller sigma and upsampled: same look, ~5x cheaper.
    """
    h, w = shape
    f = max(1, int(min(sy, sx) / 2))
    n = rng.standard_normal((-(-h // f), -(-w // f))).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigmaX=max(sx / f, 0.3), sigmaY=max(sy / f, 0.3), borderType=cv2.BORDER_REFLECT)
    if f > 1:
        n = cv2.resize(n, (w, h), interpolation=cv2.INTER_LINEAR)
    return n / max(float(n.std()), 1e-6)


def soft_band(z: np.ndarray, centre: np.ndarray, half: np.ndarray, edge: float) -> np.ndarray:
    """Weight in [0, 1] of ``|z - centre| < half`` with a linear edge ``edge`` mm wide (blurred borders)."""
    return np.clip((half - np.abs(z - centre)) / max(edge, 1e-3) + 0.5, 0.0, 1.0).astype(np.float32)


def line_profile(z: np.ndarray, centre: np.ndarray, sigma: float) -> np.ndarray:
    """A thin Gaussian ridge along ``centre(x)``, peak 1, ``sigma`` mm wide."""
    return np.exp(-0.5 * ((z - centre) / sigma) ** 2).astype(np.float32)


def fibre_profile(rng: np.random.Generator, n: int, spacing: float, width: float) -> np.ndarray:
    """1-D profile of bright fibre bundles across a band, sampled at ``n`` points over ``v`` in [-1, 1].

    ``spacing`` and ``width`` are in units of ``v``; fascicle bundles are 0.2-0.6 mm apart on high-frequency
    probes, so callers derive them from the band thickness.
    """
    v = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    centres = np.arange(-1.0, 1.0, spacing) + rng.uniform(0, spacing) + rng.normal(0, spacing * 0.2, 1)
    centres = centres + rng.normal(0, spacing * 0.15, centres.shape)
    amps = rng.uniform(0.4, 1.0, centres.shape)
    prof = (amps[:, None] * np.exp(-0.5 * ((v[None, :] - centres[:, None]) / width) ** 2)).sum(0)
    return (prof / max(float(prof.max()), 1e-6)).astype(np.float32)


def paint(scene: Scene, weight: np.ndarray, diffuse: float | np.ndarray) -> None:
    """Blend ``diffuse`` into the scene where ``weight`` (``(Hs, Ws)`` in [0, 1]) says, clearing specular."""
    scene.diffuse[:] = scene.diffuse * (1 - weight) + weight * diffuse
    scene.specular *= 1 - weight
