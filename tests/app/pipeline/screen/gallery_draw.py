"""How a gallery screen is drawn (``gallery.py`` lists the screens): colour maps, the layout types, the
canvas at a design size of 480x640 scaled to the screen asked for, speckle, outlines, flow, bars, banners,
text and marks, the encodings, and the truth a parser must read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from typing import Literal

import av
import cv2
import numpy as np

Rgb = tuple[int, int, int]
Encoding = Literal["png", "jpeg", "h264", "interlaced", "interlaced_h264"]
DESIGN_H, DESIGN_W = 480, 640

GE_GREY: Rgb = (150, 150, 150)  # the GE-like box line: a mid grey, darker than the brightest speckle
WHITE: Rgb = (255, 255, 255)
GREEN: Rgb = (40, 210, 70)
YELLOW: Rgb = (250, 230, 40)
CYAN_TEXT: Rgb = (60, 170, 210)
GE_BLUE: Rgb = (0, 9, 66)


# --- colour maps (rows from the top or left end of a bar) --------------------------------------------------------


def _ramp(stops: list[Rgb], length: int) -> np.ndarray:
    """``(length, 3) uint8``: linear ramp through ``stops``."""
    t = np.linspace(0.0, len(stops) - 1, length)
    i = np.minimum(t.astype(int), len(stops) - 2)
    f = (t - i)[:, None]
    stops_arr = np.array(stops, dtype=np.float64)
    return np.rint((1 - f) * stops_arr[i] + f * stops_arr[i + 1]).astype(np.uint8)


WARM = [(255, 250, 170), (255, 220, 0), (240, 60, 0), (170, 0, 0), (70, 0, 0)]  # bright end first
COOL = [(200, 255, 255), (0, 230, 255), (0, 70, 255), (0, 0, 170), (0, 0, 70)]
POWER = [(255, 245, 150), (255, 190, 0), (235, 80, 0), (150, 20, 0), (60, 0, 10)]


def colour_map(name: str, length: int) -> np.ndarray:
    """The rows of a bar, top (left) end first: velocity maps with a black baseline, power ramps."""
    base = max(2, length // 40)
    half = (length - base) // 2
    rest = length - base - half
    if name == "red_over_blue":
        return np.concatenate([_ramp(WARM, half), np.zeros((base, 3), np.uint8), _ramp(COOL[::-1], rest)])
    if name == "blue_over_red":
        return np.concatenate([_ramp(COOL, half), np.zeros((base, 3), np.uint8), _ramp(WARM[::-1], rest)])
    if name == "power":
        return _ramp(POWER, length)
    if name == "power_mirrored":
        return np.concatenate([_ramp(POWER, half), np.zeros((base, 3), np.uint8), _ramp(POWER[::-1], rest)])
    if name == "grey":
        return _ramp([(250, 250, 250), (0, 0, 0)], length)
    if name == "tinted_grey":  # a bluish B-mode map (Mindray-like): "colour" by the chroma rule over half its length
        return np.rint(_ramp([(250, 250, 250), (0, 0, 0)], length) * np.array([0.7, 0.82, 1.0])).astype(np.uint8)
    raise ValueError(name)


def flow_palette(name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Flow colours of a map: ``(warm or power colours, cool colours or None)``, saturated rows only."""
    rows = colour_map(name, 200)
    wide = rows.astype(np.int16)
    strong = (wide.max(axis=1) - wide.min(axis=1) > 90) & (wide.max(axis=1) > 110)
    if name in ("power", "power_mirrored"):
        return rows[strong], None
    hue = cv2.cvtColor(rows[None], cv2.COLOR_RGB2HSV)[0, :, 0]
    warm = strong & ((hue < 35) | (hue > 165))
    return rows[warm], rows[strong & ~warm]


# --- layout ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """A Doppler box outline in design coordinates.

    Quads: ``top``/``bottom`` rows and the x of the top corners (``left``, ``right``); a parallelogram's
    bottom corners are moved by ``shift``, a trapezoid's spread by ``shift`` on each side. Sectors:
    ``apex``, ``radii`` and ``angles`` (degrees from straight down, left negative).
    """

    shape: Literal["rectangle", "parallelogram", "trapezoid", "sector"]
    top: float = 0.0
    bottom: float = 0.0
    left: float = 0.0
    right: float = 0.0
    shift: float = 0.0
    apex: tuple[float, float] = (0.0, 0.0)
    radii: tuple[float, float] = (0.0, 0.0)
    angles: tuple[float, float] = (0.0, 0.0)
    colour: Rgb = GE_GREY
    thickness: int = 1  # px at the screen's own size (never scaled: scanners draw 1-2 px lines)
    antialiased: bool = False
    dotted: int = 0  # dot and gap length in px at the screen's own size; 0: a solid line
    drawn: bool = True  # False: exported without the outline (the box is only where the flow is)


@dataclass(frozen=True)
class Bar:
    """A colour (or grey) bar: ``x, y`` its top-left corner in design coordinates, ``length`` along it."""

    map: str
    x: float
    y: float
    length: float
    width: float = 10.0
    horizontal: bool = False
    grey_beside: str | None = None  # "grey" or "tinted_grey": a B-mode scale bar next to it
    grey_gap: float = 2.0  # design px between the two bars (0: touching)
    grey_after: bool = True  # the grey bar on the right (below) of the colour bar, else on the left (above)
    labels: bool = True


@dataclass(frozen=True)
class Layout:
    """One screen in design coordinates."""

    picture: (
        tuple  # ("rect", x0, y0, x1, y1) | ("fan", ax, ay, r0, r1, half_angle) | ("trap", y0, y1, xl0, xr0, spread)
    )
    box: Box | None = None
    bar: Bar | None = None
    grey_bar: Bar | None = None  # a B-mode scale bar standing alone (no colour bar)
    banner: tuple[Rgb, Rgb] | None = None  # (left colour, right colour): solid when equal
    banner_h: float = 42.0
    logo: bool = False
    texts: tuple[tuple[str, float, float, Rgb, float], ...] = ()  # (text, x, y, colour, design scale)
    marks: tuple[tuple[str, float, float, Rgb], ...] = ()  # ("triangle" | "dot" | "m", x, y, colour)
    spectral: bool = False
    flow_map: str | None = None  # the map flow is painted from; None: no flow
    flow_blobs: int = 6
    ticks: float | None = None  # x of the depth ticks
    stray_mark: tuple[float, float] | None = None  # a coloured mark in the picture outside the box
    skin: bool = False  # a bright skin line along the top of a rectangular picture (a box from it hides its top)
    panel: Rgb | None = None  # the screen's colour outside the picture (black when None)
    band: tuple[float, float] | None = None  # design rows of tissue about as bright as the box line, across the box
    fascia: float | None = None  # design row of a bright tissue line at the box line's level across the picture
    flow_below: float | None = None  # design row above which no flow is painted
    clip_box: bool = False  # the box reaches past the picture's edges: holding flow on the picture only
    clip_outline: bool = True  # with clip_box: its outline drawn on the picture only (else drawn whole)
    flow_strip: Bar | None = None  # flow painted in the box as a smooth strip of one ramp (a wide vessel), no legend
    # flat touch-screen buttons and mode chips: (x, y, w, h, fill, label in white)
    buttons: tuple[tuple[float, float, float, float, Rgb, str], ...] = ()


@dataclass(frozen=True)
class Truth:
    """What a parser must read from the screen (pixels of the screen's own size)."""

    mode: Literal["colour", "power", "none"]
    shape: str | None = None  # "rectangle", "parallelogram", "trapezoid", "sector"
    interior: np.ndarray | None = field(default=None, repr=False)  # (H, W) bool, outline excluded
    corners: tuple[tuple[float, float], ...] = ()  # quads: top-left, top-right, bottom-right, bottom-left
    bar: tuple[int, int, int, int] | None = None  # half-open bounds of the colour bar
    bar_side: Literal["left", "right", "top", "inside"] | None = None
    bar_orientation: Literal["vertical", "horizontal"] | None = None
    bar_kind: Literal["velocity", "power"] | None = None
    outline: bool = True  # False: the box is known only from the colour extent
    cut: bool = False  # the box ends at the picture's sides, its outline reaching past them or not


@dataclass(frozen=True)
class Case:
    name: str
    frames: np.ndarray = field(repr=False)
    truth: Truth
    scale: float  # screen px per design px


@dataclass(frozen=True)
class Spec:
    """One gallery entry: a family's layout at a size and an encoding."""

    family: str
    layout: Layout
    size: tuple[int, int] = (480, 640)
    encoding: Encoding = "png"
    frames: int = 1
    seed: int = 0
    bar_side: Literal["left", "right", "top", "inside"] | None = None
    # A known limit: "extent" where the outline cannot be followed (a dotted coloured line 1 px wide loses its
    # chroma to JPEG's 4:2:0 subsampling): the parser falls back to the colour extent and says so.
    limit: Literal["extent"] | None = None

    @property
    def name(self) -> str:
        return f"{self.family}-{self.size[0]}x{self.size[1]}-{self.encoding}-{self.frames}f-s{self.seed}"


class _Canvas:
    """Maps design coordinates to screen pixels: scaled by height, wider screens get a panel on the right."""

    def __init__(self, height: int, width: int) -> None:
        self.h, self.w = height, width
        self.s = height / DESIGN_H

    def x(self, v: float) -> int:
        return round(v * self.s)

    def y(self, v: float) -> int:
        return round(v * self.s)

    def pt(self, x: float, y: float) -> tuple[int, int]:
        return self.x(x), self.y(y)

    def fpt(self, x: float, y: float) -> tuple[float, float]:
        return x * self.s, y * self.s


# --- drawing -----------------------------------------------------------------------------------------------------


def _speckle(rng: np.random.Generator, height: int, width: int, s: float) -> np.ndarray:
    """``(height, width) uint8`` tendon-like speckle: fibrillar streaks, bright fibres reaching 255, attenuation."""
    noise = rng.random((height, width), dtype=np.float32)
    tex = cv2.GaussianBlur(noise, (0, 0), sigmaX=2.2 * s, sigmaY=0.7 * s)
    tex = (tex - tex.mean()) / (tex.std() + 1e-6)
    fine = cv2.GaussianBlur(rng.random((height, width), dtype=np.float32), (0, 0), 0.8 * s)
    fine = (fine - fine.mean()) / (fine.std() + 1e-6)
    fibres = np.zeros((height, width), np.float32)
    one = 1 << SUB
    for _ in range(max(3, height // int(40 * s))):  # bright fibres across the picture, nearly level
        y, slope = rng.uniform(0, height), rng.uniform(-0.05, 0.05)
        ends = ((0, round(y * one)), (width * one, round((y + slope * width) * one)))
        cv2.line(fibres, *ends, float(rng.uniform(90, 170)), 1, cv2.LINE_AA, SUB)
    sigma = 0.85 * s
    fibres = cv2.GaussianBlur(fibres, (0, 0), sigma) * (sigma * np.sqrt(2 * np.pi))  # keep the fibres' peak level
    level = 95 + 38 * tex + 18 * fine + fibres * (0.6 + 0.4 * (fine > 0))
    level *= np.linspace(1.05, 0.65, height, dtype=np.float32)[:, None]  # attenuation with depth
    return np.clip(level, 0, 255).astype(np.uint8)


def _picture_mask(c: _Canvas, picture: tuple) -> np.ndarray:
    mask = np.zeros((c.h, c.w), np.uint8)
    kind = picture[0]
    if kind == "rect":
        _, x0, y0, x1, y1 = picture
        mask[c.y(y0) : c.y(y1), c.x(x0) : c.x(x1)] = 1
    elif kind == "fan":
        _, ax, ay, r0, r1, half = picture
        cv2.ellipse(mask, c.pt(ax, ay), (c.x(r1), c.x(r1)), 0, 90 - half, 90 + half, 1, -1)
        cv2.circle(mask, c.pt(ax, ay), c.x(r0), 0, -1)
    else:  # trapezoid
        _, y0, y1, xl, xr, spread = picture
        pts = np.array([c.pt(xl, y0), c.pt(xr, y0), c.pt(xr + spread, y1), c.pt(xl - spread, y1)], np.int32)
        cv2.fillPoly(mask, [pts], 1)
    return mask.astype(bool)


def _quad(box: Box) -> list[tuple[float, float]]:
    """Design corners of a quad box: top-left, top-right, bottom-right, bottom-left."""
    moves = {"parallelogram": (box.shift, box.shift), "trapezoid": (-box.shift, box.shift)}
    left, right = moves.get(box.shape, (0.0, 0.0))  # how far the bottom corners lie from the top ones
    top_left, top_right = (box.left, box.top), (box.right, box.top)
    return [top_left, top_right, (box.right + right, box.bottom), (box.left + left, box.bottom)]


SUB = 4  # fractional bits for cv2 drawing (sub-pixel corners)


def _outline(c: _Canvas, box: Box, antialiased: bool, dotted: int = 0) -> np.ndarray:
    """``(H, W) uint8`` ink of the box outline (255 on the line; anti-aliased edges between).

    ``dotted``: draw dashes of that many px with gaps as long (0: a solid line).
    """
    ink = np.zeros((c.h, c.w), np.uint8)
    line = cv2.LINE_AA if antialiased else cv2.LINE_8
    one = 1 << SUB

    def segment(p, q):
        length = float(np.hypot(q[0] - p[0], q[1] - p[1]))
        steps = (
            [(0.0, 1.0)]
            if not dotted
            else [(t / length, min(1.0, (t + dotted - 1) / length)) for t in np.arange(0.0, length, 2 * dotted)]
        )
        for t0, t1 in steps:
            a = (round((p[0] + t0 * (q[0] - p[0])) * one), round((p[1] + t0 * (q[1] - p[1])) * one))
            b = (round((p[0] + t1 * (q[0] - p[0])) * one), round((p[1] + t1 * (q[1] - p[1])) * one))
            cv2.line(ink, a, b, 255, box.thickness, line, SUB)

    if box.shape == "sector":
        ax, ay = c.fpt(*box.apex)
        start, end = 90 - box.angles[1], 90 - box.angles[0]
        centre = (round(ax * one), round(ay * one))
        for r in box.radii:
            rr = r * c.s
            step = np.degrees(dotted / rr) if dotted else end - start  # one dash, in degrees
            for k, a0 in enumerate(np.arange(start, end, step)):
                if k % 2 == 0 or not dotted:
                    a1 = min(end, a0 + step * (1 - 1 / max(dotted, 1)) if dotted else end)
                    size = (round(rr * one),) * 2
                    cv2.ellipse(ink, centre, size, 0, float(a0), float(a1), 255, box.thickness, line, SUB)
        for angle in box.angles:
            a = np.radians(90 - angle)
            segment(*[(ax + r * c.s * np.cos(a), ay + r * c.s * np.sin(a)) for r in box.radii])
        return ink
    corners = [c.fpt(*p) for p in _quad(box)]
    for k in range(4):
        segment(corners[k], corners[(k + 1) % 4])
    return ink


def _interior(ink: np.ndarray) -> np.ndarray:
    """The hole enclosed by an outline's ink: ``(H, W) bool``, the ink excluded."""
    solid = (ink > 0).astype(np.uint8)
    filled = solid.copy()
    contours = cv2.findContours(solid, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0]
    cv2.drawContours(filled, contours, -1, 1, -1)
    return (filled > 0) & (solid == 0)


def _blend(image: np.ndarray, ink: np.ndarray, colour: Rgb) -> None:
    """Draw ``colour`` over ``image`` with coverage ``ink / 255``."""
    ys, xs = np.nonzero(ink)
    alpha = ink[ys, xs, None].astype(np.float32) / 255.0
    image[ys, xs] = np.rint(alpha * np.array(colour, np.float32) + (1 - alpha) * image[ys, xs]).astype(np.uint8)


def _flow(
    c: _Canvas, rng: np.random.Generator, inside: np.ndarray, palette, count: int, seed: int, shift: int
) -> tuple[np.ndarray, np.ndarray]:
    """Speckled elliptical flow patches inside ``inside``: ``(mask (H, W) bool, colours (H, W, 3) uint8)``.

    ``seed`` places the patches (one per frame; both fields of an interlaced frame share it), ``shift`` moves
    them right by that many px (the second field), ``rng`` drops pixels out of them.
    """
    warm, cool = palette
    place = np.random.default_rng(seed)
    mask = np.zeros((c.h, c.w), bool)
    colours = np.zeros((c.h, c.w, 3), np.uint8)
    ys, xs = np.nonzero(inside)
    if ys.size == 0:
        return mask, colours
    for k in range(count):
        i = int(place.integers(ys.size))
        cx, cy = int(xs[i]) + shift, int(ys[i])
        a, b = c.x(place.uniform(8, 18)), c.y(place.uniform(3, 7))
        angle = float(place.uniform(-30, 30))
        sigma = max(1.0, 0.3 * b)
        r = a + int(3 * sigma) + 2  # the patch and its blur lie within r of the centre
        x0, y0, x1, y1 = max(0, cx - r), max(0, cy - r), min(c.w, cx + r + 1), min(c.h, cy + r + 1)
        if x1 <= x0 or y1 <= y0:
            continue
        blob = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.ellipse(blob, (cx - x0, cy - y0), (a, b), angle, 0, 360, 255, -1)
        blob = cv2.GaussianBlur(blob, (0, 0), sigma)  # level falls off from the centre
        where = (blob > 40) & inside[y0:y1, x0:x1] & (rng.random(blob.shape) > 0.12)
        source = warm if (cool is None or k % 2 == 0) else cool
        level = blob[where].astype(np.float32) / 255.0
        index = np.clip(((1 - level) * (len(source) - 1)).astype(int), 0, len(source) - 1)
        colours[y0:y1, x0:x1][where] = source[index]
        mask[y0:y1, x0:x1] |= where
    return mask, colours


def _text(image: np.ndarray, c: _Canvas, text: str, x: float, y: float, colour: Rgb, scale: float) -> None:
    thickness = max(1, round(c.s * (2.4 if scale >= 0.85 else 1.4 if scale >= 0.6 else 1.0)))  # bold from 0.85
    cv2.putText(image, text, c.pt(x, y), cv2.FONT_HERSHEY_SIMPLEX, scale * c.s, colour, thickness, cv2.LINE_AA)


def _draw_bar(image: np.ndarray, c: _Canvas, bar: Bar) -> tuple[int, int, int, int]:
    """Draw a bar (and a grey bar beside it); returns the colour bar's half-open bounds."""
    length, width = c.y(bar.length), max(4, c.x(bar.width))
    rows = colour_map(bar.map, length)
    x0, y0 = c.pt(bar.x, bar.y)
    if bar.horizontal:
        image[y0 : y0 + width, x0 : x0 + length] = rows[::-1][None, :, :]  # the top end of the map at the right
        rect = (x0, y0, x0 + length, y0 + width)
    else:
        image[y0 : y0 + length, x0 : x0 + width] = rows[:, None, :]
        rect = (x0, y0, x0 + width, y0 + length)
    if bar.grey_beside:
        grey = colour_map(bar.grey_beside, length)
        gap, gw = c.x(bar.grey_gap), max(3, c.x(bar.width * 0.6))
        if bar.horizontal:
            gy = y0 + width + gap if bar.grey_after else y0 - gap - gw
            image[gy : gy + gw, x0 : x0 + length] = grey[::-1][None, :, :]
        else:
            gx = x0 + width + gap if bar.grey_after else x0 - gap - gw
            image[y0 : y0 + length, gx : gx + gw] = grey[:, None, :]
    if bar.labels:
        top, bottom = ("+12.5", "-12.5") if "power" not in bar.map and "grey" not in bar.map else ("", "")
        if bar.horizontal:
            _text(image, c, bottom, bar.x - 34, bar.y + bar.width - 1, WHITE, 0.35)
            _text(image, c, top, bar.x + bar.length + 3, bar.y + bar.width - 1, WHITE, 0.35)
        else:
            _text(image, c, top, bar.x, bar.y - 4, WHITE, 0.35)
            _text(image, c, bottom, bar.x, bar.y + bar.length + 12, WHITE, 0.35)
    return rect


def _banner(image: np.ndarray, c: _Canvas, layout: Layout) -> None:
    assert layout.banner is not None
    left, right = layout.banner
    h = c.y(layout.banner_h)
    t = np.linspace(0.0, 1.0, c.w, dtype=np.float32)[None, :, None]
    image[:h] = np.rint((1 - t) * np.array(left, np.float32) + t * np.array(right, np.float32)).astype(np.uint8)
    _text(image, c, "Sports Medicine Clinic", 48 if layout.logo else 8, 15, WHITE, 0.45)
    _text(image, c, "03/11/24 10:41:07 AM", 48 if layout.logo else 8, 32, WHITE, 0.4)
    _text(image, c, "MI 0.7  TIs 0.4", 420, 15, WHITE, 0.4)
    _text(image, c, "ML6-15  MSK", 420, 32, WHITE, 0.4)
    if layout.logo:
        centre, r = c.pt(22, 21), c.x(15)
        cv2.circle(image, centre, r, WHITE, max(1, c.x(2)), cv2.LINE_AA)
        _text(image, c, "ge", 12, 26, WHITE, 0.5)


def _spectral(image: np.ndarray, c: _Canvas, rng: np.random.Generator) -> None:
    """A grey pulsed-wave spectrum below the picture, with a yellow-green baseline and scale text."""
    y0, x0, x1 = c.y(290), c.x(30), c.x(460)
    base = c.y(410)
    xs = np.arange(x0, x1)
    for x in xs:
        phase = ((x - x0) / c.s) % 70
        peak = 90 * np.exp(-(((phase - 12) / 6) ** 2)) + 15
        top = max(y0, base - int(peak * c.s))
        column = rng.integers(60, 230, base - top) if base > top else []
        image[top:base, x] = np.array(column, np.uint8)[:, None]
        image[base : base + c.y(12), x] = rng.integers(40, 140, (c.y(12), 1))
    cv2.line(image, (x0, base), (x1, base), (190, 210, 60), max(1, c.y(1)))
    for k, v in enumerate(("-6", "-4", "-2", "0")):
        _text(image, c, v, 30 + 140 * k, 465, WHITE, 0.35)
    _text(image, c, "[cm/s]", 470, 415, WHITE, 0.35)


def render(spec: Spec) -> Case:
    """Draw ``spec`` at its size and encoding."""
    layout = spec.layout
    height, width = spec.size
    c = _Canvas(height, width)
    rng = np.random.default_rng(spec.seed)
    picture = _picture_mask(c, layout.picture)
    base = np.zeros((height, width, 3), np.uint8)
    if layout.panel is not None:
        base[...] = layout.panel
    box = layout.box
    ink = _outline(c, box, box.antialiased, box.dotted) if box is not None else None
    truth_ink = _outline(c, box, False) if box is not None else None
    interior = _interior(truth_ink) if truth_ink is not None else None
    if layout.clip_box:
        ink, interior = (ink * picture if layout.clip_outline else ink), interior & picture
    bar_rect = None
    interlaced = spec.encoding.startswith("interlaced")
    fields = 2 * spec.frames if interlaced else spec.frames
    palette = flow_palette(layout.flow_map) if layout.flow_map else None
    speckle = _speckle(rng, height, width, c.s)
    frames = []
    for k in range(fields):
        image = base.copy()
        shifted = np.roll(speckle, k % 3, axis=1)  # the probe moves a little between fields and frames
        image[picture] = shifted[picture][:, None]
        if layout.skin:
            _skin(image, c, layout.picture, rng)
        if layout.band is not None:
            _band(image, c, layout, picture, np.random.default_rng(spec.seed + 7))
        if layout.fascia is not None:
            _fascia(image, c, layout, picture & interior, np.random.default_rng(spec.seed + 8))
        if palette is not None and interior is not None:
            frame, field = (k // 2, k % 2) if interlaced else (k, 0)
            seed = spec.seed * 1000 + frame
            region = interior & picture
            if layout.flow_below is not None:
                region[: c.y(layout.flow_below)] = False
            where, colours = _flow(c, rng, region, palette, layout.flow_blobs, seed, field)
            image[where] = colours[where]
        if layout.flow_strip is not None:
            _draw_bar(image, c, layout.flow_strip)
        if box is not None and box.drawn:
            _blend(image, ink, box.colour)
        if layout.stray_mark is not None:
            cv2.circle(image, c.pt(*layout.stray_mark), c.x(4), (230, 60, 200), -1)
        if layout.banner is not None:
            _banner(image, c, layout)
        if layout.bar is not None:
            bar_rect = _draw_bar(image, c, layout.bar)
        if layout.grey_bar is not None:
            _draw_bar(image, c, layout.grey_bar)
        for text, x, y, colour, scale in layout.texts:
            _text(image, c, text, x, y, colour, scale)
        for kind, x, y, colour in layout.marks:
            _mark(image, c, kind, x, y, colour)
        for x, y, w, h, fill, label in layout.buttons:
            cv2.rectangle(image, c.pt(x, y), c.pt(x + w, y + h), fill, -1)
            _text(image, c, label, x + 6, y + 0.7 * h, WHITE, 0.45)
        if layout.ticks is not None:
            for depth in range(80, 420, 40):
                cv2.line(image, c.pt(layout.ticks, depth), c.pt(layout.ticks + 5, depth), WHITE, max(1, c.x(1)))
        if layout.spectral:
            _spectral(image, c, np.random.default_rng(spec.seed + 99))
        frames.append(image)
    frames_arr = _encode(np.stack(frames), spec.encoding)
    return Case(spec.name, frames_arr, _truth(spec, c, interior, bar_rect), c.s)


def _skin(image: np.ndarray, c: _Canvas, picture: tuple, rng: np.random.Generator) -> None:
    """The skin line: a bright band 6 design px deep along the top of a rectangular picture, 205-250 and smooth
    along its rows, so that a grey line drawn in it differs by only a few levels from the rows beside it."""
    _, x0, y0, x1, _ = picture
    band = image[c.y(y0) : c.y(y0 + 6), c.x(x0) : c.x(x1)]
    noise = cv2.GaussianBlur(rng.random(band.shape[:2], dtype=np.float32), (0, 0), sigmaX=3 * c.s, sigmaY=0.5)
    noise = (noise - noise.min()) / max(float(np.ptp(noise)), 1e-6)
    band[:] = (205 + 45 * noise).astype(np.uint8)[..., None]


def _band(image: np.ndarray, c: _Canvas, layout: Layout, picture: np.ndarray, rng: np.random.Generator) -> None:
    """A tendon across the picture: speckle within about 40 levels of the box line's grey, so that along the
    sides where they cross it the line's pixels match no better than the pixels beside them."""
    assert layout.band is not None and layout.box is not None
    y0, y1 = c.y(layout.band[0]), c.y(layout.band[1])
    noise = _smooth_noise(rng, (y1 - y0, c.w), 2.0 * c.s, 0.6 * c.s)
    _paint_rows(image, picture, y0, layout.box.colour[0] + 14 * noise)


def _fascia(image: np.ndarray, c: _Canvas, layout: Layout, picture: np.ndarray, rng: np.random.Generator) -> None:
    """A fascia seen inside the box only (``picture``: where it shows; some scanners lower the B-mode gain under the
    colour box): a bright line 2 design px thick, within a few levels of the box line's grey and smooth along its
    length, ending at the box's sides, so that it pairs with the box's bottom edge as a box's top would."""
    assert layout.fascia is not None and layout.box is not None
    y0, y1 = c.y(layout.fascia), c.y(layout.fascia + 2)
    wave = _smooth_noise(rng, (1, c.w), 6 * c.s, 0)
    _paint_rows(image, picture, y0, np.broadcast_to(layout.box.colour[0] + 3 * wave, (y1 - y0, c.w)))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_x: float, sigma_y: float) -> np.ndarray:
    """Uniform noise of ``shape`` blurred by a Gaussian (``sigma_y`` 0: along x only), scaled to mean 0 and sd 1."""
    noise = cv2.GaussianBlur(rng.random(shape, dtype=np.float32), (0, 0), sigmaX=sigma_x, sigmaY=sigma_y)
    return (noise - noise.mean()) / (noise.std() + 1e-6)


def _paint_rows(image: np.ndarray, picture: np.ndarray, y0: int, level: np.ndarray) -> None:
    """Rows from ``y0`` of ``image`` set to the grey ``level (rows, W)`` where ``picture`` holds."""
    rows, where = image[y0 : y0 + level.shape[0]], picture[y0 : y0 + level.shape[0]]
    rows[where] = np.clip(level, 0, 255).astype(np.uint8)[where][:, None]


def _mark(image: np.ndarray, c: _Canvas, kind: str, x: float, y: float, colour: Rgb) -> None:
    if kind == "triangle":  # a focus marker
        pts = np.array([c.pt(x, y), c.pt(x + 7, y - 4), c.pt(x + 7, y + 4)], np.int32)
        cv2.fillPoly(image, [pts], colour, cv2.LINE_AA)
    elif kind == "dot":
        cv2.circle(image, c.pt(x, y), c.x(3), colour, -1, cv2.LINE_AA)
    else:  # an underlined letter, like a probe-orientation logo
        _text(image, c, "m", x, y, colour, 0.8)
        cv2.line(image, c.pt(x, y + 4), c.pt(x + 16, y + 4), colour, max(1, c.x(2)))


def _encode(frames: np.ndarray, encoding: Encoding) -> np.ndarray:
    if encoding.startswith("interlaced"):  # even rows from the first field, odd rows from the second
        woven = frames[0::2].copy()
        woven[:, 1::2] = frames[1::2, 1::2]
        frames = woven
    if encoding == "jpeg":
        out = []
        for frame in frames:
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 75])
            assert ok
            out.append(cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
        return np.stack(out)
    if encoding.endswith("h264"):
        return _h264(frames)
    return np.ascontiguousarray(frames)


def _h264(frames: np.ndarray) -> np.ndarray:
    """Through libx264 (yuv420p, CRF 23) and back, like a screen recording."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    buffer.seek(0)
    with av.open(buffer) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(decoded)


def _truth(spec: Spec, c: _Canvas, interior: np.ndarray | None, bar_rect) -> Truth:
    layout = spec.layout
    box = layout.box
    painted = layout.flow_map or (layout.bar.map if layout.bar is not None else None)  # a bar without flow: treated
    if painted is None or box is None:
        return Truth("none")
    kind = "power" if "power" in painted else "velocity"
    mode = "power" if kind == "power" else "colour"
    corners = ()
    if box.shape != "sector":
        corners = tuple(c.fpt(*p) for p in _quad(box))
    if layout.clip_box and box.shape != "rectangle":
        corners = ()  # a parallelogram cut by the picture's side: five corners, the interior alone is checked
    elif layout.clip_box:  # a rectangle cut by a rectangular picture: its corners on the picture's borders
        _, x0, y0, x1, y1 = layout.picture
        cut = replace(
            box, left=max(box.left, x0), right=min(box.right, x1), top=max(box.top, y0), bottom=min(box.bottom, y1)
        )
        corners = tuple(c.fpt(*p) for p in _quad(cut))
    return Truth(
        mode=mode,
        shape=box.shape,
        interior=interior,
        corners=corners,
        bar=bar_rect,
        bar_side=spec.bar_side,
        bar_orientation=None if layout.bar is None else ("horizontal" if layout.bar.horizontal else "vertical"),
        bar_kind=None if layout.bar is None else kind,
        outline=box.drawn and spec.limit != "extent",
        cut=layout.clip_box,
    )
