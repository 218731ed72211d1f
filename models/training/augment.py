"""Training augmentation: random flips and intensity changes, and for small real data sets random
similarity transforms and scanner-like changes of appearance. Labels move with their images."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["AUGMENTATIONS", "augment"]

AUGMENTATIONS = ("basic", "affine", "strong", "style", "rescan")
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
# "style": the geometry left alone, the grey of the picture made to look like another scanner's: the speckle's
# grain (the picture resampled through a coarser grid), the grey-level curve (a random smooth monotonic one),
# multiplicative speckle noise and edge enhancement, each on some images. Doppler colour is left as it is.
STYLE_P = 0.5  # chance of each change, per image
STYLE_RESAMPLE = (0.35, 0.9)  # side of the coarser grid, as a share of the image's
STYLE_CURVE_KNOTS = 6  # control points of the grey-level curve
STYLE_SPECKLE_SD = (0.1, 0.35)  # of the multiplicative noise (Gamma-distributed, mean 1)
STYLE_SHARPEN = (0.3, 1.2)  # unsharp-mask amount
STYLE_GREY_CHROMA = 16  # max - min up to which a pixel is grey (B-mode) and restyled
# "rescan": "style", after the picture is formed again as another probe and preset would form it, each with
# RESCAN_P: new speckle over the same echogenicity (the picture's local mean, RESCAN_MEAN_SIGMA px at the model's
# input, times the envelope of complex Gaussian scatter through an anisotropic point-spread function, narrower in
# depth than across, RESCAN_PSF_* px; its contrast compressed by a power RESCAN_SPECKLE_POWER as log compression
# does), resolution that differs down and across (RESCAN_BLUR_* px), and a time-gain compensation left
# unbalanced (the gain's log a random line and curve over the depth, up to RESCAN_GAIN_SLOPE and
# RESCAN_GAIN_BOW). The speckle, grey map and resolution of one generator are then no cue the model can lean on.
RESCAN_P = 0.5
RESCAN_MEAN_SIGMA = (1.0, 2.5)
RESCAN_PSF_DOWN = (0.4, 1.2)
RESCAN_PSF_ACROSS = (0.8, 2.5)
RESCAN_SPECKLE_POWER = (0.3, 0.9)
RESCAN_BLUR_DOWN = (0.2, 0.8)
RESCAN_BLUR_ACROSS = (0.5, 2.0)
RESCAN_GAIN_SLOPE = 0.6
RESCAN_GAIN_BOW = 0.5


def augment(
    rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, kind: str = "basic"
) -> tuple[np.ndarray, np.ndarray]:
    """Random horizontal flips and brightness/contrast jitter (grey and colour alike); with ``kind="affine"``
    also a random scale, rotation and shift (labels by nearest neighbour, the border filled with background);
    with ``kind="strong"`` the affine changes and then a random gamma, blur and noise on some images; with
    ``kind="style"`` the grey of some images restyled as another scanner's (``_random_style``); with
    ``kind="rescan"`` also formed again as another probe would image it first (``_random_rescan``)."""
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
    if kind == "rescan":
        images = np.stack([_random_rescan(rng, image) for image in images])
    if kind in ("style", "rescan"):
        images = np.stack([_random_style(rng, image) for image in images])
    return images, labels


def _random_style(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """``(h, w, 3) uint8`` with its grey pixels restyled (see ``STYLE_P``); coloured pixels keep their values."""
    h, w = image.shape[:2]
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    out = grey
    if rng.random() < STYLE_P:  # a coarser speckle: down through a smaller grid and back
        f = rng.uniform(*STYLE_RESAMPLE)
        small = cv2.resize(out, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    if rng.random() < STYLE_P:  # multiplicative speckle noise at a random grain
        sd = rng.uniform(*STYLE_SPECKLE_SD)
        noise = rng.gamma(1.0 / sd**2, sd**2, (h, w)).astype(np.float32)
        out = out * cv2.GaussianBlur(noise, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < STYLE_P:  # edge enhancement
        blurred = cv2.GaussianBlur(out, (0, 0), rng.uniform(1.0, 3.0))
        out = out + rng.uniform(*STYLE_SHARPEN) * (out - blurred)
    if rng.random() < STYLE_P:  # another grey map: a smooth monotonic curve through random knots
        steps = rng.gamma(2.0, 1.0, STYLE_CURVE_KNOTS)
        knots = np.concatenate(([0.0], np.cumsum(steps) / steps.sum())) * 255.0
        levels = np.interp(np.arange(256), np.linspace(0, 255, STYLE_CURVE_KNOTS + 1), knots).astype(np.float32)
        out = levels[np.clip(out, 0, 255).astype(np.uint8)]
    return image if out is grey else _with_grey(image, out)


def _with_grey(image: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """A copy of ``image (h, w, 3) uint8`` whose grey pixels (B-mode) take the levels of ``grey (h, w)`` float;
    coloured pixels keep their values."""
    is_grey = (image.max(axis=2).astype(np.int16) - image.min(axis=2)) <= STYLE_GREY_CHROMA
    result = image.copy()
    result[is_grey] = np.clip(grey, 0, 255).astype(np.uint8)[is_grey][:, None]
    return result


def _random_rescan(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """``(h, w, 3) uint8`` with its grey pixels formed again (see ``RESCAN_P``); coloured pixels keep their values."""
    h, w = image.shape[:2]
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    out = grey
    if rng.random() < RESCAN_P:  # new speckle over the same echogenicity
        mean = cv2.GaussianBlur(out, (0, 0), rng.uniform(*RESCAN_MEAN_SIGMA))
        down, across = rng.uniform(*RESCAN_PSF_DOWN), rng.uniform(*RESCAN_PSF_ACROSS)
        scatter = [
            cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), across, sigmaY=down)
            for _ in range(2)  # in-phase and quadrature
        ]
        envelope = cv2.magnitude(*scatter)
        envelope /= max(float(envelope.mean()), 1e-6)
        out = mean * envelope ** rng.uniform(*RESCAN_SPECKLE_POWER)
    if rng.random() < RESCAN_P:  # resolution: down and across apart
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(*RESCAN_BLUR_ACROSS), sigmaY=rng.uniform(*RESCAN_BLUR_DOWN))
    if rng.random() < RESCAN_P:  # time-gain compensation left unbalanced over the depth
        depth = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
        slope = rng.uniform(-RESCAN_GAIN_SLOPE, RESCAN_GAIN_SLOPE)
        bow = rng.uniform(-RESCAN_GAIN_BOW, RESCAN_GAIN_BOW)
        out = out * np.exp(slope * depth + bow * (4 * depth * depth - 1 / 3))
    return image if out is grey else _with_grey(image, out)


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
