"""Reporting: the Result object, CSV rows and mask images (overlays: ``artifacts.py``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app import __version__
from app.errors import NeovascError, error_line
from app.schemas import (
    Box,
    Calibration,
    Doppler,
    ErrorInfo,
    FrameMeasure,
    Grades,
    ModelInfo,
    Result,
    Roi,
    SourceFacts,
    Summary,
    WarningInfo,
)

from .decode import Calibration as CalibrationFact
from .decode import Clip
from .grade import Grading
from .measure import Weighted
from .screen import Screen
from .selection import ClipStats

CSV_COLUMNS = (
    "input", "ok", "error_code", "colour_fraction", "doppler_px", "tendon_area_px", "vessel_count",
    "grade", "grade_scale", "modified_ohberg", "colour_fraction_grade", "frame_index", "thickness_mm",
    "area_mm2", "doppler_mode", "roi_source", "device", "backend", "model_sha256", "version",
    # appended in 0.2; columns are only ever appended, never renamed, removed or reordered
    "frames_analysed", "frames_kept", "colour_fraction_mean", "colour_fraction_median", "band_colour_fraction",
    "band_doppler_px", "band_area_px", "band_width_mm", "vessel_min_px", "value_kind", "mean_value",
    "weighted_fraction", "mm_per_px_x", "mm_per_px_y", "warning_codes",
)  # fmt: skip


_SUMMARY_APPENDED = (
    "frames_analysed", "frames_kept", "colour_fraction_mean", "colour_fraction_median", "band_colour_fraction",
    "band_doppler_px", "band_area_px", "band_width_mm", "vessel_min_px", "value_kind", "mean_value",
    "weighted_fraction",
)  # fmt: skip


def bbox(mask: np.ndarray) -> Box | None:
    """Half-open bounding box of an ``(H, W) bool`` mask; None when empty."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return Box(x0=int(xs.min()), y0=int(ys.min()), x1=int(xs.max()) + 1, y1=int(ys.max()) + 1)


def _box(rect: tuple[int, int, int, int] | None) -> Box | None:
    return None if rect is None else Box(x0=rect[0], y0=rect[1], x1=rect[2], y1=rect[3])


def _doppler(screen: Screen) -> Doppler:
    facts = screen.describe()
    return Doppler(
        mode=screen.mode,
        box=_box(screen.doppler_box),
        boxes=facts["boxes"],
        colour_bars=facts["colour_bars"],
        image_area=facts["image_area"],
    )


@dataclass(frozen=True)
class Extras:
    """Summary fields beyond the selected frame's grades (``app.pipeline.run`` computes them)."""

    stats: ClipStats
    band_doppler_px: int
    band_area_px: int
    band_colour_fraction: float | None
    band_width_mm: float | None
    band_width_px: float
    vessel_min_px: int
    thickness_mm: float | None
    area_mm2: float | None
    weighted: Weighted | None


def build_result(
    clip: Clip,
    screen: Screen,
    roi: Roi,
    frames: list[FrameMeasure],
    grading: Grading,
    calibration: CalibrationFact | None,
    extras: Extras,
    *,
    warnings: Iterable[tuple[str, str]],
    device: str,
    backend: str,
    model: ModelInfo | None,
) -> Result:
    weighted = extras.weighted
    summary = Summary(
        colour_fraction=grading.colour_fraction,
        doppler_px=grading.doppler_px,
        tendon_area_px=grading.area_px,
        vessel_count=grading.vessel_count,
        grade=grading.grade,
        grade_scale=grading.headline_scale,
        grades=Grades(**grading.grades),
        frame_index=grading.frame_index,
        thickness_mm=extras.thickness_mm,
        area_mm2=extras.area_mm2,
        frames_analysed=extras.stats.analysed,
        frames_kept=extras.stats.kept,
        colour_fraction_mean=extras.stats.mean,
        colour_fraction_median=extras.stats.median,
        band_colour_fraction=extras.band_colour_fraction,
        band_doppler_px=extras.band_doppler_px,
        band_area_px=extras.band_area_px,
        band_width_mm=extras.band_width_mm,
        band_width_px=extras.band_width_px,
        vessel_min_px=extras.vessel_min_px,
        value_kind=None if weighted is None else weighted.kind,
        mean_value=None if weighted is None else weighted.mean_value,
        weighted_fraction=None if weighted is None else weighted.weighted_fraction,
    )
    return Result(
        input=clip.name,
        ok=True,
        summary=summary,
        frames=frames,
        roi=roi,
        doppler=_doppler(screen),
        calibration=None
        if calibration is None
        else Calibration(
            mm_per_px_x=calibration.mm_per_px_x, mm_per_px_y=calibration.mm_per_px_y, source=calibration.source
        ),
        source=source_facts(clip),
        warnings=[WarningInfo(code=code, message=message) for code, message in warnings],
        device=device,
        backend=backend,
        model=model,
        version=__version__,
    )


def source_facts(clip: Clip) -> SourceFacts:
    info = clip.source
    return SourceFacts(
        format=info.format, colour=info.colour, bit_depth=info.bit_depth, codec=info.codec,
        transfer_syntax=info.transfer_syntax, sop_class=info.sop_class, vendor=info.vendor,
        yuv_matrix=info.yuv_matrix, yuv_range=info.yuv_range,
        num_frames=clip.num_frames, width=clip.width, height=clip.height, fps=clip.fps,
    )  # fmt: skip


def failure_result(name: str, error: NeovascError) -> Result:
    """The ``ok: false`` Result of an input that could not be graded."""
    return Result(input=Path(name).name, ok=False, error=ErrorInfo(**error_line(error)), version=__version__)


def csv_row(result: Result) -> dict[str, object]:
    """One row of the batch CSV; columns are :data:`CSV_COLUMNS`, stable across versions."""
    s = result.summary
    row: dict[str, object] = {
        "input": result.input,
        "ok": result.ok,
        "error_code": result.error.code if result.error else None,
        "doppler_mode": result.doppler.mode if result.doppler else None,
        "roi_source": result.roi.source if result.roi else None,
        "device": result.device,
        "backend": result.backend,
        "model_sha256": result.model.sha256 if result.model else None,
        "version": result.version,
        "mm_per_px_x": result.calibration.mm_per_px_x if result.calibration else None,
        "mm_per_px_y": result.calibration.mm_per_px_y if result.calibration else None,
        "warning_codes": ";".join(w.code for w in result.warnings) or None,
    }
    if s is not None:
        row.update(
            colour_fraction=s.colour_fraction, doppler_px=s.doppler_px, tendon_area_px=s.tendon_area_px,
            vessel_count=s.vessel_count, grade=s.grade, grade_scale=s.grade_scale,
            modified_ohberg=s.grades.modified_ohberg, colour_fraction_grade=s.grades.colour_fraction_grade,
            frame_index=s.frame_index, thickness_mm=s.thickness_mm, area_mm2=s.area_mm2,
        )  # fmt: skip
        row.update({column: getattr(s, column) for column in _SUMMARY_APPENDED})
    return {column: ("" if row.get(column) is None else row[column]) for column in CSV_COLUMNS}


def csv_text(results: Iterable[Result], header: bool = True) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    if header:
        writer.writeheader()
    for result in results:
        writer.writerow(csv_row(result))
    return buffer.getvalue()


def write_mask_png(path: Path, mask: np.ndarray) -> None:
    """Write an ``(H, W) bool`` mask as a uint8 PNG, 255 inside."""
    _write_png(path, mask.astype(np.uint8) * 255)


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"could not encode {path.name} as PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded.tobytes())
