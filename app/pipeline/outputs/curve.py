"""The per-frame colour-fraction curve of a clip as an image: kept frames, flash frames, the selected one."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from app.pipeline.outputs.overlay import FONT, RED, Rgb, paint

_CURVE = (31, 90, 180)  # blue: the kept frames' colour fraction
_SELECTED = (230, 120, 0)  # orange, far enough from red that flash marks stay unambiguous
_MEDIAN = (110, 110, 110)
_GRID = (228, 228, 228)
_INK = (0, 0, 0)
_CURVE_FONT = 0.4
_MIN_CURVE_SIZE = (120, 200)


def _nice_step(span: float, target: int) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about ``target`` intervals over ``span``."""
    raw = max(span, 1e-9) / target
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))


def _label(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


def _text(image: np.ndarray, text: str, org: tuple[int, int], colour: Rgb, backed: bool = False) -> None:
    """Write ``text`` with its baseline at ``org``; ``backed``: on white, to read over the curve."""
    if backed:
        (w, h), depth = cv2.getTextSize(text, FONT, _CURVE_FONT, 1)
        cv2.rectangle(image, (org[0] - 1, org[1] - h - 1), (org[0] + w, org[1] + depth - 1), (255, 255, 255), -1)
    cv2.putText(image, text, org, FONT, _CURVE_FONT, colour, 1, cv2.LINE_AA)


def _text_w(text: str) -> int:
    return cv2.getTextSize(text, FONT, _CURVE_FONT, 1)[0][0]


class _Plot:
    """Pixel geometry of the plot area: frames along x (one bin each), percent along y."""

    def __init__(self, size: tuple[int, int], n: int, y_max: float, frame_step: int) -> None:
        self.x0, self.y0 = 52, 22  # room for "100%" left of the axis and a title line above
        self.pw, self.ph = size[1] - self.x0 - 14, size[0] - self.y0 - 40  # x labels and axis title below
        self.n, self.y_max, self.frame_step = n, y_max, frame_step

    def x(self, index: np.ndarray | float) -> np.ndarray:
        """Pixel column of frame ``index``: frame i owns the bin [i, i+1) of ``n`` equal bins."""
        column = np.floor((np.asarray(index, np.float64) + 0.5) * self.pw / max(self.n, 1))
        return self.x0 + np.clip(column, 0, self.pw - 1).astype(np.int64)

    def y(self, percent: np.ndarray | float) -> np.ndarray:
        share = np.clip(np.asarray(percent, np.float64) / self.y_max, 0.0, 1.0)
        return self.y0 + self.ph - 1 - np.round(share * (self.ph - 1)).astype(np.int64)


def render_curve(
    fractions: Sequence[float | None],
    flash: Sequence[bool],
    selected: int | None,
    *,
    fps: float | None = None,
    frame_step: int = 1,
    size: tuple[int, int] = (320, 800),
) -> np.ndarray:
    """The tendon colour fraction of every analysed frame as a line plot -> ``(H, W, 3) uint8 RGB``.

    ``fractions``: one value in 0–1 per frame, ``None`` where the frame had no tendon (a gap);
    ``flash``: one flag per frame (flash frames are left out of the line and marked in red, the only
    red in the image); ``selected``: the position in ``fractions`` of the graded frame (orange line,
    dot and label) or ``None``; ``fps``: label x in seconds instead of frame index; ``frame_step``:
    entry p is frame ``p * frame_step`` of the clip (sampled clips); ``size``: ``(height, width)``.
    The dashed grey line is the median of the kept frames (with a value, not flash). With more frames
    than pixel columns each column shows the min–max envelope of its frames. Deterministic.
    """
    n = len(fractions)
    if len(flash) != n:
        raise ValueError(f"flash needs one flag per frame: {len(flash)} flags for {n} frames")
    if selected is not None and not 0 <= selected < n:
        raise ValueError(f"selected frame {selected} is outside the {n} frames given")
    if len(size) != 2 or size[0] < _MIN_CURVE_SIZE[0] or size[1] < _MIN_CURVE_SIZE[1]:
        raise ValueError(f"size is (height, width), at least {_MIN_CURVE_SIZE}; got {tuple(size)}")
    if frame_step < 1:
        raise ValueError(f"frame_step must be >= 1, got {frame_step}")
    percent = np.array([np.nan if v is None else 100.0 * float(v) for v in fractions], np.float64)  # (N,)
    is_flash = np.array(flash, dtype=bool).reshape(n)
    kept = np.isfinite(percent) & ~is_flash
    finite = percent[np.isfinite(percent)]
    span = max(1.05 * float(finite.max()) if finite.size else 0.0, 1.0)  # headroom; at least 0–1 %
    step_y = _nice_step(span, 5)
    image = np.full((size[0], size[1], 3), 255, np.uint8)
    plot = _Plot(size, n, step_y * math.ceil(span / step_y - 1e-9), frame_step)
    _draw_axes(image, plot, step_y, fps)
    median = float(np.median(percent[kept])) if kept.any() else None
    if median is not None:
        _draw_median(image, plot, median)
    _draw_line(image, plot, np.where(kept, percent, np.nan))
    if is_flash.any():
        _draw_flash(image, plot, percent, is_flash)
    if selected is not None:
        _draw_selected(image, plot, selected, percent[selected], fps)
    if median is not None:
        label = f"median {median:.1f}%"
        y = max(plot.y0 + 10, int(plot.y(median)) - 4)
        _text(image, label, (plot.x0 + plot.pw - _text_w(label) - 2, y), _MEDIAN, backed=True)
    if not finite.size:
        note = "no frames" if n == 0 else "no tendon on any frame"
        _text(image, note, (plot.x0 + (plot.pw - _text_w(note)) // 2, plot.y0 + plot.ph // 2), _MEDIAN)
    return image


def _draw_axes(image: np.ndarray, plot: _Plot, step_y: float, fps: float | None) -> None:
    bottom, right = plot.y0 + plot.ph, plot.x0 + plot.pw
    for i in range(round(plot.y_max / step_y) + 1):
        y = int(plot.y(i * step_y))
        if i:
            image[y, plot.x0 : right] = _GRID
        cv2.line(image, (plot.x0 - 5, y), (plot.x0 - 1, y), _INK, 1)
        label = _label(i * step_y, step_y) + "%"
        _text(image, label, (plot.x0 - 8 - _text_w(label), y + 4), _INK)
    seconds = fps is not None and fps > 0
    rate = float(fps) if seconds else 1.0
    last = max(plot.n - 1, 0) * plot.frame_step / rate  # the last entry's frame, in axis units
    step_x = _nice_step(last, 8) if last > 0 else 1.0
    if not seconds:
        step_x = max(1.0, step_x)  # frame indices are whole numbers
    for i in range(math.floor(last / step_x + 1e-9) + 1):
        x = int(plot.x(i * step_x * rate / plot.frame_step))
        cv2.line(image, (x, bottom), (x, bottom + 4), _INK, 1)
        label = _label(i * step_x, step_x)
        _text(image, label, (x - _text_w(label) // 2, bottom + 17), _INK)
    cv2.line(image, (plot.x0 - 1, plot.y0), (plot.x0 - 1, bottom), _INK, 1)
    cv2.line(image, (plot.x0 - 1, bottom), (right - 1, bottom), _INK, 1)
    title = "time (s)" if seconds else "frame"
    _text(image, title, (plot.x0 + (plot.pw - _text_w(title)) // 2, bottom + 34), _INK)
    _text(image, "tendon colour fraction", (4, 14), _INK)


def _draw_line(image: np.ndarray, plot: _Plot, percent: np.ndarray) -> None:
    """The finite entries of ``percent`` (N,) as joined runs (a lone frame as a dot), or envelopes."""
    if plot.n > plot.pw:
        _draw_envelope(image, plot, percent)
        return
    valid = np.isfinite(percent)
    xs, ys = plot.x(np.arange(plot.n)), plot.y(np.nan_to_num(percent))
    edges = np.flatnonzero(np.diff(np.concatenate(([0], valid.astype(np.int8), [0]))))  # run starts, stops
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        points = np.stack([xs[start:stop], ys[start:stop]], axis=1).astype(np.int32)  # (K, 2) x, y
        if stop - start > 1:
            cv2.polylines(image, [points], False, _CURVE, 1, cv2.LINE_AA)
        if stop - start == 1 or plot.n <= plot.pw // 8:  # few frames: a dot on each
            for x, y in points:
                cv2.circle(image, (int(x), int(y)), 2, _CURVE, -1, cv2.LINE_AA)


def _draw_envelope(image: np.ndarray, plot: _Plot, percent: np.ndarray) -> None:
    """More frames than columns: each column spans the min..max of its frames (one point per column)."""
    columns = plot.x(np.arange(plot.n)) - plot.x0  # non-decreasing, every column used since n > pw
    starts = np.searchsorted(columns, np.arange(plot.pw))
    with np.errstate(invalid="ignore"):
        low, high = np.fmin.reduceat(percent, starts), np.fmax.reduceat(percent, starts)  # (pw,), NaN: empty
    both = np.isfinite(low[1:]) & np.isfinite(low[:-1])
    # stretch each column to meet its left neighbour, so the line stays connected
    low[1:], high[1:] = (
        np.where(both, np.minimum(low[1:], high[:-1]), low[1:]),
        np.where(both, np.maximum(high[1:], low[:-1]), high[1:]),
    )
    top, bottom = plot.y(np.nan_to_num(high)), plot.y(np.nan_to_num(low))  # pixel rows grow downwards
    rows = np.arange(plot.y0, plot.y0 + plot.ph)[:, None]  # (ph, 1)
    inside = (rows >= top[None]) & (rows <= bottom[None]) & np.isfinite(low)[None]  # (ph, pw)
    paint(image[plot.y0 : plot.y0 + plot.ph, plot.x0 : plot.x0 + plot.pw], inside, _CURVE)


def _draw_flash(image: np.ndarray, plot: _Plot, percent: np.ndarray, is_flash: np.ndarray) -> None:
    """Red dots at the flash frames' values, a red tick under every flash frame, and their count."""
    index = np.flatnonzero(is_flash & np.isfinite(percent))
    dots = np.unique(np.stack([plot.x(index), plot.y(percent[index])], axis=1), axis=0)  # (K, 2), one per pixel
    for x, y in dots:
        cv2.circle(image, (int(x), int(y)), 3, RED, -1, cv2.LINE_AA)
    bottom = plot.y0 + plot.ph
    image[bottom - 5 : bottom, np.unique(plot.x(np.flatnonzero(is_flash)))] = RED  # also where no value
    note = f"flash frames: {int(is_flash.sum())}"
    _text(image, note, (plot.x0 + plot.pw - _text_w(note), 14), RED)


def _draw_median(image: np.ndarray, plot: _Plot, median: float) -> None:
    y = int(plot.y(median))
    for x in range(plot.x0, plot.x0 + plot.pw, 10):  # dashes of 6 px, gaps of 4
        image[y, x : min(x + 6, plot.x0 + plot.pw)] = _MEDIAN


def _draw_selected(image: np.ndarray, plot: _Plot, index: int, percent: float, fps: float | None) -> None:
    x = int(plot.x(index))
    cv2.line(image, (x, plot.y0), (x, plot.y0 + plot.ph - 1), _SELECTED, 1)
    if np.isfinite(percent):
        cv2.circle(image, (x, int(plot.y(percent))), 4, _SELECTED, -1, cv2.LINE_AA)
    frame = index * plot.frame_step
    where = f"{frame / fps:.2f} s" if fps is not None and fps > 0 else f"frame {frame}"
    label = f"{where}: " + (f"{percent:.1f}%" if np.isfinite(percent) else "n/a")
    width = _text_w(label)
    left = x + 5 if x + 5 + width < plot.x0 + plot.pw else x - 5 - width  # keep the label inside the plot
    _text(image, label, (max(plot.x0 + 2, left), plot.y0 + 12), _SELECTED, backed=True)
