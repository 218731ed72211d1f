"""The outputs of a graded input besides its Result: mask, overlay, curve, video, CSV table, DICOM SR and SC."""

from app.pipeline.outputs.files import write_whole
from app.pipeline.outputs.render import (
    CURVE,
    MASK,
    OVERLAY,
    SC,
    SR,
    VIDEO,
    OutputRequest,
    Rendered,
    ScreenView,
    VideoRecorder,
    render,
)
from app.pipeline.outputs.table import CSV_COLUMNS, csv_row, csv_text

__all__ = [
    "CSV_COLUMNS",
    "CURVE",
    "MASK",
    "OVERLAY",
    "SC",
    "SR",
    "VIDEO",
    "OutputRequest",
    "Rendered",
    "ScreenView",
    "VideoRecorder",
    "csv_row",
    "csv_text",
    "render",
    "write_whole",
]
