"""The job's files in storage, as the worker sees them: its source as a file for libvips, its
outputs written so a half-done job is never taken for a done one, and its manifest.

Outputs are named from the job and variant (see `shared.layout`), so a redelivered job
overwrites its own objects rather than adding copies. Each is put whole (the backend makes
that atomic); the job's `manifest.json` goes last and is what marks the job as done: a crash
before it means the job runs again. Storage that fails is a `TransientFailure`: retried.
"""

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from uuid import UUID

from pydantic import ValidationError

from shared import layout
from shared.images import ImageHeader
from shared.messages import JobResult, RenderedOutput, ResizeTask
from shared.schemas import ErrorCode
from shared.storage import NotFound, Storage
from worker_service.errors import TransientFailure
from worker_service.metrics import WorkerMetrics
from worker_service.render import RenderedJob

logger = logging.getLogger(__name__)


@contextmanager
def storage_errors() -> Iterator[None]:
    try:
        yield
    except (OSError, NotFound) as exc:
        raise TransientFailure(ErrorCode.STORAGE_ERROR, f"Storage failed: {exc!r}") from exc


async def source_exists(storage: Storage, key: str) -> bool:
    """Whether the original is there; storage that cannot tell is a retry, never "gone"."""
    with storage_errors():
        return await storage.exists(key)


@asynccontextmanager
async def source_file(storage: Storage, key: str) -> AsyncIterator[Path]:
    """The original as a local file while the block runs (the stored file, or a copy)."""
    async with AsyncExitStack() as stack:
        with storage_errors():  # only getting the file: the block's own errors pass as they are
            path = await stack.enter_async_context(storage.local_file(key))
        yield path


async def read_manifest(storage: Storage, job_id: UUID) -> JobResult | None:
    """What a job that already succeeded made, or None if it has not (or its outputs are gone)."""
    try:
        result = JobResult.model_validate_json(await storage.read(layout.manifest_key(job_id)))
    except (OSError, NotFound, ValidationError):
        # Unreadable (or written by an older version) counts as not done: the job runs
        # again, which is always safe.
        return None
    for output in result.outputs:
        if not await storage.exists(output.key):
            return None
    return result


async def store_outputs(
    storage: Storage,
    task: ResizeTask,
    source: ImageHeader,
    rendered: RenderedJob,
    metrics: WorkerMetrics,
) -> JobResult:
    """Put every output; `write_manifest` then says the job is done."""
    outputs = []
    with storage_errors():
        for output in rendered.outputs:
            key = layout.output_key(task.job_id, output.variant.name, output.variant.format)
            await storage.put(key, output.data)
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
    return JobResult(outputs=outputs, source=source.as_source(), placeholder=rendered.placeholder)


async def write_manifest(storage: Storage, task: ResizeTask, result: JobResult) -> None:
    """Written last: from here on the job is done, and a new delivery of it does no work."""
    with storage_errors():
        await storage.put(layout.manifest_key(task.job_id), result.model_dump_json().encode())


async def discard_outputs(storage: Storage, job_id: UUID) -> None:
    """Remove whatever a stopped attempt wrote; storage that refuses is logged, not raised:
    the job is over, and its outputs go with it when it is deleted or expires."""
    try:
        await storage.delete_prefix(layout.outputs_prefix(job_id))
    except (OSError, NotFound) as exc:
        logger.warning("outputs of a cancelled attempt left in storage: %r", exc)
