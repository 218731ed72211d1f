"""The Doppler box: the region where the scanner paints flow, found from its drawn outline.

Scanners draw the colour box as a thin line of one colour — white or grey on GE, green on ATL, cyan on
others (docs/references.md#doppler-screens), solid or dotted, sometimes anti-aliased — shaped as a
rectangle, a steered parallelogram (linear probe with beam steering), a trapezoid (linear probe with a
virtual apex) or an annular sector (curved and phased-array probes). Three searches, cheapest first:

* :func:`.loop_outlines.find_outlines` — a white or coloured line that closes on itself encloses a hole; the hole
  is the box interior. Its outline is fitted with each shape model (:func:`fit_interior`) and the simplest model
  that matches the hole is kept, so that :meth:`DopplerBox.mask` gives the interior exactly (outline pixels
  excluded) even where speckle or flow touches the line.
* :func:`.loop_outlines.find_dotted_outlines` — the same for dotted coloured lines, their dots joined first.
* :func:`.straight_outlines.find_straight_outlines` and :func:`.sector_outlines.find_sector_outlines` — a line
  of any colour, grey over grey speckle too, which no threshold can lift out: found from what sets it apart,
  that it is straight (or an arc around the fan's apex) and of one level, and checked against the pixels
  along each side and beside it.
  Lines found this way must hold the flow (the caller passes it): straight lines abound in a screen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from app.pipeline.geometry import Rect, area, clipped, contains, grown, overlap
from app.pipeline.screen.planes import Planes

BoxShape = Literal["rectangle", "parallelogram", "trapezoid", "sector", "colour_extent", "region"]
BoxSource = Literal["dicom_region", "outline", "colour_extent"]

MIN_BOX_SIDE = 12  # px; smaller loops are letters (O, P, B) and icons
MIN_BOX_AREA = 400  # px
# Dilations tried, in turn, to close gaps where flow is painted over the outline (px at 640 px of frame width;
# larger screens draw larger flow speckle and thicker lines, so the sizes grow with the frame).
GAP_BRIDGES = (1, 3, 5)
BRIDGE_REFERENCE = 640
MIN_FIT_IOU = 0.9  # a shape model must match the found interior this well
IOU_SAMPLES = 40_000  # pixels sampled to score a model
SIMPLER_SHAPE_SLACK = 0.01  # a simpler model within this IoU of the best one is preferred
EXTENT_SPECK_PX = 8  # px at 640: a flow piece smaller than this is a speck
EXTENT_SPECK_REACH = 64  # px at 640: a speck further than this from the other flow does not stretch its extent
MAX_SHARED = 0.1  # share of the smaller box two boxes found without a colour of their own may have in common
# An outline without a colour of its own (grey, found from straight runs or arcs) must hold at least this share of
# the flow: scanners paint flow only inside the box (a split screen shares it between two boxes).
MIN_FLOW_HELD = 0.2
# An outline of any colour around a white or coloured loop takes its place when it holds this share of the flow more
# (``wider_outlines``); the loop may run along the outline's own lines, up to SHARED_LINE_PX px outside its interior.
WIDER_GAIN = 0.25
SHARED_LINE_PX = 3


@dataclass(frozen=True)
class DopplerBox:
    """One Doppler box. ``bbox`` is the half-open ``(x0, y0, x1, y1)`` of its interior.

    Parallelograms and sectors keep their side lines as ``x = a + b * y`` through the centres of the
    outermost interior pixels; sectors add the apex ``(x, y)`` and the interior radii ``(inner, outer)``.
    """

    bbox: Rect
    shape: BoxShape
    source: BoxSource
    left: tuple[float, float] | None = None
    right: tuple[float, float] | None = None
    apex: tuple[float, float] | None = None
    radii: tuple[float, float] | None = None

    def window(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """The interior inside the window ``[x0, x1) x [y0, y1)``, ``(y1 - y0, x1 - x0) bool``."""
        ys = np.arange(y0, y1, dtype=np.float64)[:, None]
        xs = np.arange(x0, x1, dtype=np.float64)[None, :]
        bx0, by0, bx1, by1 = self.bbox
        inside = (xs >= bx0) & (xs < bx1) & (ys >= by0) & (ys < by1)
        if self.left is not None and self.right is not None:
            inside &= xs >= self.left[0] + self.left[1] * ys - 0.5
            inside &= xs <= self.right[0] + self.right[1] * ys + 0.5
        if self.apex is not None and self.radii is not None:
            r2 = (xs - self.apex[0]) ** 2 + (ys - self.apex[1]) ** 2
            inside &= (r2 >= (self.radii[0] - 0.5) ** 2) & (r2 <= (self.radii[1] + 0.5) ** 2)
        return inside

    def mask(self, height: int, width: int) -> np.ndarray:
        """The exact interior as ``(height, width) bool`` (outline pixels excluded)."""
        out = np.zeros((height, width), dtype=bool)
        x0, y0, x1, y1 = clipped(self.bbox, width, height)
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = self.window(x0, y0, x1, y1)
        return out

    def describe(self) -> dict[str, object]:
        """JSON-ready summary for reports."""
        x0, y0, x1, y1 = self.bbox
        return {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "shape": self.shape, "source": self.source}


def rect_box(rect: Rect, shape: BoxShape, source: BoxSource) -> DopplerBox:
    """A box whose interior is the whole rectangle ``rect``."""
    return DopplerBox(bbox=tuple(int(v) for v in rect), shape=shape, source=source)


# --- shape fitting -------------------------------------------------------------------------------------------


def _robust_line(t: np.ndarray, s: np.ndarray) -> tuple[float, float] | None:
    """``s = a + b * t`` by least squares with outliers (speckle or flow touching the line) dropped."""
    if t.size < 4:
        return None
    keep = np.ones(t.size, dtype=bool)
    a = b = 0.0
    for _ in range(4):
        b, a = np.polyfit(t[keep], s[keep], 1)
        residual = np.abs(s - (a + b * t))
        scale = max(0.75, 1.4826 * float(np.median(residual[keep])))
        new = residual <= 3.0 * scale
        if new.sum() < 4 or np.array_equal(new, keep):
            break
        keep = new
    return float(a), float(b)


def _extremes(region: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices along ``axis`` of the first and last True per line, for lines holding any True."""
    lines = np.flatnonzero(region.any(axis=axis))
    sub = region[:, lines] if axis == 0 else region[lines]
    first = np.argmax(sub, axis=axis)
    last = sub.shape[axis] - 1 - np.argmax(np.flip(sub, axis=axis), axis=axis)
    return lines, first, last


def _middle(values: np.ndarray, share: float) -> np.ndarray:
    lo, hi = values.min(), values.max()
    margin = (hi - lo) * share
    return (values >= lo + margin) & (values <= hi - margin)


def fit_interior(region: np.ndarray, x0: int = 0, y0: int = 0) -> DopplerBox | None:
    """Fit a rectangle, parallelogram, sector or trapezoid to a filled interior ``region (h, w) bool`` at (x0, y0).

    Returns None when no model matches the region with IoU >= ``MIN_FIT_IOU``.
    """
    rows, xl, xr = _extremes(region, axis=1)
    if rows.size < MIN_BOX_SIDE:
        return None
    mid = _middle(rows, 0.15)
    left = _robust_line(rows[mid].astype(float), xl[mid].astype(float))
    right = _robust_line(rows[mid].astype(float), xr[mid].astype(float))
    if left is None or right is None:
        return None
    cols, yt, yb = _extremes(region, axis=0)
    top, bottom = _off_sides(cols, yt, left, right), _off_sides(cols, yb, left, right)
    if top.sum() < 3 or bottom.sum() < 3:
        return None
    models = _models(rows, xl, xr, cols, yt, yb, top, bottom, left, right)
    stride = max(1, int(np.sqrt(region.size / IOU_SAMPLES)))  # the IoU of a large box needs no every pixel
    sampled = region[::stride, ::stride]
    scores = []
    for box in models:
        if box.shape == "trapezoid" and max(scores) >= 1.0 - SIMPLER_SHAPE_SLACK:
            scores.append(0.0)  # taken only over a clearly worse fit, and nothing fits clearly better than this
            continue
        fitted = box.window(0, 0, region.shape[1], region.shape[0])[::stride, ::stride]
        common = int(np.count_nonzero(fitted & sampled))
        scores.append(common / max(1, int(np.count_nonzero(fitted | sampled))))
    for score, box in zip(scores, models, strict=True):  # models come in order of preference, simplest first
        if score >= max(scores) - SIMPLER_SHAPE_SLACK and score >= MIN_FIT_IOU:
            return _placed(box, x0, y0, region.shape)
    return None


def _off_sides(cols, ys, left, right) -> np.ndarray:
    """Boundary points ``(cols, ys)`` that lie on the top or bottom edge rather than on a side line."""
    xl = left[0] + left[1] * ys
    xr = right[0] + right[1] * ys
    return (cols > xl + 1.5) & (cols < xr - 1.5)


def _models(rows, xl, xr, cols, yt, yb, top, bottom, left, right) -> list[DopplerBox]:
    """Candidate boxes in region coordinates, in order of preference (simplest first)."""
    mid = _middle(rows, 0.15)
    y0, y1 = round(float(np.median(yt[top]))), round(float(np.median(yb[bottom]))) + 1
    x0, x1 = round(float(np.median(xl[mid]))), round(float(np.median(xr[mid]))) + 1
    width = int(xr.max()) + 1
    models = [DopplerBox((x0, y0, x1, y1), "rectangle", "outline")]
    slope = 0.5 * (left[1] + right[1])
    if abs(left[1] - right[1]) <= 0.05 and abs(slope) > 0.01:
        a_left = float(np.median(xl[mid] - slope * rows[mid]))
        a_right = float(np.median(xr[mid] - slope * rows[mid]))
        models.append(
            DopplerBox((0, y0, width, y1), "parallelogram", "outline", left=(a_left, slope), right=(a_right, slope))
        )
    if abs(left[1] - right[1]) > 0.02:  # sides that converge: arcs between them (sector) or straight lines
        ay = (right[0] - left[0]) / (left[1] - right[1])
        ax = left[0] + left[1] * ay
        r_top = np.hypot(cols[top] - ax, yt[top] - ay)
        r_bottom = np.hypot(cols[bottom] - ax, yb[bottom] - ay)
        inner, outer = sorted((float(np.median(r_top)), float(np.median(r_bottom))))
        height = int(max(yb.max(), rows.max())) + 1
        models.append(
            DopplerBox(
                (0, 0, width, height), "sector", "outline", left=left, right=right, apex=(ax, ay), radii=(inner, outer)
            )
        )
        # straight top and bottom: a trapezoid, taken over a sector only when it fits clearly better (a sector's
        # arcs can be flat enough to pass for straight lines)
        models.append(DopplerBox((0, y0, width, y1), "trapezoid", "outline", left=left, right=right))
    return models


def _placed(box: DopplerBox, x0: int, y0: int, shape: tuple[int, int]) -> DopplerBox | None:
    """Move a box fitted in region coordinates to frame coordinates, with its bbox tightened to the pixels."""
    ys, xs = np.nonzero(box.window(0, 0, shape[1], shape[0]))
    if ys.size == 0:
        return None
    bbox = (int(xs.min()) + x0, int(ys.min()) + y0, int(xs.max()) + 1 + x0, int(ys.max()) + 1 + y0)

    def shift(line):
        return None if line is None else (line[0] + x0 - line[1] * y0, line[1])

    apex = None if box.apex is None else (box.apex[0] + x0, box.apex[1] + y0)
    return DopplerBox(bbox, box.shape, "outline", shift(box.left), shift(box.right), apex, box.radii)


# --- what an outline holds -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutlineCandidate:
    """A closed outline with a fitted interior, and what the interior holds."""

    box: DopplerBox
    colour_px: int  # pixels with chroma > threshold on any sampled frame
    colour_share: float
    texture: float  # share of grey interior pixels that differ from their right neighbour (B-mode speckle)


def box_sizes(planes: Planes) -> tuple[float, int, tuple[int, ...], int]:
    """``(scale, least box area, gap bridges, wall)`` for a frame: sizes grow with the frame (larger screens draw
    larger flow speckle and thicker lines); bridges are odd dilation sizes, the wall a closing size."""
    height, width = planes.shape
    scale = max(1.0, max(height, width) / BRIDGE_REFERENCE)
    min_area = max(MIN_BOX_AREA, int(0.002 * height * width))
    bridges = tuple(sorted({2 * round((size * scale - 1) / 2) + 1 for size in GAP_BRIDGES}))
    return scale, min_area, bridges, 2 * round(scale) + 1


def describe_interior(box: DopplerBox, planes: Planes) -> OutlineCandidate:
    x0, y0, x1, y1 = box.bbox
    inside = box.window(x0, y0, x1, y1)
    colour = planes.colour_any[y0:y1, x0:x1] > 0
    grey = inside & ~colour
    value = planes.value[y0:y1, x0:x1]
    step = max(1, round(max(planes.shape) / BRIDGE_REFERENCE))  # speckle is coarser on larger screens
    changes = np.zeros(inside.shape, dtype=bool)
    changes[:, :-step] = value[:, step:] != value[:, :-step]
    n_inside = max(1, int(inside.sum()))
    colour_px = int((inside & colour).sum())
    texture = float((changes & grey).sum()) / max(1, int(grey.sum()))
    return OutlineCandidate(box, colour_px, colour_px / n_inside, texture)


def extent_box(mask: np.ndarray, scale: float = 1.0) -> DopplerBox | None:
    """The bounding rectangle of ``mask (H, W) bool`` as a colour-extent box, or None when empty.

    A speck (an 8-connected piece under EXTENT_SPECK_PX px at 640) further than EXTENT_SPECK_REACH px (at 640)
    from the larger pieces' extent is left out of it: a depth scale's mark or a logo's dot in a flow colour sits
    anywhere on the picture and would stretch the box to it, while specks of flow lie near the rest of the flow.
    ``scale``: how many times larger than 640 px the screen is."""
    pieces, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if pieces < 2:
        return None
    x0, y0, w, h = (stats[1:, i] for i in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    x1, y1 = x0 + w, y0 + h
    large = stats[1:, cv2.CC_STAT_AREA] >= EXTENT_SPECK_PX * scale * scale
    kept = np.ones_like(large)
    if large.any():
        reach = EXTENT_SPECK_REACH * scale
        near_x = (x1 >= x0[large].min() - reach) & (x0 <= x1[large].max() + reach)
        near_y = (y1 >= y0[large].min() - reach) & (y0 <= y1[large].max() + reach)
        kept = large | (near_x & near_y)
    rect = (int(x0[kept].min()), int(y0[kept].min()), int(x1[kept].max()), int(y1[kept].max()))
    return rect_box(rect, "colour_extent", "colour_extent")


def clearest(found: list[tuple[float, DopplerBox]]) -> list[DopplerBox]:
    """Boxes by how clearly their lines show, none overlapping a clearer one: two Doppler boxes lie side by side
    (a split screen), while overlapping finds are one outline seen twice, once with a stretch of speckle or a
    fibre taken for an edge."""
    boxes: list[DopplerBox] = []
    for _, box in sorted(found, key=lambda item: -item[0]):
        if not any(overlap(box.bbox, b.bbox) > MAX_SHARED * min(area(box.bbox), area(b.bbox)) for b in boxes):
            boxes.append(box)
    return boxes


def wider_outlines(
    loops: list[DopplerBox], find_outlines: Callable[[], list[DopplerBox]], flow: np.ndarray
) -> list[DopplerBox]:
    """The outlines of any colour (``find_outlines()``) that hold at least WIDER_GAIN more of the ``flow`` than
    every one of the ``loops`` (white or coloured) they contain, in place of those loops; else the ``loops``. A
    loop that leaves much of the flow outside it can be closed by bright tissue (a bony dome's cortex) with the
    box's own lines, inside the box. The outlines are looked for (a slow search) only where a loop holds some of
    the flow (specks elsewhere on the screen, a mark's or a label's, say nothing of where the box is) and leaves
    enough of it outside for an outline around it to hold WIDER_GAIN more."""
    total = max(1, np.count_nonzero(flow))
    held = {id(b): np.count_nonzero(flow & b.mask(*flow.shape)) for b in loops}
    if not any(held.values()) or all(held[id(b)] > (1 - WIDER_GAIN) * total for b in loops):
        return loops
    outlines = find_outlines()
    held.update({id(o): np.count_nonzero(flow & o.mask(*flow.shape)) for o in outlines})

    def around(o: DopplerBox, b: DopplerBox) -> bool:  # the loop may share the outline's lines
        return contains(grown(o.bbox, SHARED_LINE_PX), b.bbox)

    wider = [
        o
        for o in outlines
        if any(around(o, b) for b in loops)
        and all(held[id(o)] - held[id(b)] >= WIDER_GAIN * total for b in loops if around(o, b))
    ]
    if not wider:
        return loops
    return wider + [b for b in loops if not any(around(o, b) for o in wider)]
