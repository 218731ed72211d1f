"""Screen parsing: where the ultrasound image is, and which Doppler mode the screen shows.

This version reads the Doppler mode from the hues of the coloured pixels: colour-flow maps paint flow
toward the probe red-to-yellow and away from it blue-to-cyan, and their colour bar shows both ends;
power Doppler uses one hue ramp (dark red -> orange -> yellow on GE; other vendors use magenta or
gold). The image area is the whole frame and the Doppler box is not located yet: a user ROI defines
the measured region on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

DopplerMode = Literal["colour", "power", "none"]

# Fewer coloured pixels than this on the sampled frames reads as "no Doppler" (a few coloured pixels
# come from UI marks and compression noise, not from flow).
MIN_COLOUR_PX = 20
# OpenCV hue is 0..179. Warm: red/orange/yellow; cool: cyan/blue (anatomy.md, "Doppler screen conventions").
_WARM = ((0, 35), (165, 179))
_COOL = ((80, 135),)
# Both directions must each hold at least this share of the coloured pixels to read as colour flow.
MIN_DIRECTION_SHARE = 0.05
_SAMPLED_FRAMES = 8


@dataclass(frozen=True)
class Screen:
    """What is on the screen. Rectangles are half-open ``(x0, y0, x1, y1)`` pixel bounds."""

    image_area: tuple[int, int, int, int]
    mode: DopplerMode
    doppler_box: tuple[int, int, int, int] | None = None
    box_source: str | None = None


def _share(hue: np.ndarray, ranges: tuple[tuple[int, int], ...]) -> float:
    inside = np.zeros(hue.shape, dtype=bool)
    for low, high in ranges:
        inside |= (hue >= low) & (hue <= high)
    return float(inside.mean()) if hue.size else 0.0


def doppler_mode(frames: np.ndarray, chroma_threshold: int) -> DopplerMode:
    """Doppler mode of ``frames (N, H, W, 3) uint8 RGB`` from the hues of pixels with chroma above threshold."""
    step = max(1, frames.shape[0] // _SAMPLED_FRAMES)
    hues = []
    for frame in frames[::step][:_SAMPLED_FRAMES]:
        chroma = frame.max(axis=-1) - frame.min(axis=-1)  # (H, W) uint8
        coloured = frame[chroma > chroma_threshold]  # (K, 3) RGB
        if coloured.size:
            hsv = cv2.cvtColor(coloured.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV)
            hues.append(hsv[:, 0, 0])
    hue = np.concatenate(hues) if hues else np.empty(0, dtype=np.uint8)
    if hue.size < MIN_COLOUR_PX:
        return "none"
    if _share(hue, _WARM) >= MIN_DIRECTION_SHARE and _share(hue, _COOL) >= MIN_DIRECTION_SHARE:
        return "colour"
    return "power"


def find_screen(frames: np.ndarray, chroma_threshold: int) -> Screen:
    """Parse the screen of ``frames (N, H, W, 3) uint8 RGB``."""
    height, width = frames.shape[1:3]
    return Screen(image_area=(0, 0, width, height), mode=doppler_mode(frames, chroma_threshold))
