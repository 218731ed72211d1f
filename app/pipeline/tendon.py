"""The region step with the tendon model: one outline per clip, a user's hint, and how sure the model was.

* **One tendon per clip.** A Doppler clip is taken with the probe held still, so the tendon does not
  move. The model outlines up to ``CONSENSUS_FRAMES`` frames of the first batch; the clip's outline is
  their pixel-wise majority, measured on every frame (labelled once). One frame of each later batch is
  checked against it. ``movement`` = 1 - the lowest IoU of a checked outline with the clip's one; when
  one disagrees (IoU below ``MIN_AGREEMENT``) the probe moved, and from then on each frame keeps its own.
* **Hints.** A rough box keeps the tendon region the model finds inside it; points on the tendon keep
  the regions that hold them (or the nearest within ``POINT_REACH`` of the frame's width). A miss
  becomes a measurement in a second at the scanner.
* **Confidence** = the mean model probability over the outline, times the clip's mean agreement; when the
  probe moved, the mean over the frames' own outlines (0 for a frame with none). An outline (when the
  probe moved: the frames' median one) smaller than ``MIN_TENDON_SHARE`` of the picture is a fragment, not
  a tendon. Both feed the
  ``low_confidence_tendon`` warning (``app.pipeline.grading.quality``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from app.pipeline.geometry import Rect, area, clipped
from app.pipeline.segmenter import Segmenter

CONSENSUS_FRAMES = 5  # frames of the first batch the clip's outline is voted from
MIN_AGREEMENT = 0.6  # IoU with the clip's outline below which the probe is taken to have moved
POINT_REACH = 0.1  # share of the frame's width within which a region may be the one a point names
MIN_TENDON_SHARE = 0.005  # outlines smaller than this share of the picture are fragments
THRESHOLD = 0.5  # probability above which a pixel is tendon (the model's decision boundary)


@dataclass(frozen=True)
class Hint:
    """Where the user says the tendon is: a rough box, and/or points on it (frame pixels)."""

    box: Rect | None = None
    points: tuple[tuple[int, int], ...] = ()

    @property
    def kind(self) -> str:
        return "box" if self.box is not None else "points"


@dataclass(frozen=True)
class OutlineReport:
    """How the model's outline came about, for the Result's ``roi`` and the warnings."""

    confidence: float | None  # 0..1; None when the model gives no probabilities
    movement: float | None  # 0 still .. 1; None for a single frame
    fragment: bool  # far smaller than a tendon
    per_frame: bool  # the probe moved: every frame has its own outline
    hint: str | None  # "box", "points" or None


class TendonRegions:
    """The scan's region finder for the tendon model (see the module docstring)."""

    def __init__(self, segmenter: Segmenter, hint: Hint | None = None) -> None:
        self.segmenter, self.hint = segmenter, hint
        self.outline: np.ndarray | None = None  # (1, H, W) bool, the clip's outline
        self.per_frame = False
        self.ious: list[float] = []
        self.probability: float | None = None
        self.picture_px = 0
        self._scores: list[float] = []  # per outlined frame: mean probability over its outline (0 if empty)
        self._sizes: list[int] = []  # per outlined frame: the outline's pixels

    def __call__(self, frames: np.ndarray, picture: Rect) -> np.ndarray:
        """``(B, H, W, 3) uint8 RGB`` frames -> ``(1, H, W)`` (the clip's outline) or ``(B, H, W) bool``."""
        self.picture_px = area(picture)
        if self.per_frame:
            return self._outlines(frames, picture)[0]
        if self.outline is None:
            return self._vote(frames, picture)
        middle = frames.shape[0] // 2
        masks, _ = self._outlines(frames[middle : middle + 1], picture)
        self.ious.append(_iou(masks[0], self.outline[0]))
        if self.ious[-1] < MIN_AGREEMENT:
            self.per_frame = True
            return self._outlines(frames, picture)[0]
        return self.outline

    def _vote(self, frames: np.ndarray, picture: Rect) -> np.ndarray:
        chosen = np.unique(np.linspace(0, frames.shape[0] - 1, min(CONSENSUS_FRAMES, frames.shape[0])).round())
        masks, probs = self._outlines(frames[chosen.astype(int)], picture)
        outline = masks.sum(axis=0) * 2 > masks.shape[0]  # (H, W): the majority of the outlines
        if masks.shape[0] > 1:
            self.ious += [_iou(m, outline) for m in masks]
        if probs is not None and outline.any():
            self.probability = float(probs.mean(axis=0)[outline].mean())
        self.outline = outline[None]
        if self.ious and min(self.ious) < MIN_AGREEMENT:  # moving already within the first frames
            self.per_frame = True
            return self._outlines(frames, picture)[0]
        return self.outline

    def _outlines(self, frames: np.ndarray, picture: Rect) -> tuple[np.ndarray, np.ndarray | None]:
        """``(B, H, W) bool`` outlines (one region each, chosen by the hint) and the probabilities, if any."""
        probabilities = getattr(self.segmenter, "probabilities", None)
        if probabilities is None:  # a segmenter that only gives masks: its own choice of region
            return np.asarray(self.segmenter.predict(frames, area=self._search_area(picture, frames)), bool), None
        probs = np.asarray(probabilities(frames, area=picture), np.float32)  # (B, H, W)
        window = self._search_area(picture, frames)
        masks = np.stack([self._region(p > THRESHOLD, window) for p in probs])
        for mask, prob in zip(masks, probs, strict=True):
            self._sizes.append(int(np.count_nonzero(mask)))
            self._scores.append(float(prob[mask].mean()) if self._sizes[-1] else 0.0)
        return masks, probs

    def _search_area(self, picture: Rect, frames: np.ndarray) -> Rect:
        if self.hint is None or self.hint.box is None:
            return picture
        h, w = frames.shape[1:3]
        x0, y0, x1, y1 = clipped(self.hint.box, w, h)
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else picture

    def _region(self, mask: np.ndarray, window: Rect) -> np.ndarray:
        """The one region of ``mask`` inside ``window`` that is the tendon: the hinted, else the largest."""
        x0, y0, x1, y1 = window
        inside = np.zeros_like(mask)
        inside[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
        count, labels, stats, _ = cv2.connectedComponentsWithStats(inside.view(np.uint8), connectivity=8)
        if count <= 1:
            return inside
        if self.hint is not None and self.hint.points:
            keep = {_named(labels, point, mask.shape[1]) for point in self.hint.points} - {0}
            return np.isin(labels, list(keep)) if keep else np.zeros_like(mask)
        return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))

    def report(self) -> OutlineReport:
        agreement = float(np.mean(self.ious)) if self.ious else None
        probability, outline_px = self.probability, int(self.outline.sum()) if self.outline is not None else 0
        if self.per_frame and self._sizes:  # no one outline: judge the frames' own, typical one
            probability = float(np.mean(self._scores)) if self._scores else None
            outline_px = int(np.median(self._sizes))
            agreement = None  # the frames were meant to differ: the probe moved
        confidence = None if probability is None else probability * (1.0 if agreement is None else agreement)
        movement = None if not self.ious else 1.0 - min(self.ious)
        # per frame, a typical outline of nothing while some frames have a speck is a fragment too
        found = outline_px > 0 or (self.per_frame and any(self._sizes))
        fragment = found and outline_px < MIN_TENDON_SHARE * self.picture_px
        return OutlineReport(
            confidence=None if confidence is None else round(confidence, 4),
            movement=None if movement is None else round(movement, 4),
            fragment=fragment,
            per_frame=self.per_frame,
            hint=None if self.hint is None else self.hint.kind,
        )


LOW_CONFIDENCE = 0.7  # below this the outline is reported as uncertain (this project's choice: a mean
# probability near the 0.5 boundary means the outline is made of marginal pixels)


def outline_warnings(report: OutlineReport) -> Iterator[tuple[str, str]]:
    """``(code, message)`` of an uncertain, fragmentary or moving outline; the measurement is still reported."""
    if report.fragment:
        yield (
            "low_confidence_tendon",
            f"the model's outline covers less than {100 * MIN_TENDON_SHARE:.1f} % of the picture: a fragment, "
            "not a whole tendon; draw the region or give a hint (--roi-hint, --tendon-point)",
        )
    elif report.confidence is not None and report.confidence < LOW_CONFIDENCE:
        yield (
            "low_confidence_tendon",
            f"the model is unsure of the tendon (confidence {report.confidence:.2f}); check the overlay, or draw "
            "the region or give a hint (--roi-hint, --tendon-point)",
        )
    if report.per_frame:
        yield (
            "tendon_outline_moved",
            f"the tendon outline moved during the clip (movement {report.movement:.2f}): each frame was outlined "
            "on its own",
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


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union
