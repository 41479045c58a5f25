// A job's live status: `GET /v1/jobs/{id}/events` read with fetch(), since EventSource cannot
// send the Authorization header that API_KEYS deployments need. A dropped stream resumes with
// Last-Event-ID (a 204 then says the job had already ended); when streaming keeps failing,
// the job is polled instead.

import { ApiError, getJob, request } from "./api.js";

const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const STREAM_TRIES = 3;
const RETRY_MS = 500;
const POLL_MS = 1000;

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Calls `onJob` with each state of the job until it has succeeded or failed; that state. */
export async function followJob(id, onJob) {
  let lastEventId = null;
  let failures = 0;
  for (;;) {
    try {
      const headers = { Accept: "text/event-stream" };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      const response = await request(`/v1/jobs/${id}/events`, { headers });
      // No stream: the job ended in the state last received, so read it once and stop.
      if (response.status === 204) return pollJob(id, onJob);
      for await (const event of serverSentEvents(response.body)) {
        failures = 0;
        if (event.id) lastEventId = event.id;
        if (event.event !== "status") continue;
        const job = JSON.parse(event.data);
        onJob(job);
        if (FINAL.has(job.status)) return job;
      }
      failures += 1; // ended before the job did: a proxy or a restart cut it
    } catch (error) {
      // A refusal that will not pass ends the wait; a cut connection is tried again.
      if (error instanceof ApiError && !passing(error)) throw error;
      failures += 1;
    }
    if (failures === STREAM_TRIES) return pollJob(id, onJob);
    await pause(RETRY_MS * failures);
  }
}

async function pollJob(id, onJob) {
  let previous = null;
  for (;; await pause(POLL_MS)) {
    let job;
    try {
      job = await getJob(id);
    } catch (error) {
      if (passing(error)) continue;
      throw error;
    }
    if (job.status !== previous) onJob(job);
    previous = job.status;
    if (FINAL.has(job.status)) return job;
  }
}

// No answer, or the service busy for a moment: worth asking again.
const passing = (error) => error instanceof ApiError && (error.status === 0 || error.status >= 500);

/** The events of a `text/event-stream` body (the WHATWG format: fields up to a blank line). */
export async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { id: "", event: "message", data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r?\n/);
    buffer = lines.pop(); // a line not yet ended
    for (const line of lines) {
      if (line === "") {
        if (event.data.length) yield { ...event, data: event.data.join("\n") };
        event = { id: event.id, event: "message", data: [] };
        continue;
      }
      if (line.startsWith(":")) continue; // a keep-alive comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") event.data.push(text);
      else if (field === "event") event.event = text;
      else if (field === "id") event.id = text;
    }
  }
}
