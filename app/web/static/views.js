// Rendering a Result and a Comparison into the page. Text from the service goes in as text, never as HTML.

const UNSURE = new Set(["low_confidence_tendon", "no_tendon_found"]);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

export function percent(fraction, digits = 1) {
  return fraction === null || fraction === undefined ? "—" : `${(fraction * 100).toFixed(digits)} %`;
}

function value(v) {
  return v === null || v === undefined ? "—" : String(v);
}

function signed(v, digits = 1, unit = "") {
  if (v === null || v === undefined) return "—";
  const text = v.toFixed(digits);
  return `${v > 0 ? "+" : ""}${text}${unit}`;
}

/** True when the model's outline should be checked: the Result warns that it is unsure or found none. */
export function modelUnsure(result) {
  return (result.warnings || []).some((w) => UNSURE.has(w.code));
}

function pairs(list, entries) {
  list.replaceChildren();
  for (const [term, description] of entries) list.append(el("dt", { text: term }), el("dd", { text: description }));
}

/** The headline numbers of `result` into the <dl> `list`, its warnings into the <ul> `warnings`. */
export function renderSummary(result, list, warnings) {
  const s = result.summary || {};
  const grades = s.grades || {};
  const roi = result.roi || {};
  const region = roi.source === "user" ? `drawn (${roi.kind})` : roi.hint ? `model, with your ${roi.hint}` : "model";
  const entries = [
    ["Colour fraction", percent(s.colour_fraction)],
    ["Modified Öhberg grade (0–4)", value(grades.modified_ohberg)],
    ["Colour-fraction grade (0–3)", value(grades.colour_fraction_grade)],
    ["Vessel count", value(s.vessel_count)],
    ["Region", `${region}${roi.confidence != null ? `, confidence ${roi.confidence.toFixed(2)}` : ""}${
      roi.presence != null ? `, tendon presence ${roi.presence.toFixed(2)}` : ""}`],
    ["Doppler mode", value(result.doppler?.mode)],
    ["Frames measured / kept", `${value(s.frames_analysed)} / ${value(s.frames_kept)}`],
    ["Selected frame", value(s.frame_index)],
  ];
  if (s.thickness_mm != null) entries.push(["Tendon thickness", `${s.thickness_mm.toFixed(1)} mm`]);
  if (s.band_colour_fraction != null) entries.push(["Peritendinous band", percent(s.band_colour_fraction)]);
  pairs(list, entries);
  warnings.replaceChildren();
  for (const w of result.warnings || []) {
    const item = el("li", { class: UNSURE.has(w.code) ? "warn strong" : "warn" });
    item.append(el("span", { class: "code", text: w.code }), " ", w.message);
    warnings.append(item);
  }
  if (!warnings.children.length) warnings.append(el("li", { class: "ok", text: "No quality warnings." }));
}

/** The colour fraction of every measured frame on `canvas`: flash frames red, the selected frame marked. */
export function drawCurve(canvas, result) {
  const frames = (result.frames || []).filter((f) => f.colour_fraction != null);
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600;
  const height = canvas.clientHeight || 200;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, width, height);
  if (!frames.length) return;
  const pad = { left: 52, right: 12, top: 12, bottom: 30 };
  const first = frames[0].index;
  const last = Math.max(frames[frames.length - 1].index, first + 1);
  const top = Math.max(...frames.map((f) => f.colour_fraction), 0.01);
  const x = (i) => pad.left + ((i - first) / (last - first)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - (v / top) * (height - pad.top - pad.bottom);
  ctx.strokeStyle = "#444444";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(pad.left, pad.top);
  ctx.lineTo(pad.left, height - pad.bottom);
  ctx.lineTo(width - pad.right, height - pad.bottom);
  ctx.stroke();
  ctx.fillStyle = "#222222";
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillText(percent(top, 1), 4, pad.top + 8);
  ctx.fillText("0 %", 4, height - pad.bottom);
  ctx.fillText(`frame ${first}`, pad.left, height - 10);
  ctx.fillText(`frame ${last}`, width - pad.right - 70, height - 10);
  const selected = result.summary?.frame_index;
  if (selected != null) {
    ctx.strokeStyle = "#0b5cad";
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(x(selected), pad.top);
    ctx.lineTo(x(selected), height - pad.bottom);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.strokeStyle = "#1b7f3b";
  ctx.lineWidth = 2;
  ctx.beginPath();
  frames.forEach((f, n) => (n ? ctx.lineTo(x(f.index), y(f.colour_fraction)) : ctx.moveTo(x(f.index), y(f.colour_fraction))));
  ctx.stroke();
  for (const f of frames.filter((frame) => frame.flash)) {
    ctx.fillStyle = "#c00000";
    ctx.beginPath();
    ctx.arc(x(f.index), y(f.colour_fraction), 3.5, 0, 2 * Math.PI);
    ctx.fill();
  }
  const flashes = frames.filter((f) => f.flash).length;
  canvas.setAttribute(
    "aria-label",
    `Colour fraction of ${frames.length} frames, up to ${percent(top)}; ${flashes} flash frame(s) rejected; ` +
      `frame ${value(selected)} selected.`,
  );
}

/** A Comparison as a table of before / after / change, and the verdict against the minimal detectable difference. */
export function renderComparison(comparison, container) {
  const { before, after, change } = comparison;
  const b = before.summary || {};
  const a = after.summary || {};
  const rows = [
    ["Colour fraction", percent(b.colour_fraction), percent(a.colour_fraction), signed(change.colour_fraction_pp, 1, " pp")],
    ["Modified Öhberg grade", value(b.grades?.modified_ohberg), value(a.grades?.modified_ohberg),
      signed(change.grades?.modified_ohberg, 0)],
    ["Colour-fraction grade", value(b.grades?.colour_fraction_grade), value(a.grades?.colour_fraction_grade),
      signed(change.grades?.colour_fraction_grade, 0)],
    ["Vessel count", value(b.vessel_count), value(a.vessel_count), signed(change.vessel_count, 0)],
  ];
  const table = el("table", { class: "compare" });
  table.append(el("caption", { text: "Before and after" }));
  const head = el("tr");
  for (const name of ["Measure", "Before", "After", "Change"]) head.append(el("th", { scope: "col", text: name }));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  for (const [name, ...cells] of rows) {
    const tr = el("tr", {}, el("th", { scope: "row", text: name }));
    for (const c of cells) tr.append(el("td", { text: c }));
    body.append(tr);
  }
  table.append(body);
  const mdd = comparison.mdd_percentage_points;
  let verdict;
  if (comparison.exceeds_mdd === null || comparison.exceeds_mdd === undefined) {
    verdict = "The change cannot be judged: a colour fraction is missing.";
  } else if (comparison.exceeds_mdd) {
    verdict = `The colour fraction ${comparison.direction}: the change exceeds the minimal detectable difference of ${mdd} percentage points.`;
  } else {
    verdict = `Unchanged: the change is within the minimal detectable difference of ${mdd} percentage points.`;
  }
  const parts = [table, el("p", { class: comparison.exceeds_mdd ? "verdict strong" : "verdict", text: verdict })];
  const warnings = [...(comparison.warnings || []), ...tagged("before", before), ...tagged("after", after)];
  if (warnings.length) {
    const list = el("ul", { class: "warnings" });
    for (const w of warnings) list.append(el("li", { class: "warn" }, el("span", { class: "code", text: w.code }), " ", w.message));
    parts.push(list);
  }
  container.replaceChildren(...parts);
}

function tagged(side, result) {
  return (result.warnings || []).map((w) => ({ code: `${side}: ${w.code}`, message: w.message }));
}
