"""The report step's parts of the ``Result``: the Doppler section, calibration, source facts, the region,
and the ``ok: false`` Result of an input that failed. Nothing here reads patient data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app import __version__
from app.errors import NeovascError, error_line
from app.pipeline.decode import Calibration as CalibrationFact
from app.pipeline.decode import Clip
from app.pipeline.screen import Screen
from app.pipeline.tendon import OutlineReport
from app.schemas import Box, Calibration, Doppler, ErrorInfo, Result, Roi, SourceFacts


def bbox(mask: np.ndarray) -> Box | None:
    """Half-open bounding box of an ``(H, W) bool`` mask; None when empty."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return Box(x0=int(xs.min()), y0=int(ys.min()), x1=int(xs.max()) + 1, y1=int(ys.max()) + 1)


def roi_section(roi_mask: np.ndarray, drawn_kind: str | None, outline: OutlineReport | None = None) -> Roi:
    """The region measured on the selected frame: drawn (``rectangle`` or ``mask``) or the model's."""
    return Roi(
        source="model" if drawn_kind is None else "user",
        kind="segmentation" if drawn_kind is None else drawn_kind,
        bbox=bbox(roi_mask),
        area_px=int(roi_mask.sum()),
        confidence=None if outline is None else outline.confidence,
        presence=None if outline is None else outline.presence,
        movement=None if outline is None else outline.movement,
        outlines=None if outline is None else outline.outlines,
        hint=None if outline is None else outline.hint,
    )


def doppler_section(screen: Screen) -> Doppler:
    facts = screen.describe()
    box = screen.doppler_box
    return Doppler(
        mode=screen.mode,
        box=None if box is None else Box(x0=box[0], y0=box[1], x1=box[2], y1=box[3]),
        boxes=facts["boxes"],
        colour_bars=facts["colour_bars"],
        calipers=facts["calipers"],
        image_area=facts["image_area"],
    )


def calibration_section(calibration: CalibrationFact | None) -> Calibration | None:
    if calibration is None:
        return None
    return Calibration(
        mm_per_px_x=calibration.mm_per_px_x,
        mm_per_px_y=calibration.mm_per_px_y,
        source=calibration.source,
        evidence=getattr(calibration, "evidence", None) or None,  # what a screen's depth scale showed
    )


def source_facts(clip: Clip) -> SourceFacts:
    info = clip.source
    return SourceFacts(
        format=info.format, colour=info.colour, bit_depth=info.bit_depth, codec=info.codec,
        transfer_syntax=info.transfer_syntax, sop_class=info.sop_class, vendor=info.vendor,
        yuv_matrix=info.yuv_matrix, yuv_range=info.yuv_range,
        num_frames=clip.num_frames, width=clip.width, height=clip.height, fps=clip.fps,
        chroma_subsampling=info.chroma_subsampling, lossy=info.lossy,
    )  # fmt: skip


def failure_result(name: str, error: NeovascError) -> Result:
    """The ``ok: false`` Result of an input that could not be graded."""
    return Result(input=Path(name).name, ok=False, error=ErrorInfo(**error_line(error)), version=__version__)
