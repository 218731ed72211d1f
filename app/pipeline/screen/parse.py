"""Screen parsing: the image area, the Doppler box(es), the colour bar(s) and the Doppler mode.

Runs once per clip on a few frames (``find_screen``). Each element comes from the DICOM Sequence of
Ultrasound Regions where the file marks it (RegionDataType 2 = colour flow gives a box, 0x0E = colour bar
gives the legend, 1 = tissue with spatial format 2D gives the image area; DICOM PS3.3 C.8.5.5.1), and
otherwise from the pixels: none of the real files we hold marks its box, so the pixels are the usual way.

* image area — :mod:`.image_area` (B-mode speckle versus flat text and panels; a fan's apex);
* colour bars — :mod:`.colour_bar` (solid smooth strips of saturated graded colour, on either side of the
  picture or on it; header banners, coloured text, flat buttons and chips with their labels, and grey-scale
  bars, tinted or not, are none; nor is a strip
  inside a Doppler box's outline: flow painted in one smooth ramp, which is counted), excluded
  from counting and read into a colour -> value map that becomes the counter's lookup table
  (:meth:`Screen.lut`);
* Doppler boxes — :mod:`.doppler_box`: white or coloured outlines first (where the picture shows plenty of flow,
  only those holding a share of it: tissue can close a loop of bright lines); where there is none and the screen
  shows flow, dotted outlines and straight or sector outlines of any colour (a grey line over speckle), kept
  only around a share of the flow (a few specks, such as a label or a caliper's, say nothing of where the box
  is: with a legend on screen, the outlines are then looked for as where nothing flows); on a screen with a
  colour bar and still no outline, the extent of the flow colour inside the image area (a guess: the Result
  warns ``colour_box_from_extent``). An outline always wins over the extent;
* calipers — :mod:`.calipers` (coloured measurement calipers over the picture: rows of alike dots with a cross
  at an end), left out of the count by :meth:`Screen.exclude_mask`; a dotted box outline is no caliper;
* mode — from the bar (warm hues at one end and cool at the other: colour flow; one hue family: power), else
  from the hues of the flow pixels: colour flow paints toward the probe red-to-yellow and away blue-to-cyan,
  power Doppler one ramp (docs/references.md#doppler-screens).

Coloured text, markers and ECG traces outside the image area are never read as flow; inside it, thin
one-colour strokes (text), lines of one-colour glyphs (bold or anti-aliased annotation), coloured calipers,
colours foreign to the legend (pixel by pixel: a coloured box outline touching the flow) and, without a legend,
green marks are ignored too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

import cuda_ops
from app.pipeline.decode import UltrasoundRegion
from app.pipeline.geometry import Rect, area, contains, grown, overlap, union
from app.pipeline.screen.calipers import Caliper, caliper_pixels, find_calipers, off_borders
from app.pipeline.screen.colour_bar import ColourBar, bar_from_region, find_colour_bars
from app.pipeline.screen.doppler_box import (
    MIN_FLOW_HELD,
    DopplerBox,
    OutlineCandidate,
    box_sizes,
    extent_box,
    rect_box,
    wider_outlines,
)
from app.pipeline.screen.flow_pixels import BAR_MARGIN, flow_mask, without_legends
from app.pipeline.screen.image_area import ImageArea, find_fan, find_image_area
from app.pipeline.screen.loop_outlines import find_dotted_outlines, find_outlines
from app.pipeline.screen.planes import COOL_HUES, WARM_HUES, Planes, hue, in_hues, make_planes
from app.pipeline.screen.sector_outlines import find_sector_outlines
from app.pipeline.screen.straight_outlines import find_straight_outlines
from cuda_ops.lut import DEFAULT_TABLE_BITS

DopplerMode = Literal["colour", "power", "none"]

# DICOM PS3.3 C.8.5.5.1.1 / .2: RegionSpatialFormat and RegionDataType
FORMAT_2D = 1
TYPE_TISSUE, TYPE_COLOUR_FLOW, TYPE_COLOUR_BAR = 0x01, 0x02, 0x0E

# Fewer flow pixels than this reads as "no Doppler" (a few coloured pixels come from UI marks and codec noise).
MIN_COLOUR_PX = 20
# With neither legend nor box on screen, flow must cover this share of the picture: single marks, icons
# and letters drawn in colour on a B-mode screen stay below it.
MIN_LOOSE_SHARE = 0.002
# Share of the picture that flow must cover before an outline found with a legend on screen must hold some of it,
# and before its extent stands in for a box no outline was found for (a marker dot is no box).
MIN_HELD_SHARE = 0.001
# Both directions must each hold at least this share of the flow pixels to read as colour flow.
MIN_DIRECTION_SHARE = 0.05
# An outline's interior is a Doppler box when this share of it is colour, or when its grey pixels are speckle.
MIN_BOX_COLOUR_SHARE = 0.3
MIN_BOX_TEXTURE = 0.3
# A Doppler box lies on the picture: at least this share of its interior inside the picture's hull. Only a
# quarter: the hull is found from speckle, and a dark picture (fluid, a heart's chambers) may show little of it;
# a logo or an icon in a banner or side panel lies wholly outside.
MIN_BOX_ON_PICTURE = 0.25
# Below this share of the picture's colour inside the white or coloured loops found, whether they hold the flow
# is checked (``_holding_flow``); a Doppler box on screen holds nearly all of it.
LOOP_COLOUR_HELD = 0.5
SAME_BOX_SHARE = 0.9  # two outlines whose bounds share this much (intersection over union) are one
# A "colour bar" inside a Doppler box outline is a patch of flow (a wide vessel cut by the box's side, a region
# painted in one smooth ramp): scanners paint flow inside the box and draw the legend outside it. Only where the
# patch takes at most this share of the outline's bounds and the rest is speckle, and the outline is not the
# picture's own frame (SAME_BOX_SHARE of the picture's bounds), which may hold a legend drawn on the picture.
MAX_HELD_BAR_SHARE = 0.5


@dataclass(frozen=True)
class Screen:
    """What is on the screen. Rectangles are half-open ``(x0, y0, x1, y1)`` pixel bounds.

    Attributes:
        image_area: the B-mode picture's bounding box.
        mode: "colour" (colour flow), "power" or "none".
        boxes: Doppler boxes, largest first (two on a split screen).
        colour_bars: colour legends, longest first.
        image_area_source: "dicom_region", "pixels" or "frame" (nothing found: the whole frame).
        calipers: coloured measurement calipers over the picture (never counted), on a Doppler screen.
    """

    image_area: Rect
    mode: DopplerMode
    boxes: tuple[DopplerBox, ...] = ()
    colour_bars: tuple[ColourBar, ...] = ()
    image_area_source: Literal["dicom_region", "pixels", "frame"] = "frame"
    calipers: tuple[Caliper, ...] = ()

    @property
    def doppler_box(self) -> Rect | None:
        """Bounding box of all Doppler boxes, or None when there is none."""
        if not self.boxes:
            return None
        return union([box.bbox for box in self.boxes])

    @property
    def box_source(self) -> str | None:
        return self.boxes[0].source if self.boxes else None

    def box_mask(self, height: int, width: int) -> np.ndarray:
        """``(height, width) bool``: inside any Doppler box (exact interiors, outlines excluded)."""
        return _interiors(self.boxes, height, width)

    def exclude_mask(self, height: int, width: int) -> np.ndarray:
        """``(height, width) bool``: never counted: colour bars (with a margin), calipers and all outside the
        image area."""
        out = np.ones((height, width), dtype=bool)
        x0, y0, x1, y1 = self.image_area
        out[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = False
        for bar in self.colour_bars:
            bx0, by0, bx1, by1 = bar.bbox
            out[max(0, by0 - BAR_MARGIN) : by1 + BAR_MARGIN, max(0, bx0 - BAR_MARGIN) : bx1 + BAR_MARGIN] = True
        return out | caliper_pixels(self.calipers, height, width)

    def lut(self, chroma_threshold: int, bits: int = DEFAULT_TABLE_BITS) -> cuda_ops.DopplerLUT:
        """The counter's lookup table: the first colour bar's map, or the plain chroma rule without a bar."""
        if self.colour_bars:
            return self.colour_bars[0].lut(chroma_threshold, bits)
        return cuda_ops.chroma_lut(chroma_threshold)

    def describe(self) -> dict[str, object]:
        """JSON-ready summary (for the Result's Doppler section and logs)."""
        x0, y0, x1, y1 = self.image_area
        return {
            "mode": self.mode,
            "image_area": {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "source": self.image_area_source},
            "boxes": [box.describe() for box in self.boxes],
            "colour_bars": [bar.describe() for bar in self.colour_bars],
            "calipers": [caliper.describe() for caliper in self.calipers],
        }


def find_screen(
    frames: np.ndarray,
    chroma_threshold: int,
    regions: Sequence[UltrasoundRegion] = (),
    on_picture: Callable[[Rect], None] | None = None,
) -> Screen:
    """Parse the screen of ``frames (N, H, W, 3) uint8 RGB`` (a few frames of one clip, N >= 1).

    ``chroma_threshold``: the counter's rule, a pixel is colour when ``max - min > chroma_threshold``.
    ``regions``: the DICOM ultrasound regions of the clip, in frame pixels (may be empty).
    ``on_picture``: told the image area as soon as the picture is found, before the Doppler box is looked
    for: the returned ``Screen.image_area`` is the same unless a box reaches beyond the picture (so a caller
    may start work on the picture meanwhile).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or 0 in frames.shape:
        raise ValueError(f"frames must be (N, H, W, 3) uint8 RGB with N >= 1, got {frames.shape} {frames.dtype}")
    planes = make_planes(frames, chroma_threshold)
    height, width = planes.shape
    bars = _bars(planes, regions)
    picture = find_image_area(planes)
    tissue = [r.bbox for r in regions if r.data_type == TYPE_TISSUE and r.spatial_format == FORMAT_2D]
    flow_regions = [r.bbox for r in regions if r.data_type == TYPE_COLOUR_FLOW]
    inside = _inside_picture(picture, tissue, height, width)  # (H, W) uint8 0/255
    if on_picture is not None:
        on_picture(_image_area(picture, tissue, (), height, width)[0])
    flow = None  # (H, W) bool, found only when needed: a legend and a box leave nothing to decide from it
    # coloured calipers on the picture are marks, not flow: their dots would draw the search for a box to them
    marks = find_calipers(planes.frames, inside > 0, planes.chroma)
    if flow_regions:
        boxes = [rect_box(rect, "region", "dicom_region") for rect in flow_regions]
    else:
        candidates = find_outlines(planes)
        bars = _legends(bars, candidates, picture)
        boxes = _outline_boxes(candidates, bars, inside)
        if boxes and _colour_outside(planes, inside, bars, boxes):
            flow = flow_mask(planes, inside, bars, marks)
            boxes = _holding_flow(boxes, flow, cv2.countNonZero(inside))
            if boxes:  # a loop closed by tissue inside the box, with the box's own lines
                boxes = wider_outlines(
                    boxes, lambda: _outline_boxes(_any_outlines(planes, picture, flow), bars, inside, flow), flow
                )
        if not boxes:  # no white or coloured loop: with Doppler on screen, look for outlines of any colour
            flow = flow_mask(planes, inside, bars, marks) if flow is None else flow
            # an outline without a colour of its own must hold flow; without a legend, as much as makes a mode. With
            # a legend on screen a box is there even when nothing flows (a treated tendon): its outline is enough.
            enough = 0 if bars else max(MIN_COLOUR_PX, MIN_LOOSE_SHARE * cv2.countNonZero(inside))
            if np.count_nonzero(flow) >= enough:
                # a few specks (a caliper's, a label in a legend colour) say nothing of where the box is: outlines
                # are then looked for as on a screen where nothing flows
                specks = np.count_nonzero(flow) < _speck_limit(bars, inside)
                candidates = _any_outlines(planes, picture, np.zeros_like(flow) if specks else flow)
                legends = _legends(bars, candidates, picture)
                if len(legends) < len(bars):  # a patch of flow taken for a legend is flow again
                    bars, flow = legends, flow_mask(planes, inside, legends, marks)
                boxes = _outline_boxes(candidates, bars, inside, flow)
        if not boxes and bars:  # the flow's extent, when there is flow enough to say where the box is
            enough = max(MIN_COLOUR_PX, MIN_HELD_SHARE * cv2.countNonZero(inside))
            boxes = [extent_box(flow, box_sizes(planes)[0])] if np.count_nonzero(flow) >= enough else []
    boxes.sort(key=lambda b: -(b.bbox[2] - b.bbox[0]) * (b.bbox[3] - b.bbox[1]))
    area, source = _image_area(picture, tissue, boxes, height, width)
    if bars:
        mode: DopplerMode = "colour" if any(bar.kind == "velocity" for bar in bars) else "power"
    else:
        flow = flow_mask(planes, inside, bars, marks) if flow is None else flow
        mode = _mode(planes, boxes, flow, cv2.countNonZero(inside))
    calipers = off_borders(marks, _interiors(boxes, height, width)) if mode != "none" else ()
    return Screen(area, mode, tuple(boxes), tuple(bars), source, calipers)


def _image_area(
    picture: ImageArea | None, tissue: list[Rect], boxes: Sequence[DopplerBox], height: int, width: int
) -> tuple[Rect, str]:
    """The image area and where it comes from: the tissue regions, the picture found, or the whole frame;
    with the Doppler boxes on it (a box is part of the picture even where the picture is dark)."""
    if tissue:
        area, source = union(tissue), "dicom_region"
    elif picture is not None:
        area, source = picture.bbox, "pixels"
    else:
        area, source = (0, 0, width, height), "frame"
    if boxes and source != "frame":
        area = union([area] + [b.bbox for b in boxes])
    return (max(0, area[0]), max(0, area[1]), min(width, area[2]), min(height, area[3])), source


def _any_outlines(planes: Planes, picture: ImageArea | None, flow: np.ndarray) -> list[OutlineCandidate]:
    """Outlines found the slow way, to be held to the ``flow``: dotted coloured loops, straight quads of any colour,
    and sectors of any colour around a fan's apex."""
    bbox = None if picture is None else picture.bbox
    found = find_dotted_outlines(planes) + find_straight_outlines(planes, flow, bbox)
    fan = None if picture is None else find_fan(planes, picture)
    if fan is not None:
        found += find_sector_outlines(planes, fan.apex, picture.mask(*planes.shape), flow)
    return found


def _bars(planes: Planes, regions: Sequence[UltrasoundRegion]) -> list[ColourBar]:
    marked = [bar_from_region(planes, r.bbox) for r in regions if r.data_type == TYPE_COLOUR_BAR]
    seen = [b for b in find_colour_bars(planes) if not any(overlap(b.bbox, m.bbox) for m in marked)]
    return marked + seen


def _legends(bars: list[ColourBar], outlines: list[OutlineCandidate], picture: ImageArea | None) -> list[ColourBar]:
    """The ``bars`` that are legends: not a patch of flow inside one of the ``outlines`` (MAX_HELD_BAR_SHARE of its
    bounds at most, speckle around it; not the ``picture``'s frame). A bar a DICOM region marks stays."""
    boxes = [
        c.box.bbox
        for c in outlines
        if c.texture >= MIN_BOX_TEXTURE and (picture is None or not _same(c.box.bbox, picture.bbox))
    ]

    def held(bar: ColourBar) -> bool:
        return any(
            contains(grown(box, BAR_MARGIN), bar.bbox) and area(bar.bbox) <= MAX_HELD_BAR_SHARE * area(box)
            for box in boxes
        )

    return [bar for bar in bars if bar.source == "dicom_region" or not held(bar)]


def _inside_picture(picture: ImageArea | None, tissue: list[Rect], height: int, width: int) -> np.ndarray:
    """Where flow may be: the picture's hull, within the tissue regions when the file marks them."""
    inside = np.full((height, width), 255, dtype=np.uint8) if picture is None else picture.mask(height, width)
    if tissue:
        marked = np.zeros((height, width), dtype=np.uint8)
        for x0, y0, x1, y1 in tissue:
            marked[y0:y1, x0:x1] = 255
        inside = cv2.bitwise_and(inside, marked) if picture is not None else marked
    return inside


def _outline_boxes(
    candidates: list[OutlineCandidate], bars: list[ColourBar], inside: np.ndarray, flow: np.ndarray | None = None
) -> list[DopplerBox]:
    """Outlines that are Doppler boxes: on the picture (``inside``), B-mode or colour inside, flow or a legend on
    screen, no legend inside; with ``flow`` given, holding a share of it (outlines found without a colour of
    their own can be any straight lines)."""
    flow_px = 0 if flow is None else int(np.count_nonzero(flow))
    held_from = _speck_limit(bars, inside)
    kept = []
    for c in candidates:
        if c.colour_share < MIN_BOX_COLOUR_SHARE and c.texture < MIN_BOX_TEXTURE:
            continue  # a panel or frame around text, not around the picture
        if c.colour_px < MIN_COLOUR_PX and not bars:
            continue  # a drawn rectangle (zoom box, caliper frame) on a screen without Doppler
        if any(overlap(c.box.bbox, bar.bbox) for bar in bars):
            continue
        x0, y0, x1, y1 = c.box.bbox
        interior = c.box.window(x0, y0, x1, y1)
        on_picture = np.count_nonzero(interior & (inside[y0:y1, x0:x1] > 0))
        if on_picture < MIN_BOX_ON_PICTURE * np.count_nonzero(interior):
            continue  # a logo or an icon in the banner or a side panel
        if flow_px >= held_from and np.count_nonzero(flow[y0:y1, x0:x1] & interior) < MIN_FLOW_HELD * flow_px:
            continue
        kept.append(c.box)
    # one outline seen twice (by two of the searches) is kept once
    kept = [b for i, b in enumerate(kept) if not any(_same(b.bbox, o.bbox) for o in kept[:i])]
    # of nested outlines (an image frame around the colour box) keep the inner one
    return [b for b in kept if not any(o is not b and contains(b.bbox, o.bbox) for o in kept)]


def _speck_limit(bars: list[ColourBar], inside: np.ndarray) -> float:
    """Flow pixels below which the flow says nothing of where the box is: a few specks (a caliper mark, a label in
    a legend colour). With a legend on screen, a share of the picture (``inside``)."""
    return MIN_COLOUR_PX if not bars else max(MIN_COLOUR_PX, MIN_HELD_SHARE * cv2.countNonZero(inside))


def _colour_outside(planes: Planes, inside: np.ndarray, bars: list[ColourBar], boxes: list[DopplerBox]) -> bool:
    """Whether most colour on the picture (legends aside) lies outside every box: a quick look, before the flow
    itself (text and marks taken out) is worked out for ``_holding_flow``."""
    colour = without_legends(cv2.bitwise_and(planes.colour_any, inside), bars)
    total = cv2.countNonZero(colour)
    return total > 0 and np.count_nonzero(colour[_interiors(boxes, *colour.shape)]) < LOOP_COLOUR_HELD * total


def _holding_flow(boxes: list[DopplerBox], flow: np.ndarray, inside_px: int) -> list[DopplerBox]:
    """The loops that hold flow, where the picture shows plenty of it (``MIN_LOOSE_SHARE``): a scanner paints flow
    only inside its box, while tissue can close a loop of bright lines (a fascia meeting the skin line) that
    passes for one. With little flow, every loop stands."""
    flow_px = np.count_nonzero(flow)
    if flow_px < max(MIN_COLOUR_PX, MIN_LOOSE_SHARE * inside_px):
        return boxes
    return [b for b in boxes if np.count_nonzero(flow & b.mask(*flow.shape)) >= MIN_FLOW_HELD * flow_px]


def _interiors(boxes: Sequence[DopplerBox], height: int, width: int) -> np.ndarray:
    """``(height, width) bool``: inside any of ``boxes`` (exact interiors, outlines excluded)."""
    out = np.zeros((height, width), dtype=bool)
    for box in boxes:
        out |= box.mask(height, width)
    return out


def _same(a: Rect, b: Rect) -> bool:
    """Whether two boxes' bounds share at least SAME_BOX_SHARE of their union."""
    shared = overlap(a, b)
    return shared >= SAME_BOX_SHARE * (overlap(a, a) + overlap(b, b) - shared)


def _mode(planes: Planes, boxes: list[DopplerBox], flow: np.ndarray, inside_px: int) -> DopplerMode:
    """The mode of a screen without a legend, from the hues of the flow (inside the boxes when known).

    ``inside_px``: pixels of the picture; with neither legend nor box, flow must cover a share of it.
    """
    if boxes:
        flow = flow & _interiors(boxes, *flow.shape)
    colours = planes.frames[:, flow].reshape(-1, 3)  # (M * K, 3), every sampled frame
    colours = colours[colours.max(axis=1).astype(np.int16) - colours.min(axis=1) > planes.threshold]
    enough = MIN_COLOUR_PX if boxes else max(MIN_COLOUR_PX, MIN_LOOSE_SHARE * inside_px)
    if colours.shape[0] < enough * planes.frames.shape[0]:
        return "colour" if any(b.source == "dicom_region" for b in boxes) else "none"
    h = hue(colours)
    if in_hues(h, WARM_HUES).mean() >= MIN_DIRECTION_SHARE and in_hues(h, COOL_HUES).mean() >= MIN_DIRECTION_SHARE:
        return "colour"
    return "power"
