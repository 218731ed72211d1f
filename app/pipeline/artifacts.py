"""What a graded input produces besides its Result: the overlay PNG, the curve PNG and the overlay video.

The command line writes them under ``--overlays DIR``; the HTTP service keeps them in its result store.
Both build them here, from the :class:`~app.pipeline.run.Analysis` and, for the video, from the batches
the scan hands to :class:`VideoRecorder` while the clip streams by (the clip is never held whole).
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

import cuda_ops

from .curve import render_curve
from .labels import LABEL_TENDON
from .overlay import grading_lines, render_frame
from .overlay_video import OverlayVideo
from .run import Analysis
from .scan import Batch

# Fastest x264 preset: ~24 ms a 1080p frame here against ~220 ms for "fast", at ~20 % more bytes; the
# video is for review, and a slower preset would take longer than grading the clip itself on a CPU.
VIDEO_PRESET = "ultrafast"


def overlay_image(analysis: Analysis) -> np.ndarray:
    """The selected frame with tendon, band, box, counted pixels and the grade: ``(H, W, 3) uint8 RGB``."""
    result = analysis.result
    selected = next((f for f in result.frames if f.index == result.summary.frame_index), None)
    return render_frame(
        analysis.frame,
        analysis.roi_mask,
        analysis.doppler_mask,
        band=analysis.band_mask,
        box=analysis.box_mask,
        text_lines=grading_lines(analysis.grading, fps=result.source.fps if result.source else None),
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
    Use it as a context manager around the analysis: an error discards the partial video. With
    ``max_bytes`` and an in-memory target, a video that grows past it is dropped as it happens
    (:attr:`too_large`), so memory stays bounded for any clip length.
    """

    def __init__(self, target: Path | io.BytesIO, max_bytes: int | None = None) -> None:
        self.target = target
        self.max_bytes = max_bytes if isinstance(target, io.BytesIO) else None
        self._pending: np.ndarray | None = None  # the first drawn frame, until a second one comes
        self._video: OverlayVideo | None = None
        self.written = False
        self.too_large = False

    def __call__(self, batch: Batch) -> None:
        if self.too_large:
            return
        counted = cuda_ops.count_doppler(
            batch.frames, batch.labels, batch.lut, mask_frames=range(batch.frames.shape[0])
        ).masks  # the same colour rule as the counts, every frame of the batch
        for i, index in enumerate(batch.indices):
            j = i if batch.roi.shape[0] > 1 else 0
            labels = batch.labels[j]
            pixels, doppler = batch.counts.pixels[i, LABEL_TENDON], batch.counts.doppler[i, LABEL_TENDON]
            cf = f"CF {100 * doppler / pixels:.1f}%" if pixels else "CF n/a"
            drawn = render_frame(
                batch.frames[i], batch.roi[j], counted[i] & (labels == LABEL_TENDON),
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
