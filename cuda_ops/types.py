"""The result type every counting backend returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_LABELS = 8  # label values 0..7; 0 is never counted


@dataclass(frozen=True, eq=False)
class FrameCounts:
    """Per-frame, per-label Doppler counts.

    Arrays are indexed ``[frame, label]`` with ``MAX_LABELS`` columns so that the column number is the
    label value; column 0 (unlabelled pixels) is always zero because label 0 is not counted.

    Attributes:
        pixels: ``(N, 8) int64`` pixels carrying each label.
        doppler: ``(N, 8) int64`` of those, pixels classified as Doppler by the LUT.
        value_sum: ``(N, 8) float64`` sum of LUT values over the Doppler pixels.
        value_sq_sum: ``(N, 8) float64`` sum of squared LUT values over the Doppler pixels.
        masks: ``{frame index: (H, W) bool}`` Doppler pixels with a non-zero label, for the frames
            asked for with ``mask_frames``.
        backend: the backend that ran; device: the torch device string it ran on.
        fallback: why the automatically chosen backend was not used, or ``None``.
    """

    pixels: np.ndarray
    doppler: np.ndarray
    value_sum: np.ndarray
    value_sq_sum: np.ndarray
    backend: str
    device: str
    masks: dict[int, np.ndarray] = field(default_factory=dict)
    fallback: str | None = None

    @property
    def num_frames(self) -> int:
        return int(self.pixels.shape[0])
