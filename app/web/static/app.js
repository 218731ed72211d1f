// The point-of-care page: grade an upload, correct the region, compare two studies, download the outputs.

import { ApiError, call, describe, onKeyNeeded, postForm, runJob, storeKey, storedKey, fileUrl } from "./api.js";
import { csvText } from "./csv.js";
import { Sketch } from "./draw.js";
import { drawCurve, el, modelUnsure, percent, renderComparison, renderSummary } from "./views.js";

const CLIP_EXTENSIONS = /\.(mp4|m4v|mov|avi|mkv|webm)$/i;
const DICOM_EXTENSIONS = /\.(dcm|dicom)$/i;
const SCALE_NAMES = { modified_ohberg: "modified Öhberg (0–4)", colour_fraction_grade: "colour-fraction grade (0–3)" };
const $ = (id) => document.getElementById(id);

const state = { file: null, isClip: false, isDicom: false, result: null, urls: [], stop: null, busy: false };

// ---- messages -------------------------------------------------------------------------------------------------

function showError(err) {
  const { title, detail, code } = describe(err);
  const box = $("error");
  box.replaceChildren(el("strong", { text: title }), detail ? `: ${detail}` : "");
  if (code) box.append(" ", el("span", { class: "code", text: `(${code})` }));
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").replaceChildren();
}

function setStatus(text, { progress = null, cancellable = false } = {}) {
  $("status-text").textContent = text;
  const bar = $("progress");
  bar.hidden = progress === null;
  if (progress) {
    bar.max = progress.total || 1;
    bar.value = progress.done;
  }
  $("cancel").hidden = !cancellable;
}

function setBusy(busy) {
  state.busy = busy;
  for (const id of ["regrade", "compare", "file"]) $(id).disabled = busy;
  $("drop").classList.toggle("busy", busy);
}

// ---- the API key ----------------------------------------------------------------------------------------------

let pendingKey = null;

function askForKey(reason) {
  if (pendingKey) return pendingKey;
  const dialog = $("key-dialog");
  $("key-reason").textContent = reason || "This service asks for an API key.";
  $("key-input").value = storedKey() || "";
  pendingKey = new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        pendingKey = null;
        const key = $("key-input").value.trim();
        $("key-input").value = "";
        if (dialog.returnValue === "forget") storeKey(null);
        resolve(dialog.returnValue === "ok" && key ? key : null);
      },
      { once: true },
    );
    dialog.returnValue = "cancel";
    dialog.showModal();
    $("key-input").focus();
  });
  return pendingKey;
}

onKeyNeeded(askForKey);
$("key-button").addEventListener("click", async () => {
  const key = await askForKey("Set the key this page sends with every call.");
  if (key) storeKey(key);
});

// ---- grading --------------------------------------------------------------------------------------------------

async function inspect(file) {
  const head = new Uint8Array(await file.slice(128, 132).arrayBuffer());
  const magic = String.fromCharCode(...head) === "DICM";
  return {
    isDicom: magic || DICOM_EXTENSIONS.test(file.name),
    isClip: file.type.startsWith("video/") || CLIP_EXTENSIONS.test(file.name),
  };
}

function gradeForm(extra = {}) {
  const form = new FormData();
  form.append("file", state.file);
  form.append("overlays", "true");
  if (state.isDicom) form.append("dicom_report", "true");
  const maxFrames = $("max-frames").value.trim();
  if (maxFrames) form.append("max_frames", maxFrames);
  for (const [name, value] of Object.entries(extra)) form.append(name, value);
  return form;
}

async function grade(extra = {}) {
  if (!state.file || state.busy) return;
  clearError();
  setBusy(true);
  const stop = { requested: false, controller: new AbortController() };
  state.stop = stop;
  try {
    let result;
    if (state.isClip) {
      setStatus("Queued…", { progress: { done: 0, total: 1 }, cancellable: true });
      result = await runJob(gradeForm(extra), showJob, stop);
    } else {
      setStatus("Grading…", { cancellable: true });
      result = await postForm("/v1/grade", gradeForm(extra), stop.controller.signal);
    }
    await showResult(result);
    setStatus("Graded.");
  } catch (err) {
    if (err.name === "AbortError" || stop.requested) setStatus("Cancelled.");
    else {
      setStatus("Not graded.");
      showError(err);
    }
  } finally {
    state.stop = null;
    setBusy(false);
  }
}

function showJob(job) {
  const { frames_done: done, frames_total: total } = job.progress;
  const text = total ? `${job.state}: ${done} of ${total} frames measured` : `${job.state}…`;
  setStatus(text.charAt(0).toUpperCase() + text.slice(1), { progress: { done, total }, cancellable: true });
}

$("cancel").addEventListener("click", () => {
  if (!state.stop) return;
  state.stop.requested = true;
  state.stop.controller.abort();
  setStatus("Cancelling…");
});

async function useFile(file) {
  if (!file || state.busy) return;
  state.file = file;
  Object.assign(state, await inspect(file));
  sketch.box = null;
  sketch.points = [];
  syncInputs();
  forget(); // the previous study's result goes: what shows is always the file just chosen
  state.result = null;
  $("result").hidden = true;
  await grade();
}

$("file").addEventListener("change", (e) => useFile(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  useFile(e.dataTransfer.files[0]);
});

// ---- showing a Result -----------------------------------------------------------------------------------------

function forget() {
  for (const url of state.urls) URL.revokeObjectURL(url);
  state.urls = [];
}

function headline(result) {
  const s = result.summary || {};
  if (s.grade === null || s.grade === undefined) {
    return modelUnsure(result) ? "No grade: no tendon region. Draw one below and regrade." : "No grade.";
  }
  return `Grade ${s.grade} on the ${SCALE_NAMES[s.grade_scale] || s.grade_scale}; colour fraction ${percent(s.colour_fraction)}`;
}

async function showResult(result) {
  if (result.ok === false) throw new ApiError(result.error || { title: "Not graded" }, result.error?.status || 0);
  forget();
  state.result = result;
  $("result").hidden = false;
  $("headline").textContent = headline(result);
  renderSummary(result, $("summary"), $("warnings"));
  $("unsure").hidden = !modelUnsure(result);
  const links = result.links || {};
  const img = $("overlay");
  if (links["overlay.png"]) {
    const url = await fileUrl(links["overlay.png"]);
    state.urls.push(url);
    await new Promise((resolve) => {
      img.addEventListener("load", resolve, { once: true });
      img.addEventListener("error", resolve, { once: true });
      img.src = url;
    });
    $("overlay-caption").textContent =
      "Drag on the picture to draw a box, or click points on the tendon (see “Correct the region”).";
  } else {
    img.removeAttribute("src");
    $("overlay-caption").textContent = "No overlay was kept for this result (see the warnings).";
  }
  img.classList.toggle("enlarged", img.naturalWidth > 0 && img.naturalWidth < img.clientWidth);
  sketch.redraw();
  const many = (result.frames || []).length > 1;
  $("curve-figure").hidden = !many;
  if (many) drawCurve($("curve"), result);
  renderDownloads(result);
}

function safeName(result) {
  return String(result.input || "result").replace(/[^A-Za-z0-9._-]+/g, "-");
}

function renderDownloads(result) {
  const list = $("downloads");
  const name = safeName(result);
  const csvUrl = URL.createObjectURL(new Blob([csvText([result])], { type: "text/csv" }));
  const jsonUrl = URL.createObjectURL(new Blob([JSON.stringify(result, null, 2)], { type: "application/json" }));
  state.urls.push(csvUrl, jsonUrl);
  const items = [
    el("a", { href: csvUrl, download: `${name}.csv`, text: "Result as CSV" }),
    el("a", { href: jsonUrl, download: `${name}.json`, text: "Result as JSON" }),
  ];
  const labels = {
    "overlay.png": "Overlay (PNG)",
    "curve.png": "Colour-fraction curve (PNG)",
    "overlay.mp4": "Overlay video (MP4)",
    "sr.dcm": "Structured report (DICOM SR)",
    "sc.dcm": "Overlay as DICOM Secondary Capture",
  };
  for (const [file, link] of Object.entries(result.links || {})) {
    const anchor = el("a", { href: link, download: `${name}-${file}`, text: labels[file] || file });
    anchor.addEventListener("click", (e) => download(e, link, `${name}-${file}`));
    items.push(anchor);
  }
  list.replaceChildren(...items.map((a) => el("li", {}, a)));
}

/** Fetch a stored file with the key (a plain link cannot send one) and save it. */
async function download(event, link, filename) {
  event.preventDefault();
  try {
    const url = await fileUrl(link);
    const anchor = el("a", { href: url, download: filename });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    showError(err);
  }
}

// ---- correcting the region ------------------------------------------------------------------------------------

const BOX_IDS = ["x0", "y0", "x1", "y1"];
const sketch = new Sketch($("overlay"), $("draw"), syncInputs);

function syncInputs() {
  BOX_IDS.forEach((id, i) => {
    $(id).value = sketch.box ? sketch.box[i] : "";
  });
  $("points").value = sketch.points.map(([x, y]) => `${x},${y}`).join(";");
}

function typedBox() {
  const values = BOX_IDS.map((id) => $(id).value.trim());
  if (values.some((v) => v === "")) return null;
  return values.map(Number);
}

for (const id of BOX_IDS) $(id).addEventListener("input", () => sketch.setBox(typedBox()));
$("points").addEventListener("input", () => {
  const points = $("points")
    .value.split(";")
    .map((p) => p.split(",").map((n) => Number(n.trim())))
    .filter((p) => p.length === 2 && p.every(Number.isFinite));
  sketch.setPoints(points);
});

function drawMode() {
  return document.querySelector("input[name=draw-mode]:checked").value;
}

for (const radio of document.querySelectorAll("input[name=draw-mode]")) {
  radio.addEventListener("change", () => {
    const points = drawMode() === "tendon_point";
    sketch.mode = points ? "points" : "box";
    $("box-fields").hidden = points;
    $("point-fields").hidden = !points;
    sketch.redraw();
  });
}

$("clear").addEventListener("click", () => sketch.clear());
$("regrade").addEventListener("click", () => {
  const mode = drawMode();
  if (mode === "tendon_point") {
    const points = $("points").value.trim();
    if (!points) return showError(new ApiError({ title: "No points", detail: "click on the tendon in the picture, or type x,y;x,y" }, 0));
    return grade({ tendon_point: points });
  }
  const box = typedBox();
  if (!box) return showError(new ApiError({ title: "No box", detail: "drag on the picture, or type x0, y0, x1 and y1" }, 0));
  return grade({ [mode]: box.join(",") });
});

// ---- comparing two studies ------------------------------------------------------------------------------------

$("compare-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (state.busy) return;
  const form = new FormData(event.target);
  for (const field of ["roi_before", "roi_after"]) {
    const text = String(form.get(field) || "").trim();
    if (text) form.set(field, text);
    else form.delete(field);
  }
  clearError();
  setBusy(true);
  setStatus("Comparing the two studies…");
  try {
    renderComparison(await postForm("/v1/compare", form), $("compare-out"));
    setStatus("Compared.");
  } catch (err) {
    setStatus("Not compared.");
    showError(err);
  } finally {
    setBusy(false);
  }
});

window.addEventListener("resize", () => {
  if (state.result && !$("curve-figure").hidden) drawCurve($("curve"), state.result);
});
