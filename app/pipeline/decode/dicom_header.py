"""Facts a DICOM header states about the image: storage class, scanner maker, frame rate, ultrasound regions.

Only public standard names and numbers leave this module (the storage class name, the maker as one of a fixed
list, frame times, region geometry and units); no element value is echoed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import UltrasoundRegion
from .dicom_pixels import header_value


def sop_class_name(ds: Any) -> str | None:
    uid = header_value(ds, "SOPClassUID")
    if uid is None:
        return None
    try:
        name = uid.name
    except Exception:
        return None
    return name if name and name != str(uid) else None  # an unknown UID is not echoed back


# Ultrasound makers, matched in the Manufacturer element; the element's own text is never reported
# (it is free text that an export tool may fill with anything).
VENDORS = (
    ("GE", ("GE ", "GE_", "G.E.", "GENERAL ELECTRIC", "GEMS", "KRETZ")),
    ("Philips", ("PHILIPS", "ATL")),
    ("Siemens", ("SIEMENS", "ACUSON")),
    ("Canon", ("CANON", "TOSHIBA")),
    ("Samsung", ("SAMSUNG", "MEDISON")),
    ("Mindray", ("MINDRAY",)),
    ("Esaote", ("ESAOTE",)),
    ("Hitachi", ("HITACHI", "ALOKA")),
    ("Fujifilm", ("FUJIFILM", "SONOSITE")),
    ("Hewlett-Packard", ("HEWLETT", "HP ")),
    ("SuperSonic Imagine", ("SUPERSONIC",)),
    ("BK Medical", ("BK MEDICAL", "B-K MEDICAL")),
)


def vendor(ds: Any) -> str | None:
    """The scanner maker as one of :data:`VENDORS`, "other" for an unknown one, None when absent."""
    maker = header_value(ds, "Manufacturer")
    if not isinstance(maker, str) or not maker.strip():
        return None
    text = f"{maker.strip().upper()} "
    for name, prefixes in VENDORS:
        if any(text.startswith(p) or f" {p}" in f" {text}" for p in prefixes):
            return name
    return "other"


def frame_rate(ds: Any, frames: int) -> tuple[float | None, tuple[float, ...] | None]:
    """Frames per second and frame times (ms from the first) from FrameTime, FrameTimeVector or CineRate."""
    if frames < 2:
        return None, None
    frame_time = _positive(header_value(ds, "FrameTime"))
    vector = header_value(ds, "FrameTimeVector")
    if frame_time is None and vector is not None:
        try:
            steps = [float(v) for v in vector]
        except (TypeError, ValueError):
            steps = []
        if len(steps) == frames and all(math.isfinite(v) and v >= 0 for v in steps[1:]) and sum(steps[1:]) > 0:
            times = np.cumsum([0.0, *steps[1:]])
            return 1000.0 * (frames - 1) / float(times[-1]), tuple(float(t) for t in times)
    if frame_time is not None:
        return 1000.0 / frame_time, tuple(i * frame_time for i in range(frames))
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _positive(header_value(ds, keyword))
        if rate is not None:
            return rate, tuple(1000.0 * i / rate for i in range(frames))
    return None, None


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def regions(ds: Any, rows: int, cols: int) -> tuple[UltrasoundRegion, ...]:
    """The Sequence of Ultrasound Regions in pixel coordinates (malformed items are skipped)."""
    items = header_value(ds, "SequenceOfUltrasoundRegions") or ()
    regions = []
    try:
        iterator = list(items)
    except Exception:
        return ()
    for item in iterator:
        try:
            x0, y0 = int(item.RegionLocationMinX0), int(item.RegionLocationMinY0)
            x1, y1 = int(item.RegionLocationMaxX1) + 1, int(item.RegionLocationMaxY1) + 1  # DICOM max is inclusive
            region = UltrasoundRegion(
                bbox=(max(0, x0), max(0, y0), min(cols, x1), min(rows, y1)),
                spatial_format=int(header_value(item, "RegionSpatialFormat", 0)),
                data_type=int(header_value(item, "RegionDataType", 0)),
                units_x=int(header_value(item, "PhysicalUnitsXDirection", 0)),
                units_y=int(header_value(item, "PhysicalUnitsYDirection", 0)),
                delta_x=float(header_value(item, "PhysicalDeltaX", 0.0)),
                delta_y=float(header_value(item, "PhysicalDeltaY", 0.0)),
            )
        except Exception:
            continue
        if region.area > 0:
            regions.append(region)
    return tuple(regions)
