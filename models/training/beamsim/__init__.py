"""beamsim: a physically formed synthetic ultrasound generator for tendon segmentation.

Each sample is an ultrasound picture (the image area of a scanner screen, as a pipeline would crop it) and
the tendon's mask. A randomised musculoskeletal scene (skin, fat, muscle, fat pads, bursae, cartilage, bone,
vessels, nerves and a tendon, or no tendon) is turned into a tissue map of echogenicity, scatterer density,
specular reflectors and attenuation; an image is formed from it by speckle, a point-spread function,
attenuation with TGC and log compression; Doppler colour, scanner graphics, an imperfect crop and
compression follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .render import GENERATOR_VERSION, render

__all__ = ["GENERATOR_VERSION", "BeamSample", "make_dataset", "make_sample"]


@dataclass(frozen=True)
class BeamSample:
    """One sample.

    image: ``(H, W, 3) uint8`` RGB at ``size``. mask: ``(H, W) uint8`` in {0, 1}, 1 = tendon, at ``size``.
    params: what was drawn (JSON-serialisable).
    """

    image: np.ndarray
    mask: np.ndarray
    params: dict[str, object]


def make_sample(seed: int, size: tuple[int, int] = (256, 256), textures: list[np.ndarray] | None = None) -> BeamSample:
    """Draw the sample for ``seed``: a pure function of (seed, size, textures).

    ``textures`` are optional real grey B-mode images ``(h, w) uint8``; in ~30 % of samples a crop of one is
    blended into the tissue around the tendon (never inside it).
    """
    image, mask, params = render(int(seed), (int(size[0]), int(size[1])), textures)
    return BeamSample(image, mask, params)


def make_dataset(count: int, seed: int, size: tuple[int, int] = (256, 256),
                 textures: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``(N, H, W, 3) uint8`` RGB images and ``(N, H, W) uint8`` masks from seeds ``seed * 1_000_003 + i``."""
    images = np.zeros((count, *size, 3), np.uint8)
    masks = np.zeros((count, *size), np.uint8)
    for i in range(count):
        s = make_sample(seed * 1_000_003 + i, size, textures)
        images[i], masks[i] = s.image, s.mask
    return images, masks
