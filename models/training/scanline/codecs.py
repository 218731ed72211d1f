"""Lossy storage of the finished frame: PNG (none), JPEG 4:2:0, H.264-like, DICOM JPEG-baseline-like.

Why: clinical frames arrive as JPEG exports (quality 50-95, 4:2:0 chroma), video (H.264: chroma at half
resolution in both axes, 8x8/16x16 block artefacts, smoothing from the deblocking filter), or multi-frame
DICOM with JPEG baseline in YBR_FULL_422 (chroma halved horizontally, usually high quality 80-95).
"""

from __future__ import annotations

import cv2
import numpy as np


def _jpeg(rgb: np.ndarray, quality: int, sampling: int) -> np.ndarray:
    """Round-trip through OpenCV's JPEG encoder with the given chroma sampling factor."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling]
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:  # an encoder failure is a broken OpenCV build, not a data problem
        raise RuntimeError("cv2.imencode('.jpg') failed; check the OpenCV installation")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _h264_like(rng: np.random.Generator, rgb: np.ndarray) -> np.ndarray:
    """Chroma at half resolution both ways, blocky luma quantisation, light deblocking blur."""
    h, w = rgb.shape[:2]
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    for c in (1, 2):
        small = cv2.resize(ycc[..., c], (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
        ycc[..., c] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    b = int(rng.choice([8, 16]))
    hb, wb = -(-h // b) * b, -(-w // b) * b
    luma = cv2.copyMakeBorder(ycc[..., 0], 0, hb - h, 0, wb - w, cv2.BORDER_REPLICATE)
    means = luma.reshape(hb // b, b, wb // b, b).mean(axis=(1, 3), keepdims=True)
    blocks = np.broadcast_to(means, (hb // b, b, wb // b, b)).reshape(hb, wb)[:h, :w]
    keep = rng.uniform(0.6, 0.9)  # share of in-block detail that survives quantisation
    ycc[..., 0] = blocks + (ycc[..., 0] - blocks) * keep
    ycc = cv2.GaussianBlur(ycc, (3, 3), rng.uniform(0.3, 0.7))
    return cv2.cvtColor(np.clip(ycc + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)


def encode(rng: np.random.Generator, rgb: np.ndarray) -> tuple[np.ndarray, dict]:
    """Apply a random codec to ``rgb`` ``(H, W, 3) uint8``; returns (decoded RGB uint8, params)."""
    kind = str(rng.choice(["png", "jpeg", "h264", "dicom_jpeg"], p=[0.35, 0.35, 0.15, 0.15]))
    if kind == "jpeg":
        q = int(rng.integers(50, 96))
        return _jpeg(rgb, q, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420), {"codec": kind, "quality": q}
    if kind == "dicom_jpeg":
        q = int(rng.integers(80, 96))
        return _jpeg(rgb, q, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422), {"codec": kind, "quality": q}
    if kind == "h264":
        return _h264_like(rng, rgb), {"codec": kind}
    return rgb, {"codec": kind}
