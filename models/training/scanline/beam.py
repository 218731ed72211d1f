"""Pulse-echo image formation, one A-line per beam line: RF -> envelope -> TGC -> log compression.

Per frame (array shapes are ``(n_lines, n_samples)``, depth along the last axis):

1. The scene is sampled along each beam line (steered lines are tilted, as in spatial compounding).
2. Scatterers: Gaussian amplitudes scaled by ``diffuse`` (incoherent speckle) plus ``specular`` (coherent,
   constant-sign reflectors: interfaces and fibre bundles), times two-way transmission (shadows behind bone
   and calcifications, enhancement behind fluid) and frequency-dependent attenuation
   (0.3-1.0 dB/cm/MHz, the soft-tissue range).
3. Lateral beam: a Gaussian across lines whose width is ``lambda * F#`` at each focal depth and widens away
   from it with the aperture's geometric divergence (1-3 focal zones, F# 1-3).
4. Axial pulse at 5-18 MHz (doubled for harmonic-like imaging), 1-4 cycles, Gaussian envelope. The RF line is
   represented after down-mixing to an intermediate frequency of 3-6 samples per period, as a scanner's
   demodulator does, so it stays sampled above Nyquist on a 300-600-sample line; the envelope, which is all
   the picture keeps, depends only on the pulse envelope length and is unchanged by the mixing.
5. Envelope = modulus of the analytic signal (Hilbert transform done in the Fourier domain together with the
   pulse convolution), then thermal noise, partly-wrong TGC, log compression over 40-75 dB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .scene import Scene

SOUND_MM_PER_US = 1.54  # speed of sound in soft tissue


@dataclass(frozen=True)
class BeamArgs:
    """Transducer and processing settings for one picture; ranges documented in the module docstring."""

    f_mhz: float
    cycles: float
    n_lines: int
    n_samples: int
    f_number: float
    rx_width: float
    spec_gain: float
    foci_mm: tuple[float, ...]
    alpha_db: float
    tgc_error: float
    noise_db: float
    harmonic: bool
    steer_deg: tuple[float, ...]
    dynamic_range_db: float
    gamma: float

    def to_dict(self) -> dict:
        """JSON-able copy."""
        return asdict(self)


def draw_beam(rng: np.random.Generator, depth_mm: float) -> BeamArgs:
    """Random scanner settings for a field ``depth_mm`` deep."""
    nz = int(rng.integers(2, 4)) if rng.random() < 0.3 else 1
    foci = tuple(sorted(float(v) for v in rng.uniform(0.15, 0.8, nz) * depth_mm))
    steer: tuple[float, ...] = (0.0,)
    if rng.random() < 0.4:  # spatial compounding, 2-5 frames steered +-5-20 deg
        k = int(rng.integers(2, 6))
        steer = tuple(float(a) for a in np.linspace(-1, 1, k) * rng.uniform(5, 20))
    alpha = float(rng.uniform(0.3, 1.0))
    # Sonographers lower the frequency for deep fields: keep the two-way loss at the bottom under 30-60 dB.
    f_max = min(18.0, rng.uniform(30, 60) / (alpha * 2 * depth_mm / 10))
    n_lines = int(rng.integers(144, 225)) if len(steer) <= 3 else int(rng.integers(112, 145))
    return BeamArgs(
        f_mhz=float(rng.uniform(min(5.0, f_max), max(f_max, 5.0))),
        cycles=float(rng.uniform(1, 4)),
        n_lines=n_lines,
        n_samples=int(rng.integers(300, 601)) if len(steer) <= 3 else int(rng.integers(300, 420)),
        f_number=float(rng.uniform(1, 3)),
        rx_width=float(rng.uniform(2, 6)),
        spec_gain=float(np.exp(rng.uniform(np.log(1.5), np.log(6)))),
        foci_mm=foci,
        alpha_db=alpha,
        tgc_error=float(rng.normal(0, 0.25)),
        noise_db=float(rng.uniform(-35, -10)),
        harmonic=bool(rng.random() < 0.3),
        steer_deg=steer,
        dynamic_range_db=float(rng.uniform(45, 70)),
        gamma=float(rng.uniform(1.2, 2.4)),
    )


def _sample_scene(scene: Scene, args: BeamArgs, steer_deg: float) -> tuple[np.ndarray, ...]:
    """Scene maps along the (possibly steered) beam lines, each ``(n_lines, n_samples) float32``."""
    phi = np.deg2rad(steer_deg)
    s = (np.arange(args.n_samples, dtype=np.float32) + 0.5) * (scene.depth_mm / args.n_samples)
    x0 = (np.arange(args.n_lines, dtype=np.float32) + 0.5) * (scene.width_mm / args.n_lines)
    map_x = ((x0[:, None] + s[None, :] * np.sin(phi)) / scene.dx - 0.5).astype(np.float32)
    map_y = np.broadcast_to((s[None, :] * np.cos(phi)) / scene.dz - 0.5, map_x.shape).astype(np.float32)
    return tuple(
        cv2.remap(m, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        for m in (scene.diffuse, scene.specular, scene.absorb)
    )


def _lateral_blur(rf: np.ndarray, sigma_lines: np.ndarray) -> np.ndarray:
    """Depth-varying Gaussian across lines: blend a few fixed blurs by the beam width at each depth."""
    levels = np.geomspace(max(float(sigma_lines.min()), 0.4), max(float(sigma_lines.max()), 0.5), 4)
    blurred = [cv2.GaussianBlur(rf, (1, 2 * int(np.ceil(3 * sg)) + 1), sigmaX=0.1, sigmaY=float(sg)) for sg in levels]
    pos = np.interp(np.log(np.maximum(sigma_lines, levels[0])), np.log(levels), np.arange(4.0))
    lo = np.clip(np.floor(pos).astype(int), 0, 2)
    frac = (pos - lo).astype(np.float32)
    stack = np.stack(blurred)  # (4, n_lines, n_samples)
    cols = np.arange(rf.shape[1])
    return stack[lo, :, cols].T * (1 - frac) + stack[lo + 1, :, cols].T * frac


def _envelope(rf: np.ndarray, args: BeamArgs, ds_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Pulse convolution + analytic signal along depth in one FFT; returns the envelope ``|.|``."""
    f = args.f_mhz * (2 if args.harmonic else 1)
    pulse_mm = args.cycles * SOUND_MM_PER_US / f / 2  # two-way: one period spans lambda/2 of depth
    sigma = max(pulse_mm / 2.355 / ds_mm, 1.0)  # the display grid cannot resolve less than a sample
    fc = float(rng.uniform(0.2, 0.3))  # intermediate-frequency carrier, cycles per sample
    n = rf.shape[1] + int(8 * sigma) + 8  # zero padding: no wrap-around of the skin echo to the bottom
    freqs = np.fft.fftfreq(n)
    spec = np.exp(-2 * (np.pi * sigma * (freqs - fc)) ** 2)  # Gaussian pulse envelope around the carrier
    # A real transducer pulse has no DC: the sin^2 taper zeroes DC and Nyquist smoothly, so the Hilbert
    # kernel stays short (a hard cut would smear bright echoes along the whole line as 1/t tails).
    spec = spec * np.sin(2 * np.pi * freqs) ** 2 * (freqs > 0) * 2  # positive half only: analytic signal
    analytic = np.fft.ifft(np.fft.fft(rf, n=n, axis=1) * spec[None, :].astype(np.complex64), axis=1)
    return np.abs(analytic[:, : rf.shape[1]]).astype(np.float32)


def form_frame(scene: Scene, args: BeamArgs, steer_deg: float, rng: np.random.Generator) -> np.ndarray:
    """Envelope of one (steered) frame, ``(n_lines, n_samples) float32`` in linear amplitude."""
    diffuse, specular, absorb = _sample_scene(scene, args, steer_deg)
    ds = scene.depth_mm / args.n_samples
    s = (np.arange(args.n_samples, dtype=np.float32) + 0.5) * ds
    trans = np.exp(-2 * np.maximum(np.cumsum(absorb, axis=1) * ds, -0.7))
    atten = 10 ** (-args.alpha_db * args.f_mhz * 2 * s / 10 / 20)  # dB/cm/MHz, two-way path, depth in mm
    noise = rng.standard_normal(diffuse.shape).astype(np.float32)
    coherent = 1 + 0.3 * rng.standard_normal(diffuse.shape).astype(np.float32)
    # A coherent reflector sums in phase over the resolution cell while random scatterers sum in power,
    # so interfaces stand 10-30 dB over speckle; spec_gain sets where in that range this picture sits.
    rf = (diffuse * noise + args.spec_gain * specular * coherent) * trans * atten[None, :]
    lam = SOUND_MM_PER_US / (args.f_mhz * (2 if args.harmonic else 1))
    pitch = scene.width_mm / args.n_lines
    tx = np.full_like(s, np.inf)
    for zf in args.foci_mm:  # multi-zone transmit focusing stitches each zone's narrowest part
        aperture = zf / args.f_number
        tx = np.minimum(tx, np.sqrt((lam * args.f_number) ** 2 + (aperture * (s - zf) / zf) ** 2))
    # Receive focusing is dynamic (focused at every depth, F# 1-2, widened by apodisation and element pitch);
    # the two-way profile is the product of the transmit and receive Gaussians.
    rx = lam * args.rx_width
    width = 1 / np.sqrt(1 / np.minimum(tx, 2.5) ** 2 + 1 / rx**2)
    rf = _lateral_blur(rf, width / 2.355 / pitch)
    # Thermal noise is flat in depth before TGC and passes the receive filter like the echoes (so it is
    # grainy, not salt-and-pepper): 10-35 dB under the attenuated echoes at the bottom of the field.
    loss_db = args.alpha_db * args.f_mhz * 2 * scene.depth_mm / 10
    level = float(np.sqrt(np.mean(rf[:, : rf.shape[1] // 4] ** 2))) * 10 ** ((args.noise_db - loss_db) / 20)
    rf = rf + level * rng.standard_normal(rf.shape).astype(np.float32)
    env = _envelope(rf, args, ds, rng)
    return env


def unsteer(frame: np.ndarray, scene: Scene, args: BeamArgs, steer_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample a steered frame onto the unsteered line grid; returns (values, coverage) both ``float32``."""
    phi = np.deg2rad(steer_deg)
    ds, pitch = scene.depth_mm / args.n_samples, scene.width_mm / args.n_lines
    z = (np.arange(args.n_samples, dtype=np.float32) + 0.5) * ds
    x = (np.arange(args.n_lines, dtype=np.float32) + 0.5) * pitch
    line = ((x[:, None] - z[None, :] * np.tan(phi)) / pitch - 0.5).astype(np.float32)
    samp = np.broadcast_to(z[None, :] / np.cos(phi) / ds - 0.5, line.shape).astype(np.float32)
    val = cv2.remap(frame, samp, line, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    cov = cv2.remap(np.ones_like(frame), samp, line, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return val, cov


def form_image(scene: Scene, args: BeamArgs, rng: np.random.Generator) -> np.ndarray:
    """Compounded, TGC'd, log-compressed B-mode on the line grid, ``(n_lines, n_samples) float32`` in [0, 1]."""
    acc = np.zeros((args.n_lines, args.n_samples), np.float32)
    cov = np.zeros_like(acc)
    for phi in args.steer_deg:
        val, c = unsteer(form_frame(scene, args, phi, rng), scene, args, phi)
        c = c * cv2.GaussianBlur(c, (0, 0), 6)  # feather the steered frames' edges: no seams
        acc += val * c
        cov += c
    env = acc / np.maximum(cov, 1e-3)
    s_cm = np.linspace(0, scene.depth_mm / 10, args.n_samples, dtype=np.float32)
    knots = rng.normal(0, 3, 6)  # TGC sliders, dB
    slider = np.interp(np.linspace(0, 5, args.n_samples), np.arange(6), knots)
    tgc_db = args.alpha_db * args.f_mhz * 2 * s_cm * (1 + args.tgc_error) + slider
    db = 20 * np.log10(env + 1e-12) + tgc_db[None, :]
    ref = float(np.percentile(db, 99.7)) + float(rng.uniform(-2, 6))
    grey = np.clip((db - ref + args.dynamic_range_db) / args.dynamic_range_db, 0, 1) ** args.gamma
    return grey.astype(np.float32)
