"""The RGB cube as the lossy colour rules see it: BT.601 luma and chroma, and the colour tables' cells.

A table of ``bits`` levels per channel (``cuda_ops.table_lut``) splits each channel into cells ``2**(8 - bits)``
levels wide; a rule is decided at each cell's centre. :func:`cells` holds those centres in RGB and, sorted by
luma, in YCbCr (a rule looks up the cells within a luma range by bisection); :func:`cell_indices` gives a
pixel's flat cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

# BT.601 luma and chroma weights (ITU-R BT.601; JPEG/JFIF uses them at full range, and so do the rules for every
# input: they test the decoded RGB, so one consistent luma is what matters). Rows: Y, Cb, Cr.
YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float32)


@dataclass(frozen=True, eq=False)
class Cells:
    """The cell centres of a table of ``2**bits`` levels per channel."""

    rgb: np.ndarray  # (S**3, 3) float32, in cell order (flat index r << 2 bits | g << bits | b)
    order: np.ndarray  # (S**3,) flat cell indices sorted by luma (stable)
    ycc: np.ndarray  # (S**3, 3) float32 Y, Cb, Cr, in luma order


@cache
def cells(bits: int) -> Cells:
    size = 1 << bits
    centres = ((np.arange(size) << (8 - bits)) + ((1 << (8 - bits)) >> 1)).astype(np.float32)
    r, g, b = np.meshgrid(centres, centres, centres, indexing="ij")
    rgb = np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)
    ycc = rgb @ YCBCR.T
    order = np.argsort(ycc[:, 0], kind="stable")
    return Cells(rgb, order, np.ascontiguousarray(ycc[order]))


def cell_indices(pixels: np.ndarray, bits: int) -> np.ndarray:
    """``(...) intp``: the flat table cell of each of ``pixels (..., 3) uint8`` RGB."""
    shift = 8 - bits
    r, g, b = (np.right_shift(pixels[..., c], shift).astype(np.intp) for c in range(3))
    return (r << (2 * bits)) | (g << bits) | b


def saturation(rgb: np.ndarray) -> np.ndarray:
    """Saturation of ``(..., 3)`` RGB colours: chroma relative to the most the RGB cube holds at the colour's
    luma and hue, 0 (grey) to 1 (on the cube's surface). ``(...) float32``."""
    rgb = np.asarray(rgb, dtype=np.float32)
    luma = (rgb @ YCBCR[0])[..., None]
    above = (rgb - luma) / np.maximum(255.0 - luma, 1e-3)  # a channel above the grey of that luma, up to 255
    below = (luma - rgb) / np.maximum(luma, 1e-3)  # a channel below it, down to 0
    return np.clip(np.maximum(above, below).max(axis=-1), 0.0, 1.0)
