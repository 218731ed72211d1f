"""The overlay image of one frame: counted pixels, tendon contour, band and box edges, caption.

Everything draws with OpenCV on ``(H, W, 3) uint8 RGB`` arrays; every colour below is in RGB order.
Masks are ``(H, W) bool``. Nothing here reads settings or writes files: the report step decides where
images go. The per-frame curve is in :mod:`.curve`, the overlay video in :mod:`.overlay_video`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from app.pipeline.geometry import Rect
from app.pipeline.grading.scales import Grading

Rgb = tuple[int, int, int]
GREEN = (0, 255, 0)  # counted Doppler pixels: neither colour nor power Doppler maps use pure green
WHITE = (255, 255, 255)  # tendon contour
CYAN = (0, 255, 255)  # outer edge of the peritendinous band
YELLOW = (255, 255, 0)  # Doppler box
RED = (255, 0, 0)  # flash: the caption's FLASH and the curve's flash marks (the only red on the curve)

_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))  # 4-neighbourhood
FONT = cv2.FONT_HERSHEY_SIMPLEX
SCALE_NAMES = {"modified_ohberg": "modified Ohberg", "colour_fraction_grade": "CF grade"}  # Hershey fonts are ASCII


def boundary(mask: np.ndarray) -> np.ndarray:
    """The pixels of an ``(H, W) bool`` mask with at least one 4-neighbour outside it -> ``(H, W) bool``.

    Pixels beyond the image count as outside, so a mask touching the frame edge is outlined along it.
    """
    as_bytes = np.ascontiguousarray(mask).view(np.uint8)  # cv2 has no bool type; same itemsize, no copy
    eroded = cv2.erode(as_bytes, _CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return mask & ~eroded.view(bool)


def grading_lines(grading: Grading, *, fps: float | None = None) -> tuple[str, ...]:
    """The caption of an overlay: grade, colour fraction, vessel count and frame (with its time at ``fps``)."""
    scale = SCALE_NAMES.get(grading.headline_scale, grading.headline_scale)
    grade = "n/a" if grading.grade is None else str(grading.grade)
    cf = "n/a" if grading.colour_fraction is None else f"{100 * grading.colour_fraction:.1f}%"
    vessels = "n/a" if grading.vessel_count is None else str(grading.vessel_count)
    frame = f"frame {grading.frame_index}"
    if fps is not None and fps > 0:
        frame += f" ({grading.frame_index / fps:.2f} s)"
    return (f"grade {grade} ({scale})", f"CF {cf}", f"vessels {vessels}", frame)


def _text_metrics(width: int) -> tuple[float, int, int, int]:
    """Font scale, stroke thickness, line height and padding for a frame ``width`` pixels wide."""
    scale = min(max(width / 1800, 0.35), 2.0)  # readable on a 320-px still, not huge on a 4K screen
    thickness = max(1, round(scale * 1.6))
    line_h = math.ceil(30 * scale)
    return scale, thickness, line_h, max(2, round(6 * scale))


def caption_area(width: int, height: int, text_lines: Sequence[str], flash: bool = False) -> Rect:
    """The top-left rectangle ``(x0, y0, x1, y1)`` (half-open, clipped to the frame) the caption covers.

    ``(0, 0, 0, 0)`` when there is nothing to write.
    """
    lines = _caption(text_lines, flash)
    if not lines:
        return (0, 0, 0, 0)
    scale, thickness, line_h, pad = _text_metrics(width)
    text_w = max(cv2.getTextSize(line, FONT, scale, thickness)[0][0] for line in lines)
    return (0, 0, min(width, text_w + 2 * pad), min(height, len(lines) * line_h + 2 * pad))


def _caption(text_lines: Sequence[str], flash: bool) -> list[str]:
    return (["FLASH"] if flash else []) + [line for line in text_lines if line]


def check_frame(frame: np.ndarray, name: str = "frame") -> tuple[int, int]:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        seen = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB array, got {seen}")
    return frame.shape[0], frame.shape[1]


def _check_mask(mask: np.ndarray, name: str, shape: tuple[int, int]) -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != shape:
        seen = f"{mask.dtype} {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
        raise ValueError(f"{name} must be an (H, W) bool mask of the frame's size {shape}, got {seen}")
    return mask


def paint(image: np.ndarray, where: np.ndarray, colour: Rgb) -> None:
    """Set the ``(H, W) bool`` pixels of ``where`` to ``colour`` (the masks drawn are sparse)."""
    # the coordinates from findNonZero make this 3-7x faster than boolean or np.copyto(where=) at 1080p
    points = cv2.findNonZero(np.ascontiguousarray(where).view(np.uint8))  # (K, 1, 2) x, y; None if empty
    if points is not None:
        points = points.reshape(-1, 2)  # OpenCV drops the middle axis for some K
        image[points[:, 1], points[:, 0]] = colour


def black_outside(frame: np.ndarray, picture: Rect) -> np.ndarray:
    """A copy of ``frame`` (``(H, W, 3) uint8 RGB``) black outside ``picture`` (x0, y0, x1, y1, half-open).

    A scanner screen writes the patient's name, ID and the date in text bands around the ultrasound
    picture; an overlay kept or handed on without them cannot leak them. The picture keeps its pixel
    coordinates, so regions and boxes of the Result still fall on the same pixels.
    """
    h, w = check_frame(frame)
    x0, y0, x1, y1 = max(0, picture[0]), max(0, picture[1]), min(w, picture[2]), min(h, picture[3])
    out = np.zeros_like(frame)
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = frame[y0:y1, x0:x1]
    return out


def render_frame(
    frame: np.ndarray,
    tendon: np.ndarray,
    counted: np.ndarray,
    *,
    band: np.ndarray | None = None,
    box: np.ndarray | None = None,
    text_lines: Sequence[str] = (),
    flash: bool = False,
) -> np.ndarray:
    """A copy of ``frame`` with the measurement drawn on it; ``frame`` itself is left as it is.

    ``frame``: ``(H, W, 3) uint8 RGB``. ``tendon``, ``counted``, ``band``, ``box``: ``(H, W) bool``: the
    region measured, the Doppler pixels counted in it, the peritendinous band (a ring around the tendon,
    with or without the tendon) and the Doppler box interior. Drawn, later over earlier: counted pixels
    in green, the box's edge in yellow, the band's outer edge in cyan, the tendon's boundary pixels
    (:func:`boundary`) in white, 1 px; then ``text_lines`` (and "FLASH" in red first when ``flash``) on
    a darkened top-left corner (:func:`caption_area`). Returns ``(H, W, 3) uint8 RGB``.
    """
    h, w = check_frame(frame)
    _check_mask(tendon, "tendon", (h, w))
    _check_mask(counted, "counted", (h, w))
    out = frame.copy()
    paint(out, counted, GREEN)
    if box is not None:
        paint(out, boundary(_check_mask(box, "box", (h, w))), YELLOW)
    if band is not None:
        region = _check_mask(band, "band", (h, w)) | tendon
        paint(out, boundary(region) & ~tendon, CYAN)  # the ring's inner edge is the tendon contour
    paint(out, boundary(tendon), WHITE)
    _draw_caption(out, text_lines, flash)
    return out


def _draw_caption(image: np.ndarray, text_lines: Sequence[str], flash: bool) -> None:
    h, w = image.shape[:2]
    x0, y0, x1, y1 = caption_area(w, h, text_lines, flash)
    if x1 == 0:
        return
    corner = image[y0:y1, x0:x1]
    np.right_shift(corner, 2, out=corner)  # a quarter of the brightness: white text reads on any image
    scale, thickness, line_h, pad = _text_metrics(w)
    for i, line in enumerate(_caption(text_lines, flash)):
        colour = RED if flash and i == 0 else WHITE
        baseline = pad + (i + 1) * line_h - round(8 * scale)
        cv2.putText(image, line, (pad, baseline), FONT, scale, colour, thickness, cv2.LINE_AA)
