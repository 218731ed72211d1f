"""The batch table: one CSV row per graded input, columns stable across versions (only ever appended)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from app.schemas import Result

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
