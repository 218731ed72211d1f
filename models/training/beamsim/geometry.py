"""Probe and picture geometry: where each simulation cell lies in the body, and scan conversion.

The simulation grid is laid out the way a scanner acquires: rows are depth samples and columns are beam
lines. On a linear probe the lines are parallel; on a virtual-convex (trapezoid) probe they fan out from a
virtual apex above the skin, so the field widens with depth. Attenuation and shadows are then a running
sum down each column, as they are down each real beam line.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Hard bound of the simulation grid, whatever the picture size (speed; the picture is resampled from it).
GRID_ROWS_MAX = 300
GRID_COLS_MAX = 560


@dataclass(frozen=True)
class Probe:
    """One drawn field of view.

    ``width_mm`` is the field width at the deepest row (the full picture width); ``top_width_mm`` the width at
    the skin, equal to it on a linear probe. ``picture_hw`` is the rendered picture size in pixels and
    ``grid_hw`` the simulation grid size in cells.
    """

    convex: bool
    depth_mm: float
    width_mm: float
    top_width_mm: float
    picture_hw: tuple[int, int]
    grid_hw: tuple[int, int]

    @property
    def half_angle(self) -> float:
        """Half the fan angle in radians (0 on a linear probe)."""
        return float(np.arctan((self.width_mm - self.top_width_mm) / (2.0 * self.depth_mm)))

    @property
    def apex_mm(self) -> float:
        """Distance from the skin up to the virtual apex of the fan, mm (convex only)."""
        return 0.5 * self.top_width_mm / max(np.tan(self.half_angle), 1e-6)


@dataclass(frozen=True)
class Grid:
    """Body coordinates of every simulation cell: ``x``, ``z`` and ``beam`` are ``(R, C) float32``.

    ``x`` is lateral (mm, 0 at the picture centre), ``z`` the depth below the probe face (mm) and ``beam`` the
    angle of the beam line from vertical (radians). ``dz``/``dx`` are the row and (mid-depth) column spacings.
    """

    x: np.ndarray
    z: np.ndarray
    beam: np.ndarray
    dz: float
    dx: float

    @property
    def shape(self) -> tuple[int, int]:
        return self.x.shape  # type: ignore[return-value]


def draw_probe(rng: np.random.Generator, depth_mm: float) -> Probe:
    """Draw the picture size, aspect and probe type for a field ``depth_mm`` deep.

    Picture height 200-700 px and aspect (width / height) 0.75-2.0 cover the image areas of common scanner
    screens; 75 % linear probes (the musculoskeletal default), else a virtual-convex trapezoid.
    """
    h = int(rng.integers(200, 701))
    aspect = float(rng.uniform(0.75, 2.0))
    w = round(h * aspect)
    convex = bool(rng.random() < 0.25)
    width = depth_mm * aspect
    top = width * float(rng.uniform(0.45, 0.8)) if convex else width
    rows = min(h, GRID_ROWS_MAX)
    cols = int(np.clip(round(rows * aspect * float(rng.uniform(0.8, 1.1))), 64, GRID_COLS_MAX))
    return Probe(convex, float(depth_mm), float(width), float(top), (h, w), (rows, cols))


def make_grid(probe: Probe) -> Grid:
    """Body coordinates of the ``probe.grid_hw`` cells (see ``Grid``)."""
    rows, cols = probe.grid_hw
    z1 = ((np.arange(rows, dtype=np.float32) + 0.5) * probe.depth_mm / rows)[:, None]  # (R, 1)
    u = ((np.arange(cols, dtype=np.float32) + 0.5) / cols - 0.5)[None, :]  # (1, C) in (-0.5, 0.5)
    if probe.convex:
        phi = probe.half_angle
        theta = (2.0 * phi * u).astype(np.float32)  # (1, C) beam angles
        x = (probe.apex_mm + z1) * np.tan(theta)
        dx = (probe.top_width_mm + probe.width_mm) / (2.0 * cols)
    else:
        theta = np.zeros_like(u)
        x = np.broadcast_to(u * probe.width_mm, (rows, cols))
        dx = probe.width_mm / cols
    z = np.broadcast_to(z1, (rows, cols))
    beam = np.broadcast_to(theta, (rows, cols))
    return Grid(
        x.astype(np.float32), np.ascontiguousarray(z, np.float32), np.ascontiguousarray(beam, np.float32),
        probe.depth_mm / rows, float(dx),
    )  # fmt: skip


def scan_maps(probe: Probe) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """cv2.remap maps from picture pixels to grid cells, and the field mask; None on a linear probe.

    Returns:
        ``map_x``, ``map_y``: ``(Hp, Wp) float32`` grid column / row of each picture pixel; ``inside``:
        ``(Hp, Wp) bool``, True within the trapezoidal field.
    """
    if not probe.convex:
        return None
    (hp, wp), (rows, cols) = probe.picture_hw, probe.grid_hw
    x = ((np.arange(wp, dtype=np.float32) + 0.5) / wp - 0.5)[None, :] * probe.width_mm  # (1, Wp)
    z = ((np.arange(hp, dtype=np.float32) + 0.5) / hp * probe.depth_mm)[:, None]  # (Hp, 1)
    theta = np.arctan(x / (probe.apex_mm + z))  # (Hp, Wp)
    phi = probe.half_angle
    map_x = ((theta + phi) / (2.0 * phi) * cols - 0.5).astype(np.float32)
    map_y = np.broadcast_to(z / probe.depth_mm * rows - 0.5, (hp, wp)).astype(np.float32)
    return map_x, map_y, np.abs(theta) <= phi


def to_picture(grid_map: np.ndarray, probe: Probe, maps: tuple | None, nearest: bool = False) -> np.ndarray:
    """Resample a grid map ``(R, C)`` or ``(R, C, k)`` float32/uint8 to the picture ``(Hp, Wp[, k])``.

    Outside a convex field the result is 0.
    """
    hp, wp = probe.picture_hw
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    if maps is None:
        return cv2.resize(grid_map, (wp, hp), interpolation=interp)
    map_x, map_y, inside = maps
    out = cv2.remap(grid_map, map_x, map_y, interp, borderMode=cv2.BORDER_REPLICATE)
    out[~inside] = 0
    return out
