"""The blocking body of one attempt: check the source, render each variant, write it, then the
manifest that marks the job done. Runs in an executor thread; `cancel` stops it early."""

import threading

from shared import layout
from shared.messages import ErrorCode, RenderedOutput, ResizeTask
from worker_service.errors import TransientFailure
from worker_service.resize import RenderCancelled, inspect_source, render_variant
from worker_service.storage import OutputStorage


def run_task(
    task: ResizeTask, storage: OutputStorage, max_pixels: int, cancel: threading.Event
) -> list[RenderedOutput]:
    source_path = storage.path_of(task.source_key)
    try:
        source = inspect_source(source_path, max_pixels)
        outputs = []
        for variant in task.variants:
            if cancel.is_set():
                raise RenderCancelled
            rendered = render_variant(source_path, variant, source, cancel)
            key = layout.output_key(task.job_id, variant.name, variant.format)
            storage.write(key, rendered.data)
            outputs.append(
                RenderedOutput(
                    name=variant.name,
                    format=variant.format,
                    width=rendered.width,
                    height=rendered.height,
                    size_bytes=len(rendered.data),
                    key=key,
                )
            )
        storage.write_manifest(task.job_id, outputs)
    except OSError as exc:
        raise TransientFailure(ErrorCode.STORAGE_ERROR, f"Storage failed: {exc}") from exc
    return outputs
