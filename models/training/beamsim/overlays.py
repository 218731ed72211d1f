"""Scanner graphics drawn over the picture: calipers, arrows, text labels, focus marker, depth ticks."""

from __future__ import annotations

import cv2
import numpy as np

LABELS = ("ACHILLES LONG", "ACHILLES TRV", "R ELBOW", "L ELBOW", "CEO", "PATELLAR T", "L KNEE", "PF ORIGIN",
          "SUPRASPINATUS", "R SHOULDER", "MSK", "HEEL", "LONG", "TRANS", "LAT EPICONDYLE", "PROX")  # fmt: skip
TEXT_COLOURS = ((240, 240, 240), (230, 230, 60), (60, 220, 90))


def _mark(img: np.ndarray, p: tuple[int, int], size: int, colour: tuple, cross: bool) -> None:
    x, y = p
    if cross:
        cv2.line(img, (x - size, y - size), (x + size, y + size), colour, 1)
        cv2.line(img, (x - size, y + size), (x + size, y - size), colour, 1)
    else:
        cv2.line(img, (x - size, y), (x + size, y), colour, 1)
        cv2.line(img, (x, y - size), (x, y + size), colour, 1)


def calipers(img: np.ndarray, rng: np.random.Generator) -> None:
    """A pair of + or x marks with a dotted line between them."""
    h, w = img.shape[:2]
    colour = TEXT_COLOURS[int(rng.integers(3))]
    a = (int(rng.uniform(0.1, 0.9) * w), int(rng.uniform(0.1, 0.9) * h))
    bx = np.clip(a[0] + rng.normal(0, 0.1) * w, 0, w - 1)
    b = (int(bx), int(np.clip(a[1] + rng.uniform(-0.3, 0.3) * h, 0, h - 1)))
    size, cross = max(3, h // 80), bool(rng.random() < 0.5)
    _mark(img, a, size, colour, cross)
    _mark(img, b, size, colour, cross)
    n = max(2, int(np.hypot(b[0] - a[0], b[1] - a[1]) / 5))
    for p in np.linspace(a, b, n)[1:-1].astype(int):
        img[min(p[1], h - 1), min(p[0], w - 1)] = colour


def text(img: np.ndarray, rng: np.random.Generator) -> None:
    """A typed label in white, yellow or green, near a corner or edge."""
    h, w = img.shape[:2]
    scale = h / 700 * rng.uniform(0.8, 1.4)
    label = str(rng.choice(LABELS))
    org = (int(rng.uniform(0.02, 0.5) * w), int(rng.choice([rng.uniform(0.05, 0.12), rng.uniform(0.9, 0.97)]) * h))
    cv2.putText(img, label, org, cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_COLOURS[int(rng.integers(3))], 1, cv2.LINE_AA)


def arrow(img: np.ndarray, rng: np.random.Generator) -> None:
    """A short annotation arrow."""
    h, w = img.shape[:2]
    tip = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h])
    ang = rng.uniform(0, 2 * np.pi)
    tail = tip + np.array([np.cos(ang), np.sin(ang)]) * h * rng.uniform(0.05, 0.12)
    colour = TEXT_COLOURS[int(rng.integers(3))]
    cv2.arrowedLine(img, tuple(int(v) for v in tail), tuple(int(v) for v in tip), colour, 1, cv2.LINE_AA, 0, 0.35)


def focus_marker(img: np.ndarray, rng: np.random.Generator, focus_frac: float) -> None:
    """A small triangle at the picture's side at the focal depth."""
    h, w = img.shape[:2]
    y, s = int(focus_frac * h), max(3, h // 90)
    x = w - 2 if rng.random() < 0.7 else 1
    d = -1 if x > w // 2 else 1
    pts = np.array([[x, y - s], [x, y + s], [x + d * s * 1.5, y]], np.int32)
    cv2.fillPoly(img, [pts], (220, 220, 220) if rng.random() < 0.6 else (230, 230, 60))


def depth_ticks(img: np.ndarray, rng: np.random.Generator, depth_mm: float) -> None:
    """Ticks every 5 mm (longer every 10 mm) along the left or right edge."""
    h, w = img.shape[:2]
    left = rng.random() < 0.4
    grey = int(rng.uniform(150, 240))
    for mm in np.arange(5, depth_mm, 5):
        y = int(mm / depth_mm * h)
        n = 6 if mm % 10 == 0 else 3
        x0, x1 = (0, n) if left else (w - 1 - n, w - 1)
        cv2.line(img, (x0, y), (x1, y), (grey, grey, grey), 1)


def draw_overlays(img: np.ndarray, rng: np.random.Generator, depth_mm: float, focus_frac: float) -> list[str]:
    """Draw a random subset of the scanner graphics in place on ``img`` ``(Hp, Wp, 3) uint8 RGB``."""
    drawn = []
    for name, p in (("calipers", 0.2), ("arrow", 0.1), ("text", 0.35), ("focus", 0.3), ("ticks", 0.3)):
        if rng.random() >= p:
            continue
        drawn.append(name)
        if name == "calipers":
            calipers(img, rng)
        elif name == "arrow":
            arrow(img, rng)
        elif name == "text":
            text(img, rng)
        elif name == "focus":
            focus_marker(img, rng, focus_frac)
        else:
            depth_ticks(img, rng, depth_mm)
    return drawn
