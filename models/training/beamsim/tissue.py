"""The tissue map, and painters for the soft tissues around a tendon (skin, fat, muscle, fat pads, bursae).

Amplitudes are relative backscatter with ordinary soft tissue near 0.3. Ranges are general sonographic
appearance (echogenicity relative to muscle) unless ``anatomy.md`` is named.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fields import band_line, lines, points, ridge, smooth_noise
from .geometry import Grid


@dataclass
class Tissue:
    """Acoustic properties of every grid cell; all ``(R, C)``.

    echo: float32 mean backscatter amplitude (soft tissue ~0.3, anechoic fluid ~0.01).
    density: float32 scatterers per resolution cell, the Gamma shape of the local intensity; below ~3 the
        speckle is K-distributed (sparse, spiky), above ~20 fully developed (Rayleigh).
    coherent: float32 amplitude of specular reflectors, added with a fixed phase so that they come out as
        continuous bright lines instead of speckle.
    atten: float32 attenuation relative to soft tissue (fluid ~0.1 gives posterior enhancement, bone and
        calcium >> 1 give shadows).
    tendon: bool, the tendon's cross-section (the mask).
    """

    echo: np.ndarray
    density: np.ndarray
    coherent: np.ndarray
    atten: np.ndarray
    tendon: np.ndarray

    @classmethod
    def blank(cls, shape: tuple[int, int]) -> Tissue:
        """Featureless soft tissue everywhere."""
        return cls(
            np.full(shape, 0.3, np.float32), np.full(shape, 12.0, np.float32), np.zeros(shape, np.float32),
            np.ones(shape, np.float32), np.zeros(shape, bool),
        )  # fmt: skip

    def fill(self, region: np.ndarray, echo: np.ndarray | float, density: float, atten: float = 1.0) -> None:
        """Set ``region`` (``(R, C) bool``) to one tissue; ``echo`` may be a full ``(R, C)`` map."""
        self.echo[region] = echo[region] if isinstance(echo, np.ndarray) else echo
        self.density[region] = density
        self.atten[region] = atten

    def add_line(self, weight: np.ndarray, amp: float, speckle: float = 0.0) -> None:
        """Add a specular line (``weight`` ``(R, C)`` in [0, 1]) of amplitude ``amp``; ``speckle`` adds to echo too."""
        self.coherent += amp * weight
        if speckle:
            self.echo += speckle * weight


def layer(g: Grid, top: np.ndarray | float, bottom: np.ndarray | float) -> np.ndarray:
    """Cells between two depth surfaces (``(R, C)`` arrays or constants, mm); ``(R, C) bool``."""
    return (g.z >= top) & (g.z < bottom)


def skin(t: Tissue, g: Grid, rng: np.random.Generator, top: np.ndarray, thick: float) -> None:
    """Epidermis + dermis: a bright echogenic band 1-2 mm thick with a specular entry line."""
    region = layer(g, top, top + thick)
    echo = float(rng.uniform(0.5, 1.0)) * (1 + 0.2 * smooth_noise(rng, g.shape, 3.0))
    t.fill(region, echo, density=float(rng.uniform(6, 20)))
    w = 0.5 * max(g.dz, 0.08)
    t.add_line(band_line(g.z, top, w), float(rng.uniform(1.0, 3.0)))
    t.add_line(band_line(g.z, top + thick, w * 2), float(rng.uniform(0.2, 0.8)))


def fat(t: Tissue, g: Grid, rng: np.random.Generator, region: np.ndarray, pad: bool = False) -> None:
    """Fat: hypoechoic lobules split by thin bright connective-tissue septa (subcutaneous fat, Kager's/Hoffa's
    pads when ``pad``; anatomy.md: "hypoechoic with thin bright septa")."""
    shape, cell = g.shape, g.dz
    base = float(rng.uniform(0.12, 0.3)) if pad else float(rng.uniform(0.1, 0.25))
    lobules = smooth_noise(rng, shape, float(rng.uniform(2, 5)) / cell)  # lobules a few mm across
    echo = base * np.exp(0.3 * lobules)
    # Septa run mostly parallel to the skin: a field stretched laterally, its zero crossings drawn thin and
    # broken up by a second field so that they branch and end instead of closing into loops.
    stretch = float(rng.uniform(2.0, 6.0))
    size = float(rng.uniform(1.5, 4.0))
    septa = ridge(smooth_noise(rng, shape, size / cell, size * stretch / cell), float(rng.uniform(0.04, 0.1)))
    septa *= np.clip(smooth_noise(rng, shape, 2.0 / cell, 4.0 / cell) + float(rng.uniform(0.2, 0.9)), 0, 1)
    strength = float(rng.uniform(1.0, 4.0)) * (1.4 if pad else 1.0)
    t.fill(region, echo * (1 + strength * septa), density=float(rng.uniform(2, 10)), atten=0.8)
    t.coherent[region] += (float(rng.uniform(0.0, 0.25)) * septa)[region]


def muscle(t: Tissue, g: Grid, rng: np.random.Generator, region: np.ndarray, kind: str) -> None:
    """Skeletal muscle: hypoechoic fascicles between bright fibro-adipose perimysium septa.

    ``kind``: "pennate" (septa oblique, 10-40 degrees to the skin, sometimes bipennate about a bright central
    aponeurosis), "parallel" (septa nearly parallel to the skin, a tendon look-alike) or "cross" (a
    cross-section: the "starry night" of bright dots and short septa).
    """
    shape, cell = g.shape, g.dz
    base = float(rng.uniform(0.08, 0.22))
    echo = base * np.exp(0.25 * smooth_noise(rng, shape, 4.0 / cell))
    coh = np.zeros(shape, np.float32)
    if kind == "cross":
        dots = np.abs(points(rng, shape, float(rng.uniform(0.004, 0.02))))
        net = ridge(smooth_noise(rng, shape, 1.2 / cell), 0.08)
        echo = echo * (1 + float(rng.uniform(2, 6)) * net + 10 * dots)
        coh += 0.3 * net
    else:
        angle = np.deg2rad(rng.uniform(10, 40) if kind == "pennate" else rng.uniform(-5, 5))
        angle *= rng.choice([-1.0, 1.0])
        z = g.z.copy()
        if kind == "pennate" and rng.random() < 0.5:  # bipennate: mirror about a central aponeurosis
            zc = np.float32(np.mean(g.z[region]) if region.any() else 0) + 0.0 * g.x
            z = np.where(g.z > zc, 2 * zc - g.z, g.z)
            t.add_line(band_line(g.z, zc, max(g.dz, 0.25)) * region, float(rng.uniform(0.8, 2.0)), 0.5)
        spacing = float(rng.uniform(0.7, 2.5))
        u = (z * np.cos(angle) - g.x * np.sin(angle)) / spacing
        u += 0.3 * smooth_noise(rng, shape, 5.0 / cell) + 0.08 * smooth_noise(rng, shape, 1.0 / cell)
        gate = np.clip(smooth_noise(rng, shape, 1.5 / cell, 4.0 / cell) + float(rng.uniform(0.3, 1.0)), 0, 1)
        septa = lines(u, float(rng.uniform(0.05, 0.12))) * gate
        echo = echo * (1 + float(rng.uniform(1.5, 5.0)) * septa)
        coh += float(rng.uniform(0.02, 0.3)) * septa
    t.fill(region, echo, density=float(rng.uniform(4, 15)))
    t.coherent[region] += coh[region]


def bursa(t: Tissue, g: Grid, rng: np.random.Generator, top: np.ndarray, thick: float) -> None:
    """A bursa: a thin anechoic-to-hypoechoic fluid layer (normally < 2 mm) with faint bright walls."""
    region = layer(g, top, top + thick)
    t.fill(region, float(rng.uniform(0.005, 0.06)), density=5.0, atten=0.3)
    w = max(g.dz, 0.1)
    t.add_line(band_line(g.z, top, w), float(rng.uniform(0.2, 0.8)))
    t.add_line(band_line(g.z, top + thick, w), float(rng.uniform(0.2, 0.8)))


def gel(t: Tissue, g: Grid, bottom: np.ndarray) -> None:
    """A gel stand-off: anechoic and nearly unattenuating down to ``bottom``."""
    t.fill(g.z < bottom, 0.003, density=20.0, atten=0.05)
