"""Random draws shared by the parts of the training generator (``models.training.synth``): an interval's value,
a weighted choice, smooth anisotropic noise and a smooth random curve, each from the frame's own generator.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["curve", "draw", "pick", "smooth_noise"]


def draw(rng: np.random.Generator, intervals: tuple[tuple[float, float], ...]) -> float:
    lo, hi = intervals[int(rng.integers(len(intervals)))]
    return float(rng.uniform(lo, hi))


def pick(rng: np.random.Generator, table: dict[str, float]) -> str:
    names = list(table)
    weights = np.asarray([table[n] for n in names], np.float64)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sx: float, sy: float) -> np.ndarray:
    """Zero-mean unit-variance Gaussian noise blurred by ``(sx, sy)`` pixels (anisotropic texture)."""
    noise = rng.standard_normal(shape).astype(np.float32)
    out = cv2.GaussianBlur(noise, (0, 0), sigmaX=max(sx, 0.3), sigmaY=max(sy, 0.3))
    return out / (out.std() + 1e-6)


def curve(rng: np.random.Generator, w: int, amplitude: float) -> np.ndarray:
    """A smooth random curve over ``w`` columns (quadratic + slow wave), in pixels."""
    x = np.linspace(-1.0, 1.0, w, dtype=np.float32)
    a, b = rng.uniform(-1, 1, 2) * amplitude
    phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.5)
    return a * x**2 + b * x + 0.3 * amplitude * np.sin(freq * np.pi * x + phase)
