"""Screen furniture over the picture: labels, arrows, calipers, focus marker, depth ticks, borders, letterbox.

Why: frames come from screen captures and exports where the picture crop may be off by a few percent per
side (0-6 % black or panel rows/columns), annotations sit on the tissue, and some exports letterbox the
picture. Opaque borders and panels hide tissue, so the mask is cleared under them; thin annotations are
drawn over the tendon without changing the label (the tendon is still there).
"""

from __future__ import annotations

import cv2
import numpy as np

_COLOURS = [(255, 255, 255), (230, 230, 90), (90, 230, 90), (200, 200, 200)]
_WORDS = ["ACH", "L", "R", "LONG", "TRANS", "PT", "CEO", "SAG", "Dist", "MSK", "12L", "FR 28", "G 54", "D 3.0"]


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """One of the usual annotation colours (white, yellow, green, grey)."""
    return _COLOURS[int(rng.integers(len(_COLOURS)))]


def _annotations(rng: np.random.Generator, img: np.ndarray) -> list[str]:
    """Text, arrows and calipers at random places, in place on ``img`` ``(H, W, 3) uint8``."""
    h, w = img.shape[:2]
    s = max(h, w) / 256
    drawn = []
    for _ in range(int(rng.integers(0, 3))):
        org = (int(rng.uniform(0, 0.8) * w), int(rng.uniform(0.08, 1) * h))
        word = _WORDS[int(rng.integers(len(_WORDS)))]
        cv2.putText(img, word, org, cv2.FONT_HERSHEY_SIMPLEX, 0.35 * s * rng.uniform(0.8, 1.5), _colour(rng), 1)
        drawn.append("text")
    if rng.random() < 0.2:
        p0 = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        p1 = p0 + rng.normal(0, 20 * s, 2)
        cv2.arrowedLine(img, tuple(int(v) for v in p0), tuple(int(v) for v in p1), _colour(rng), 1, tipLength=0.3)
        drawn.append("arrow")
    if rng.random() < 0.3:
        col = _colour(rng)
        p0 = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        p1 = p0 + rng.normal(0, 30 * s, 2)
        for p in (p0, p1):
            cv2.drawMarker(img, tuple(int(v) for v in p), col, cv2.MARKER_CROSS, int(7 * s), 1)
        for t in np.linspace(0, 1, int(np.linalg.norm(p1 - p0) / (4 * s)) + 1):
            q = p0 + (p1 - p0) * t
            cv2.circle(img, (int(q[0]), int(q[1])), 0, col, -1)
        drawn.append("caliper")
    return drawn


def _side_marks(rng: np.random.Generator, img: np.ndarray) -> list[str]:
    """Depth ticks and a focus marker (triangle) at the left or right edge, in place."""
    h, w = img.shape[:2]
    drawn = []
    x = int(rng.uniform(0.0, 0.03) * w) if rng.random() < 0.5 else int(rng.uniform(0.96, 1.0) * w) - 4
    if rng.random() < 0.4:
        for y in np.arange(rng.uniform(0, 0.1) * h, h, rng.uniform(0.08, 0.2) * h):
            cv2.line(img, (x, int(y)), (x + 3, int(y)), (210, 210, 210), 1)
        drawn.append("ticks")
    if rng.random() < 0.3:
        y = int(rng.uniform(0.2, 0.8) * h)
        tri = np.array([[x, y - 3], [x, y + 3], [x + 4, y]], np.int32)
        cv2.fillPoly(img, [tri], (220, 220, 220))
        drawn.append("focus")
    return drawn


def _borders(rng: np.random.Generator, img: np.ndarray, mask: np.ndarray) -> list[int]:
    """Black (or dark panel) rows/columns at the edges, 0-6 % per side; clears the mask under them."""
    h, w = mask.shape
    cut = [int(rng.uniform(0, 0.06) * n) if rng.random() < 0.35 else 0 for n in (h, h, w, w)]
    grey = int(rng.choice([0, 0, 0, 20, 40]))
    top, bottom, left, right = cut
    for sl in (np.s_[:top], np.s_[h - bottom :], np.s_[:, :left], np.s_[:, w - right :]):
        if img[sl].size:
            img[sl] = grey
            mask[sl] = 0
    return cut


def _letterbox(rng: np.random.Generator, img: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shrink the picture by 60-95 % along one axis and centre it on black (an export that keeps the aspect)."""
    h, w = mask.shape
    f = rng.uniform(0.6, 0.95)
    nh, nw = (int(h * f), w) if rng.random() < 0.5 else (h, int(w * f))
    y0, x0 = (h - nh) // 2, (w - nw) // 2
    out, m = np.zeros_like(img), np.zeros_like(mask)
    out[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    m[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(mask, (nw, nh), interpolation=cv2.INTER_NEAREST)
    return out, m


def add_overlays(rng: np.random.Generator, img: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Apply all overlays to ``img`` ``(H, W, 3) uint8`` and ``mask`` ``(H, W) uint8``; returns new copies."""
    img, mask = img.copy(), mask.copy()
    info: dict = {"marks": _annotations(rng, img) + _side_marks(rng, img)}
    info["border_px"] = _borders(rng, img, mask)
    info["letterbox"] = bool(rng.random() < 0.08)
    if info["letterbox"]:
        img, mask = _letterbox(rng, img, mask)
    return img, mask, info
