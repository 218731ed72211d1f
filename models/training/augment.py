"""Training augmentation: random flips and intensity changes, and for small real data sets random
similarity transforms and scanner-like changes of appearance. Labels move with their images."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["AUGMENTATIONS", "augment"]

AUGMENTATIONS = ("basic", "affine", "strong")
# "affine": each image also gets a random similarity transform within these ranges. A few hundred real
# images are too few to teach position, size and angle invariance; the synthetic generator already
# varies them, so the shipped tendon model trains with "basic". "strong": affine, and also the changes of
# appearance between scanners and presets: a gamma curve, blur and additive noise, each on some images.
AFFINE_SCALE = (0.8, 1.25)
AFFINE_DEGREES = 15.0
AFFINE_SHIFT = 0.1  # of the image size
STRONG_GAMMA = (0.7, 1.5)
STRONG_BLUR_SIGMA = (0.3, 1.2)  # pixels
STRONG_NOISE_SD = (2.0, 8.0)  # grey levels
STRONG_P = 0.3  # chance of each appearance change, per image


def augment(
    rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, kind: str = "basic"
) -> tuple[np.ndarray, np.ndarray]:
    """Random horizontal flips and brightness/contrast jitter (grey and colour alike); with ``kind="affine"``
    also a random scale, rotation and shift (labels by nearest neighbour, the border filled with background);
    with ``kind="strong"`` the affine changes and then a random gamma, blur and noise on some images."""
    flip = rng.random(len(images)) < 0.5
    images, labels = images.copy(), labels.copy()
    images[flip], labels[flip] = images[flip, :, ::-1], labels[flip, :, ::-1]
    if kind in ("affine", "strong"):
        for i in range(len(images)):
            images[i], labels[i] = _random_affine(rng, images[i], labels[i])
    gain = rng.uniform(0.8, 1.2, (len(images), 1, 1, 1))
    bias = rng.uniform(-15, 15, (len(images), 1, 1, 1))
    images = np.clip(images.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
    if kind == "strong":
        images = np.stack([_random_appearance(rng, image) for image in images])
    return images, labels


def _random_appearance(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """``(h, w, 3) uint8``: a random gamma curve, Gaussian blur and additive grey noise, each with ``STRONG_P``."""
    out = image.astype(np.float32)
    if rng.random() < STRONG_P:
        out = 255.0 * (out / 255.0) ** rng.uniform(*STRONG_GAMMA)
    if rng.random() < STRONG_P:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(*STRONG_BLUR_SIGMA))
    if rng.random() < STRONG_P:
        out = out + rng.normal(0.0, rng.uniform(*STRONG_NOISE_SD), out.shape[:2])[..., None]  # grey: no chroma
    return np.clip(out, 0, 255).astype(np.uint8)


def _random_affine(rng: np.random.Generator, image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One ``(h, w, 3)`` image and its ``(h, w)`` label under the same random similarity transform."""
    h, w = label.shape
    matrix = cv2.getRotationMatrix2D(
        (w / 2, h / 2), rng.uniform(-AFFINE_DEGREES, AFFINE_DEGREES), rng.uniform(*AFFINE_SCALE)
    )  # (2, 3)
    matrix[:, 2] += rng.uniform(-AFFINE_SHIFT, AFFINE_SHIFT, 2) * (w, h)
    warped = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    warped_label = cv2.warpAffine(label, matrix, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    return warped, warped_label
