// Calls to the neovasc API from the page: the API key, problem+json errors, jobs.
// The page is served by the same service, so every URL is on this origin.

const KEY_STORE = "neovasc.apiKey";
const POLL_MS = 400;

/** An API answer that was not a success: the problem+json document and the HTTP status (0: no answer). */
export class ApiError extends Error {
  constructor(problem, status) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.problem = problem;
    this.status = status;
  }
}

let askForKey = null;

/** `ask(detail)` resolves to a key to retry with, or null to give up; it is called when a call answers 401. */
export function onKeyNeeded(ask) {
  askForKey = ask;
}

export function storedKey() {
  return sessionStorage.getItem(KEY_STORE);
}

export function storeKey(key) {
  if (key) sessionStorage.setItem(KEY_STORE, key);
  else sessionStorage.removeItem(KEY_STORE);
}

async function readProblem(response) {
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) {
    try {
      return await response.json();
    } catch {
      // fall through to the plain answer below
    }
  }
  const text = (await response.text().catch(() => "")).slice(0, 200);
  return { title: `HTTP ${response.status}`, detail: text, status: response.status };
}

/** fetch() with the stored key; a 401 asks for a key and retries; any other error answer throws ApiError. */
export async function call(url, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = storedKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  let response;
  try {
    response = await fetch(url, { ...options, headers });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    const detail = `${err.message}; check that the service is running and reachable`;
    throw new ApiError({ title: "No answer from the service", detail }, 0);
  }
  if (response.status === 401 && askForKey) {
    const problem = await readProblem(response);
    const next = await askForKey(problem.detail);
    if (next) {
      storeKey(next);
      return call(url, options);
    }
    throw new ApiError(problem, 401);
  }
  if (!response.ok) throw new ApiError(await readProblem(response), response.status);
  return response;
}

export async function postForm(url, form, signal) {
  const response = await call(url, { method: "POST", body: form, signal });
  return response.json();
}

/** A stored file of a Result (overlay, curve, report) as an object URL; the caller revokes it. */
export async function fileUrl(link) {
  const response = await call(link);
  return URL.createObjectURL(await response.blob());
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Queue `form` as a job and poll until it ends; `onProgress(job)` after each poll.
 * `stop.requested` set by the caller cancels the job. Resolves to the Result; throws ApiError on failure.
 */
export async function runJob(form, onProgress, stop) {
  let job = await postForm("/v1/jobs", form);
  onProgress(job);
  let cancelSent = false;
  while (job.state === "queued" || job.state === "running") {
    await sleep(POLL_MS);
    if (stop.requested && !cancelSent) {
      cancelSent = true;
      job = await (await call(job.status_url, { method: "DELETE" })).json();
    } else {
      job = await (await call(job.status_url)).json();
    }
    onProgress(job);
  }
  if (job.state === "done") return job.result;
  const problem = job.error || { title: `Job ${job.state}`, detail: "" };
  throw new ApiError(problem, problem.status || 0);
}

/** A short text for an error: the problem's title and detail, and its code. */
export function describe(err) {
  if (err instanceof ApiError) {
    const { title, detail, code } = err.problem;
    const head = title || `HTTP ${err.status}`;
    return { title: head, detail: detail || "", code: code || "" };
  }
  return { title: "Unexpected error in the page", detail: String(err && err.message ? err.message : err), code: "" };
}
