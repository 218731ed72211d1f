"""The label map the counter reads: tendon, peritendinous band and the rest of the Doppler box.

Label values (``cuda_ops`` counts up to 8; 0 is never counted):

* ``1`` tendon (or the user's region) inside the Doppler box: the colour fraction's denominator;
* ``2`` the peritendinous band inside the box: pixels within the band width of the tendon, tendon
  excluded — where neovessels enter from the fat pad side (docs/references.md#band; OMERACT counts
  enthesis signal within 2 mm of the cortex, the same width is used here around the tendon). Width:
  ``NEOVASC_BAND_MM`` (2 mm) when calibrated, else ``NEOVASC_BAND_PX`` (20 px, about 2 mm at the
  0.1 mm/px of a typical 4 cm linear-probe view);
* ``3`` the rest of the Doppler box (with label 1 and 2 it is the whole box: the flash measure).

Without a located box the whole image area stands in for it. Colour bars and everything outside the
image area carry no label, and neither does tendon outside the box (Doppler cannot appear there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from app.pipeline.decode import Calibration
from app.pipeline.geometry import Rect

LABEL_TENDON = 1
LABEL_BAND = 2
LABEL_BOX_REST = 3


@dataclass(frozen=True)
class Band:
    """The peritendinous band's width: ``radius_x``/``radius_y`` in pixels, ``width_mm`` when calibrated."""

    radius_x: float
    radius_y: float
    width_mm: float | None

    @classmethod
    def for_calibration(cls, calibration: Calibration | None, width_mm: float, width_px: int) -> Band:
        if calibration is None:
            return cls(float(width_px), float(width_px), None)
        return cls(width_mm / calibration.mm_per_px_x, width_mm / calibration.mm_per_px_y, width_mm)

    @property
    def kernel(self) -> np.ndarray | None:
        """The elliptical structuring element (``uint8``), or None for a band narrower than a pixel."""
        rx, ry = round(self.radius_x), round(self.radius_y)
        if rx < 1 and ry < 1:
            return None
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rx + 1, 2 * ry + 1))


def _window(mask: np.ndarray, ry: int, rx: int) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)``: the bounding box of ``mask (H, W) bool`` grown by the radii, or None if empty."""
    h, w = mask.shape
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return max(0, rows[0] - ry), min(h, rows[-1] + ry + 1), max(0, cols[0] - rx), min(w, cols[-1] + rx + 1)


def label_frames(roi: np.ndarray, band: Band, countable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The band and the label map of each region: ``(B, H, W) bool`` and ``(B, H, W) uint8``.

    ``roi (B, H, W) bool``: the tendon (or drawn region) of each frame; ``countable (H, W) bool``: inside
    the Doppler box(es), or the image area without one, bars excluded. The band is the region dilated by
    the band's radii minus the region. Everything but the copy of the box runs on each region's bounding
    box grown by the radii only: a tendon covers a small part of a full-HD frame, and whole-frame mask
    arithmetic cost more per frame than counting it.
    """
    kernel = band.kernel
    ry, rx = (kernel.shape[0] // 2, kernel.shape[1] // 2) if kernel is not None else (0, 0)
    bands = np.zeros_like(roi)
    labels = np.empty(roi.shape, np.uint8)
    labels[...] = np.where(countable, np.uint8(LABEL_BOX_REST), np.uint8(0))  # (H, W) broadcast to every frame
    for i, mask in enumerate(roi):
        if i and np.array_equal(mask, roi[i - 1]):  # runs of frames share one outline: labelled once
            bands[i], labels[i] = bands[i - 1], labels[i - 1]
            continue
        window = _window(mask, ry, rx)
        if window is None:
            continue
        y0, y1, x0, x1 = window
        crop, inside, frame_labels = mask[y0:y1, x0:x1], countable[y0:y1, x0:x1], labels[i, y0:y1, x0:x1]
        if kernel is not None:
            grown = cv2.dilate(crop.view(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            ring = grown.view(bool) & ~crop
            bands[i, y0:y1, x0:x1] = ring
            frame_labels[ring & inside] = LABEL_BAND
        frame_labels[crop & inside] = LABEL_TENDON
    return bands, labels


@dataclass(frozen=True, eq=False)
class RegionRuns:
    """A batch's regions as runs of consecutive frames: run ``k`` ends before frame ``stops[k]`` (and starts
    where run ``k - 1`` ends, the first at 0); ``masks[k]`` is ``(1, H, W) bool``, one region for the whole
    run, or ``(n, H, W)``, one for each of its ``n`` frames. A region finder that knows where the picture
    changed returns these, and each run's region is labelled and counted once, not frame by frame."""

    stops: tuple[int, ...]
    masks: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, regions: np.ndarray | RegionRuns, frames: int) -> RegionRuns:
        """``regions`` for a batch of ``frames``: runs as they are, an array ``(1|B, H, W)`` as one run."""
        runs = regions if isinstance(regions, RegionRuns) else cls((frames,), (np.asarray(regions, dtype=bool),))
        if not runs.stops or runs.stops[-1] != frames or len(runs.stops) != len(runs.masks):
            raise RuntimeError(f"the region finder's runs end at {runs.stops}, for a batch of {frames} frames")
        return runs

    def spans(self) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(first, stop, mask)`` of each run."""
        first = 0
        for stop, mask in zip(self.stops, self.masks, strict=True):
            yield first, stop, mask
            first = stop

    def stacked(self) -> np.ndarray:
        """``(1, H, W)`` when one region serves every frame, else ``(B, H, W)``."""
        if len(self.masks) == 1:
            return self.masks[0]
        return np.concatenate([np.broadcast_to(m, (stop - first, *m.shape[1:])) for first, stop, m in self.spans()])


# ``(B, H, W, 3) uint8 RGB`` frames and the picture's bounds -> ``(B|1, H, W) bool`` tendon regions, or the
# regions of runs of frames (:class:`RegionRuns`).
RegionFinder = Callable[[np.ndarray, Rect], np.ndarray | RegionRuns]
