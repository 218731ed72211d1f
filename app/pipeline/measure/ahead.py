"""The first batch's region step, run on a thread of its own while the screen is parsed (:class:`Ahead`)."""

from __future__ import annotations

import threading

import numpy as np

from app.pipeline.geometry import Rect
from app.pipeline.measure.labels import RegionFinder, RegionRuns


class Ahead:
    """The first batch's regions, found on a thread of their own while the screen is parsed.

    The region step needs only the picture, which the screen parsing finds first; the Doppler box, bars and
    outlines take longer, and the model (ONNX Runtime, torch) and OpenCV leave the interpreter lock while
    they work, so the two overlap. Only a region finder that can be restarted (``restart()``: the tendon
    model's, which remembers what it outlined) is run ahead: when the screen's final image area differs from
    the picture (a box reaching beyond it), the finder is restarted and called again with the final one.
    """

    def __init__(self, regions: RegionFinder, frames: np.ndarray) -> None:
        self.regions, self.frames = regions, frames
        self.area: Rect | None = None
        self.thread: threading.Thread | None = None
        self.found: np.ndarray | RegionRuns | None = None
        self.error: BaseException | None = None

    def start(self, area: Rect) -> None:
        """Called by the screen parsing with the picture's area: start the region step there."""
        if not callable(getattr(self.regions, "restart", None)):
            return
        self.area = area
        self.thread = threading.Thread(target=self._run, name="neovasc-regions-ahead", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.found = self.regions(self.frames, self.area)
        except BaseException as exc:  # handed to the scan's thread, which raises it
            self.error = exc

    def finish(self) -> None:
        """Wait for the regions found ahead, if any are being found."""
        if self.thread is not None:
            self.thread.join()

    def result(self, area: Rect) -> np.ndarray | RegionRuns | None:
        """The regions found ahead when they were found in ``area``; None when the scan must find them."""
        if self.thread is None:
            return None
        self.finish()
        if area != self.area:
            self.regions.restart()
            return None
        if self.error is not None:
            raise self.error
        return self.found
