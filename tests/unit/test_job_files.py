"""Outputs appear whole or not at all, the manifest says a job is done, uploads are swept (on
each storage backend: `storage` in conftest.py)."""

import errno
import os
import time
import uuid
from pathlib import Path

import pytest

from producer_service.staging import UploadArea
from shared import layout
from shared.images import ImageHeader
from shared.messages import JobResult, RenderedOutput, ResizeTask
from shared.schemas import ErrorCode, Placeholder, SourceImage
from shared.storage import LocalStorage, Storage
from shared.storage.memory import MemoryStorage
from shared.variants import OutputFormat, SourceFormat, Variant
from worker_service.errors import TransientFailure
from worker_service.job_files import (
    discard_outputs,
    read_manifest,
    source_exists,
    source_file,
    store_outputs,
    write_manifest,
)
from worker_service.metrics import WorkerMetrics
from worker_service.render import Rendered, RenderedJob


def output(job_id: uuid.UUID, name: str = "thumb") -> RenderedOutput:
    key = layout.output_key(job_id, name, OutputFormat.WEBP)
    return RenderedOutput(
        name=name, format=OutputFormat.WEBP, width=1, height=1, size_bytes=3, key=key
    )


async def test_a_job_is_done_only_once_its_manifest_and_every_output_exist(
    storage: Storage,
) -> None:
    job_id = uuid.uuid4()
    outputs = [output(job_id, "a"), output(job_id, "b")]
    result = JobResult(
        outputs=outputs,
        source=SourceImage(format=SourceFormat.PNG, width=2, height=2),
        placeholder=Placeholder(thumbhash="AAAA", dominant_color="#000000"),
    )
    assert await read_manifest(storage, job_id) is None
    for item in outputs:
        await storage.put(item.key, b"img")
    assert await read_manifest(storage, job_id) is None
    await storage.put(layout.manifest_key(job_id), result.model_dump_json().encode())
    assert await read_manifest(storage, job_id) == result
    await storage.delete(outputs[1].key)
    assert await read_manifest(storage, job_id) is None


async def test_a_manifest_of_an_older_version_counts_as_not_done(storage: Storage) -> None:
    job_id = uuid.uuid4()
    item = output(job_id)
    await storage.put(item.key, b"img")
    await storage.put(layout.manifest_key(job_id), f"[{item.model_dump_json()}]".encode())
    assert await read_manifest(storage, job_id) is None


class FullStorage(MemoryStorage):
    """Takes the outputs, then runs out of space for the manifest."""

    async def put(self, key: str, data: bytes) -> None:
        if key.endswith("manifest.json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        await super().put(key, data)


def rendered_job() -> tuple[ResizeTask, RenderedJob]:
    variant = Variant(name="thumb", width=1, format=OutputFormat.WEBP)
    task = ResizeTask(job_id=uuid.uuid4(), source_key="originals/x", variants=[variant])
    header = ImageHeader(format=SourceFormat.PNG, width=2, height=2, pages=1)
    placeholder = Placeholder(thumbhash="AAAA", dominant_color="#000000")
    return task, RenderedJob(header, [Rendered(variant, b"img", 1, 1, 0.0)], placeholder)


async def test_stored_outputs_with_their_manifest_read_back_as_done(storage: Storage) -> None:
    task, rendered = rendered_job()
    result = await store_outputs(storage, task, rendered.source, rendered, WorkerMetrics(int))
    assert await read_manifest(storage, task.job_id) is None  # not done before its manifest
    await write_manifest(storage, task, result)
    assert await read_manifest(storage, task.job_id) == result
    assert await storage.read(result.outputs[0].key) == b"img"


async def test_discarded_outputs_of_a_stopped_attempt_leave_nothing(storage: Storage) -> None:
    task, rendered = rendered_job()
    result = await store_outputs(storage, task, rendered.source, rendered, WorkerMetrics(int))
    await write_manifest(storage, task, result)
    await discard_outputs(storage, task.job_id)
    assert await read_manifest(storage, task.job_id) is None
    assert not await storage.exists(result.outputs[0].key)


async def test_storage_failing_before_the_manifest_is_a_retry_and_not_done() -> None:
    storage = FullStorage()
    task, rendered = rendered_job()
    result = await store_outputs(storage, task, rendered.source, rendered, WorkerMetrics(int))
    with pytest.raises(TransientFailure) as failure:
        await write_manifest(storage, task, result)
    assert failure.value.code is ErrorCode.STORAGE_ERROR
    assert await read_manifest(storage, task.job_id) is None


async def test_a_source_gone_from_storage_is_a_retry(storage: Storage) -> None:
    with pytest.raises(TransientFailure) as failure:
        async with source_file(storage, "originals/gone"):
            pass
    assert failure.value.code is ErrorCode.STORAGE_ERROR


class UnreachableStorage(MemoryStorage):
    """Storage that cannot be asked anything (an S3 endpoint down, a bucket gone)."""

    async def exists(self, key: str) -> bool:
        raise OSError(errno.ECONNREFUSED, "unreachable")


async def test_storage_that_cannot_tell_whether_the_source_exists_is_a_retry_not_gone() -> None:
    assert await source_exists(MemoryStorage(), "originals/gone") is False
    with pytest.raises(TransientFailure) as failure:
        await source_exists(UnreachableStorage(), "originals/a")
    assert failure.value.code is ErrorCode.STORAGE_ERROR


async def test_a_local_put_that_fails_midway_keeps_the_old_file_and_no_debris(
    tmp_path: Path,
) -> None:
    storage = LocalStorage(tmp_path)
    await storage.put("outputs/a/thumb.webp", b"old")
    with pytest.raises(TypeError):
        await storage.put("outputs/a/thumb.webp", "not bytes")  # type: ignore[arg-type]
    assert [p.name for p in (tmp_path / "outputs/a").iterdir()] == ["thumb.webp"]
    assert (tmp_path / "outputs/a/thumb.webp").read_bytes() == b"old"


async def test_deleting_a_jobs_outputs_locally_takes_half_written_files_too(
    tmp_path: Path,
) -> None:
    storage = LocalStorage(tmp_path)
    await storage.put("outputs/a/thumb.webp", b"img")
    (tmp_path / "outputs/a/.thumb.webp.x1y2").write_bytes(b"half")  # a crashed write
    await storage.delete_prefix("outputs/a/")
    assert list((tmp_path / "outputs").iterdir()) == []


def test_start_up_sweeps_abandoned_uploads_but_not_fresh_ones(tmp_path: Path) -> None:
    uploads = UploadArea(tmp_path)
    uploads.prepare()
    abandoned, fresh = uploads.new_temp_path(), uploads.new_temp_path()
    abandoned.write_bytes(b"half an upload")
    fresh.write_bytes(b"arriving now")
    two_hours_ago = time.time() - 7200
    os.utime(abandoned, (two_hours_ago, two_hours_ago))
    uploads.prepare()
    assert not abandoned.exists()
    assert fresh.exists()
