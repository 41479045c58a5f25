"""The blocking body of one attempt, run in executor threads: read the source's header, then
render every variant. Both read a local file (see `job_files.source_file`); storing what they
made is `job_files.store_outputs`, back on the event loop."""

import threading
from pathlib import Path

from opentelemetry.trace import Tracer

from shared.images import ImageHeader, Limits
from shared.job_memory import job_bytes
from shared.messages import ResizeTask
from worker_service.cancel import RenderCancelled
from worker_service.decode import inspect_source
from worker_service.job_files import storage_errors
from worker_service.metrics import WorkerMetrics
from worker_service.render import RenderedJob, render


def inspect_task(task: ResizeTask, source_file: Path, limits: Limits) -> ImageHeader:
    with storage_errors():
        return inspect_source(source_file, task.variants, limits)


def memory_needed(task: ResizeTask, source: ImageHeader) -> int:
    """The most the attempt will hold at once, from the header and the variants' sizes."""
    return job_bytes(source, task.variants)


def render_task(
    task: ResizeTask,
    source_file: Path,
    source: ImageHeader,
    cancel: threading.Event,
    *,
    metrics: WorkerMetrics,
    tracer: Tracer,
) -> RenderedJob:
    with storage_errors():
        metrics.read_source(source_file.stat().st_size)
        rendered = render(source_file, source, task.variants, cancel, tracer)
    if cancel.is_set():
        # Too late for an encoder libvips cannot interrupt (AVIF): drop what it made, so
        # a job past its deadline leaves no outputs and no manifest behind.
        raise RenderCancelled
    return rendered
