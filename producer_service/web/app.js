// The page at `/`: choose images and sizes, submit each image as a job, follow it live,
// show and download its outputs. Only the public API is used (see api.js and events.js).

import {
  ApiError,
  apiKey,
  cancelJob,
  describeError,
  loadPresets,
  setApiKey,
  submitJob,
  takeTokenFromAddress,
} from "./api.js";
import { JobCard } from "./cards.js";
import { followJob } from "./events.js";
import { chooseVariants, customVariant, describeVariant } from "./variants.js";

// Jobs in flight at once. Each holds an event stream open, and a browser opens only six
// connections to one origin over HTTP/1.1: three leave room for uploads and downloads.
const CONCURRENT_JOBS = 3;
// A refusal that may pass (a key typed in, capacity back) offers "Try again".
const RETRYABLE = new Set([0, 401, 429, 503]);
const FINAL = new Set(["succeeded", "failed", "cancelled", "refused"]);
const COUNT = new Intl.NumberFormat("en");

const $ = (id) => document.getElementById(id);
const cards = [];
let presets = [];
let chosen = [];
let customCount = 0;

function announce(text) {
  $("announcer").textContent = text;
}

function showProblem(id, text) {
  $(id).textContent = text;
  $(id).hidden = !text;
}

function element(tag, properties) {
  return Object.assign(document.createElement(tag), properties);
}

// ---- API key and presets ----

async function refreshPresets() {
  // Nothing is ticked to start with: what is ticked is exactly what is sent, and nothing
  // ticked (the hint says so) is the service's default preset.
  const ticked = new Set(tickedPresets().map((p) => p.name));
  try {
    presets = await loadPresets();
    showProblem("presets-problem", "");
  } catch (error) {
    presets = [];
    showProblem("presets-problem", `The presets could not be loaded. ${describeError(error)}`);
  }
  $("presets").replaceChildren(...presets.map((preset) => presetChoice(preset, ticked)));
}

function presetChoice(preset, ticked) {
  const id = `preset-${preset.name}`;
  const box = element("input", { type: "checkbox", id, name: "preset", value: preset.name });
  box.checked = ticked.has(preset.name);
  box.setAttribute("aria-describedby", `${id}-sizes`);
  const label = element("label", { htmlFor: id, textContent: preset.name });
  const sizes = preset.variants.map(describeVariant).join("; ");
  const item = element("div", { className: "preset" });
  item.append(box, label, element("span", { id: `${id}-sizes`, className: "hint", textContent: sizes }));
  return item;
}

function tickedPresets() {
  const names = [...document.querySelectorAll("input[name=preset]:checked")].map((b) => b.value);
  return presets.filter((preset) => names.includes(preset.name));
}

// ---- files: the picker, the drop zone, image addresses and the list of chosen images ----

function addFiles(files) {
  chosen.push(...files);
  renderChosen();
}

/** The address typed in, as a chosen image ({name, url}); false when it is not a URL. */
function addUrl() {
  const input = $("source-url");
  const url = input.value.trim();
  if (!url) return true;
  if (!input.reportValidity()) return false;
  addFiles([{ name: url, url }]);
  input.value = "";
  return true;
}

function renderChosen() {
  const items = chosen.map((file, index) => {
    const size = file.url ? "fetched by the service" : `${COUNT.format(file.size)} bytes`;
    const text = `${file.name} (${size})`;
    const remove = element("button", { type: "button", className: "secondary" });
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove ${file.name}`);
    remove.addEventListener("click", () => {
      chosen.splice(index, 1);
      renderChosen();
      $("drop-zone").focus();
    });
    const item = element("li");
    item.append(element("span", { className: "file-name", textContent: text }), remove);
    return item;
  });
  $("chosen").replaceChildren(...items);
  const count = chosen.length;
  $("chosen-summary").textContent = count
    ? `${count} ${count === 1 ? "image" : "images"} chosen.`
    : "No image chosen.";
}

function wireFiles() {
  const input = $("files");
  const zone = $("drop-zone");
  zone.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = ""; // choosing the same file again is a change too
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    addFiles(event.dataTransfer.files);
  });
  $("add-url").addEventListener("click", addUrl);
  $("source-url").addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault(); // adds the address rather than submitting the form
    addUrl();
  });
  // A file dropped beside the zone would make the browser leave the page to show it.
  for (const type of ["dragover", "drop"]) {
    document.addEventListener(type, (event) => event.preventDefault());
  }
}

// ---- custom sizes ----

function addCustomVariant() {
  customCount += 1;
  const row = $("custom-variant-template").content.firstElementChild.cloneNode(true);
  row.querySelector("[name=name]").value = `custom-${customCount}`;
  row.querySelector("[name=width]").value = "800";
  row.querySelector(".remove").addEventListener("click", () => {
    row.remove();
    $("add-variant").focus();
  });
  $("custom-variants").append(row);
  row.querySelector("[name=width]").focus();
}

/** The custom sizes, or null after the browser told the user what is missing. */
function customVariants() {
  const rows = [...document.querySelectorAll(".custom-variant")];
  for (const row of rows) {
    const width = row.querySelector("[name=width]");
    const neither = width.value === "" && row.querySelector("[name=height]").value === "";
    width.setCustomValidity(neither ? "Give a width, a height or both." : "");
  }
  if (!$("job-form").reportValidity()) return null;
  const fields = ["name", "width", "height", "fit", "format"];
  return rows.map((row) =>
    customVariant(Object.fromEntries(fields.map((f) => [f, row.querySelector(`[name=${f}]`).value]))),
  );
}

// ---- jobs, CONCURRENT_JOBS at a time ----

const waiting = [];
let running = 0;

function enqueue(run) {
  waiting.push(run);
  pump();
}

function pump() {
  while (running < CONCURRENT_JOBS && waiting.length) {
    running += 1;
    waiting.shift()().finally(() => {
      running -= 1;
      pump();
    });
  }
}

function setStatus(card, status, text) {
  card.setStatus(status, text);
  announce(`${card.file.name}: ${text}`);
}

function show(card, job) {
  const state = `${job.status}.${job.attempts}`;
  if (card.element.dataset.state === state) return;
  card.element.dataset.state = state;
  card.showJob(job);
  announce(`${card.file.name}: ${card.statusText}`);
}

async function runJob(card, choice) {
  try {
    setStatus(card, "uploading", card.file.url ? "Submitting…" : "Uploading…");
    const job = await submitJob(card.file, choice);
    show(card, job);
    const final = await followJob(job.id, (next) => show(card, next));
    if (final.status === "succeeded") await card.showOutputs(final);
  } catch (error) {
    const accepted = Boolean(card.element.dataset.jobId);
    setStatus(card, "refused", accepted ? "Stopped" : "Not accepted");
    card.showProblem(describeError(error));
    const retryable = error instanceof ApiError && RETRYABLE.has(error.status);
    card.part(".retry").hidden = accepted || !retryable;
  }
}

/** Cancels the card's job; its event stream then ends with the cancelled job. */
async function cancel(card) {
  card.part(".cancel").hidden = true;
  try {
    show(card, await cancelJob(card.element.dataset.jobId));
  } catch (error) {
    // 409: it ended meanwhile, and its event stream shows how.
    if (!(error instanceof ApiError && error.status === 409)) card.showProblem(describeError(error));
  }
}

function startJob(card, choice) {
  card.reset();
  enqueue(() => runJob(card, choice));
}

function submit(event) {
  event.preventDefault();
  showProblem("form-problem", "");
  const custom = customVariants();
  if (custom === null || !addUrl()) return; // an address typed in but not added is sent too
  if (!chosen.length) {
    showProblem("form-problem", "Choose at least one image, or give its address, first.");
    $("drop-zone").focus();
    return;
  }
  const choice = chooseVariants(tickedPresets(), custom);
  for (const file of chosen) {
    const card = new JobCard(file);
    cards.push(card);
    card.part(".retry").addEventListener("click", () => startJob(card, choice));
    card.part(".cancel").addEventListener("click", () => cancel(card));
    $("cards").append(card.element);
    startJob(card, choice);
  }
  chosen = [];
  renderChosen();
  showCards();
}

function clearFinished() {
  for (const card of cards.filter((c) => FINAL.has(c.part(".card-status").dataset.status))) {
    card.release();
    card.element.remove();
    cards.splice(cards.indexOf(card), 1);
  }
  showCards();
}

function showCards() {
  $("no-jobs").hidden = cards.length > 0;
  $("clear").hidden = cards.length === 0;
}

function start() {
  takeTokenFromAddress();
  const key = $("api-key");
  key.value = apiKey();
  key.addEventListener("input", () => setApiKey(key.value.trim()));
  key.addEventListener("change", refreshPresets);
  // A token link opened in a tab that shows the page already does not reload it.
  window.addEventListener("hashchange", () => {
    if (!takeTokenFromAddress()) return;
    key.value = apiKey();
    refreshPresets();
  });
  wireFiles();
  $("add-variant").addEventListener("click", addCustomVariant);
  $("job-form").addEventListener("submit", submit);
  $("clear").addEventListener("click", clearFinished);
  refreshPresets();
}

start();
