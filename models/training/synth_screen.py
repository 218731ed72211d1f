"""The scanner around a synthetic picture: the screen's layout, its panels and text, the colour bar, depth
scale and burned-in marks, the file's compression, and the picture cut as the pipeline cuts it.

Part of the training generator (``models.training.synth``, whose docstring gives the ranges and their
sources); every function draws from the frame's own random generator, in the generator's order.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

__all__ = ["compress", "layout", "picture_crop", "screen"]


_CHARS = list("ABCDEFGHKLMNPRSTUVXZ0123456789 .%:-/")


def _text(rng: np.random.Generator, length: tuple[int, int]) -> str:
    return "".join(rng.choice(_CHARS, int(rng.integers(*length))))


def _chrome_over_picture(rng, screen: np.ndarray, top: int, left: int, ih: int, iw: int, scale: float) -> None:
    """Burned-in marks over the picture: calipers, an arrow, a typed label, orientation and body markers."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    palette = [(255, 255, 0), (255, 255, 255), (0, 255, 0), (255, 200, 0), (0, 220, 255)]
    col = tuple(int(c) for c in palette[int(rng.integers(len(palette)))])
    size = max(3, int(5 * scale))
    if rng.random() < 0.4:  # calipers with a dotted line between them
        a = (int(left + rng.uniform(0.1, 0.9) * iw), int(top + rng.uniform(0.1, 0.9) * ih))
        b = (int(left + rng.uniform(0.1, 0.9) * iw), int(top + rng.uniform(0.1, 0.9) * ih))
        for c in (a, b):
            cv2.line(screen, (c[0] - size, c[1]), (c[0] + size, c[1]), col, 1)
            cv2.line(screen, (c[0], c[1] - size), (c[0], c[1] + size), col, 1)
        n = max(2, int(np.hypot(b[0] - a[0], b[1] - a[1]) / max(3, 4 * scale)))
        for t in np.linspace(0, 1, n)[1:-1]:
            q = (int(a[0] + t * (b[0] - a[0])), int(a[1] + t * (b[1] - a[1])))
            cv2.circle(screen, q, max(1, int(scale)), col, -1)
    if rng.random() < 0.25:  # an arrow
        tip = (int(left + rng.uniform(0.1, 0.9) * iw), int(top + rng.uniform(0.1, 0.9) * ih))
        ang, length = rng.uniform(0, 2 * np.pi), rng.uniform(12, 40) * scale
        tail = (int(tip[0] + length * np.cos(ang)), int(tip[1] + length * np.sin(ang)))
        cv2.arrowedLine(screen, tail, tip, col, max(1, int(scale)), tipLength=0.35)
    if rng.random() < 0.3:  # a typed label
        org = (int(left + rng.uniform(0.0, 0.7) * iw), int(top + rng.uniform(0.1, 0.95) * ih))
        cv2.putText(screen, _text(rng, (3, 14)), org, font, 0.4 * scale, col, max(1, int(scale)), cv2.LINE_AA)
    if rng.random() < 0.5:  # orientation mark
        cv2.circle(screen, (left + int(6 * scale), top + int(6 * scale)), max(2, int(3 * scale)), (200, 200, 200), -1)
    if rng.random() < 0.3:  # body marker: a small outline with a probe bar
        cx, cy = left + int(rng.uniform(0.75, 0.95) * iw), top + int(rng.uniform(0.75, 0.95) * ih)
        cv2.ellipse(screen, (cx, cy), (int(10 * scale), int(14 * scale)), 0, 0, 360, (220, 220, 220), 1)
        cv2.line(screen, (cx - int(8 * scale), cy), (cx + int(8 * scale), cy - int(4 * scale)), (255, 255, 0), 2)


def screen(
    rng: np.random.Generator,
    picture: np.ndarray,
    tendon: np.ndarray,
    p: dict,
    layout: dict,
    colour_bar: Callable[[np.ndarray, dict], np.ndarray],
):
    """Put the picture on a scanner screen with its panels, text, colour bar and depth scale: ``(screen, mask)``.

    ``colour_bar(ramp, p)`` gives the bar's colours for the ramp ``(n,)`` from 1 to -1 down the bar."""
    sh, sw = layout["screen"]
    top, left = layout["top"], layout["left"]
    ih, iw = picture.shape[:2]
    scale = sh / 480
    bg = [(0, 0, 0), (0, 0, 0), (0, 0, 0), (18, 24, 48), (28, 28, 28)][int(rng.integers(5))]
    canvas = np.empty((sh, sw, 3), np.uint8)
    canvas[:] = bg
    mask = np.zeros((sh, sw), np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    if layout["header"] > 0:  # banner
        shade = tuple(int(c) for c in rng.integers(30, 90, 3))
        canvas[: layout["header"]] = shade
    for _ in range(int(rng.integers(2, 10))):  # parameter text in the margins and panels
        org = (int(rng.uniform(0, 0.85) * sw), int(rng.choice([rng.uniform(8, max(9, top)), rng.uniform(top, sh)])))
        grey = int(rng.uniform(150, 255))
        cv2.putText(canvas, _text(rng, (3, 12)), org, font, rng.uniform(0.3, 0.5) * scale, (grey,) * 3, 1, cv2.LINE_AA)
    canvas[top : top + ih, left : left + iw] = np.clip(picture, 0, 255).astype(np.uint8)
    mask[top : top + ih, left : left + iw] = tendon
    if p["doppler"] != "none":  # colour bar beside the picture, with labels
        bar_h, bar_w = int(rng.uniform(40, 120) * scale), max(3, int(rng.uniform(4, 10) * scale))
        right = rng.random() < 0.6
        bx = left + iw + int(6 * scale) if right else left - bar_w - int(6 * scale)
        bx = int(np.clip(bx, 0, sw - bar_w))
        by = int(np.clip(top + rng.uniform(0, 0.3) * ih, 0, max(0, sh - bar_h)))
        ramp = np.linspace(1, -1, bar_h, dtype=np.float32)
        bar = np.clip(colour_bar(ramp, p), 0, 255).astype(np.uint8)[: sh - by]
        canvas[by : by + len(bar), bx : bx + bar_w] = bar[:, None, :]
        label = (int(np.clip(bx - 4 * scale, 0, sw - 10)), int(max(8, by - 3)))
        cv2.putText(canvas, _text(rng, (2, 6)), label, font, 0.3 * scale, (220, 220, 220), 1, cv2.LINE_AA)
    ticks_x = left + iw + 2 if rng.random() < 0.7 else left - 5  # depth scale
    ticks_x = int(np.clip(ticks_x, 0, sw - 5))
    for k, y in enumerate(np.linspace(top, top + ih - 1, int(rng.integers(4, 11)))):
        cv2.line(canvas, (ticks_x, int(y)), (ticks_x + (4 if k % 2 else 2), int(y)), (200, 200, 200), 1)
        if k % 2 == 0 and rng.random() < 0.7:
            cv2.putText(canvas, str(k), (min(sw - 8, ticks_x + 6), int(y) + 3), font, 0.3 * scale, (200,) * 3, 1)
    if rng.random() < 0.6:  # focus marker
        fy = int(top + rng.uniform(0.1, 0.8) * ih)
        fx = int(np.clip(left - 6, 0, sw - 6))
        cv2.fillPoly(canvas, [np.array([[fx, fy - 3], [fx + 5, fy], [fx, fy + 3]], np.int32)], (230, 230, 230))
    if layout["box"] is not None:
        outline = (200, 200, 200) if rng.random() < 0.5 else (255, 255, 255)
        corners = layout["box"] + np.array([left, top], np.int32)
        cv2.polylines(canvas, [corners], True, outline, 1)
    _chrome_over_picture(rng, canvas, top, left, ih, iw, scale)
    return canvas, mask


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - cv2 always encodes uint8 RGB
        return img
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def _subsample_chroma(img: np.ndarray, fy: int, fx: int) -> np.ndarray:
    ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)
    h, w = img.shape[:2]
    small = cv2.resize(ycc[..., 1:], (max(1, w // fx), max(1, h // fy)), interpolation=cv2.INTER_AREA)
    ycc[..., 1:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)


def compress(rng: np.random.Generator, img: np.ndarray, p: dict) -> np.ndarray:
    """PNG (lossless), JPEG, H.264-like video or DICOM JPEG baseline (YBR_FULL_422)."""
    kind = str(rng.choice(["png", "jpeg", "h264", "dicom_jpeg"], p=[0.2, 0.35, 0.3, 0.15]))
    p["compression"] = kind
    if kind == "png":
        return img
    if kind == "jpeg":
        return _jpeg(img, int(rng.integers(40, 96)))
    if kind == "dicom_jpeg":
        return _jpeg(_subsample_chroma(img, 1, 2), int(rng.integers(75, 96)))
    h, w = img.shape[:2]
    if rng.random() < 0.3:  # encoded at a lower resolution, shown scaled up
        f = rng.uniform(0.5, 0.85)
        img = cv2.resize(img, (max(16, int(w * f)), max(16, int(h * f))), interpolation=cv2.INTER_AREA)
    img = _subsample_chroma(img, 2, 2)
    img = _jpeg(img, int(rng.integers(20, 60)))
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 0.8))  # deblocking filter
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR) if img.shape[:2] != (h, w) else img


def picture_crop(rng: np.random.Generator, screen: np.ndarray, mask: np.ndarray, layout: dict):
    """The picture's rectangle of ``screen`` and ``mask``, each side moved outward by up to 4 % or inward
    by up to 3 % of the picture's size (how far the pipeline's picture finder may be off)."""
    sh, sw = screen.shape[:2]
    ih, iw = layout["picture"]
    top, left = layout["top"], layout["left"]
    dy = (rng.uniform(-0.04, 0.03, 2) * ih).astype(int)
    dx = (rng.uniform(-0.04, 0.03, 2) * iw).astype(int)
    y0, y1 = max(0, top + dy[0]), min(sh, top + ih - dy[1])
    x0, x1 = max(0, left + dx[0]), min(sw, left + iw - dx[1])
    return screen[y0:y1, x0:x1], mask[y0:y1, x0:x1]


def layout(rng: np.random.Generator, sh: int) -> dict:
    """Where the picture sits on a screen ``sh`` px high, and the screen's width, banner and panels."""
    aspect = rng.uniform(1.0, 1.9) if rng.random() < 0.85 else rng.uniform(0.7, 1.0)
    sw = int(sh * aspect)
    header = int(rng.uniform(0.0, 0.12) * sh) if rng.random() < 0.6 else 0
    footer = int(rng.uniform(0.0, 0.08) * sh)
    lpanel = int(rng.uniform(0.0, 0.2) * sw) if rng.random() < 0.5 else int(0.02 * sw)
    rpanel = int(rng.uniform(0.0, 0.2) * sw) if rng.random() < 0.5 else int(0.04 * sw)
    ah, aw = sh - header - footer, max(32, sw - lpanel - rpanel)
    ih = max(48, int(ah * rng.uniform(0.75, 1.0)))
    iw = max(32, int(min(aw, ih * rng.uniform(0.7, 1.6))))
    top = header + int(rng.integers(0, max(1, ah - ih + 1)))
    left = lpanel + int(rng.integers(0, max(1, aw - iw + 1)))
    return {"screen": (sh, sw), "picture": (ih, iw), "top": top, "left": min(left, sw - iw), "header": header}
