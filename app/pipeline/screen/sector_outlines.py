"""Sector (fan) Doppler box outlines of any colour: arcs around the picture's apex and straight radial sides."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

from app.pipeline.screen.doppler_box import (
    MIN_BOX_SIDE,
    OutlineCandidate,
    box_sizes,
    clearest,
    describe_interior,
    fit_interior,
)
from app.pipeline.screen.line_colours import (
    CONTROL_OFFSET,
    GREY_CHROMA,
    LINE_PARTS,
    MIN_SIDE_CONTRAST,
    MIN_SIDE_SHARE,
    LineColours,
    colour_tolerance,
    line_score,
)
from app.pipeline.screen.line_edges import CORNER_REACH, MIN_LINE_LEVEL
from app.pipeline.screen.planes import Planes, hue
from app.pipeline.screen.quads import MAX_EDGE_COLOUR, Flow
from app.pipeline.screen.straight_outlines import SECTOR_HALF_LINE
from app.pipeline.screen.straight_sides import COARSE_SAMPLES, SIDE_SAMPLES

# --- sector outlines of any colour: arcs around the fan's apex, straight radial sides ----------------------------
#
# Around the apex, an arc of the outline puts many pixels of one colour at one distance: counted by distance and
# colour, it stands out of the speckle's even spread as a spike. Two spikes of one colour, an inner and an outer
# arc over about the same angles, make a sector when the straight radial sides between their ends are there too.

LEVEL_BIN = 16  # brightness levels per grey class; a line's pixels fall in two neighbouring classes at most
HUE_BIN = 15  # OpenCV hue units per colour class
MIN_SPIKE_RATIO = 1.6  # pixels of one colour at an arc's distance, against the same colour a few px nearer and further
MIN_ARC = 2 * MIN_BOX_SIDE  # px of arc of one colour at least (at 640 of frame; more on larger screens)
ARC_GAP = 3  # px of arc between pixels of one arc, at most (codecs and flow over the line break it)
MAX_ARCS = 8  # strongest spikes paired
APEX_SLACK = 2  # px a radial side may pass beside the apex found from the picture's edges
ARC_SLACK = 1.5  # px an arc's ring may lie in or out of the radius found (ditto)


@dataclass(frozen=True)
class _Arc:
    """Pixels of one colour at one distance from the apex: ``radius`` (their mean), ``angles`` (first, last)."""

    radius: float
    angles: tuple[float, float]
    colour: np.ndarray  # (3,) int16
    length: float


def find_sector_outlines(
    planes: Planes, apex: tuple[float, float], within: np.ndarray, flow: np.ndarray
) -> list[OutlineCandidate]:
    """Sector outlines of any colour around ``apex (x, y)``, inside ``within (H, W) uint8`` (the picture), around a
    share of the ``flow (H, W) bool``, the clearest first."""
    height, width = planes.shape
    scale, min_area, _, _ = box_sizes(planes)
    arcs = _arcs(planes, apex, within, scale)
    lines = LineColours(planes.frame)
    min_side = max(MIN_BOX_SIDE, int(np.sqrt(min_area)) // 2)
    points = Flow.of(flow)
    flow_r = np.hypot(points.xs - apex[0], points.ys - apex[1])
    flow_a = np.arctan2(points.ys - apex[1], points.xs - apex[0])
    found = []
    for inner in arcs:
        for outer in arcs:
            if outer.radius - inner.radius < min_side or np.abs(inner.colour - outer.colour).max() > MAX_EDGE_COLOUR:
                continue
            radii = (inner.radius, outer.radius)
            reach = CORNER_REACH * scale / inner.radius  # how far the arcs' ends may be off, as an angle
            a0, a1 = min(inner.angles[0], outer.angles[0]) - reach, max(inner.angles[1], outer.angles[1]) + reach
            if not points.held((flow_r > radii[0]) & (flow_r < radii[1]) & (flow_a > a0) & (flow_a < a1)):
                continue
            sides = []
            for end in (0, 1):
                ends = (inner.angles[end], outer.angles[end])
                side = _radial_side(lines, inner.colour, apex, radii, (min(ends) - reach, max(ends) + reach), scale)
                if side is None:
                    break
                sides.append(side)
            if len(sides) < 2 or sides[1][0] - sides[0][0] < min_side / outer.radius:
                continue
            angles = (sides[0][0], sides[1][0])
            scores = [side[1] for side in sides] + [
                _arc_score(lines, inner.colour, apex, r, angles, scale) for r in radii
            ]
            if None in scores:
                continue
            box = _sector_box(apex, radii, angles, width, height)
            if box is not None and box.shape == "sector":
                found.append((min(scores), box))
    return [describe_interior(box, planes) for box in clearest(found)]


def _ray_points(apex, angles: np.ndarray, radii: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of points at ``radii`` along rays at ``angles`` moved sideways by ``offsets`` px, broadcast."""
    cos, sin = np.cos(angles), np.sin(angles)
    return apex[0] + radii * cos - offsets * sin, apex[1] + radii * sin + offsets * cos


def _radial_side(lines: LineColours, colour, apex, radii: tuple[float, float], span: tuple[float, float], scale):
    """``(angle, score)`` within ``span`` of the straight radial side between ``radii`` that best matches ``colour``
    (the apex is known to a pixel or two: each ray may pass up to APEX_SLACK px beside it), or None."""
    best = None  # coarse (2-px steps on the outer arc, on the ray itself), then fine around the best
    coarse = np.arange(span[0], span[1], 2.0 / radii[1])
    for angles, offsets, samples in (
        (coarse, np.zeros(1), COARSE_SAMPLES),
        (None, np.arange(-APEX_SLACK, APEX_SLACK + 0.5, 1.0), SIDE_SAMPLES),
    ):
        if angles is None:
            angles = best[1] + np.arange(-2.0, 2.5, 0.5) / radii[1]
        r = np.linspace(radii[0] + 2 * scale, radii[1] - 2 * scale, samples)
        x, y = _ray_points(apex, angles[:, None, None], r[None, None, :], offsets[None, :, None])
        share = lines.matches(colour, _rows(y, lines), x, 1 if offsets.size == 1 else 0).mean(axis=2)
        i, j = np.unravel_index(int(np.argmax(share)), share.shape)
        best = (float(share[i, j]), float(angles[i]), float(offsets[j]), r)
    _, angle, offset, r = best
    step = max(CONTROL_OFFSET, round(CONTROL_OFFSET * scale))
    on_x, on_y = _ray_points(apex, angle, r, offset)
    beside = []
    for d in (-step, step):
        bx, by = _ray_points(apex, angle, r, offset + d)
        beside.append(lines.matches(colour, _rows(by, lines), bx))
    score = line_score(lines.matches(colour, _rows(on_y, lines), on_x), beside)
    return None if score is None else (angle, score)


def _rows(y: np.ndarray, lines: LineColours) -> np.ndarray:
    return np.clip(np.rint(y).astype(np.intp), 0, lines.shape[0] - 1)


def _arc_score(lines: LineColours, colour, apex, radius: float, angles, scale: float) -> float | None:
    """How clearly the arc at ``radius`` between ``angles`` is drawn in ``colour``, or None: in each of LINE_PARTS
    parts, on the best ring up to ARC_SLACK px in or out (the apex is found to a pixel or two), against the rings
    CONTROL_OFFSET px further in and out."""
    step = 1.0 / max(radius, 1.0)
    a = np.arange(angles[0] + 2 * step, angles[1] - step, step)
    if a.size < LINE_PARTS:
        return None
    rings = np.arange(-ARC_SLACK, ARC_SLACK + 0.25, 0.5)
    offset = max(CONTROL_OFFSET, round(CONTROL_OFFSET * scale))
    shifts = np.concatenate([rings, rings - offset, rings + offset])
    x, y = _ray_points(apex, a[None, :], radius + shifts[:, None], 0.0)
    on = lines.matches(colour, _rows(y, lines), x).reshape(3, rings.size, a.size)
    on = (on[:, :-2] | on[:, 1:-1] | on[:, 2:]).reshape(-1, a.size)  # bands of 3 rings half a pixel apart:
    # a rastered arc wanders a pixel about its radius (polygon segments, and the apex found to a pixel or two)
    bounds = np.linspace(0, a.size, LINE_PARTS + 1).round().astype(int)
    leads = []  # per part; one part may lack the arc (a bright fibre tangent to it, smeared in by a codec)
    for lo, hi in itertools.pairwise(bounds):
        share = on[:, lo:hi].mean(axis=1).reshape(3, -1)  # (on, inside, outside) x rings
        best = int(np.argmax(share[0]))  # against the mean of both sides: a fibre may run beside a stretch of arc
        lead = share[0, best] - share[1:, best].mean()
        leads.append(float(lead) if share[0, best] >= MIN_SIDE_SHARE and lead >= MIN_SIDE_CONTRAST else None)
    present = sorted(lead for lead in leads if lead is not None)
    return present[0] if len(present) >= LINE_PARTS - 1 else None


def _arcs(planes: Planes, apex: tuple[float, float], within: np.ndarray, scale: float) -> list[_Arc]:
    """Arcs of one colour around ``apex`` among the lit pixels of ``within``, strongest first."""
    ax, ay = apex
    lit = cv2.bitwise_and(within, cv2.threshold(planes.value, MIN_LINE_LEVEL - 1, 255, cv2.THRESH_BINARY)[1])
    points = cv2.findNonZero(lit)
    if points is None:
        return []
    points = points.reshape(-1, 2)  # OpenCV drops the middle axis for some counts
    xs, ys = points[:, 0], points[:, 1]
    distance = np.hypot(xs - ax, ys - ay)
    ring = distance.astype(np.intp)
    value, chroma = planes.value[ys, xs], planes.chroma[ys, xs]
    levels = 256 // LEVEL_BIN
    hues = hue(planes.frame[ys, xs]) // HUE_BIN
    kind = np.where(chroma <= GREY_CHROMA, value // LEVEL_BIN, levels + hues).astype(np.intp)
    classes = levels + 180 // HUE_BIN
    counts = np.bincount(ring * classes + kind, minlength=(ring.max() + 1) * classes).reshape(-1, classes)
    counts = counts[:, :-1] + counts[:, 1:]  # two neighbouring classes (a line's level sits near a class edge)
    counts = counts[:-1] + counts[1:]  # two neighbouring rings (an arc's pixels lie within a pixel of its radius)
    padded = np.pad(counts, ((3, 3), (0, 0)))
    beside = np.maximum(padded[:-6], padded[6:])  # the same colour 3 rings nearer, and 3 further
    excess = counts - beside
    strong = (counts >= MIN_SPIKE_RATIO * beside) & (excess >= MIN_ARC * scale)
    spikes = np.argwhere(strong)
    spikes = spikes[np.argsort(-excess[strong])]
    gap = ARC_GAP * scale
    arcs: list[_Arc] = []
    for r, k in spikes:
        if len(arcs) >= MAX_ARCS:
            break
        if any(abs(arc.radius - r) < 3 for arc in arcs):
            continue  # the same arc seen in the next class or ring
        near = np.flatnonzero((ring >= r - 1) & (ring <= r + 2))  # the spike's rings and one either side
        seed = _longest_arc(
            near[(kind[near] == k) | (kind[near] == k + 1)], xs, ys, distance, apex, planes.frame, r, gap
        )
        if seed is None:
            continue
        # grown again by colour, not class: codecs move a line's level across class edges along its length
        rgb = planes.frame[ys[near], xs[near]].astype(np.int16)
        alike = near[np.abs(rgb - seed.colour).max(axis=1) <= colour_tolerance(seed.colour)]
        grown = _longest_arc(alike, xs, ys, distance, apex, planes.frame, r, gap)
        if grown is not None and grown.length >= MIN_ARC * scale:  # the colour of the seed: speckle joins the rest
            arcs.append(_Arc(seed.radius, grown.angles, seed.colour, grown.length))
    return arcs


def _longest_arc(members, xs, ys, distance, apex, rgb: np.ndarray, radius: int, gap: float) -> _Arc | None:
    """The longest stretch of ``members`` (pixel indices) along their ring without a gap wider than ``gap`` px."""
    if members.size < 2:
        return None
    angles = np.arctan2(ys[members] - apex[1], xs[members] - apex[0])
    order = np.argsort(angles)
    along = angles[order] * max(radius, 1)
    breaks = np.flatnonzero(np.diff(along) > gap)
    starts = np.concatenate([[0], breaks + 1])
    stops = np.concatenate([breaks, [along.size - 1]])
    best = int(np.argmax(along[stops] - along[starts]))
    chosen = members[order[starts[best] : stops[best] + 1]]
    colour = np.median(rgb[ys[chosen], xs[chosen]], axis=0).astype(np.int16)
    first, last = angles[order[starts[best]]], angles[order[stops[best]]]
    return _Arc(
        float(distance[chosen].mean()),
        (float(first), float(last)),
        colour,
        float(along[stops[best]] - along[starts[best]]),
    )


def _sector_box(apex, radii: tuple[float, float], angles: tuple[float, float], width: int, height: int):
    """The fitted box of the interior of the sector outline whose lines run at ``radii`` and ``angles``."""
    ax, ay = apex
    inner, outer = radii[0] + SECTOR_HALF_LINE, radii[1] - SECTOR_HALF_LINE
    first, last = angles
    ring = [(ax + r * np.cos(a), ay + r * np.sin(a)) for r in (inner, outer) for a in np.linspace(first, last, 16)]
    xs, ys = np.array(ring).T
    x0, y0 = max(0, int(np.floor(xs.min())) - 1), max(0, int(np.floor(ys.min())) - 1)
    x1, y1 = min(width, int(np.ceil(xs.max())) + 2), min(height, int(np.ceil(ys.max())) + 2)
    if x1 - x0 < MIN_BOX_SIDE or y1 - y0 < MIN_BOX_SIDE:
        return None
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    r = np.hypot(gx - ax, gy - ay)
    a = np.arctan2(gy - ay, gx - ax)
    margin = SECTOR_HALF_LINE / np.maximum(r, 1.0)  # the radial sides' half width, as an angle
    inside = (r > inner) & (r < outer) & (a > first + margin) & (a < last - margin)
    return fit_interior(inside, x0, y0)
