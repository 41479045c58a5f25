"""The API's use cases: submit, read, list and retry jobs, find outputs, apply workers' events."""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

from sqlalchemy.exc import SQLAlchemyError

from producer_service.errors import (
    JobNotFailed,
    JobNotFound,
    OutputNotFound,
    OutputNotReady,
    ServiceUnavailable,
)
from producer_service.publisher import TaskPublisher
from producer_service.storage import LocalStorage
from producer_service.store import DuplicateIdempotencyKey, JobRecord, JobStore
from shared.messages import JobEvent, ResizeTask, utc_now
from shared.schemas import JobStatus, Variant

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutputFile:
    path: Path
    media_type: str


class JobService:
    def __init__(self, store: JobStore, storage: LocalStorage, publisher: TaskPublisher) -> None:
        self._store = store
        self._storage = storage
        self._publisher = publisher

    async def find_by_idempotency_key(self, key: str | None) -> JobRecord | None:
        return None if key is None else await self._store.get_by_idempotency_key(key)

    async def submit(
        self, upload: Path, variants: Sequence[Variant], idempotency_key: str | None
    ) -> JobRecord:
        """Keep the original, record the job, and return only once the broker confirmed its task.

        The row is written before the publish so a worker's first event always finds it; a
        publish that is not confirmed removes the row and the original again, so no job is
        left `queued` that no worker will ever see.
        """
        job_id = uuid.uuid4()
        source_key = await self._storage.keep_original(upload, job_id)
        record = JobRecord.new(job_id, variants, source_key, idempotency_key)
        try:
            await self._store.add(record)
        except DuplicateIdempotencyKey:
            await self._storage.delete(source_key)
            existing = await self.find_by_idempotency_key(idempotency_key)
            if existing is None:  # the other request's publish failed and removed it
                raise
            return existing
        try:
            await self._publish(record)
        except ServiceUnavailable:
            await self._store.delete(job_id)
            await self._storage.delete(source_key)
            raise
        logger.info("job %s accepted with %d variants", job_id, len(variants))
        return record

    async def retry(self, job_id: UUID) -> JobRecord:
        """Queue a failed job again, as a new run with a fresh attempt budget."""
        record = await self.get(job_id)
        if record.status is not JobStatus.FAILED or not await self._store.restart(record):
            raise JobNotFailed(f"Only a failed job can be retried; this one is {record.status}.")
        restarted = await self.get(job_id)
        try:
            await self._publish(restarted)
        except ServiceUnavailable:
            await self._store.undo_restart(record)
            raise
        logger.info("job %s retried by hand as run %d", job_id, restarted.run)
        return restarted

    async def list_page(
        self, status: JobStatus | None, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[JobRecord]:
        return await self._store.list_page(status, after, limit)

    async def publish_stranded(self, older_than: timedelta) -> int:
        """Publish the tasks of jobs an API left unconfirmed when it died; returns how many."""
        published = 0
        for record in await self._store.unpublished(utc_now() - older_than):
            if not await self._storage.exists(record.source_key):
                logger.warning("job %s: never confirmed and its original is gone", record.id)
                await self._store.delete(record.id)
                continue
            await self._publish(record)
            logger.warning("job %s: its task was never confirmed; published it now", record.id)
            published += 1
        return published

    async def _publish(self, record: JobRecord) -> None:
        task = ResizeTask(
            job_id=record.id,
            run=record.run,
            source_key=record.source_key,
            variants=record.variants,
        )
        await self._publisher.publish(task)
        try:
            await self._store.mark_published(record.id)
        except (SQLAlchemyError, OSError):
            # The broker has the task, so the job is accepted; the outbox relay will publish it
            # once more later, which workers take as a duplicate of finished work.
            logger.exception("job %s: queued, but recording that failed", record.id)

    async def get(self, job_id: UUID) -> JobRecord:
        record = await self._store.get(job_id)
        if record is None:
            raise JobNotFound(f"No job has id {job_id}.")
        return record

    async def output_file(self, job_id: UUID, name: str) -> OutputFile:
        record = await self.get(job_id)
        if not any(variant.name == name for variant in record.variants):
            raise OutputNotFound(f"Job {job_id} has no output named {name!r}.")
        if record.status is not JobStatus.SUCCEEDED:
            raise OutputNotReady(
                f"The job is {record.status}; outputs exist once it has succeeded."
            )
        output = next((o for o in record.outputs if o.name == name), None)
        if output is None or not await self._storage.exists(output.key):
            raise OutputNotFound(f"Job {job_id} has no output named {name!r}.")
        return OutputFile(self._storage.path_of(output.key), output.format.media_type)

    async def apply_event(self, event: JobEvent) -> bool:
        return await self._store.apply_event(event)
