"""The result type every counting backend returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

MAX_LABELS = 8  # label values 0..7; 0 is never counted

# Sums of values may differ between backends by float32 rounding in partial sums:
# |backend - reference| <= SUM_RTOL * (sum of |value| over the counted pixels), per frame and label.
# Counts never differ. (The CPU kernel sums in float64 or exact integers; the Triton kernel adds
# float32 tree reductions of at most a few thousand values, each within ~1e-6 relative.)
SUM_RTOL = 1e-5


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

    @classmethod
    def concat(cls, parts: Sequence[FrameCounts]) -> FrameCounts:
        """Join the counts of consecutive batches of one clip, frame indices (and mask keys) shifted.

        ``backend``, ``device`` and ``fallback`` come from the parts: distinct values are joined
        with ``"+"`` (backends, devices) or ``"; "`` (fallback reasons) in order of first appearance.
        """
        if not parts:
            raise ValueError("FrameCounts.concat needs at least one part")
        masks: dict[int, np.ndarray] = {}
        offset = 0
        for part in parts:
            masks.update({offset + index: mask for index, mask in part.masks.items()})
            offset += part.num_frames
        fallbacks = [p.fallback for p in parts if p.fallback is not None]
        return cls(
            pixels=np.concatenate([p.pixels for p in parts]),
            doppler=np.concatenate([p.doppler for p in parts]),
            value_sum=np.concatenate([p.value_sum for p in parts]),
            value_sq_sum=np.concatenate([p.value_sq_sum for p in parts]),
            backend="+".join(dict.fromkeys(p.backend for p in parts)),
            device="+".join(dict.fromkeys(p.device for p in parts)),
            masks=masks,
            fallback="; ".join(dict.fromkeys(fallbacks)) if fallbacks else None,
        )
