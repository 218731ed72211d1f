"""Doppler colour maps as 256-entry RGB look-up tables (anatomy.md, "Doppler screen conventions").

Colour flow: red toward / blue away from the probe, brighter with speed, yellow and cyan at the ends of the
scale, sometimes inverted. Power: one hue ramp (dark red -> orange -> yellow, GE-like; magenta -> gold;
monochrome blue/white for slow-flow imaging such as SMI).
"""

from __future__ import annotations

import numpy as np

POWER_RAMPS: dict[str, list[tuple[int, int, int]]] = {
    "red_yellow": [(70, 0, 0), (170, 20, 0), (240, 110, 0), (255, 200, 40), (255, 250, 160)],
    "magenta_gold": [(90, 0, 90), (180, 20, 140), (230, 90, 90), (245, 170, 40), (255, 225, 90)],
    "mono_blue": [(20, 40, 110), (50, 110, 200), (120, 180, 240), (200, 230, 255), (250, 252, 255)],
}
FLOW_RED = [(60, 0, 0), (150, 0, 0), (230, 30, 10), (255, 130, 20), (255, 240, 70)]
FLOW_BLUE = [(0, 0, 70), (0, 20, 170), (20, 70, 250), (40, 170, 255), (120, 255, 255)]


def _ramp(anchors: list[tuple[int, int, int]], n: int, rng: np.random.Generator) -> np.ndarray:
    """Interpolate jittered anchor colours to ``(n, 3) float32`` RGB."""
    a = np.asarray(anchors, np.float32) * rng.uniform(0.85, 1.12, (len(anchors), 3)).astype(np.float32)
    xp = np.linspace(0, 1, len(anchors))
    x = np.linspace(0, 1, n)
    return np.stack([np.interp(x, xp, a[:, c]) for c in range(3)], axis=1).clip(0, 255).astype(np.float32)


def power_lut(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """A jittered power ramp: name and ``(256, 3) float32`` RGB indexed by power 0..1."""
    name = str(rng.choice(list(POWER_RAMPS), p=[0.55, 0.25, 0.2]))
    return name, _ramp(POWER_RAMPS[name], 256, rng)


def flow_lut(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """A jittered colour-flow map: ``(256, 3) float32`` RGB indexed by velocity -1..1 (index 0 = -1)."""
    inverted = bool(rng.random() < 0.25)
    pos, neg = _ramp(FLOW_RED, 128, rng), _ramp(FLOW_BLUE, 128, rng)
    if inverted:
        pos, neg = neg, pos
    lut = np.concatenate([neg[::-1], pos], axis=0)  # (256, 3): -1 (fast away) .. +1 (fast toward)
    return ("flow_inverted" if inverted else "flow"), lut
