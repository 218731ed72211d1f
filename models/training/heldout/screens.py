"""Scanner screens of the held-out family: where the picture sits and what is drawn around and over it.

Five vendor-like layouts (no real vendor's): a header banner with the picture centred and the colour bar
to its left; a parameter side panel on the left or the right; a dark blue interface with a rounded
panel; a minimal black screen with text over the picture's corners; a double header with a status strip
at the bottom. Around the picture: depth scale ticks and labels (left or right edge), a focus marker,
parameter text, the colour bar with its scale labels (left or right of the picture), a body marker;
over it: the Doppler box outline (a rectangle, or a steered parallelogram), an orientation mark, and in
some cases calipers with a dotted line and a measurement, an arrow or a typed label. Screens are 480x640
to 1080x1920.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["LAYOUTS", "SIZES", "Screen", "box_polygon", "draw_screen", "render"]

SIZES = ((480, 640), (600, 800), (768, 1024), (720, 1280), (864, 1152), (1080, 1440), (1080, 1920))
LAYOUTS = ("banner", "side_panel", "dark_blue", "minimal", "double_header")
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL)
_PROBES = ("L12-4", "L18-5", "ML6-15", "L15-7io", "14L5", "LA523", "HL9.0")


@dataclass
class Screen:
    """A screen's geometry: its size, the picture rectangle (x0, y0, x1, y1, exclusive) and the colour bar's."""

    layout: str
    size: tuple[int, int]
    picture: tuple[int, int, int, int]
    bar: tuple[int, int, int, int]
    bar_side: str
    scale_side: str
    panel: tuple[int, int] | None  # x0, x1 of a parameter side panel
    background: tuple[int, int, int]
    text_colour: tuple[int, int, int]
    font: int
    scale: float  # text scale for this screen size


def draw_screen(rng: np.random.Generator, aspect: float) -> Screen:
    """A layout and size, and a picture of about ``aspect`` (width / height) placed in it with room for
    the depth scale, the colour bar and their labels beside it."""
    layout = str(rng.choice(LAYOUTS))
    height, width = SIZES[int(rng.integers(len(SIZES)))]
    unit = height / 600
    header = int(height * rng.uniform(0.06, 0.1)) if layout in ("banner", "double_header", "dark_blue") else 0
    footer = int(height * rng.uniform(0.04, 0.07)) if layout == "double_header" else 0
    panel_w = int(width * rng.uniform(0.14, 0.22)) if layout in ("side_panel", "dark_blue") else 0
    panel_left = bool(rng.random() < 0.7)
    bar_side = str(rng.choice(["left", "right"]))
    bar_w = max(6, int(rng.uniform(8, 18) * unit))
    gap = int(rng.uniform(10, 40) * unit)
    beside = gap + bar_w + int(60 * unit)  # the bar and its labels
    scale_room = int(35 * unit)
    x_lo = (panel_w if panel_left else 0) + scale_room + (beside if bar_side == "left" else 0)
    x_hi = width - (0 if panel_left else panel_w) - scale_room - (beside if bar_side == "right" else 0)
    room_h = height - header - footer - int(30 * unit)
    ph = int(room_h * rng.uniform(0.8, 0.97))
    pw = int(min(ph * aspect, x_hi - x_lo))
    ph = int(min(ph, pw / aspect * 1.05))
    x0 = x_lo + int(rng.uniform(0, 1) * max(x_hi - x_lo - pw, 0))
    y0 = header + int(10 * unit) + int(rng.uniform(0, 1) * max(room_h - ph, 0) * 0.5)
    picture = (x0, y0, x0 + pw, y0 + ph)
    bar_h = int(ph * rng.uniform(0.2, 0.4))
    bx0 = x0 - gap - bar_w if bar_side == "left" else x0 + pw + gap
    by0 = y0 + int(rng.uniform(0.05, 0.15) * ph)
    bar = (bx0, by0, bx0 + bar_w, by0 + bar_h)
    panel = None if not panel_w else ((0, panel_w) if panel_left else (width - panel_w, width))
    background = {"dark_blue": (8, 18, 40)}.get(layout, (0, 0, 0))
    if layout == "banner" and rng.random() < 0.5:
        background = (12, 12, 12)
    text = tuple(int(v) for v in rng.choice([(230, 230, 230), (200, 200, 200), (170, 190, 210), (240, 240, 190)]))
    return Screen(
        layout, (height, width), picture, bar, bar_side, "left" if bar_side == "right" else "right", panel,
        background, text, int(rng.choice(_FONTS)), 0.45 * unit * rng.uniform(0.8, 1.2),
    )  # fmt: skip


def box_polygon(rng: np.random.Generator, picture_size: tuple[int, int], target: np.ndarray) -> np.ndarray:
    """The Doppler box in picture pixels, ``(4, 2) int32`` corners: usually placed over ``target`` (where
    a sonographer would put it), sometimes anywhere; a rectangle or a parallelogram steered 10-25 deg."""
    h, w = picture_size
    bw, bh = int(w * rng.uniform(0.35, 0.9)), int(h * rng.uniform(0.3, 0.75))
    ys, xs = np.nonzero(target)
    if len(xs) and rng.random() < 0.85:
        cx, cy = xs.mean() + rng.normal(0, 0.1) * bw, ys.mean() + rng.normal(0, 0.1) * bh
    else:
        cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    steer = np.radians(rng.uniform(10, 25)) * rng.choice([-1, 1]) if rng.random() < 0.3 else 0.0
    shift = round(bh * np.tan(steer))
    x0 = int(np.clip(cx - bw / 2, 2 + max(-shift, 0), w - 3 - bw - max(shift, 0)))
    y0 = int(np.clip(cy - bh / 2, 2, h - 3 - bh))
    return np.array([[x0, y0], [x0 + bw, y0], [x0 + bw + shift, y0 + bh], [x0 + shift, y0 + bh]], np.int32)


def _text(canvas, text: str, at: tuple[int, int], screen: Screen, scale: float = 1.0, colour=None) -> None:
    thick = max(1, round(screen.scale * scale * 2))
    cv2.putText(canvas, text, at, screen.font, screen.scale * scale, colour or screen.text_colour, thick, cv2.LINE_AA)


def _bar(canvas, screen: Screen, lut: np.ndarray, signed: bool, rng) -> None:
    x0, y0, x1, y1 = screen.bar
    ramp = lut[::-1][np.linspace(0, 255, y1 - y0).astype(int)]  # the top of the bar is the high end
    canvas[y0:y1, x0:x1] = ramp[:, None, :]
    label_x = x1 + 4 if screen.bar_side == "right" else max(0, x0 - int(55 * screen.scale / 0.45))
    if signed:
        speed = f"{rng.uniform(2, 25):.1f}"
        _text(canvas, f"+{speed}", (label_x, y0 + 10), screen, 0.8)
        _text(canvas, f"-{speed}", (label_x, y1), screen, 0.8)
        _text(canvas, "cm/s", (label_x, y1 + int(18 * screen.scale / 0.45)), screen, 0.7)
        canvas[(y0 + y1) // 2, x0 - 3 : x1 + 3] = (160, 160, 160)  # the baseline mark
    else:
        _text(canvas, str(rng.choice(["PD", "PDI", "Power", "Angio", "SMI"])), (label_x, y0 - 6), screen, 0.8)


def _scale(canvas, screen: Screen, depth_mm: float, focus_mm: float) -> None:
    """Depth ticks every 5 mm (longer each cm, labelled in cm) beside the picture, and the focus mark."""
    x0, y0, x1, y1 = screen.picture
    edge = x1 + 4 if screen.scale_side == "right" else x0 - 5
    step = (y1 - y0) / depth_mm
    for mm in range(0, int(depth_mm) + 1, 5):
        y = int(y0 + mm * step)
        long = mm % 10 == 0
        length = 8 if long else 4
        dx = length if screen.scale_side == "right" else -length
        cv2.line(canvas, (edge, y), (edge + dx, y), screen.text_colour, 1)
        if long and mm:
            at = (edge + dx + 3, y + 4) if screen.scale_side == "right" else (edge + dx - 16, y + 4)
            _text(canvas, str(mm // 10), at, screen, 0.7)
    fy = int(y0 + focus_mm * step)
    tip = edge + (14 if screen.scale_side == "right" else -14)
    tri = np.array([[tip, fy], [tip + (6 if screen.scale_side == "right" else -6), fy - 4],
                    [tip + (6 if screen.scale_side == "right" else -6), fy + 4]], np.int32)  # fmt: skip
    cv2.fillPoly(canvas, [tri], screen.text_colour)


def _chrome(canvas, screen: Screen, rng, meta: dict) -> None:
    """Banners, panels and parameter text, by layout."""
    h, w = screen.size
    s = screen.scale / 0.45
    probe, depth = str(rng.choice(_PROBES)), meta["depth_mm"]
    lines = [
        f"{'CF' if meta['signed'] else 'PD'}  {rng.uniform(4, 9):.1f}MHz",
        f"Gn {int(rng.uniform(30, 70))}",
        f"PRF {int(rng.choice([400, 500, 600, 800, 1000]))}Hz",
        f"WF {int(rng.choice([25, 40, 50, 60]))}Hz",
        f"D {depth / 10:.1f}cm",
        f"DR {int(rng.uniform(45, 80))}",
        f"FR {int(rng.uniform(8, 30))}Hz",
    ]
    x1, y1 = screen.picture[2:]
    if screen.layout in ("banner", "double_header", "dark_blue"):
        top = int(screen.picture[1] - 10 * s)
        colour = {"banner": (45, 45, 45), "double_header": (25, 30, 35), "dark_blue": (20, 40, 80)}[screen.layout]
        canvas[: max(top, 4)] = colour
        _text(canvas, f"MSK  {probe}  Tendon", (int(10 * s), int(top * 0.6)), screen, 1.1)
        _text(
            canvas,
            f"MI {rng.uniform(0.3, 1.3):.1f}  TIs {rng.uniform(0.1, 0.8):.1f}",
            (int(w * 0.6), int(top * 0.6)),
            screen,
        )
        if screen.layout == "double_header":
            _text(canvas, "  ".join(lines[:4]), (int(10 * s), int(top * 0.95)), screen, 0.8)
            canvas[h - int(24 * s) :] = (30, 30, 30)
            _text(canvas, "Frz   Cine  1/1", (int(10 * s), h - int(7 * s)), screen, 0.8)
    if screen.panel is not None:
        px0, px1 = screen.panel
        panel = np.array([40, 44, 52]) if screen.layout == "side_panel" else np.array([16, 34, 70])
        shade = np.linspace(1.0, 0.6, h)[:, None, None]
        canvas[:, px0:px1] = (panel * shade).astype(np.uint8)
        for i, line in enumerate(lines):
            _text(canvas, line, (px0 + int(8 * s), int((60 + 28 * i) * s)), screen, 0.9)
        _body_marker(canvas, (px0 + int(30 * s), h - int(80 * s)), s, screen.text_colour)
    else:  # parameters in the margin under the colour bar's side
        side_x = 4 if screen.bar_side == "left" else min(x1 + int(40 * s), w - int(90 * s))
        for i, line in enumerate(lines[: 4 if screen.layout == "minimal" else 6]):
            _text(canvas, line, (side_x, int(y1 - (130 - 22 * i) * s)), screen, 0.8)


def _body_marker(canvas, at: tuple[int, int], s: float, colour) -> None:
    """A small leg-and-foot pictogram with the probe as a bar."""
    x, y = at
    pts = np.array([[x, y - 30 * s], [x, y], [x + 25 * s, y + 8 * s], [x + 28 * s, y + 2 * s], [x + 8 * s, y - 4 * s],
                    [x + 8 * s, y - 30 * s]], np.int32)  # fmt: skip
    cv2.polylines(canvas, [pts], True, colour, 1, cv2.LINE_AA)
    cv2.line(canvas, (int(x - 6 * s), int(y - 12 * s)), (int(x - 6 * s), int(y - 2 * s)), (250, 250, 120), 2)


def _overlays(screen: Screen, box: np.ndarray, tendon: np.ndarray, rng, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """Marks drawn over the picture: ``(H, W, 3) uint8`` colours and ``(H, W) bool`` where they are."""
    h, w = screen.size
    x0, y0, x1, y1 = screen.picture
    layer = np.zeros((h, w, 3), np.uint8)
    s = screen.scale / 0.45
    grey = int(rng.uniform(170, 255))
    corners = box + np.array([x0, y0], np.int32)
    cv2.polylines(layer, [corners], True, (grey, grey, grey), max(1, round(rng.uniform(1, 2) * s * 0.7)))
    cv2.circle(layer, (x0 + int(10 * s), y0 + int(10 * s)), max(2, int(4 * s)), screen.text_colour, -1)  # orientation
    if screen.layout == "minimal":
        _text(layer, f"{meta['depth_mm'] / 10:.1f}cm", (x1 - int(70 * s), y1 - int(8 * s)), screen, 0.8)
    if rng.random() < 0.3:
        _calipers(layer, screen, tendon, rng, s)
    if rng.random() < 0.12:
        tip = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
        tail = (tip + np.array([40 * s, -30 * s])).astype(int)
        cv2.arrowedLine(layer, tuple(tail), tuple(tip.astype(int)), (240, 240, 240), max(1, int(2 * s)), tipLength=0.3)
    if rng.random() < 0.3:
        label = f"{rng.choice(['R', 'L'])} {meta['kind'].replace('_', ' ').upper()} {rng.choice(['LONG', 'TRANS', ''])}"
        _text(layer, label.strip(), (x0 + int(rng.uniform(10, 60) * s), y1 - int(20 * s)), screen, 0.9, (235, 235, 235))
    return layer, layer.any(axis=2)


def _calipers(layer, screen: Screen, tendon: np.ndarray, rng, s: float) -> None:
    """Two '+' marks with a dotted line and a distance label, across the tendon half of the time."""
    x0, y0, x1, y1 = screen.picture
    ys, xs = np.nonzero(tendon)
    if len(xs) and rng.random() < 0.5:
        col = int(rng.choice(xs))
        rows = ys[xs == col]
        a, b = (x0 + col, y0 + int(rows.min())), (x0 + col, y0 + int(rows.max()))
    else:
        a = (int(rng.uniform(x0, x1)), int(rng.uniform(y0, y1)))
        b = (
            int(np.clip(a[0] + rng.normal(0, 60 * s), x0, x1 - 1)),
            int(np.clip(a[1] + rng.normal(0, 60 * s), y0, y1 - 1)),
        )
    colour = tuple(int(v) for v in rng.choice([(240, 240, 240), (90, 230, 90), (250, 230, 60)]))
    n = max(2, int(np.hypot(b[0] - a[0], b[1] - a[1]) / (6 * s)))
    for t in np.linspace(0, 1, n)[1:-1]:
        cv2.circle(layer, (int(a[0] + t * (b[0] - a[0])), int(a[1] + t * (b[1] - a[1]))), 1, colour, -1)
    for p in (a, b):
        cv2.drawMarker(layer, p, colour, cv2.MARKER_CROSS, int(10 * s), 1)
    _text(layer, f"D {rng.uniform(2, 12):.1f}mm", (x0 + int(12 * s), y0 + int(40 * s)), screen, 0.8, colour)


def render(screen: Screen, box: np.ndarray, tendon: np.ndarray, lut: np.ndarray, rng, meta: dict):
    """The static parts of a screen: ``(canvas (H, W, 3) uint8, overlay (H, W, 3) uint8, covered (H, W) bool)``.

    A frame is the canvas with the picture pasted into ``screen.picture`` and the overlay drawn on top
    where ``covered``.
    """
    h, w = screen.size
    canvas = np.empty((h, w, 3), np.uint8)
    canvas[:] = screen.background
    _chrome(canvas, screen, rng, meta)
    _bar(canvas, screen, lut, meta["signed"], rng)
    _scale(canvas, screen, meta["depth_mm"], meta["focus_mm"])
    overlay, covered = _overlays(screen, box, tendon, rng, meta)
    return canvas, overlay, covered
