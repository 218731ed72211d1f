"""Everything a graded input produces besides its Result, rendered in one place for the CLI and the API.

:func:`render` turns an :class:`~app.pipeline.run.Analysis` into named files (bytes): the ROI mask,
the overlay PNG, the curve PNG, the overlay MP4 (recorded while the clip streams by:
:class:`VideoRecorder`, an observer of the scan, so the clip is never held whole) and the DICOM SR and
SC. The command line writes them under its output folders; the HTTP service keeps them in its store.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from app.errors import NeovascError
from app.pipeline.measure.labels import LABEL_TENDON
from app.pipeline.measure.scan import Batch
from app.pipeline.outputs.curve import render_curve
from app.pipeline.outputs.overlay import black_outside, grading_lines, render_frame
from app.pipeline.outputs.video import OverlayVideo
from app.pipeline.run import Analysis
from app.schemas import WarningInfo
from app.warning_codes import warning

# Fastest x264 preset: ~24 ms a 1080p frame here against ~220 ms for "fast", at ~20 % more bytes; the
# video is for review, and a slower preset would take longer than grading the clip itself on a CPU.
VIDEO_PRESET = "ultrafast"

# The files :func:`render` can make, by name.
MASK, OVERLAY, CURVE, VIDEO, SR, SC = "mask.png", "overlay.png", "curve.png", "overlay.mp4", "sr.dcm", "sc.dcm"
EXTENT_CAPTION = "box: colour extent"  # the overlay's caption line when no box outline was found (docs/errors.md)
ScreenView = Literal["picture", "full"]  # what of the screen an overlay shows (OutputRequest.screen)


@dataclass(frozen=True)
class OutputRequest:
    """Which outputs to make: ``masks`` (the ROI/tendon mask), ``overlays`` (overlay and curve PNG, and the
    MP4 a :class:`VideoRecorder` made), ``dicom`` (TID 1500 SR and Secondary Capture, DICOM inputs only).

    ``screen``: ``picture`` (default) draws the overlay on the ultrasound picture alone, the screen around
    it black (its text bands hold burned-in names, IDs and dates); ``full`` keeps the whole screen.
    """

    masks: bool = False
    overlays: bool = False
    dicom: bool = False
    screen: ScreenView = "picture"


@dataclass
class Rendered:
    """The rendered files by name (:data:`MASK`, :data:`OVERLAY`, ...) and the warnings of what was not made."""

    files: dict[str, bytes] = field(default_factory=dict)
    warnings: list[WarningInfo] = field(default_factory=list)


def render(analysis: Analysis, request: OutputRequest, video: VideoRecorder | None = None) -> Rendered:
    """The outputs ``request`` asks for; ``video``: the recorder that watched the analysis, if any."""
    out = Rendered()
    if request.masks:
        out.files[MASK] = mask_png(analysis.roi_mask)
    overlay = overlay_image(analysis, request.screen) if request.overlays or request.dicom else None
    if request.overlays:
        out.files[OVERLAY] = png_bytes(overlay)
        curve = curve_image(analysis)
        if curve is not None:
            out.files[CURVE] = png_bytes(curve)
        if video is not None and video.written and isinstance(video.target, io.BytesIO):
            out.files[VIDEO] = video.target.getvalue()
    if request.dicom:
        try:
            out.files[SR], out.files[SC] = _dicom(analysis, overlay)
        except NeovascError as exc:
            out.warnings.append(warning("dicom_out_not_written", f"no DICOM report written: {exc.message}"))
    return out


def _dicom(analysis: Analysis, overlay: np.ndarray) -> tuple[bytes, bytes]:
    from app.pipeline.outputs.dicom_sr import dicom_report  # highdicom, only when asked for

    return dicom_report(analysis.dicom_header, analysis.result, overlay)


def mask_png(mask: np.ndarray) -> bytes:
    """An ``(H, W) bool`` mask as a one-channel PNG, 255 inside."""
    ok, encoded = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    if not ok:
        raise OSError("the mask could not be encoded as PNG")
    return encoded.tobytes()


def overlay_image(analysis: Analysis, screen: ScreenView = "picture") -> np.ndarray:
    """The selected frame with tendon, band, box, counted pixels and the grade: ``(H, W, 3) uint8 RGB``;
    for ``screen="picture"`` black outside the ultrasound picture (the Result's ``doppler.image_area``)."""
    result = analysis.result
    frame = analysis.frame
    area = result.doppler.image_area if result.doppler is not None else None
    if screen == "picture" and area is not None:
        frame = black_outside(frame, (area.x0, area.y0, area.x1, area.y1))
    selected = next((f for f in result.frames if f.index == result.summary.frame_index), None)
    text_lines = grading_lines(analysis.grading, fps=result.source.fps if result.source else None)
    if result.doppler is not None and any(box.source == "colour_extent" for box in result.doppler.boxes):
        text_lines += (EXTENT_CAPTION,)  # the box is a guess from the flow: say so where the box is drawn
    return render_frame(
        frame,
        analysis.roi_mask,
        analysis.doppler_mask,
        band=analysis.band_mask,
        box=analysis.box_mask,
        text_lines=text_lines,
        flash=bool(selected is not None and selected.flash),
    )


def curve_image(analysis: Analysis) -> np.ndarray | None:
    """The per-frame colour-fraction curve, ``(H, W, 3) uint8 RGB``; None for a single measured frame."""
    frames = analysis.result.frames
    if len(frames) < 2:
        return None
    indices = [f.index for f in frames]
    step = indices[1] - indices[0]
    fps = analysis.result.source.fps if analysis.result.source else None
    return render_curve(
        [f.colour_fraction for f in frames],
        [f.flash for f in frames],
        indices.index(analysis.result.summary.frame_index),
        fps=fps,
        frame_step=step,
    )


def png_bytes(image: np.ndarray) -> bytes:
    """``(H, W, 3) uint8 RGB`` as PNG file bytes."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError("the image could not be encoded as PNG")
    return encoded.tobytes()


class VideoRecorder:
    """An observer for ``run_analysis`` that writes every measured frame, drawn, to an MP4.

    The writer opens at the second frame, so a still makes no video (:attr:`written` stays False).
    ``screen`` as in :class:`OutputRequest`: by default each frame is black outside the picture.
    Use it as a context manager around the analysis: an error discards the partial video. With
    ``max_bytes`` and an in-memory target, a video that grows past it is dropped as it happens
    (:attr:`too_large`), so memory stays bounded for any clip length.
    """

    def __init__(self, target: Path | io.BytesIO, max_bytes: int | None = None, screen: ScreenView = "picture") -> None:
        self.target = target
        self.max_bytes = max_bytes if isinstance(target, io.BytesIO) else None
        self.screen = screen
        self._pending: np.ndarray | None = None  # the first drawn frame, until a second one comes
        self._video: OverlayVideo | None = None
        self.written = False
        self.too_large = False

    def __call__(self, batch: Batch) -> None:
        if self.too_large:
            return
        for i, index in enumerate(batch.indices):
            j = i if batch.roi.shape[0] > 1 else 0
            pixels, doppler = batch.counts.pixels[i, LABEL_TENDON], batch.counts.doppler[i, LABEL_TENDON]
            cf = f"CF {100 * doppler / pixels:.1f}%" if pixels else "CF n/a"
            frame = batch.frames[i]
            if self.screen == "picture" and batch.picture is not None:
                frame = black_outside(frame, batch.picture)
            drawn = render_frame(
                frame, batch.roi[j], batch.doppler[i],
                band=batch.band[j] & batch.in_box, box=batch.in_box, text_lines=(f"frame {int(index)}", cf),
            )  # fmt: skip
            self._write(drawn, batch.fps)
            if self.too_large:
                return

    def _write(self, drawn: np.ndarray, fps: float | None) -> None:
        if self._video is None and self._pending is None:
            self._pending = drawn
            return
        if self._video is None:
            h, w = drawn.shape[:2]
            self._video = OverlayVideo(self.target, w, h, fps, preset=VIDEO_PRESET)
            self._video.write(self._pending)
            self._pending = None
        self._video.write(drawn)
        if self.max_bytes is not None and self.target.tell() > self.max_bytes:
            self._video.__exit__(OverflowError, None, None)  # discards what was written
            self._video, self.too_large = None, True

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(self, kind, error, trace) -> None:
        if self._video is not None:
            self._video.__exit__(kind, error, trace)
            self.written = kind is None
