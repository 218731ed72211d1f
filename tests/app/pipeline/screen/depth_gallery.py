"""A gallery of synthetic scanner screens with a depth scale of known pixel size, for the depth-scale tests.

Each family draws the depth scale in one layout (named after the vendor whose screens the layout is meant
to resemble; only ``mindray``, ``two_cm`` and ``logiq`` were compared with real screens: the Mindray DC-8
screenshots and the Mindray DC-30 and GE LOGIQ DICOMs in ``../shared/realdata``; every pixel is drawn here,
nothing is copied from a real screen):

* ``ge`` — small dots every 0.5 cm just right of the picture's right edge, numbers every cm right of them;
* ``mindray`` — right of the picture across a gap: a dash every cm and a dot at each half, numbers right of
  the dashes, blue-grey, a focus arrow in place of one dash;
* ``philips`` — right of the picture: equal short dashes every 0.5 cm, numbers every cm left of them;
* ``siemens`` — left of the picture: long dashes every cm, short ones at each half, yellow numbers left;
* ``canon`` — ticks drawn on the picture just inside its left edge (long every cm, short at each half),
  numbers outside left of the picture;
* ``logiq`` — right of the picture across a wide gap: short dashes every 0.25 cm, numbers every cm from 1
  left of the dashes with their tops at the tick;
* ``two_cm`` — right: dashes every 0.5 cm, longer ones every 2 cm numbered 0, 2, 4, ...;
* ``ticks_only`` — left: long dashes every cm and short ones between, no numbers;
* ``navy`` — a dark-blue interface: the screen around the picture a flat dark blue (brightest channel 56),
  long dashes every cm and short ones between left of the picture, pale blue-grey numbers left of them.

Negatives (refused): ``no_scale``, ``disagree`` (the Mindray dashes and dots numbered 0, 2, 4, ... one
per dash: the tick lengths say 1 cm a dash, the labels 2 cm), ``uneven`` (numbers 0, 1, 2, 4, 5),
``grey_bar`` and ``colour_bar`` (a bar with its own labels beside the picture, and no scale).

Five positive screens show a shallow picture, 1.6-1.9 cm deep (four ticks). Every screen has B-mode speckle with bright
tendon-like fibres, a header line, a parameter list with numbers at a regular line spacing, a colour box with
flow, a colour bar and a grey bar. Screens are 480x640 to 1080x1920 with picture depths 1.6-6 cm. Encodings:
lossless, JPEG q75 and H.264 (three frames, the speckle and flow moving between them, decoded by the
pipeline's own decoder).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Literal

import av
import cv2
import numpy as np

Rgb = tuple[int, int, int]
Encoding = Literal["png", "jpeg", "h264"]
FAMILIES = ("ge", "mindray", "philips", "siemens", "canon", "logiq", "two_cm", "ticks_only", "navy")
NEGATIVES = ("no_scale", "disagree", "uneven", "grey_bar", "colour_bar")
SIZES = ((480, 640), (600, 800), (768, 1024), (720, 1280), (1080, 1920))
HERSHEY = {
    "simplex": cv2.FONT_HERSHEY_SIMPLEX,
    "duplex": cv2.FONT_HERSHEY_DUPLEX,
    "plain": cv2.FONT_HERSHEY_PLAIN,
    "complex": cv2.FONT_HERSHEY_COMPLEX,
    "triplex": cv2.FONT_HERSHEY_TRIPLEX,
}


@dataclass(frozen=True)
class Spec:
    """One screen to draw: a family (or negative), its size, the picture depth and a seed."""

    family: str
    height: int
    width: int
    depth_cm: float
    seed: int = 0

    @property
    def name(self) -> str:
        return f"{self.family}-{self.height}x{self.width}-{self.depth_cm:g}cm"


@dataclass(frozen=True)
class Screen:
    """A drawn screen: ``frames`` ``(N, H, W, 3) uint8`` RGB, the picture's rectangle and the true size."""

    spec: Spec
    frames: np.ndarray
    picture: tuple[int, int, int, int]  # half-open x0, y0, x1, y1
    mm_per_px: float


@dataclass(frozen=True)
class _Style:
    side: Literal["left", "right"]
    offset: float  # ticks' inner end from the picture edge, share of the width (0: drawn inward on the picture)
    minor_cm: float  # cm between ticks
    major_every: int  # ticks between long ticks (1: all alike)
    major_len: float  # share of the width
    minor_len: float  # share of the width (0: a dot)
    label_every_cm: float  # 0: no labels
    label_side: Literal["outer", "inner"]  # labels beyond the ticks (away from the picture) or between
    first_label: float  # the first label's depth
    font: str
    font_scale: float  # at 480 rows
    colour: Rgb
    label_colour: Rgb
    align: Literal["centre", "top"] = "centre"
    values: tuple[int, ...] | None = None  # labels written instead of the depths (negatives)
    arrow: bool = False  # a focus marker stands in place of the tick at 2 * major_every
    panel: Rgb = (0, 0, 0)  # the screen's colour around the picture


STYLES = {
    "ge": _Style("right", 0.006, 0.5, 1, 0.0, 0.0, 1.0, "outer", 0, "simplex", 0.45, (235, 235, 235), (235, 235, 235)),
    "mindray": _Style(
        "right", 0.1, 0.5, 2, 0.012, 0.0, 1.0, "outer", 0, "duplex", 0.45, (200, 205, 210), (120, 160, 190), arrow=True
    ),
    "philips": _Style(
        "right", 0.05, 0.5, 1, 0.009, 0.009, 1.0, "inner", 0, "plain", 0.9, (190, 190, 190), (190, 190, 190)
    ),
    "siemens": _Style(
        "left", 0.02, 0.5, 2, 0.016, 0.008, 1.0, "outer", 0, "complex", 0.45, (230, 220, 70), (230, 220, 70)
    ),
    "canon": _Style(
        "left", 0.0, 0.5, 2, 0.014, 0.007, 1.0, "outer", 0, "triplex", 0.5, (255, 255, 255), (240, 240, 240)
    ),
    "logiq": _Style(
        "right", 0.15, 0.25, 1, 0.006, 0.006, 1.0, "inner", 1, "simplex", 0.5, (200, 190, 120), (190, 180, 120), "top"
    ),
    "two_cm": _Style(
        "right", 0.08, 0.5, 4, 0.014, 0.007, 2.0, "outer", 0, "duplex", 0.45, (130, 150, 175), (130, 150, 175)
    ),
    "navy": _Style(
        "left",
        0.03,
        0.5,
        2,
        0.014,
        0.007,
        1.0,
        "outer",
        0,
        "simplex",
        0.4,
        (205, 205, 205),
        (200, 210, 230),
        panel=(10, 24, 56),
    ),
    "ticks_only": _Style(
        "left", 0.03, 0.5, 2, 0.014, 0.006, 0.0, "outer", 0, "simplex", 0.45, (200, 200, 200), (0, 0, 0)
    ),
}


def gallery() -> list[Spec]:
    """Every positive screen: each family at three or four sizes and depths between 2 and 6 cm."""
    specs = []
    depths = (2.0, 3.0, 4.0, 5.0, 6.0, 3.5, 4.5, 2.5)
    for f, family in enumerate(FAMILIES):
        for j in range(4):
            height, width = SIZES[(f + 2 * j) % len(SIZES)]
            depth = depths[(f + 3 * j) % len(depths)]
            if family == "two_cm" and depth < 4:
                depth += 2.0  # numbered every 2 cm: at least two numbers
            specs.append(Spec(family, height, width, depth, seed=100 * f + j))
    # shallow pictures (superficial tendons): four ticks, 0 to 1.5 cm, drawn beside the picture
    for i, family in enumerate(("ge", "mindray", "siemens", "ticks_only", "navy")):
        height, width = SIZES[i]
        specs.append(Spec(family, height, width, (1.6, 1.8, 1.7, 1.9, 1.6)[i], seed=1000 + i))
    return specs


def negatives() -> list[Spec]:
    return [Spec(n, *SIZES[i % len(SIZES)], 4.0, seed=900 + i) for i, n in enumerate(NEGATIVES)]


def draw(spec: Spec, frames: int = 1) -> Screen:
    """The screen of ``spec``; ``frames`` > 1 moves the speckle and the flow from frame to frame."""
    rng = np.random.default_rng(spec.seed)
    h, w = spec.height, spec.width
    family = spec.family
    style = _negative_style(family) if family in NEGATIVES else STYLES[family]
    side = style.side if style else "right"
    x0 = round(w * (0.3 if side == "left" else 0.16))
    x1 = round(w * (0.72 if side == "left" else 0.58))
    y0 = round(h * 0.1)
    px_per_cm = h * rng.uniform(0.74, 0.84) / spec.depth_cm
    y1 = y0 + round(spec.depth_cm * px_per_cm)
    base = np.zeros((h, w, 3), np.uint8)
    base[...] = style.panel if style else (0, 0, 0)
    _chrome(base, rng, spec, (x0, y0, x1, y1), side)
    if style is not None:
        _scale(base, style, (x0, y0, x1, y1), px_per_cm, spec.depth_cm)
    elif family == "grey_bar":
        ramp = np.linspace(255, 0, round(0.3 * h)).astype(np.uint8)
        base[y0 : y0 + len(ramp), x1 + 12 : x1 + 12 + round(0.02 * w)] = ramp[:, None, None]
    elif family == "colour_bar":
        _colour_bar(base, x1 + 14, y0 + round(0.1 * h), round(0.3 * h), round(0.02 * w), labelled=True)
    out = []
    for i in range(frames):
        frame = base.copy()
        _picture(frame, np.random.default_rng(spec.seed * 1000 + i + 1), (x0, y0, x1, y1), i)
        if style is not None and style.offset == 0:  # drawn on the picture: over the speckle
            _scale(frame, style, (x0, y0, x1, y1), px_per_cm, spec.depth_cm, ticks_only=True)
        out.append(frame)
    return Screen(spec, np.stack(out), (x0, y0, x1, y1), 10.0 / px_per_cm)


def encoded(screen: Screen, encoding: Encoding) -> np.ndarray:
    """``screen.frames`` after ``encoding``: PNG (as drawn), JPEG q75 or H.264 decoded by the pipeline."""
    if encoding == "png":
        return screen.frames
    if encoding == "jpeg":
        out = []
        for frame in screen.frames:
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 75])
            assert ok
            out.append(cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
        return np.stack(out)
    from app.pipeline.decode import Limits, decode

    clip = decode(h264_bytes(screen.frames), Limits(1 << 30, 4096 * 4096, 1000, 10**9), name="gallery.mp4")
    return np.concatenate([frames for _, frames in clip.batches(8)])


def h264_bytes(frames: np.ndarray, fps: int = 25) -> bytes:
    """An H.264 (libx264, yuv420p, default quality) MP4 of ``frames``."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


# --- drawing ---------------------------------------------------------------------------------------------------


def _negative_style(family: str) -> _Style | None:
    if family == "disagree":
        return replace(STYLES["mindray"], values=(0, 2, 4, 6, 8))
    if family == "uneven":
        return replace(STYLES["ge"], values=(0, 1, 2, 4, 5))
    return None


def _font(style: _Style, h: int) -> tuple[int, float, int]:
    scale = style.font_scale * h / 480
    return HERSHEY[style.font], scale, 1 if h < 900 else 2


def _scale(
    image: np.ndarray,
    style: _Style,
    picture: tuple[int, int, int, int],
    px_per_cm: float,
    depth: float,
    ticks_only: bool = False,
) -> None:
    """Ticks from depth 0 to ``depth`` and their labels, at rows rounded to whole pixels as a scanner draws them."""
    h, w = image.shape[:2]
    x0, y0, x1, _ = picture
    outward = 1 if style.side == "right" else -1
    edge = x1 if style.side == "right" else x0
    inward = style.offset == 0  # ticks drawn on the picture, from its edge inward
    if inward:
        outward = -outward
    inner = round(edge + outward * style.offset * w) if not inward else edge - outward  # nearest the picture
    thick = max(1, round(h / 480))
    major_len = max(4, round(style.major_len * w))
    minor_len = max(0, round(style.minor_len * w))
    n = round(depth / style.minor_cm)
    ends = []
    for i in range(n + 1):
        y = y0 + round(i * style.minor_cm * px_per_cm)
        major = style.major_every > 1 and i % style.major_every == 0
        if style.arrow and i == 2 * style.major_every:  # a focus marker in place of this tick
            tip, back = inner, inner + outward * max(6, round(0.008 * w))
            half = max(3, round(h / 160))
            cv2.fillPoly(image, [np.array([(back, y - half), (tip, y), (back, y + half)], np.int32)], style.colour)
            ends.append(back)
            continue
        length = major_len if major else minor_len
        if length == 0:  # a dot
            r = max(1, round(h / 400))
            cx = inner + outward * r
            cv2.rectangle(image, (cx - r, y - r // 2), (cx + r - 1, y - r // 2 + 2 * r - 1), style.colour, -1)
            ends.append(cx + outward * r)
            continue
        a, b = inner, inner + outward * (length - 1)
        cv2.rectangle(image, (min(a, b), y - (thick - 1) // 2), (max(a, b), y + thick // 2), style.colour, -1)
        ends.append(b)
    if ticks_only or not style.label_every_cm:
        return
    font, scale, weight = _font(style, h)
    if inward:  # the labels stand outside the picture
        outward, ends, inner = -outward, [edge], edge
    far = max(ends, key=lambda e: e * outward)
    near = inner
    values = style.values
    k = 0
    depth_cm = style.first_label
    while depth_cm <= depth + 1e-6:
        text = str(values[k] if values and k < len(values) else round(depth_cm))
        (tw, th), _ = cv2.getTextSize(text, font, scale, weight)
        y = y0 + round(depth_cm * px_per_cm)
        gap = max(3, round(0.006 * w))
        if style.label_side == "outer":
            x = far + gap if outward > 0 else far - gap - tw
        else:
            x = near - gap - tw if outward > 0 else near + gap
        yb = y + th if style.align == "top" else y + th // 2
        cv2.putText(image, text, (x, yb), font, scale, style.label_colour, weight, cv2.LINE_AA)
        k += 1
        depth_cm += style.label_every_cm


def _picture(image: np.ndarray, rng: np.random.Generator, picture: tuple[int, int, int, int], shift: int) -> None:
    """Speckle with bright horizontal fibres (a tendon) and a colour box with flow in it."""
    x0, y0, x1, y1 = picture
    ph, pw = y1 - y0, x1 - x0
    grain = cv2.GaussianBlur(rng.rayleigh(1.0, (ph, pw)).astype(np.float32), (0, 0), 1.0)
    grain = grain / grain.max()
    depth_fade = np.linspace(1.0, 0.45, ph)[:, None]
    fibres = np.zeros((ph, pw), np.float32)
    for _ in range(max(6, ph // 25)):
        y = int(rng.integers(ph // 6, ph // 2))
        cv2.line(fibres, (0, y), (pw - 1, y + int(rng.integers(-6, 7))), 1.0, int(rng.integers(1, 3)))
    grey = np.clip(255 * (0.75 * grain * depth_fade + 0.6 * fibres * grain), 0, 255).astype(np.uint8)
    image[y0:y1, x0:x1] = grey[:, :, None]
    bx0, by0 = x0 + pw // 4, y0 + ph // 6
    bx1, by1 = x0 + 3 * pw // 4, y0 + ph // 2
    cv2.rectangle(image, (bx0, by0), (bx1, by1), (200, 200, 200), 1)
    for i in range(6):
        cx = int(rng.integers(bx0 + 10, bx1 - 10)) + 2 * shift
        cy = int(rng.integers(by0 + 8, by1 - 8))
        colour = (220, 40, 20) if i % 2 else (30, 80, 230)
        cv2.ellipse(image, (cx, cy), (max(4, pw // 40), max(2, ph // 80)), 20, 0, 360, colour, -1)


def _chrome(image: np.ndarray, rng: np.random.Generator, spec: Spec, picture, side: str) -> None:
    """Header text, a parameter list at a regular line spacing, a colour bar and a grey bar."""
    h, w = image.shape[:2]
    x0, y0, x1, _ = picture
    scale = 0.45 * h / 480
    weight = 1 if h < 900 else 2
    cv2.putText(
        image,
        "MSK  L12-5  ACHILLES  TIS 0.4  MI 1.1",
        (round(0.02 * w), round(0.05 * h)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (200, 200, 200),
        weight,
        cv2.LINE_AA,
    )
    params = ["B", "F 12.0", f"D {spec.depth_cm:g}", "G 55", "DR 72", "FR 28", "CF", "PRF 0.8", "WF 60"]
    px = round(0.87 * w)
    line = round(0.055 * h)
    for i, text in enumerate(params):
        cv2.putText(
            image,
            text,
            (px, round(0.16 * h) + i * line),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (90, 170, 210),
            weight,
            cv2.LINE_AA,
        )
    bar_x = round(0.03 * w) if side == "right" else round(0.8 * w)
    _colour_bar(image, bar_x, round(0.2 * h), round(0.25 * h), round(0.015 * w), labelled=True)
    ramp = np.linspace(250, 10, round(0.18 * h)).astype(np.uint8)
    gx = round(0.06 * w) if side == "right" else round(0.84 * w)
    image[round(0.55 * h) : round(0.55 * h) + len(ramp), gx : gx + round(0.012 * w)] = ramp[:, None, None]
    del rng, x0, y0, x1


def _colour_bar(image: np.ndarray, x: int, y: int, length: int, width: int, labelled: bool) -> None:
    half = length // 2
    top = np.stack([np.full(half, 255), np.linspace(255, 0, half), np.zeros(half)], axis=1)
    bottom = np.stack([np.zeros(half), np.linspace(0, 255, half), np.full(half, 255)], axis=1)
    rows = np.concatenate([top, bottom]).astype(np.uint8)
    image[y : y + len(rows), x : x + width] = rows[:, None, :]
    if labelled:
        h = image.shape[0]
        scale = 0.4 * h / 480
        weight = 1 if h < 900 else 2
        for text, yy in (("+24", y - 4), ("-24", y + len(rows) + round(14 * h / 480))):
            cv2.putText(image, text, (x, yy), cv2.FONT_HERSHEY_SIMPLEX, scale, (220, 220, 220), weight, cv2.LINE_AA)
