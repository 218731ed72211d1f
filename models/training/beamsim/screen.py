"""From the rendered picture to a training sample: imperfect crop, compression, letterbox."""

from __future__ import annotations

import cv2
import numpy as np

from models.transforms import letterbox


def crop(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list]:
    """Crop as a pipeline would from the screen, each side off by -4 % to +3 % of the picture size.

    Positive offsets reach past the picture into the (black / dark grey) screen background; negative ones
    lose a strip of picture. Returns ``(h, w, 3) uint8`` RGB, ``(h, w) uint8`` mask and the offsets.
    """
    h, w = mask.shape
    off = rng.uniform(-0.04, 0.03, 4) * np.array([h, h, w, w])  # top, bottom, left, right
    pad = int(np.ceil(0.03 * max(h, w))) + 1
    bg = int(rng.choice([0, 0, rng.integers(10, 45)]))
    screen = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(bg, bg, bg))
    mscreen = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    t, b, left, r = (round(v) for v in off)
    y0, y1, x0, x1 = pad - t, pad + h + b, pad - left, pad + w + r
    return screen[y0:y1, x0:x1].copy(), mscreen[y0:y1, x0:x1].copy(), [float(v) for v in off / [h, h, w, w]]


def _jpeg(img: np.ndarray, quality: int, sampling: int | None = None) -> np.ndarray:
    """JPEG round trip of an RGB picture at ``quality``; ``sampling`` is a cv2 chroma subsampling flag."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    if sampling is not None:
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling]
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], params)
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy() if ok else img


def _h264_like(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Video-like loss: 4:2:0 chroma (area-averaged, re-enlarged), mild luma blocking and blur, sometimes
    encoded at a lower resolution and scaled back."""
    h, w = img.shape[:2]
    work = img
    if rng.random() < 0.35:
        f = rng.uniform(0.5, 0.8)
        work = cv2.resize(img, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)
    ycc = cv2.cvtColor(work, cv2.COLOR_RGB2YCrCb)
    hh, ww = ycc.shape[:2]
    chroma = cv2.resize(ycc[..., 1:], (max(1, ww // 2), max(1, hh // 2)), interpolation=cv2.INTER_AREA)
    ycc[..., 1:] = cv2.resize(chroma, (ww, hh), interpolation=cv2.INTER_LINEAR)
    y = ycc[..., 0].astype(np.float32)
    blocks = cv2.resize(cv2.resize(y, (max(1, ww // 8), max(1, hh // 8)), interpolation=cv2.INTER_AREA), (ww, hh),
                        interpolation=cv2.INTER_NEAREST)  # fmt: skip
    y = (1 - (a := rng.uniform(0.03, 0.15))) * cv2.GaussianBlur(y, (0, 0), rng.uniform(0.4, 0.9)) + a * blocks
    ycc[..., 0] = np.clip(y + 0.5, 0, 255).astype(np.uint8)
    out = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR) if out.shape[:2] != (h, w) else out


def compress(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """None (25 %), JPEG 40-95, H.264-like, or DICOM-like JPEG with 4:2:2 chroma; ``(h, w, 3) uint8``."""
    kind = str(rng.choice(["none", "jpeg", "h264", "dicom_jpeg"], p=[0.25, 0.35, 0.25, 0.15]))
    if kind == "jpeg":
        q = int(rng.integers(40, 96))
        return _jpeg(img, q), {"kind": kind, "quality": q}
    if kind == "h264":
        return _h264_like(img, rng), {"kind": kind}
    if kind == "dicom_jpeg":
        q = int(rng.integers(70, 96))
        return _jpeg(img, q, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422), {"kind": kind, "quality": q}
    return img, {"kind": kind}


def to_sample(img: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Letterbox the picture ``(h, w, 3) uint8`` and its mask ``(h, w) uint8 {0, 1}`` to ``size``."""
    boxed, _ = letterbox(img[None], size)
    mboxed, _ = letterbox((mask * 255).astype(np.uint8)[None, :, :, None], size)
    return boxed[0], (mboxed[0, :, :, 0] >= 128).astype(np.uint8)
