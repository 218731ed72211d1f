"""Doppler pixel counting: one pass over the pixels per frame and label.

Public API: :func:`count_doppler` (frames already in memory or on a device), :func:`count_clip` (a
whole clip in host memory, cropped to the labels and streamed through a GPU when there is one),
:class:`FrameCounts`, the LUT builders and the backend registry. Backends: ``reference`` (plain
torch, the definition of correct), ``cpu`` (fused numba kernel), ``triton`` (fused GPU kernel).
``python -m cuda_ops.bench`` measures them against the machine's bandwidth.
This package never imports ``app`` or ``models``.
"""

from .dispatch import (
    AUTO_ORDER,
    BACKEND_NAMES,
    BACKENDS,
    BackendUnavailable,
    CountInputError,
    available_backends,
    count_doppler,
    known_backend,
)
from .lut import DEFAULT_CHROMA_THRESHOLD, DopplerLUT, chroma_as_table, chroma_lut, table_lut
from .reference import doppler_mask
from .stream import count_clip, labels_bbox
from .types import MAX_LABELS, SUM_RTOL, FrameCounts

__all__ = [
    "AUTO_ORDER",
    "BACKENDS",
    "BACKEND_NAMES",
    "DEFAULT_CHROMA_THRESHOLD",
    "MAX_LABELS",
    "SUM_RTOL",
    "BackendUnavailable",
    "CountInputError",
    "DopplerLUT",
    "FrameCounts",
    "available_backends",
    "chroma_as_table",
    "chroma_lut",
    "count_clip",
    "count_doppler",
    "doppler_mask",
    "known_backend",
    "labels_bbox",
    "table_lut",
]
