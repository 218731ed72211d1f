"""Per-pixel planes that every part of screen parsing reads: brightness, chroma and the colour mask.

Computed once per clip with OpenCV on a few frames (numpy reductions over the channel axis are ~10x
slower at 1080p). ``chroma = max(R, G, B) - min(R, G, B)`` is the same rule the counter applies, so
what screen parsing calls "colour" is exactly what would be counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

# Frames looked at: enough to see flow change between frames, few enough to stay fast.
MAX_FRAMES = 4
# Hue families (OpenCV hue 0..179). Warm: red/orange/yellow, flow toward the probe on colour-flow maps and the
# whole ramp of power maps; cool: cyan/blue, flow away; green: marks, text and ECG traces (never a flow hue on
# its own: variance maps add green, but they come with their legend) (docs/references.md#doppler-screens).
WARM_HUES = ((0, 35), (165, 179))
COOL_HUES = ((80, 135),)
GREEN_HUES = ((36, 79),)


@dataclass(frozen=True, eq=False)
class Planes:
    """Planes of the reference frame (the first sampled), plus the colour seen on any sampled frame.

    Attributes:
        frames: ``(M, H, W, 3) uint8`` RGB, the sampled frames (M <= MAX_FRAMES), contiguous.
        value: ``(H, W) uint8``, max(R, G, B) of the reference frame.
        chroma: ``(H, W) uint8``, max - min of the reference frame.
        colour: ``(H, W) uint8`` 0/255, chroma > threshold on the reference frame.
        colour_any: ``(H, W) uint8`` 0/255, chroma > threshold on any sampled frame.
        threshold: the chroma threshold used.
    """

    frames: np.ndarray
    value: np.ndarray
    chroma: np.ndarray
    colour: np.ndarray
    colour_any: np.ndarray
    threshold: int

    @property
    def frame(self) -> np.ndarray:
        """The reference frame ``(H, W, 3) uint8`` RGB."""
        return self.frames[0]

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.value.shape[0]), int(self.value.shape[1])

    @cached_property
    def colour_contours(self) -> tuple[np.ndarray, ...]:
        """Outer contours ``(P, 1, 2)`` (x, y) of the 8-connected pieces of :attr:`colour`, every boundary pixel.

        Contours rather than ``connectedComponentsWithStats``: its statistics cost ~2 ms per 480x640 mask here
        even when the mask is almost empty, the contours ~0.1 ms.
        """
        return tuple(cv2.findContours(self.colour, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0])


def value_chroma(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W, 3) uint8`` -> ``(max, max - min)``, both ``(H, W) uint8``."""
    r, g, b = cv2.split(frame)
    high = cv2.max(cv2.max(r, g), b)
    low = cv2.min(cv2.min(r, g), b)
    return high, cv2.subtract(high, low)


def sample_frames(frames: np.ndarray, count: int = MAX_FRAMES) -> np.ndarray:
    """Up to ``count`` frames spread evenly over ``frames (N, H, W, 3)``, first frame included."""
    n = frames.shape[0]
    index = np.unique(np.linspace(0, n - 1, min(n, count)).round().astype(int))
    return np.ascontiguousarray(frames[index])


def make_planes(frames: np.ndarray, threshold: int) -> Planes:
    """Planes of ``frames (N, H, W, 3) uint8`` RGB (N >= 1) for chroma rule ``chroma > threshold``."""
    sampled = sample_frames(frames)
    value, chroma = value_chroma(sampled[0])
    colour = _above(chroma, threshold)
    colour_any = colour.copy()
    for frame in sampled[1:]:
        colour_any = cv2.max(colour_any, _above(value_chroma(frame)[1], threshold))
    return Planes(sampled, value, chroma, colour, colour_any, int(threshold))


def _above(plane: np.ndarray, threshold: int) -> np.ndarray:
    """``uint8`` 0/255 where ``plane > threshold`` (``cv2.compare`` takes a 1x1 plane for a scalar)."""
    return cv2.threshold(plane, threshold, 255, cv2.THRESH_BINARY)[1]


def in_hues(h: np.ndarray, ranges: tuple[tuple[int, int], ...]) -> np.ndarray:
    """``bool`` like ``h``: the hue lies in one of the inclusive ``ranges``."""
    inside = np.zeros(h.shape, dtype=bool)
    for low, high in ranges:
        inside |= (h >= low) & (h <= high)
    return inside


def hue(colours: np.ndarray) -> np.ndarray:
    """OpenCV hue (0..179, red at 0) of ``(K, 3) uint8`` RGB colours."""
    if colours.size == 0:
        return np.empty(0, dtype=np.uint8)
    hsv = cv2.cvtColor(np.ascontiguousarray(colours, dtype=np.uint8).reshape(-1, 1, 3), cv2.COLOR_RGB2HSV)
    return hsv[:, 0, 0]
