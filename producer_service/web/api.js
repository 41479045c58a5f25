// The public REST API, as the page uses it: the key (or browser token), requests, and errors
// as sentences.

const KEY_STORAGE = "image-resize.api-key";

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) ?? "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/**
 * A browser token handed over in the address (`/#token=…`, a link a backend made) is kept as
 * if typed in, and taken out of the address bar, so it stays out of history and bookmarks.
 * (A fragment is never sent to a server.) Whether there was one.
 */
export function takeTokenFromAddress() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token")?.trim();
  if (!token) return false;
  setApiKey(token);
  history.replaceState(history.state, "", location.pathname + location.search);
  return true;
}

/** A refusal of the API (an RFC 9457 problem), or a request that got no answer (status 0). */
export class ApiError extends Error {
  constructor(status, problem = {}, retryAfter = null) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

/** `fetch` on this origin with the key as a bearer token; a non-2xx answer throws ApiError. */
export async function request(path, options = {}) {
  const headers = new Headers(options.headers);
  const key = apiKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { detail: "The service did not answer." });
  }
  if (!response.ok) throw await refusal(response);
  return response;
}

async function refusal(response) {
  let problem = {};
  try {
    problem = await response.json();
  } catch {
    problem = { title: response.statusText };
  }
  const seconds = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  return new ApiError(response.status, problem, Number.isNaN(seconds) ? null : seconds);
}

export async function loadPresets() {
  const body = await (await request("/v1/presets")).json();
  return body.presets;
}

/**
 * `POST /v1/jobs` with a File, or an address ({url}) the service fetches the image from;
 * `choice` is {preset} or {variants}, or empty for the service's default.
 */
export async function submitJob(source, choice) {
  const form = new FormData();
  if (source instanceof File) form.append("file", source, source.name);
  else form.append("source_url", source.url);
  if (choice.preset) form.append("preset", choice.preset);
  if (choice.variants) form.append("variants", JSON.stringify(choice.variants));
  return (await request("/v1/jobs", { method: "POST", body: form })).json();
}

export async function getJob(id, signal) {
  return (await request(`/v1/jobs/${id}`, { signal })).json();
}

/** `POST /v1/jobs/{id}/cancel`: the job, cancelled. */
export async function cancelJob(id) {
  return (await request(`/v1/jobs/${id}/cancel`, { method: "POST" })).json();
}

/** An output's bytes, fetched with the key (an <img src> could not send it). */
export async function fetchOutput(url) {
  return (await request(url)).blob();
}

const PLAIN = {
  401:
    "The service needs a valid API key or token: enter yours in “API key or token” above, " +
    "or check it.",
  404: "The service does not know this job (any more).",
  413: "This file is too large for the service.",
  415: "This file is not an image the service can read.",
  422: "The service refused these settings.",
  429: "You have too many jobs running at once.",
  503: "The service cannot take jobs right now.",
};

/** What went wrong, for people: a plain sentence, the service's detail, when to retry. */
export function describeError(error) {
  if (!(error instanceof ApiError)) return `Something went wrong in the page: ${error.message}`;
  if (error.status === 0) return "The service did not answer. Check your connection and retry.";
  const parts = [PLAIN[error.status] ?? `The service answered ${error.status}.`];
  parts.push(error.problem.detail ?? error.problem.title ?? "");
  if (error.retryAfter !== null && [429, 503].includes(error.status)) {
    parts.push(`Try again in ${error.retryAfter} seconds.`);
  }
  return parts.filter(Boolean).join(" ");
}
