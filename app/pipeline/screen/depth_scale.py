"""Pixel size from the depth scale drawn beside the B-mode picture (screenshots and clips hold no pixel size).

What is read: a column of tick marks beside the picture's left or right edge (outside it or just inside it),
often with depths written next to some ticks. Why this way: the ticks' geometry looks alike in every
vendor's style and needs no font, while no OCR may be used; so the ticks give the spacing and the labels
only say how many centimetres one tick step is.

1. Ticks: small bright marks (a white top-hat along y keeps what is no taller than a tick; on the picture a
   mark must also be nearly white) in bands from a quarter of the frame's width outside the picture's left
   and right edges to a few px inside them, grouped into columns by a shared end or centre. Their centres
   must fit a regular lattice ``y = a + k p`` (:mod:`.depth_ticks`): at least four nodes, most nodes between the first
   and the last filled, within about half a pixel, explaining most marks of the column, ticks of at most
   two kinds, darker between the ticks than on them. ``p``, fitted by least squares over every tick, is the
   tick spacing in px.
2. Centimetres per tick step ``c``: from the labels when at least two are read. Labels are glyphs beside
   the column at every ``r``-th node; they are read by shape alone (holes, flat bars, which side opens above
   and below the middle) against the few evenly stepping integer sequences that could be written there,
   and ``c = label step / r`` must be 0.1, 0.2, 0.25, 0.5 or 1 cm. Otherwise from the tick lengths: longer
   ticks on every second node with shorter ones between read as 1 cm with 0.5 cm between, as on every such
   scale we have seen (our gallery and a real Mindray DC-8 screen). Labels that say otherwise, or that are
   read clearly but do not step evenly, refuse the scale.
3. ``mm/px = 10 c / p`` along y. x gets the same size: scan converters draw the picture with square pixels
   (every real DICOM here whose ultrasound region holds a linear or convex picture states equal sizes);
   a picture stretched after scan conversion would be wrong in x, and nothing on the screen can tell.

Limits (refused, never guessed): uniform ticks or longer ticks every 4, 5 or 10 nodes without readable
labels; labels with decimals; fewer than four ticks, or four drawn on the picture; dots along a sector's
slanted edge; a scale in a panel away from the picture's rows. The digit reader was checked on OpenCV's
Hershey faces, DejaVu, Noto, Nimbus and URW fonts (glyphs from about 10 px tall, also after JPEG and H.264)
and on the real screens in docs/grading.md, not on every vendor's font: where no reading clearly wins, the
labels count as unread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from app.pipeline.geometry import Rect
from app.pipeline.screen.depth_ticks import Band, Column, planes

SOURCE = "screen_depth_scale"
ABOVE = 0.5  # the bands start this share of the picture's height above it
# The bands reach this share of the frame's width beyond the picture's edges; where so much texture lies there
# that the ticks cannot be told from it (thumbnails of earlier images beside the picture), less far.
REACHES = (0.25, 0.12, 0.06)
INSIDE = 0.06  # the bands reach this share of the picture's width inside its edges (ticks drawn on the picture)
CM_PER_TICK = (0.1, 0.2, 0.25, 0.5, 1.0)  # tick steps a label reading may give
LABEL_STEPS = (1, 2, 5, 10)  # cm between consecutive labels that are tried
MAX_FIRST_LABEL = 30  # the first label's value is tried from 0 up to this many label steps
MIN_DIGIT_LIKE = 0.7  # a glyph counts toward a label when it agrees this much with some digit
MIN_READ_SCORE = 0.8  # mean agreement of the glyphs with the sequence read
MIN_READ_MARGIN = 0.08  # ... ahead of any sequence that gives another tick step
MIN_GLYPH_SCORE = 0.5  # and every glyph agrees at least this much with the digit it is read as
SAME = 0.02  # two scales that read within this relative difference agree


@dataclass(frozen=True)
class DepthScale:
    """The depth scale's reading: ``mm_per_px`` (square pixels), or None with ``why_not``; ``evidence`` either way.

    ``evidence`` holds what was seen: ``side``, ``tick_spacing_px``, ``ticks`` (nodes with a tick),
    ``first_tick_y`` (frame row of the first node), ``tick_spread_px``, ``major_every``, ``label_every``
    (nodes), ``labels`` (values read), ``cm_per_tick`` and ``rule`` (``"labels"`` or ``"tick_lengths"``: what
    gave the centimetres per tick).
    """

    mm_per_px: float | None
    why_not: str | None
    evidence: dict[str, float | int | str | list] = field(default_factory=dict)
    veto: bool = False  # the scale was seen and contradicts itself: no other column may stand in for it


def read_depth_scale(frames: np.ndarray, image_area: Rect) -> DepthScale:
    """The depth scale beside ``image_area`` on ``frames`` ``(N, H, W, 3) uint8`` RGB (up to 3 frames are used)."""
    height, width = frames.shape[1:3]
    x0, y0, x1, y1 = max(0, image_area[0]), max(0, image_area[1]), min(width, image_area[2]), min(height, image_area[3])
    if x1 - x0 < 16 or y1 - y0 < 16:
        return DepthScale(None, "there is no picture to find a depth scale beside")
    inside = max(2, round(INSIDE * (x1 - x0)))
    # the scale starts at the picture's top row, which the picture found may lie below: a gel stand-off or a dark
    # near field shows no speckle
    top = max(0, y0 - max(4, round(0.02 * height)) - round(ABOVE * (y1 - y0)))
    decisions = []
    for side in ("left", "right"):
        for reach in (round(share * width) for share in REACHES):  # a band busy with texture is narrowed
            b0, b1 = (max(0, x0 - reach), min(width, x0 + inside)) if side == "left" else (x1 - inside, x1 + reach)
            b0, b1 = max(0, b0), min(width, b1)
            if b1 - b0 < 3:
                break
            band = Band(side, b0, top, *planes(frames[:, top:, b0:b1]), height)
            if not band.busy:
                decisions += [_decide(band, column) for column in band.columns(y1 - y0)]
                break
    if not decisions:
        return DepthScale(None, "no regular column of tick marks was found beside the picture")
    decisions.sort(key=lambda d: -int(d.evidence["ticks"]))
    if decisions[0].veto:
        return decisions[0]
    read = [d for d in decisions if d.mm_per_px is not None]
    if not read:
        return decisions[0]
    for other in read[1:]:
        if abs(other.mm_per_px / read[0].mm_per_px - 1) > SAME:
            return DepthScale(None, "two depth scales beside the picture disagree", read[0].evidence, veto=True)
    return read[0]


# --- deciding ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Label:
    y: float  # centre, band px
    node: int  # lattice node it stands at (after the labels' common offset)
    glyphs: tuple[tuple[int, int, int, int], ...]  # left to right, band px


def _decide(band: Band, column: Column) -> DepthScale:
    lat = column.lattice
    evidence: dict[str, float | int | str | list] = {
        "side": band.side,
        "tick_spacing_px": round(lat.p, 3),
        "ticks": len(np.unique(lat.k)),
        "first_tick_y": round(band.y0 + lat.a, 1),
        "tick_spread_px": round(lat.spread, 3),
    }
    major = _major_every(column.ticks, lat.k)
    if major:
        evidence["major_every"] = major
    c_ticks = 0.5 if major == 2 else None
    labels = _labels(band, column)
    if labels:
        evidence["label_every"] = int(np.min(np.diff([lab.node for lab in labels])))
        values, c_labels, clear = _read(band, labels)
        evidence["labels"] = values
        if c_labels is not None:
            if c_ticks is not None and not math.isclose(c_labels, c_ticks):
                why = (
                    f"the depth scale's ticks and labels disagree: its tick lengths give {c_ticks:g} cm a tick, "
                    f"its labels {values} give {c_labels:g} cm"
                )
                return DepthScale(None, why, evidence, veto=True)
            return _scale(c_labels, lat.p, "labels", evidence)
        if clear:
            return DepthScale(None, f"the depth scale's labels {values} do not step evenly", evidence, veto=True)
    if c_ticks is not None:
        return _scale(c_ticks, lat.p, "tick_lengths", evidence)
    if labels:
        return DepthScale(None, "the depth scale's labels could not be read to tell how many cm a tick is", evidence)
    return DepthScale(None, "the depth scale has no labels or tick lengths that tell how many cm a tick is", evidence)


def _scale(cm_per_tick: float, p: float, rule: str, evidence: dict) -> DepthScale:
    return DepthScale(10.0 * cm_per_tick / p, None, {**evidence, "cm_per_tick": cm_per_tick, "rule": rule})


def _major_every(ticks: np.ndarray, k: np.ndarray) -> int | None:
    """Every how many nodes a longer tick stands, when the ticks come in two lengths in a regular pattern."""
    length = ticks[:, 2] - ticks[:, 0]
    nodes = np.unique(k)
    per_node = np.array([length[k == n].max() for n in nodes])
    lo, hi = float(per_node.min()), float(per_node.max())
    if hi < 1.6 * lo or hi - lo < 2:
        return None
    cut = math.sqrt(lo * hi)
    long, short = nodes[per_node >= cut], nodes[per_node < cut]
    if len(long) < 2 or len(short) < 2:
        return None
    every = int(np.min(np.diff(long)))
    phase = int(long[0]) % every
    if every < 2 or np.any((long - phase) % every) or np.any((short - phase) % every == 0):
        return None
    return every


def _labels(band: Band, column: Column) -> list[_Label]:
    """Labels: groups of one or two digit-like glyphs beside the column that stand at lattice nodes.

    On each side of the column, the largest set of groups that share one offset from the nodes (within a
    fifth of the spacing), a regular node interval and one edge toward the ticks (aligned within a quarter
    of their height) is kept; the side with more wins. Other text, icons and focus markers fall out.
    """
    lat, glyphs = column.lattice, band.glyphs
    if len(glyphs) < 2:
        return []
    tx0, tx1 = column.ticks[:, 0].min(), column.ticks[:, 2].max()
    gh = glyphs[:, 3] - glyphs[:, 1]
    cy = (glyphs[:, 1] + glyphs[:, 3]) / 2
    gap = np.maximum(tx0 - glyphs[:, 2], glyphs[:, 0] - tx1)
    near = (gap >= 0) & (gap <= 2 * gh) & (cy >= lat.a - 0.5 * lat.p) & (cy <= lat.a + (lat.k.max() + 1) * lat.p)
    best: list[_Label] = []
    for left in (True, False):
        chosen = [
            g
            for g in _group(glyphs[near & ((glyphs[:, 2] <= tx0) if left else (glyphs[:, 0] >= tx1))])
            if len(g) <= 2 and all(_digit_like(band, b) for b in g)
        ]
        if len(chosen) < 2:
            continue
        ys = np.array([(g[:, 1].min() + g[:, 3].max()) / 2 for g in chosen])
        edge = np.array([g[:, 2].max() if left else g[:, 0].min() for g in chosen])
        size = np.array([g[:, 3].max() - g[:, 1].min() for g in chosen])
        u = (ys - lat.a) / lat.p
        for j in range(len(chosen)):
            on = (np.abs((u - u[j] + 0.5) % 1 - 0.5) < 0.2) & (np.abs(edge - edge[j]) <= np.maximum(2, 0.25 * size))
            idx = np.flatnonzero(on)
            nodes = np.rint(u[idx] - u[j]).astype(int)
            if len(set(nodes)) != len(nodes):
                continue
            steps = {abs(int(d)) for d in np.diff(np.sort(nodes))} - {0}
            for every in sorted(steps):
                regular = idx[nodes % every == 0]
                if len(regular) > len(best):
                    shift = u[j] - round(u[j])
                    best = [_Label(float(ys[i]), round(u[i] - shift), _tuples(chosen[i])) for i in regular]
    return sorted(best, key=lambda lab: lab.y) if len(best) >= 2 else []


def _tuples(group: np.ndarray) -> tuple[tuple[int, int, int, int], ...]:
    return tuple((int(g[0]), int(g[1]), int(g[2]), int(g[3])) for g in group)


def _digit_like(band: Band, box: np.ndarray) -> bool:
    """Whether the glyph in ``box`` reads as a digit and stands on the screen's dark background: speckle on the
    picture beside a column can take a digit's shape, and a scale's numbers are not written over the picture."""
    box = (int(box[0]), int(box[1]), int(box[2]), int(box[3]))
    if not band.stands_on_dark(box):
        return False
    scores = band.digit_scores(box)
    return scores is not None and float(scores.max()) >= MIN_DIGIT_LIKE


def _group(glyphs: np.ndarray) -> list[np.ndarray]:
    """Glyphs side by side on one line, as groups (each ``(G, 4)`` sorted left to right).

    Glyphs are taken left to right: taken by their centre rows, a "0" a pixel taller than the "1" before it came
    first and, with nothing to its left, began a group of its own ("10" read as "1" and "0")."""
    order = np.argsort(glyphs[:, 0], kind="stable")
    groups: list[list[np.ndarray]] = []
    for i in order:
        g = glyphs[i]
        h = g[3] - g[1]
        for grp in groups:
            last = grp[-1]
            overlap = min(g[3], last[3]) - max(g[1], last[1])
            beside = 0 <= g[0] - last[2] <= 0.8 * max(h, last[3] - last[1])
            if overlap >= 0.5 * min(h, last[3] - last[1]) and beside:
                grp.append(g)
                break
        else:
            groups.append([g])
    return [np.array(sorted(grp, key=lambda t: t[0])) for grp in groups]


def _read(band: Band, labels: list[_Label]) -> tuple[list[int], float | None, bool]:
    """``(values, cm per tick or None, clear)``: the evenly stepping integers the labels read as, best.

    Each hypothesis (a label step from ``LABEL_STEPS`` and a first value) writes a number at each label; it
    fits when every label has as many glyphs as the number has digits and every glyph agrees at least
    ``MIN_GLYPH_SCORE`` with its digit (and none matches another digit fully while agreeing less than 0.8
    with its own), and it scores the glyphs' mean agreement. The best must score
    ``MIN_READ_SCORE`` and lead every fitting hypothesis that gives another tick step by ``MIN_READ_MARGIN``.
    Otherwise the values are the glyphs read one by one, with no step; ``clear`` says whether each of those
    glyphs matched one digit fully and no other closely (so labels that do not step evenly refuse the scale).
    """
    scores = [[band.digit_scores(b) for b in lab.glyphs] for lab in labels]
    alone = [int("".join(str(int(np.argmax(s))) for s in per)) for per in scores]
    clear = all(float(s.max()) >= 0.99 and float(np.sort(s)[-2]) <= 0.8 for per in scores for s in per)
    nodes = [lab.node for lab in labels]
    every = int(np.min(np.diff(nodes)))
    results: list[tuple[float, float, list[int]]] = []
    for step in LABEL_STEPS:
        cm = step / every
        if not any(math.isclose(cm, c) for c in CM_PER_TICK):
            continue
        for first in range(MAX_FIRST_LABEL + 1):
            exact = [first * step + (n - nodes[0]) * cm for n in nodes]
            if any(not math.isclose(v, round(v)) for v in exact):
                continue
            agree: list[float] = []
            for v, per in zip(exact, scores, strict=True):
                digits = str(round(v))
                if len(digits) != len(per):
                    break
                agree += [float(s[int(d)]) for d, s in zip(digits, per, strict=True)]
                contradicted = any(
                    float(s.max()) >= 0.99 and float(s[int(d)]) < 0.8 for d, s in zip(digits, per, strict=True)
                )
                if contradicted:  # a glyph plainly another digit
                    break
            else:
                if min(agree) >= MIN_GLYPH_SCORE:
                    results.append((float(np.mean(agree)), cm, [round(v) for v in exact]))
    if not results:
        return alone, None, clear
    results.sort(key=lambda r: -r[0])
    score, cm, values = results[0]
    rivals = [r[0] for r in results if not math.isclose(r[1], cm)]
    if score < MIN_READ_SCORE or (rivals and score - max(rivals) < MIN_READ_MARGIN):
        return alone, None, False
    return values, cm, True
