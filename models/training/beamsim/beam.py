"""Image formation: scatterers -> point-spread function -> envelope -> attenuation/TGC -> log compression.

The echo is simulated at baseband (IQ): each cell holds a complex amplitude, the pulse's carrier having been
removed by demodulation, so the point-spread function is a real envelope: axially a Gaussian as long as a
1-3 cycle pulse at 7-18 MHz (axial resolution c * n / (2 f), 0.1-0.3 mm), laterally a Gaussian beam whose
width (0.2-0.8 mm at the focus) grows away from the focal depth. The depth-varying lateral blur is done with
a few depth bands, each convolved with its own separable kernel, blended linearly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .fields import smooth_noise
from .geometry import Grid
from .tissue import Tissue

SPEED_MM_PER_US = 1.54  # speed of sound in soft tissue


@dataclass(frozen=True)
class Settings:
    """Scanner settings drawn per sample (all plain numbers, JSON-friendly)."""

    freq_mhz: float
    cycles: float
    lateral_mm: float
    focus_mm: float
    alpha_db: float
    dynamic_range_db: float
    gain_db: float
    gamma: float
    s_curve: float
    noise: float


def draw_settings(rng: np.random.Generator, depth_mm: float) -> Settings:
    """High-frequency linear-probe settings (anatomy.md: 10-18 MHz; a wider 7-18 MHz here)."""
    return Settings(
        freq_mhz=float(rng.uniform(7, 18)),
        cycles=float(rng.uniform(1, 3)),
        lateral_mm=float(rng.uniform(0.2, 0.8)),
        focus_mm=float(rng.uniform(0.2, 0.8) * depth_mm),
        alpha_db=float(rng.uniform(0.5, 1.0)),  # soft tissue attenuation, dB/cm/MHz
        dynamic_range_db=float(rng.uniform(40, 80)),
        gain_db=float(rng.uniform(-10, 10)),
        gamma=float(rng.uniform(0.7, 1.5)),
        s_curve=float(rng.uniform(0, 4)) if rng.random() < 0.5 else 0.0,
        noise=float(np.exp(rng.uniform(np.log(0.002), np.log(0.03)))),
    )


def scatter(t: Tissue, rng: np.random.Generator) -> np.ndarray:
    """Random scatterer field: complex Gaussian amplitudes times sqrt(Gamma(density)/density) times echo.

    A Gamma-distributed local intensity under Gaussian speckle gives K-distributed envelopes: spiky where few
    scatterers share a resolution cell, Rayleigh where many do. Specular reflectors are added with one phase.

    Returns:
        ``(R, C, 2) float32``: real and imaginary parts.
    """
    shape = t.echo.shape
    dens = np.maximum(t.density, 0.3)
    texture = rng.standard_gamma(dens, dtype=np.float32) / dens  # mean 1, variance 1 / density
    amp = t.echo * np.sqrt(texture) * np.float32(np.sqrt(0.5))
    field = rng.standard_normal((*shape, 2), dtype=np.float32) * amp[..., None]
    field[..., 0] += t.coherent
    return field


def psf(field: np.ndarray, g: Grid, s: Settings) -> np.ndarray:
    """Convolve the ``(R, C, 2)`` field with the depth-varying PSF; returns the envelope ``(R, C) float32``."""
    rows = field.shape[0]
    axial_mm = SPEED_MM_PER_US * s.cycles / (2.0 * s.freq_mhz) / 2.355  # FWHM -> sigma
    sig_z = max(axial_mm / g.dz, 0.55)
    depth = float(g.z[-1, 0])
    bands = np.linspace(0, depth, 4)
    rayleigh = max(0.25 * depth, 4.0)  # depth over which the beam width grows by sqrt(2)
    out = np.zeros(field.shape[:2], np.float32)
    zc = g.z[:, :1]  # (R, 1)
    step = bands[1] - bands[0]
    for zb in bands:
        width = s.lateral_mm * np.sqrt(1 + ((zb - s.focus_mm) / rayleigh) ** 2)
        sig_x = max(width / 2.355 / g.dx, 0.55)
        w = np.clip(1 - np.abs(zc - zb) / step, 0, 1)  # (R, 1) linear blend between bands
        lo, hi = np.nonzero(w[:, 0] > 0)[0][[0, -1]] if (w > 0).any() else (0, -1)
        lo, hi = max(lo - int(4 * sig_z), 0), min(hi + int(4 * sig_z) + 1, rows)
        kz, kx = _kernel(sig_z), _kernel(sig_x)
        conv = cv2.sepFilter2D(field[lo:hi], -1, kx, kz, borderType=cv2.BORDER_REFLECT)
        env = np.sqrt(conv[..., 0] ** 2 + conv[..., 1] ** 2)
        out[lo:hi] += w[lo:hi] * env
    return out


def _kernel(sigma: float) -> np.ndarray:
    """Gaussian taps with unit energy (sum of squares 1) so speckle keeps its mean intensity; float32."""
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1, dtype=np.float32) / sigma) ** 2)
    return (k / np.sqrt((k * k).sum())).astype(np.float32)


def attenuate(env: np.ndarray, t: Tissue, g: Grid, s: Settings, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Round-trip attenuation down each beam line, partly undone by time-gain compensation.

    Returns the envelope ``(R, C) float32`` and the TGC drawn. The TGC undoes soft-tissue attenuation exactly
    but for a smooth random imbalance of a few dB (and sometimes a gain stripe), so fluid leaves posterior
    enhancement and bone/calcium leave shadows.
    """
    per_cell = 2.0 * s.alpha_db * s.freq_mhz * (g.dz / 10.0)  # dB per row in soft tissue (cm -> mm)
    loss = np.cumsum(t.atten * np.float32(per_cell), axis=0) - t.atten * np.float32(per_cell)  # (R, C)
    z = g.z[:, 0]
    depth = float(z[-1])
    tgc = per_cell * np.arange(len(z), dtype=np.float32)  # nominal compensation
    tgc += float(rng.uniform(-4, 4)) * (z / depth) + float(rng.uniform(-2, 2)) * np.sin(np.pi * z / depth)
    stripe = None
    if rng.random() < 0.15:  # one TGC slider off: a horizontal band brighter or darker
        zs, ws, db = rng.uniform(0.1, 0.9) * depth, rng.uniform(0.05, 0.15) * depth, rng.uniform(-6, 6)
        tgc += db * np.exp(-(((z - zs) / ws) ** 2))
        stripe = {"depth_mm": float(zs), "db": float(db)}
    gain_db = tgc[:, None] - loss
    noise = s.noise * np.abs(smooth_noise(rng, env.shape, 1.0) + 1j * smooth_noise(rng, env.shape, 1.0))
    out = env * np.power(10.0, gain_db / 20.0) + noise * np.power(10.0, (tgc[:, None] - tgc.max()) / 20.0) * 8
    return out.astype(np.float32), {"stripe": stripe}


def log_compress(env: np.ndarray, s: Settings, ref: float = 0.3) -> np.ndarray:
    """Log compression over ``s.dynamic_range_db`` and a grey map; ``(R, C) float32`` in [0, 1].

    Soft tissue of amplitude ``ref`` lands at mid-grey (0.45) at 0 dB gain.
    """
    db = 20.0 * np.log10(np.maximum(env, 1e-6) / ref)
    v = np.clip(0.45 + (db + s.gain_db) / s.dynamic_range_db, 0.0, 1.0)
    v = v**s.gamma
    if s.s_curve > 0:
        k = s.s_curve
        v = 0.5 + 0.5 * np.tanh(k * (v - 0.5)) / np.tanh(0.5 * k)
    return v.astype(np.float32)


def post_process(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Sometimes speckle reduction (edge-preserving smoothing), sometimes edge enhancement; ``(R, C) uint8``."""
    info = {"speckle_reduction": False, "edge_enhance": False}
    if rng.random() < 0.35:
        img = cv2.bilateralFilter(img, 5, float(rng.uniform(15, 45)), 3)
        info["speckle_reduction"] = True
    if rng.random() < 0.3:
        blur = cv2.GaussianBlur(img, (0, 0), 1.5)
        img = cv2.addWeighted(img, 1.0 + (a := float(rng.uniform(0.2, 0.8))), blur, -a, 0)
        info["edge_enhance"] = True
    return img, info


def reverberate(t: Tissue, rng: np.random.Generator) -> bool:
    """Sometimes add reverberation: fading copies of the superficial specular interfaces at 2x, 3x, 4x depth."""
    if rng.random() >= 0.2:
        return False
    rows = t.coherent.shape[0]
    n = rows // 3
    src = t.coherent[:n].copy()  # (n, C) superficial reflectors (skin, gel interface, fascia)
    fade = float(rng.uniform(0.15, 0.4))
    for k in (2, 3, 4):
        idx = k * np.arange(n)
        ok = idx < rows
        t.coherent[idx[ok]] += fade ** (k - 1) * src[ok]
    return True


def form_image(t: Tissue, g: Grid, s: Settings, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The full chain on the grid; returns the grey B-mode ``(R, C) uint8`` and what was drawn."""
    reverb = reverberate(t, rng)
    env = psf(scatter(t, rng), g, s)
    env, tgc = attenuate(env, t, g, s, rng)
    grey = (log_compress(env, s) * 255.0 + 0.5).astype(np.uint8)
    grey, post = post_process(grey, rng)
    return grey, {**asdict(s), **tgc, **post, "reverberation": reverb}
