"""B-mode image formation of the held-out family: scatterers, a beam, an envelope and a grey map.

An echo map (linear amplitude per tissue pixel) becomes a B-mode picture in four steps:

1. scatterers: circular complex Gaussian amplitudes modulated by a Gamma-distributed local density, so
   that the envelope is K-distributed (a small shape parameter where scatterers are few and strong, as
   in fat or fibres; Rayleigh in the limit of many, as in muscle);
2. the beam: a complex baseband point-spread function, narrow in depth (the pulse) and wider across
   (the aperture), whose lateral width grows away from a transmit focus (two widths blended by depth);
3. the envelope: its magnitude, a depth attenuation only partly undone by time-gain compensation, a
   focal gain bump and an electronic noise floor;
4. log compression to a dynamic range, a gain offset, in some cases a speckle reduction filter, and one
   of several grey maps (a power curve or an S-curve), then scan conversion (bilinear resampling) to the
   screen's picture size.

All lengths are in millimetres; the simulation grid is coarser than a large screen's picture and is
resampled to it, as a scanner's scan converter does.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Beam", "bmode", "decorrelate", "draw_beam", "envelope", "log_compress", "scatterers"]


@dataclass(frozen=True)
class Beam:
    """Imaging settings of one case: pulse, aperture, focus, attenuation and display.

    Attributes:
        axial_mm: standard deviation of the pulse envelope along depth.
        lateral_mm: standard deviation of the beam across, at the focus.
        defocus_mm: lateral standard deviation far from the focus.
        focus_mm: transmit focus depth.
        atten_db_per_mm: two-way attenuation left after time-gain compensation (can be negative).
        noise: electronic noise floor, relative to a mid-grey tissue echo.
        dynamic_range_db: the span of echo levels shown between black and white.
        gain_db: shifts every level up (brighter) or down, from where ``brightness`` puts the tissue.
        brightness: the grey level (0..1) of the brighter half's median echo before ``gain_db``.
        grey_map: "power" (a gamma curve) or "s_curve" (a logistic contrast curve).
        gamma: exponent of the power curve, or steepness of the S-curve.
        smoothing_mm: speckle reduction (a Gaussian filter of the log image; 0: none).
    """

    axial_mm: float
    lateral_mm: float
    defocus_mm: float
    focus_mm: float
    atten_db_per_mm: float
    noise: float
    dynamic_range_db: float
    gain_db: float
    brightness: float
    grey_map: str
    gamma: float
    smoothing_mm: float


def draw_beam(rng: np.random.Generator, depth_mm: float) -> Beam:
    """Settings of a 10-18 MHz linear probe (pulse and beam standard deviations of 0.05-0.12 mm axially and
    0.12-0.28 mm laterally at the focus), with a display dynamic range of 40-80 dB and a gain of -6 to +6 dB about a
    sonographer's setting."""
    lateral = float(rng.uniform(0.12, 0.28))
    return Beam(
        axial_mm=float(rng.uniform(0.05, 0.12)),
        lateral_mm=lateral,
        defocus_mm=lateral * float(rng.uniform(1.3, 2.0)),
        focus_mm=float(rng.uniform(0.25, 0.7) * depth_mm),
        atten_db_per_mm=float(rng.uniform(-0.05, 0.2)),
        noise=float(10 ** rng.uniform(-3.2, -1.8)),
        dynamic_range_db=float(rng.uniform(40.0, 80.0)),
        gain_db=float(rng.uniform(-6.0, 6.0)),
        brightness=float(rng.uniform(0.45, 0.7)),
        grey_map=str(rng.choice(["power", "s_curve"])),
        gamma=float(rng.uniform(0.7, 1.5)),
        smoothing_mm=float(rng.choice([0.0, rng.uniform(0.03, 0.12)])),
    )


def _gaussian_kernel_fft(shape: tuple[int, int], sigma_z: float, sigma_x: float) -> np.ndarray:
    """Fourier transform of a unit-peak Gaussian PSF with standard deviations in grid pixels."""
    fz = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    return np.exp(-2 * np.pi**2 * ((fz * sigma_z) ** 2 + (fx * sigma_x) ** 2))


def _beamformed(spectrum: np.ndarray, sigma_z: float, sigma_x: float) -> np.ndarray:
    """Envelope of the scatterer field through one PSF, scaled so that a uniform echo of 1 gives an rms
    envelope of about 1 whatever the PSF's size (white noise through a unit-sum Gaussian keeps
    ``1 / (4 pi sz sx)`` of its power)."""
    kernel = _gaussian_kernel_fft(spectrum.shape, sigma_z, sigma_x)
    scale = np.sqrt(4 * np.pi * max(sigma_z, 0.5) * max(sigma_x, 0.5))
    return np.abs(np.fft.ifft2(spectrum * kernel)).astype(np.float32) * scale


def scatterers(rng: np.random.Generator, shape_k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit complex scatterers ``(h, w) complex64`` and their Gamma-distributed local density ``(h, w)
    float32`` (mean 1, variance ``1 / k``): the density is the tissue's and stays from frame to frame."""
    h, w = shape_k.shape
    unit = (rng.standard_normal((h, w)) + 1j * rng.standard_normal((h, w))) / np.sqrt(2)
    return unit.astype(np.complex64), rng.gamma(shape_k, 1.0 / shape_k).astype(np.float32)


def decorrelate(rng: np.random.Generator, unit: np.ndarray, keep: float) -> np.ndarray:
    """The next frame's unit scatterers: ``keep`` of the field correlates with this frame's (a still probe,
    breathing tissue)."""
    fresh = (rng.standard_normal(unit.shape) + 1j * rng.standard_normal(unit.shape)) / np.sqrt(2)
    return (keep * unit + np.sqrt(1 - keep**2) * fresh).astype(np.complex64)


def envelope(
    echo: np.ndarray,
    unit: np.ndarray,
    density: np.ndarray,
    beam: Beam,
    px_per_mm: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Envelope amplitude ``(h, w) float32`` of an echo map ``(h, w) float32`` (mean amplitude, 0:
    anechoic) seen through ``beam``, from :func:`scatterers` on a grid of ``px_per_mm`` pixels a mm."""
    h, _ = echo.shape
    spectrum = np.fft.fft2(unit * (echo * np.sqrt(density)))
    sz = beam.axial_mm * px_per_mm
    near, far = (_beamformed(spectrum, sz, sx * px_per_mm) for sx in (beam.lateral_mm, beam.defocus_mm))
    z_mm = (np.arange(h, dtype=np.float32) + 0.5) / px_per_mm
    # the beam is narrowest at the focus and widens over about one focal length either side
    blend = np.clip(np.abs(z_mm - beam.focus_mm) / max(beam.focus_mm, 1.0), 0, 1)[:, None]
    amp = near * (1 - blend) + far * blend
    depth_gain = 10 ** (-beam.atten_db_per_mm * z_mm / 20)
    focal_gain = 1 + 0.25 * np.exp(-(((z_mm - beam.focus_mm) / 4.0) ** 2))
    amp *= (depth_gain * focal_gain)[:, None]
    noise = np.abs(rng.standard_normal(echo.shape) + 1j * rng.standard_normal(echo.shape)) * beam.noise
    return (amp + noise).astype(np.float32)


def log_compress(amp: np.ndarray, beam: Beam, px_per_mm: float) -> np.ndarray:
    """``(h, w)`` envelope -> ``(h, w) float32`` grey levels in [0, 1]: log compression, speckle
    reduction and the grey map."""
    db = 20 * np.log10(np.maximum(amp, 1e-6))
    if beam.smoothing_mm > 0:
        sigma = beam.smoothing_mm * px_per_mm
        db = cv2.GaussianBlur(db.astype(np.float32), (0, 0), sigmaX=sigma, sigmaY=sigma * 0.6)
    # the sonographer sets the gain for the tissue, not for the dark gel or shadows: the median of the
    # brighter half of the picture lands at ``brightness``, moved by ``gain_db``
    reference = float(np.median(db[db > np.median(db)]))
    level = np.clip((db - reference + beam.gain_db) / beam.dynamic_range_db + beam.brightness, 0, 1)
    if beam.grey_map == "power":
        return (level**beam.gamma).astype(np.float32)
    steep = 4.0 + 4.0 * beam.gamma
    curve = 1 / (1 + np.exp(-steep * (level - 0.5)))
    lo, hi = 1 / (1 + np.exp(steep * 0.5)), 1 / (1 + np.exp(-steep * 0.5))
    return ((curve - lo) / (hi - lo)).astype(np.float32)


def bmode(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(h, w)`` grey levels in [0, 1] -> ``(H, W) uint8`` picture, resampled bilinearly to ``size``."""
    height, width = size
    picture = cv2.resize(grey, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(picture * 255 + 0.5, 0, 255).astype(np.uint8)
