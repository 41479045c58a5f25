"""The blocking body of one attempt, run in executor threads: read the source's header, then
render every variant, write each, and write the manifest that marks the job done last."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from shared import layout
from shared.geometry import Size, decode_size
from shared.images import ImageHeader, Limits
from shared.messages import JobResult, RenderedOutput, ResizeTask
from shared.schemas import ErrorCode
from worker_service.cancel import RenderCancelled
from worker_service.decode import inspect_source
from worker_service.errors import TransientFailure
from worker_service.memory import decode_bytes
from worker_service.metrics import WorkerMetrics
from worker_service.render import render
from worker_service.storage import OutputStorage


def inspect_task(task: ResizeTask, storage: OutputStorage, limits: Limits) -> ImageHeader:
    with _storage_errors():
        return inspect_source(storage.path_of(task.source_key), task.variants, limits)


def memory_needed(task: ResizeTask, source: ImageHeader) -> int:
    """What the attempt's decode will hold, from the header and the largest variant."""
    size = Size(source.width, source.height)
    return decode_bytes(source, decode_size(list(task.variants), size))


def run_task(
    task: ResizeTask,
    source: ImageHeader,
    storage: OutputStorage,
    metrics: WorkerMetrics,
    cancel: threading.Event,
) -> JobResult:
    with _storage_errors():
        path = storage.path_of(task.source_key)
        metrics.read_source(path.stat().st_size)
        rendered = render(path, source, task.variants, cancel)
        if cancel.is_set():
            # Too late for an encoder libvips cannot interrupt (AVIF): drop what it made, so
            # a job past its deadline leaves no outputs and no manifest behind.
            raise RenderCancelled
        outputs = []
        for output in rendered.outputs:
            key = layout.output_key(task.job_id, output.variant.name, output.variant.format)
            storage.write(key, output.data)
            metrics.wrote(output)
            outputs.append(
                RenderedOutput(
                    name=output.variant.name,
                    format=output.variant.format,
                    width=output.width,
                    height=output.height,
                    size_bytes=len(output.data),
                    key=key,
                )
            )
        result = JobResult(
            outputs=outputs, source=source.as_source(), placeholder=rendered.placeholder
        )
        storage.write_manifest(task.job_id, result)
    return result


@contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise TransientFailure(ErrorCode.STORAGE_ERROR, f"Storage failed: {exc}") from exc
