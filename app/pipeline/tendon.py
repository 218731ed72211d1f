"""The region step with the tendon model: outlines only when the picture changes, a user's hint, confidence.

* **Outline again only when the picture changes.** A Doppler clip is mostly taken with the probe held still,
  so the tendon does not move. Every frame gets a thumbnail of its B-mode (the picture, colour left out,
  averaged down to ``THUMB`` cells) and its change from the frame the current outline was voted at:
  ``1 -`` the correlation of the two thumbnails (0: the same picture; fresh speckle and pulsing colour stay
  far below ``CHANGE_LIMIT``). A run of frames within ``CHANGE_LIMIT`` of its first frame shares one outline:
  the pixel-wise majority of the model's outlines of up to ``CONSENSUS_FRAMES`` frames of the run, labelled
  once (unless the voters disagree, mean IoU with their majority below ``MIN_AGREEMENT``: the model is unsure
  of this picture, and each frame of the run keeps its own outline). A frame beyond the limit (the probe
  moved) starts a new run: with the outline of a picture seen before when it is within the limit of one (the
  probe came back), else with a new outline.
  ``movement`` is the largest change measured; ``outlines`` how many outlines the clip needed.
* **Hints.** A rough box keeps the tendon region the model finds inside it; points on the tendon keep
  the regions that hold them (or the nearest within ``POINT_REACH`` of the frame's width). A miss
  becomes a measurement in a second at the scanner.
* **Is there a tendon at all?** A model with a presence head also says, for each frame, whether it holds a
  tendon (``models.TendonSegmenter.assess``); a frame it judges to hold none gets no outline, so a carotid
  wall or a nerve sheath outlined like a tendon ends in ``no_tendon_found``. A user's hint overrides it:
  the user says where the tendon is. ``presence`` is reported like the confidence.
* **Confidence** = the mean model probability over an outline, times the agreement of the frames it was
  voted from (their mean IoU with it), averaged over the clip's outlines weighted by the frames each covers.
  An outline (with several: the median one) smaller than ``MIN_TENDON_SHARE`` of the picture is a
  fragment, not a tendon. Both feed the ``low_confidence_tendon`` warning (``app.pipeline.grading.quality``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from app.errors import InvalidROI
from app.pipeline.geometry import Rect, area, clipped
from app.pipeline.measure.labels import RegionRuns
from app.pipeline.segmenter import Segmenter

CONSENSUS_FRAMES = 3  # frames of a run that its outline is voted from (3 and 5 scored alike on held-out val)
MIN_AGREEMENT = 0.6  # mean IoU of the voting outlines with their majority below which each frame keeps its own
CHANGE_LIMIT = 0.2  # picture change (1 - thumbnail correlation) beyond which the tendon is outlined again
THUMB = (32, 24)  # (width, height) cells of a frame's B-mode thumbnail
GREY_CHROMA = 40  # max - min of RGB up to which a pixel is B-mode grey (colour is left out of thumbnails)
MIN_GREY_SHARE = 0.25  # a thumbnail cell with less grey than this is not compared
MIN_SHARED_CELLS = 32  # cells two thumbnails must both see to be compared
FLAT_STD = 2.0  # grey levels: a thumbnail this even (a blank picture) is compared by its mean alone
POINT_REACH = 0.1  # share of the frame's width within which a region may be the one a point names
MIN_TENDON_SHARE = 0.005  # outlines smaller than this share of the picture are fragments
# Outlines whose masks are kept to be taken back when the probe returns to their picture (the latest ones): a
# probe swept through a long clip makes a new outline every few frames, and a mask is a frame's size. Older
# outlines keep what the report needs (their size and scores), and their picture, if it comes back, is voted again.
KEPT_OUTLINES = 16
THRESHOLD = 0.5  # probability above which a pixel is tendon (the model's decision boundary)


@dataclass(frozen=True)
class Hint:
    """Where the user says the tendon is: a rough box, and/or points on it (frame pixels)."""

    box: Rect | None = None
    points: tuple[tuple[int, int], ...] = ()

    @property
    def kind(self) -> str:
        return "box" if self.box is not None else "points"

    def check_fits(self, height: int, width: int) -> None:
        """Raise :class:`InvalidROI` when the box has no pixel in an image of that size, or a point lies outside
        it: such a hint names no tendon, and ignoring it would also drop the model's "no tendon" check."""
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            if area(clipped(self.box, width, height)) == 0:
                raise InvalidROI(
                    f"ROI hint {x0},{y0},{x1},{y1} lies outside the {width}x{height} image; "
                    f"give a box that overlaps it (x0 < {width} and y0 < {height})"
                )
        for x, y in self.points:
            if not (0 <= x < width and 0 <= y < height):
                raise InvalidROI(
                    f"tendon point {x},{y} lies outside the {width}x{height} image; "
                    f"keep 0 <= x < {width} and 0 <= y < {height}"
                )


@dataclass(frozen=True)
class OutlineReport:
    """How the model's outline came about, for the Result's ``roi`` and the warnings."""

    confidence: float | None  # 0..1; None when the model gives no probabilities
    presence: float | None  # 0..1, that the picture holds a tendon; None for a model without a presence head
    absent: bool  # the model judged every picture of the clip to hold no tendon (its presence head)
    movement: float | None  # the largest picture change measured, 0 still .. 1; None for a single frame
    fragment: bool  # far smaller than a tendon
    outlines: int  # outlines the clip needed: one per different picture seen
    hint: str | None  # "box", "points" or None


@dataclass(frozen=True)
class Thumb:
    """A frame's B-mode thumbnail: the grey level of each cell, and which cells were grey enough to be seen."""

    cells: np.ndarray  # (K,) float32 grey levels
    seen: np.ndarray  # (K,) bool: cells mostly B-mode grey (not coloured)

    def change(self, other: Thumb) -> float:
        """0 (the same picture) .. 1: 1 - the correlation of the cells both thumbnails see, clipped at 0 and 1.
        Pictures even over those cells (blank) are the same when their mean levels are close, else apart."""
        both = self.seen & other.seen
        if np.count_nonzero(both) < MIN_SHARED_CELLS:
            return 1.0  # colour covers nearly all of one of them: nothing to compare
        a, b = self.cells[both], other.cells[both]
        a, b = a - a.mean(), b - b.mean()
        norms = float(np.linalg.norm(a)) * float(np.linalg.norm(b))
        flat = FLAT_STD * FLAT_STD * a.size
        if min(float(a @ a), float(b @ b)) < flat:
            even = max(float(a @ a), float(b @ b)) < flat
            return 0.0 if even and abs(self.cells[both].mean() - other.cells[both].mean()) < 8 * FLAT_STD else 1.0
        return min(1.0, max(0.0, 1.0 - float(a @ b) / norms))


def thumbnails(frames: np.ndarray, picture: Rect) -> list[Thumb]:
    """The B-mode thumbnails of ``(B, H, W, 3) uint8 RGB`` frames inside ``picture``. Colour pixels are left
    out, and cells mostly coloured are not compared, so pulsing flow is no change of picture."""
    x0, y0, x1, y1 = picture
    crop = frames[:, y0:y1, x0:x1]
    if crop.shape[1] == 0 or crop.shape[2] == 0:
        empty = np.zeros(THUMB[0] * THUMB[1], np.float32)
        return [Thumb(empty, empty > 0) for _ in range(frames.shape[0])]
    step = max(1, min(crop.shape[1] // (4 * THUMB[1]), crop.shape[2] // (4 * THUMB[0])))
    crop = crop[:, ::step, ::step]  # a few pixels per cell are plenty: the cells average speckle away
    out = []
    for frame in crop:
        r, g, b = frame[..., 0], frame[..., 1], frame[..., 2]
        low = np.minimum(np.minimum(r, g), b)
        grey = (np.maximum(np.maximum(r, g), b) - low <= GREY_CHROMA).astype(np.float32)
        weight = cv2.resize(grey, THUMB, interpolation=cv2.INTER_AREA)
        level = cv2.resize(low.astype(np.float32) * grey, THUMB, interpolation=cv2.INTER_AREA)
        out.append(Thumb((level / np.maximum(weight, 1e-6)).ravel(), (weight >= MIN_GREY_SHARE).ravel()))
    return out


@dataclass
class _Outline:
    """One outline of the clip and what it was voted from."""

    mask: np.ndarray | None  # (1, H, W) bool; None once KEPT_OUTLINES newer ones hold theirs
    reference: Thumb  # the thumbnail of the frame it was voted at
    probability: float | None  # mean model probability over it (None without probabilities)
    presence: float | None  # median presence probability of the frames it was voted from (None: no head)
    absent: bool  # most of the frames it was voted from were judged to hold no tendon (and no hint said otherwise)
    agreement: float  # mean IoU of the voting frames' outlines with it (1 for one frame)
    size: int = 0  # pixels of the mask
    frames: int = 0  # frames it was measured on


class TendonRegions:
    """The scan's region finder for the tendon model (see the module docstring)."""

    def __init__(self, segmenter: Segmenter, hint: Hint | None = None) -> None:
        self.segmenter, self.hint = segmenter, hint
        self.restart()

    def restart(self) -> None:
        """Forget every outline: the next call starts the clip afresh (the scan calls this when it outlined
        its first batch ahead of the screen, on a picture area the screen then changed)."""
        self.current: _Outline | None = None
        self.outlines: list[_Outline] = []
        self.reference: Thumb | None = None  # the thumbnail of the frame the current outline was voted at
        self.movement = 0.0
        self.frames_seen = 0
        self.picture_px = 0

    @property
    def outline(self) -> np.ndarray | None:
        """``(1, H, W) bool``: the outline in use (the last one voted), or None before the first batch."""
        return None if self.current is None else self.current.mask

    def __call__(self, frames: np.ndarray, picture: Rect) -> np.ndarray | RegionRuns:
        """``(B, H, W, 3) uint8 RGB`` frames -> ``(1, H, W) bool`` (one outline for the batch), ``(B, H, W)`` (the
        model unsure of the picture: each frame its own), or the runs of frames between changes of picture with
        their outlines (:class:`~app.pipeline.measure.labels.RegionRuns`: each run labelled and counted once)."""
        self.picture_px = area(picture)
        thumbs = thumbnails(frames, picture)
        pieces = []  # (first, stop, mask): runs of frames sharing an outline
        i, n = 0, frames.shape[0]
        while i < n:
            if self.reference is None or self._changed(thumbs[i]):
                # a picture seen before (the probe back after a flash or a sweep) takes its outline back
                self.current = self._seen_before(thumbs[i])
                self.reference = thumbs[i] if self.current is None else self.current.reference
            stop = i + 1
            while stop < n and not self._changed(thumbs[stop]):
                stop += 1
            if self.current is None:
                self.current = self._vote(frames[i:stop], picture, self.reference)
                self._keep(self.current)
            self.current.frames += stop - i
            mask = self.current.mask
            if self.current.agreement < MIN_AGREEMENT:  # the model disagrees with itself: each frame its own outline
                mask = self._outlines(frames[i:stop], picture)[0]
            pieces.append((i, stop, mask))
            i = stop
        self.frames_seen += n
        if len(pieces) == 1:
            return pieces[0][2]  # (1, H, W): the same array while the picture holds, labelled once by the scan
        return RegionRuns(tuple(stop for _, stop, _ in pieces), tuple(mask for _, _, mask in pieces))

    def _changed(self, thumb: Thumb) -> bool:
        """Whether ``thumb`` is beyond CHANGE_LIMIT from the reference; the change counts toward ``movement``."""
        change = self.reference.change(thumb)
        self.movement = max(self.movement, change)
        return change > CHANGE_LIMIT

    def _keep(self, outline: _Outline) -> None:
        """Add ``outline`` to the clip's; the oldest mask beyond the KEPT_OUTLINES latest is let go."""
        self.outlines.append(outline)
        held = [o for o in self.outlines if o.mask is not None]
        for old in held[: max(0, len(held) - KEPT_OUTLINES)]:
            old.mask = None

    def _seen_before(self, thumb: Thumb) -> _Outline | None:
        """The outline of the picture closest to ``thumb`` among those whose masks are kept, if within
        CHANGE_LIMIT."""
        held = [o for o in self.outlines if o.mask is not None]
        changes = [o.reference.change(thumb) for o in held]
        if not changes or min(changes) > CHANGE_LIMIT:
            return None
        return held[int(np.argmin(changes))]

    def _vote(self, frames: np.ndarray, picture: Rect, reference: Thumb) -> _Outline:
        """The majority of the model's outlines of up to CONSENSUS_FRAMES frames spread over ``frames``."""
        chosen = np.unique(np.linspace(0, frames.shape[0] - 1, min(CONSENSUS_FRAMES, frames.shape[0])).round())
        masks, probs, presence, present = self._outlines(frames[chosen.astype(int)], picture)
        box = _bounding_box(masks.any(axis=0))  # every outline lies inside it: the vote is counted there alone
        outline = np.zeros(masks.shape[1:], bool)  # (H, W): the majority of the outlines
        agreement, probability = 1.0, None if probs is None else 0.0
        if box is not None:
            inside = masks[:, box[0], box[1]]
            outline[box] = votes = inside.sum(axis=0, dtype=np.uint8) * 2 > masks.shape[0]
            if masks.shape[0] > 1:
                agreement = float(np.mean([_iou(m, votes) for m in inside]))
            if probs is not None and votes.any():
                probability = float(probs[:, box[0], box[1]][:, votes].mean())
        median_presence = None if presence is None else float(np.median(presence))
        absent = present is not None and self.hint is None and int(np.count_nonzero(~present)) * 2 > present.size
        size = int(np.count_nonzero(outline))
        return _Outline(outline[None], reference, probability, median_presence, absent, agreement, size)

    def _outlines(self, frames: np.ndarray, picture: Rect) -> tuple[np.ndarray, ...]:
        """``(B, H, W) bool`` outlines (one region each, chosen by the hint; none where the model says the frame
        holds no tendon and no hint says otherwise), then the probabilities, the presence and the presence
        decisions, where the model gives them (else None)."""
        window = self._search_area(picture, frames)
        assess = getattr(self.segmenter, "assess", None)
        if assess is None:
            probabilities = getattr(self.segmenter, "probabilities", None)
            if probabilities is None:  # a segmenter that only gives masks: its own choice of region
                return np.asarray(self.segmenter.predict(frames, area=window), bool), None, None, None
            probs, presence, present = np.asarray(probabilities(frames, area=picture), np.float32), None, None
        else:
            assessment = assess(frames, area=picture)
            probs, presence, present = assessment.probabilities, assessment.presence, assessment.present
        masks = np.stack([self._region(p, window) for p in probs])  # (B, H, W)
        if present is not None and self.hint is None:
            masks[~present] = False
        return masks, probs, presence, present

    def _search_area(self, picture: Rect, frames: np.ndarray) -> Rect:
        """Where the tendon region is looked for: the hint's box cut to the frame (checked to overlap it by
        :meth:`Hint.check_fits`), else the picture."""
        if self.hint is None or self.hint.box is None:
            return picture
        h, w = frames.shape[1:3]
        return clipped(self.hint.box, w, h)

    def _region(self, probs: np.ndarray, window: Rect) -> np.ndarray:
        """The one region above THRESHOLD of ``probs`` inside ``window`` that is the tendon: the hinted, else the
        one of the largest summed probability."""
        mask = probs > THRESHOLD
        if self.hint is None or not self.hint.points:
            from models.predictor import keep_largest_component  # loaded with the model; labels the mask's box only

            return keep_largest_component(mask, window, probs)
        x0, y0, x1, y1 = window
        inside = np.zeros_like(mask)
        inside[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
        _, labels = cv2.connectedComponents(inside.view(np.uint8), connectivity=8)
        keep = {_named(labels, point, mask.shape[1]) for point in self.hint.points} - {0}
        return np.isin(labels, list(keep)) if keep else np.zeros_like(mask)

    def report(self) -> OutlineReport:
        scored = [o for o in self.outlines if o.probability is not None]
        confidence = None
        if scored:
            weights = [max(1, o.frames) for o in scored]
            confidence = float(np.average([o.probability * o.agreement for o in scored], weights=weights))
        judged = [o for o in self.outlines if o.presence is not None]
        presence = None
        if judged:
            presence = float(np.average([o.presence for o in judged], weights=[max(1, o.frames) for o in judged]))
        sizes = [o.size for o in self.outlines]
        size = int(np.median(sizes)) if sizes else 0
        found = any(sizes)  # a typical outline of nothing while another has a speck is a fragment too
        return OutlineReport(
            confidence=None if confidence is None else round(confidence, 4),
            presence=None if presence is None else round(presence, 4),
            absent=bool(self.outlines) and all(o.absent for o in self.outlines),
            movement=None if self.frames_seen < 2 else round(self.movement, 4),
            fragment=found and size < MIN_TENDON_SHARE * self.picture_px,
            outlines=len(self.outlines),
            hint=None if self.hint is None else self.hint.kind,
        )


# How to hint at the tendon, in the spelling of each interface: HTTP form fields, command-line options, Python.
HINT_HOW = "roi_hint or tendon_point; --roi-hint or --tendon-point on the command line; Hint in Python"

LOW_CONFIDENCE = 0.7  # below this the outline is reported as uncertain (this project's choice: a mean
# probability near the 0.5 boundary means the outline is made of marginal pixels)


def outline_warnings(report: OutlineReport) -> Iterator[tuple[str, str]]:
    """``(code, message)`` of an uncertain, fragmentary or moving outline; the measurement is still reported."""
    if report.fragment:
        yield (
            "low_confidence_tendon",
            f"the model's outline covers less than {100 * MIN_TENDON_SHARE:.1f} % of the picture: a fragment, "
            f"not a whole tendon; draw the region or give a hint ({HINT_HOW})",
        )
    elif report.confidence is not None and report.confidence < LOW_CONFIDENCE:
        yield (
            "low_confidence_tendon",
            f"the model is unsure of the tendon (confidence {report.confidence:.2f}); check the overlay, or draw "
            f"the region or give a hint ({HINT_HOW})",
        )
    if report.outlines > 1:
        yield (
            "tendon_outline_moved",
            f"the picture changed during the clip (largest change {report.movement:.2f}): the tendon was outlined "
            f"again after each change, {report.outlines} outlines in all",
        )


def _named(labels: np.ndarray, point: tuple[int, int], width: int) -> int:
    """The component a point names: the one under it, else the nearest within ``POINT_REACH`` of the width."""
    x, y = point
    h, w = labels.shape
    if 0 <= x < w and 0 <= y < h and labels[y, x]:
        return int(labels[y, x])
    reach = max(1, round(POINT_REACH * width))
    y0, y1, x0, x1 = max(0, y - reach), min(h, y + reach + 1), max(0, x - reach), min(w, x + reach + 1)
    window = labels[y0:y1, x0:x1]
    ys, xs = np.nonzero(window)
    if ys.size == 0:
        return 0
    nearest = np.argmin((ys + y0 - y) ** 2 + (xs + x0 - x) ** 2)
    return int(window[ys[nearest], xs[nearest]])


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice] | None:
    """``(rows, columns)`` slices of the smallest box holding every True pixel of ``mask (H, W)``; None if none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union
