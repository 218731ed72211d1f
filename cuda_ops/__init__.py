"""Doppler pixel counting: one pass over the pixels per frame and label.

Public API: :func:`count_doppler`, :class:`FrameCounts`, the LUT builders and the backend registry.
This package never imports ``app`` or ``models``.
"""

from .dispatch import BACKENDS, BackendUnavailable, CountInputError, available_backends, count_doppler
from .lut import DEFAULT_CHROMA_THRESHOLD, DopplerLUT, chroma_as_table, chroma_lut, table_lut
from .types import MAX_LABELS, FrameCounts

__all__ = [
    "BACKENDS",
    "DEFAULT_CHROMA_THRESHOLD",
    "MAX_LABELS",
    "BackendUnavailable",
    "CountInputError",
    "DopplerLUT",
    "FrameCounts",
    "available_backends",
    "chroma_as_table",
    "chroma_lut",
    "count_doppler",
    "table_lut",
]
