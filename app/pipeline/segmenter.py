"""The tendon model as the pipeline sees it, and the one way the CLI, the service and Python load it.

The model comes from ``weights/`` (``models.load_segmenter``), on the device the analysis counts on,
once per process for each folder and device.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from app.errors import NoTendonModel
from app.pipeline.geometry import Rect

log = logging.getLogger("neovasc")


class Segmenter(Protocol):
    """What the pipeline needs from a tendon model (``models.TendonSegmenter``)."""

    name: str
    sha256: str

    def predict(self, frames: np.ndarray, *, area: Rect | None = None) -> np.ndarray:
        """``(N, H, W, 3) uint8 RGB`` -> ``(N, H, W) bool`` tendon masks, found inside ``area`` (x0, y0, x1, y1).

        A segmenter may also offer ``probabilities(frames, *, area=None) -> (N, H, W) float32``; the
        region step then picks the region itself (hints, confidence). ``area`` is the picture's rectangle.
        One that also offers ``assess(frames, *, area=None)`` (``models.Assessment``: ``.probabilities``,
        ``.presence (N,)`` and ``.present (N,) bool``, or None for both without a presence head) has the frames
        it judges to hold no tendon left without an outline, unless the user gave a hint.
        """


@lru_cache(maxsize=4)
def installed_model(weights_dir: Path, device: str, runtime: str = "auto") -> Segmenter | None:
    """The first model of ``weights_dir/MANIFEST.json`` on ``device`` (``cpu`` or ``cuda``), or None when
    the folder lists none. Loaded once per process for each folder, device and ``runtime``
    (``NEOVASC_MODEL_RUNTIME``: ``auto`` runs the network with ONNX Runtime on the CPU when the folder
    ships its ONNX graph, ``torch`` always with torch).

    Raises:
        NoTendonModel: the manifest lists a model that cannot be loaded (missing file, hash mismatch...);
            not cached, so a repaired folder is read again on the next call.
    """
    from models import WeightsError, load_segmenter  # torch-heavy import, only when a model is wanted

    try:
        segmenter = load_segmenter(weights_dir, device=device, runtime=runtime)
    except WeightsError as exc:
        raise NoTendonModel(f"the tendon model in {weights_dir.name}/ could not be loaded: {exc}") from exc
    if segmenter is not None:
        how = getattr(segmenter, "runtime", "torch")
        log.info("tendon model %s (sha256 %s...) loaded on %s (%s)", segmenter.name, segmenter.sha256[:12], device, how)
    return segmenter


def tendon_model(weights_dir: Path, device: str, runtime: str = "auto") -> Segmenter:
    """As :func:`installed_model`, but a folder without a model is an error (there is no region to measure).

    Raises:
        NoTendonModel: no model is listed, or the listed one cannot be loaded.
    """
    model = installed_model(weights_dir, device, runtime)
    if model is None:
        raise NoTendonModel(
            f"no tendon model is installed in {weights_dir.name}/ and no region of interest was given; "
            "draw one (roi or roi_mask; --roi x0,y0,x1,y1 or --roi-mask MASK.png on the command line; "
            "RoiSpec in Python)"
        )
    return model
