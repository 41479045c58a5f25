// One card per chosen file: its job's status, a placeholder while it runs, then its outputs.

import { describeError, fetchOutput } from "./api.js";
import { thumbHashToDataURL } from "./thumbhash.js";
import { FORMATS } from "./variants.js";

const STATUS_TEXT = {
  queued: () => "Queued",
  processing: (job) => (job.attempts > 1 ? `Processing (attempt ${job.attempts})` : "Processing"),
  succeeded: (job) => `Done: ${job.outputs.length} ${job.outputs.length === 1 ? "image" : "images"}`,
  failed: () => "Failed",
  cancelled: () => "Cancelled",
};
// A job a person may still stop.
const CANCELLABLE = new Set(["queued", "processing"]);
const EXTENSIONS = { jpeg: "jpg", png: "png", webp: "webp", avif: "avif" };
const BYTES = new Intl.NumberFormat("en");

const clone = (id) => document.getElementById(id).content.firstElementChild.cloneNode(true);

export class JobCard {
  constructor(file) {
    this.file = file;
    this.element = clone("card-template");
    this.part = (name) => this.element.querySelector(name);
    this.part(".card-title").textContent = file.name;
    this.urls = [];
  }

  /** Status as words; the same words the page announces. */
  get statusText() {
    return this.part(".card-status").textContent;
  }

  setStatus(status, text) {
    const line = this.part(".card-status");
    line.dataset.status = status;
    line.textContent = text;
  }

  showJob(job) {
    this.setStatus(job.status, STATUS_TEXT[job.status](job));
    const id = this.part(".job-id");
    id.hidden = false;
    id.querySelector("code").textContent = job.id;
    this.element.dataset.jobId = job.id;
    this.showPreview(job);
    this.part(".cancel").hidden = !CANCELLABLE.has(job.status);
    if (job.status === "failed") this.showProblem(job.error?.message ?? "The job failed.");
  }

  /** Before any output: a neutral box of the source's shape, then its colour and ThumbHash. */
  showPreview(job) {
    const box = this.part(".preview");
    if (job.source) box.style.aspectRatio = `${job.source.width} / ${job.source.height}`;
    if (!job.placeholder) return;
    box.style.backgroundColor = job.placeholder.dominant_color;
    box.classList.add("painted");
    const image = this.part(".thumbhash");
    try {
      image.src = thumbHashToDataURL(job.placeholder.thumbhash);
      image.hidden = false;
    } catch {
      // A hash this page cannot read leaves the dominant colour, which is enough.
    }
  }

  showProblem(text) {
    const problem = this.part(".problem");
    problem.textContent = text;
    problem.hidden = false;
    this.part(".preview").hidden = true;
  }

  /** Back to the start, for another try of a refused submit. */
  reset() {
    this.part(".problem").hidden = true;
    this.part(".retry").hidden = true;
    this.part(".cancel").hidden = true;
    this.part(".preview").hidden = false;
    this.setStatus("waiting", "Waiting to upload");
  }

  /** Fetches every output (with the key) and shows it; the preview goes once they are in. */
  async showOutputs(job) {
    const list = this.part(".outputs");
    try {
      const items = await Promise.all(job.outputs.map((output) => this.outputItem(output)));
      list.replaceChildren(...items);
      await Promise.all(items.map((item) => item.querySelector("img").decode().catch(() => {})));
      this.part(".preview").hidden = true;
    } catch (error) {
      this.showProblem(`The images could not be loaded. ${describeError(error)}`);
    }
  }

  async outputItem(output) {
    const url = URL.createObjectURL(await fetchOutput(output.url));
    this.urls.push(url);
    const item = clone("output-template");
    const dimensions = `${output.width} × ${output.height}`;
    const image = item.querySelector("img");
    Object.assign(image, { src: url, width: output.width, height: output.height });
    image.alt = `${output.name}, ${dimensions} pixels`;
    item.querySelector(".output-name").textContent = `${output.name} · ${FORMATS[output.format]}`;
    item.querySelector(".output-facts").textContent =
      `${dimensions} px · ${BYTES.format(output.size_bytes)} bytes`;
    const link = item.querySelector(".download");
    link.href = url;
    link.download = `${stem(this.file.name)}-${output.name}.${EXTENSIONS[output.format]}`;
    link.textContent = `Download ${output.name}`;
    link.setAttribute("aria-label", `Download ${output.name} of ${this.file.name}`);
    item.dataset.output = output.name;
    return item;
  }

  /** Frees the downloaded outputs' memory (object URLs live as long as the page). */
  release() {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
  }
}

function stem(name) {
  const filename = name.slice(name.lastIndexOf("/") + 1); // an address's last part
  const dot = filename.lastIndexOf(".");
  return (dot > 0 ? filename.slice(0, dot) : filename) || "image";
}
