// The Result as one CSV row, with the columns of the batch CSV (app/pipeline/outputs/table.py, CSV_COLUMNS).

export const CSV_COLUMNS = [
  "input", "ok", "error_code", "colour_fraction", "doppler_px", "tendon_area_px", "vessel_count",
  "grade", "grade_scale", "modified_ohberg", "colour_fraction_grade", "frame_index", "thickness_mm",
  "area_mm2", "doppler_mode", "roi_source", "device", "backend", "model_sha256", "version",
  "frames_analysed", "frames_kept", "colour_fraction_mean", "colour_fraction_median", "band_colour_fraction",
  "band_doppler_px", "band_area_px", "band_width_mm", "vessel_min_px", "value_kind", "mean_value",
  "weighted_fraction", "mm_per_px_x", "mm_per_px_y", "warning_codes",
];

const SUMMARY_COLUMNS = [
  "colour_fraction", "doppler_px", "tendon_area_px", "vessel_count", "grade", "grade_scale", "frame_index",
  "thickness_mm", "area_mm2", "frames_analysed", "frames_kept", "colour_fraction_mean", "colour_fraction_median",
  "band_colour_fraction", "band_doppler_px", "band_area_px", "band_width_mm", "vessel_min_px", "value_kind",
  "mean_value", "weighted_fraction",
];

function row(result) {
  const s = result.summary;
  const values = {
    input: result.input,
    ok: result.ok ? "True" : "False", // as Python's csv module writes a bool
    error_code: result.error?.code,
    doppler_mode: result.doppler?.mode,
    roi_source: result.roi?.source,
    device: result.device,
    backend: result.backend,
    model_sha256: result.model?.sha256,
    version: result.version,
    mm_per_px_x: result.calibration?.mm_per_px_x,
    mm_per_px_y: result.calibration?.mm_per_px_y,
    warning_codes: (result.warnings || []).map((w) => w.code).join(";") || null,
  };
  if (s) {
    for (const column of SUMMARY_COLUMNS) values[column] = s[column];
    values.modified_ohberg = s.grades?.modified_ohberg;
    values.colour_fraction_grade = s.grades?.colour_fraction_grade;
  }
  return CSV_COLUMNS.map((column) => cell(values[column]));
}

function cell(value) {
  if (value === null || value === undefined) return "";
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Header and one line per Result, "\n" line ends, as `neovasc grade --out results.csv` writes. */
export function csvText(results) {
  const lines = [CSV_COLUMNS.join(","), ...results.map((result) => row(result).join(","))];
  return lines.join("\n") + "\n";
}
