"""Random fields and line patterns shared by the tissue painters.

Every array here is a ``(R, C) float32`` map over the simulation grid (rows = depth samples, columns = beam
lines). The fields are drawn coarse and enlarged with cubic interpolation: that is what keeps a whole
anatomy (dozens of fields) within a few tens of milliseconds.
"""

from __future__ import annotations

import cv2
import numpy as np


def smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], rows: float, cols: float | None = None
) -> np.ndarray:
    """Gaussian random field correlated over about ``rows`` x ``cols`` cells.

    Returns:
        ``(R, C) float32``, zero mean and unit standard deviation.
    """
    r, c = shape
    cols = rows if cols is None else cols
    lr = int(np.clip(r / max(rows, 0.5), 1, r)) + 2
    lc = int(np.clip(c / max(cols, 0.5), 1, c)) + 2
    coarse = rng.standard_normal((lr, lc), dtype=np.float32)
    out = cv2.resize(coarse, (c, r), interpolation=cv2.INTER_CUBIC)
    out -= out.mean()
    out /= out.std() + 1e-6
    return out


def lines(u: np.ndarray, width: float) -> np.ndarray:
    """Thin bright lines where ``u`` is a whole number.

    Args:
        u: ``(R, C) float32`` coordinate counted in line spacings.
        width: half-width of a line as a fraction of the spacing (0.1 = thin, 0.4 = broad).

    Returns:
        ``(R, C) float32`` in [0, 1], 1 on a line.
    """
    d = u - np.round(u)
    return np.exp(-(d * d) / (width * width)).astype(np.float32)


def ridge(field: np.ndarray, width: float) -> np.ndarray:
    """Thin curvy lines along the zero level set of a unit-std random field; ``(R, C) float32`` in [0, 1]."""
    return np.exp(-(field * field) / (width * width)).astype(np.float32)


def band_line(z: np.ndarray, surface: np.ndarray, width_mm: float) -> np.ndarray:
    """A line of half-width ``width_mm`` along the curve ``z = surface``; ``(R, C) float32`` in [0, 1]."""
    d = (z - surface) / width_mm
    return np.exp(-(d * d)).astype(np.float32)


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Cubic ramp from 0 (x <= 0) to 1 (x >= 1); same shape, float32."""
    x = np.clip(x, 0.0, 1.0)
    return (x * x * (3.0 - 2.0 * x)).astype(np.float32)


def points(rng: np.random.Generator, shape: tuple[int, int], p: float) -> np.ndarray:
    """Sparse point reflectors: ``(R, C) float32`` with +-1 at a random share ``p`` of cells, else 0."""
    hit = rng.random(shape, dtype=np.float32) < p
    sign = np.where(rng.random(shape, dtype=np.float32) < 0.5, -1.0, 1.0).astype(np.float32)
    return hit * sign


def wave(x: np.ndarray, rng: np.random.Generator, amp: float, period: tuple[float, float]) -> np.ndarray:
    """A gentle undulation ``amp * sin(2 pi x / L + phase)`` of a boundary, with L drawn in ``period`` (mm)."""
    length = rng.uniform(*period)
    return (amp * np.sin(2.0 * np.pi * x / length + rng.uniform(0, 2 * np.pi))).astype(np.float32)
