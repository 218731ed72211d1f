"""Colour lookup tables: which RGB colours are Doppler signal, and what value each carries.

Two kinds share one type so every backend takes the same argument:

* ``chroma`` — the default rule. A pixel is Doppler when ``max(R, G, B) - min(R, G, B) > threshold``.
  Grey-scale B-mode has R = G = B (chroma 0); compression and scan conversion add a few levels of
  chroma at edges; Doppler paint is saturated (chroma well above 100 on every vendor map we have
  seen, e.g. >= 152 on the GE LOGIQ 700 power Doppler example shipped with pydicom). The default
  threshold 40 sits far from both. Value = chroma / 255, a proxy of colour intensity.
* ``table`` — a colour → (is Doppler, value) table on a ``2**bits``-level grid per channel, built
  from a parsed colour bar (signed velocity fraction for colour flow, power level for power).
  Index = ``(R >> s) << 2b | (G >> s) << b | (B >> s)`` with ``s = 8 - b``.

Both kinds carry ``min_chroma``: no colour whose chroma is below it can be Doppler. Kernels use it to
skip the table gather on grey pixels without changing a single count (0 means: test every pixel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

DEFAULT_CHROMA_THRESHOLD = 40
DEFAULT_TABLE_BITS = 6


@dataclass(frozen=True, eq=False)
class DopplerLUT:
    """A colour classification rule; build it with :func:`chroma_lut` or :func:`table_lut`."""

    kind: Literal["chroma", "table"]
    threshold: int = DEFAULT_CHROMA_THRESHOLD
    bits: int = DEFAULT_TABLE_BITS
    is_doppler: np.ndarray | None = field(default=None, repr=False)  # (S, S, S) bool, S = 2**bits
    value: np.ndarray | None = field(default=None, repr=False)  # (S, S, S) float32
    min_chroma: int = 0  # lowest chroma of any Doppler colour (256: none); 0 is always safe

    @property
    def size(self) -> int:
        """Levels per channel of a ``table`` LUT."""
        return 1 << self.bits

    def describe(self) -> str:
        if self.kind == "chroma":
            return f"chroma>{self.threshold}"
        return f"table{self.size}^3"


def chroma_lut(threshold: int = DEFAULT_CHROMA_THRESHOLD) -> DopplerLUT:
    """The chroma rule: Doppler when ``max(R,G,B) - min(R,G,B) > threshold`` (0 <= threshold <= 254)."""
    if not isinstance(threshold, int | np.integer) or not 0 <= int(threshold) <= 254:
        raise ValueError(f"chroma threshold must be an integer in 0..254, got {threshold!r}")
    return DopplerLUT(kind="chroma", threshold=int(threshold), min_chroma=int(threshold) + 1)


def table_lut(is_doppler: np.ndarray, value: np.ndarray) -> DopplerLUT:
    """A table LUT from ``(S, S, S)`` arrays indexed ``[R >> s, G >> s, B >> s]``, S a power of two <= 256."""
    is_doppler = np.ascontiguousarray(is_doppler, dtype=bool)
    value = np.ascontiguousarray(value, dtype=np.float32)
    size = is_doppler.shape[0]
    if is_doppler.shape != (size, size, size) or value.shape != is_doppler.shape:
        raise ValueError(f"LUT tables must both be (S, S, S); got is_doppler {is_doppler.shape}, value {value.shape}")
    bits = size.bit_length() - 1
    if size != 1 << bits or not 1 <= bits <= 8:
        raise ValueError(f"LUT size must be a power of two between 2 and 256, got {size}")
    if not np.isfinite(value).all():
        raise ValueError("LUT values must be finite")
    return DopplerLUT(
        kind="table",
        bits=bits,
        is_doppler=is_doppler,
        value=value * is_doppler,
        min_chroma=_table_min_chroma(is_doppler, bits),
    )


def _table_min_chroma(is_doppler: np.ndarray, bits: int) -> int:
    """Lowest chroma any RGB colour falling into a Doppler cell can have (256 when no cell is Doppler).

    A cell ``(i, j, k)`` holds channel values ``[i << s, (i << s) + 2**s - 1]``; the least chroma within
    it is ``max(0, largest lower bound - smallest upper bound)``.
    """
    if not is_doppler.any():
        return 256
    size = 1 << bits
    low = np.arange(size, dtype=np.int16) << (8 - bits)  # (S,) lower bound of each level
    high = low + (1 << (8 - bits)) - 1
    r_lo, g_lo, b_lo = low[:, None, None], low[None, :, None], low[None, None, :]
    r_hi, g_hi, b_hi = high[:, None, None], high[None, :, None], high[None, None, :]
    least = np.maximum(np.maximum(r_lo, g_lo), b_lo) - np.minimum(np.minimum(r_hi, g_hi), b_hi)  # (S, S, S)
    least = np.maximum(least, 0)
    return int(least[is_doppler].min())


def chroma_as_table(threshold: int = DEFAULT_CHROMA_THRESHOLD, bits: int = DEFAULT_TABLE_BITS) -> DopplerLUT:
    """The chroma rule sampled at the centre of each table cell (an approximation, for tests and tools)."""
    size = 1 << bits
    centres = (np.arange(size, dtype=np.int32) << (8 - bits)) + ((1 << (8 - bits)) >> 1)
    r, g, b = np.meshgrid(centres, centres, centres, indexing="ij")
    chroma = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
    hit = chroma > threshold
    return table_lut(hit, (chroma / 255.0).astype(np.float32))
