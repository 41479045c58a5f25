"""The API's use cases: submit, read, list and retry jobs, find outputs, apply workers' events."""

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from producer_service.broker.publisher import Publisher
from producer_service.callers import Caller, Scope
from producer_service.db.store import DuplicateIdempotencyKey, JobChanged, JobStore
from producer_service.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    JobNotFailed,
    JobNotFinished,
    JobNotFound,
    OutputNotFound,
    OutputNotReady,
    StoreUnavailable,
    Unavailable,
)
from producer_service.records import JobRecord
from producer_service.staging import storage_errors
from producer_service.submissions import Submission
from shared import layout
from shared.log_context import about_job
from shared.messages import JobEvent, ResizeTask, utc_now
from shared.schemas import JobStatus
from shared.storage import NotFound, Storage
from shared.tracing import context_headers, in_trace

logger = logging.getLogger(__name__)

# How often a replayed submit looks again while the first try waits for its confirm.
REPLAY_POLL_SECONDS = 0.05
# The attempt a published task starts at: what the API's lines about publishing it carry.
FIRST_ATTEMPT = 1


@dataclass(frozen=True)
class OutputFile:
    size: int
    media_type: str
    # Strong: an output's bytes never change once its job has succeeded.
    etag: str
    # Read from storage only if iterated (not for HEAD or a 304).
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class Submitted:
    job: JobRecord
    # The job of an earlier submit with the same Idempotency-Key, returned again.
    replayed: bool = False


class Jobs:
    def __init__(
        self,
        store: JobStore,
        storage: Storage,
        publisher: Publisher,
        replay_wait_seconds: float,
        max_active_jobs: int | None = None,
        *,
        lane_of: Callable[[str], int] = lambda _owner: 0,
    ) -> None:
        self._store = store
        self._storage = storage
        self._publisher = publisher
        self._replay_wait = replay_wait_seconds
        # Per owner (an API key, or everyone without keys); None: no limit.
        self._max_active = max_active_jobs
        # An owner's bulk lane (`callers.KeyRing.lane_of`).
        self._lane_of = lane_of

    async def submit(
        self, caller: Caller, submission: Submission, idempotency_key: str | None
    ) -> Submitted:
        """Keep the original, record the job, and return only once the broker confirmed its task.

        The row is written before the publish so a worker's first event always finds it; a
        publish that is not confirmed removes the original and the row again, so no job is
        left `queued` that no worker will ever see.
        """
        if idempotency_key is None:
            return Submitted(await self._create(caller, submission, None))
        return await self._submit_once(caller, submission, idempotency_key)

    async def _submit_once(self, caller: Caller, submission: Submission, key: str) -> Submitted:
        """The job of the caller's first submit with `key`, or a new one if there is none.
        A key's Idempotency-Keys are its own, and so are each of its browser tokens'.

        While the first try still waits for its confirm, a replay waits with it (across
        replicas, by looking at the store) and then shares its outcome: its job once confirmed,
        or a try of its own if the first was refused. It never gets a job that is then dropped.
        """
        deadline = asyncio.get_running_loop().time() + self._replay_wait
        while True:
            existing = await self._store.get_by_idempotency_key(caller.owner, caller.token_id, key)
            if existing is None:
                try:
                    return Submitted(await self._create(caller, submission, key))
                except DuplicateIdempotencyKey:
                    continue  # another try with this key got there first: follow it
            if existing.request_fingerprint not in (None, submission.fingerprint):
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was first used with a different file, source_url or "
                    "variants."
                )
            if existing.published:
                return Submitted(existing, replayed=True)
            if asyncio.get_running_loop().time() >= deadline:
                raise IdempotencyKeyInFlight(
                    "The first request with this Idempotency-Key is still being queued; "
                    "send it again shortly."
                )
            await asyncio.sleep(REPLAY_POLL_SECONDS)

    async def _create(self, caller: Caller, submission: Submission, key: str | None) -> JobRecord:
        job_id = uuid.uuid4()
        with about_job(job_id, FIRST_ATTEMPT):
            return await self._create_job(job_id, caller, submission, key)

    async def _create_job(
        self, job_id: UUID, caller: Caller, submission: Submission, key: str | None
    ) -> JobRecord:
        source_key = layout.original_key(job_id)
        if submission.path is not None:  # else the worker fetches it from `source_url`
            with storage_errors():
                await self._storage.put_file(source_key, submission.path)
        record = JobRecord.new(
            job_id,
            submission.variants,
            source_key,
            key,
            submission.fingerprint,
            owner=caller.owner,
            token_id=caller.token_id,
            preset=submission.preset,
            callback_url=submission.callback_url,
            source_url=submission.source_url,
            priority=submission.priority,
            trace_context=context_headers() or None,
        )
        try:
            await self._store.add(record, self._max_active)
        except BaseException:
            await self._forget(source_key)
            raise
        try:
            await self._publish(record)
        except Unavailable:
            await self._withdraw(record)
            raise
        logger.info("accepted with %d variants", len(submission.variants))
        return record

    async def _withdraw(self, record: JobRecord) -> None:
        """Undo a submit the broker did not confirm. The original goes first: a task that
        reaches the queue after all then finds nothing to resize and is dropped by the worker.
        A row the store cannot delete now is removed by the outbox relay, which finds its
        original gone."""
        await self._forget(record.source_key)
        with contextlib.suppress(StoreUnavailable):
            await self._store.delete(record.id)

    async def retry(self, caller: Caller, job_id: UUID) -> JobRecord:
        """Queue a failed or cancelled job again, as a new run with a fresh attempt budget
        (a cancel's marker names its run, so it does not stop the new one); it counts against
        the owner's active jobs as a submit does."""
        record = await self.get(caller, job_id)
        if not await self._store.restart(record, self._max_active):
            raise JobNotFailed(
                f"Only a failed or cancelled job can be retried; this one is {record.status}."
            )
        restarted = await self.get(caller, job_id)
        with about_job(job_id, FIRST_ATTEMPT):
            try:
                await self._publish(restarted)
            except Unavailable:
                await self._store.undo_restart(record)
                raise
            logger.info("retried by hand as run %d", restarted.run)
        return restarted

    async def delete(self, caller: Caller, job_id: UUID) -> None:
        """Forget a finished job and remove its files; a job still queued or processing is
        refused (a worker may be writing its outputs)."""
        if not await self._remove(job_id, caller.scope):
            current = await self.get(caller, job_id)  # JobNotFound when there is no such job
            raise JobNotFinished(
                f"The job is {current.status}; only a finished job can be deleted, "
                "so cancel it first."
            )
        logger.info("job %s deleted", job_id)

    async def expire(self, older_than: timedelta, batch: int) -> int:
        """Delete every job that finished more than `older_than` ago, with its files, `batch`
        at a time (each its own short transactions, so submits never wait long behind it);
        how many went. A job whose webhook is still being tried stays for a later sweep."""
        cutoff = utc_now() - older_than
        expired = 0
        while True:
            found = await self._store.finished_before(cutoff, batch)
            for job_id in found:
                expired += await self._remove(job_id, None, finished_before=cutoff)
            if len(found) < batch:
                break
        if expired:
            logger.info("deleted %d jobs finished more than %s ago", expired, older_than)
        return expired

    async def _remove(
        self, job_id: UUID, scope: Scope | None, finished_before: datetime | None = None
    ) -> bool:
        """The job's row, then its files; whether the job was there to remove. (A crash in
        between leaves files no job names; never a job whose files are gone.)"""
        if not await self._store.delete_finished(job_id, scope, finished_before):
            return False
        with storage_errors():
            await self._storage.delete_prefix(layout.outputs_prefix(job_id))
            await self._storage.delete_prefix(layout.cancels_prefix(job_id))
        await self._forget(layout.original_key(job_id))
        return True

    async def _forget(self, key: str) -> None:
        """Remove a stored object; storage that refuses even that is logged, not raised."""
        try:
            await self._storage.delete(key)
        except OSError as exc:
            logger.warning("could not remove %s: %s", key, exc)

    async def list_page(
        self,
        caller: Caller,
        status: JobStatus | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[JobRecord]:
        return await self._store.list_page(caller.scope, status, after, limit)

    async def publish_stranded(self, older_than: timedelta) -> int:
        """Publish the tasks of jobs an API left unconfirmed when it died; returns how many."""
        published = 0
        for record in await self._store.unpublished(utc_now() - older_than):
            with about_job(record.id, FIRST_ATTEMPT):
                published += await self._publish_stranded(record)
        return published

    async def _publish_stranded(self, record: JobRecord) -> int:
        if record.source_url is None and not await self._storage.exists(record.source_key):
            logger.warning("never confirmed and its original is gone")
            await self._store.delete(record.id)
            return 0
        await self._publish(record)
        logger.warning("its task was never confirmed; published it now")
        return 1

    async def _publish(self, record: JobRecord) -> None:
        task = ResizeTask(
            job_id=record.id,
            run=record.run,
            source_key=record.source_key,
            variants=record.variants,
            source_url=record.source_url,
            priority=record.priority,
            lane=self._lane_of(record.owner),
        )
        with in_trace(record.trace_context):
            await self._publisher.publish(task)
        try:
            await self._store.mark_published(record.id)
        except StoreUnavailable:
            # The broker has the task, so the job is accepted; the outbox relay will publish it
            # once more later, which workers take as a duplicate of finished work.
            logger.exception("queued, but recording that failed")

    async def get(self, caller: Caller, job_id: UUID) -> JobRecord:
        """The job, if the caller may see it: another key's job is as absent as no job."""
        record = await self._store.get(job_id, caller.scope)
        if record is None:
            raise JobNotFound(f"No job has id {job_id}.")
        return record

    async def output_file(self, caller: Caller, job_id: UUID, name: str) -> OutputFile:
        record = await self.get(caller, job_id)
        if not any(variant.name == name for variant in record.variants):
            raise OutputNotFound(f"Job {job_id} has no output named {name!r}.")
        if record.status is not JobStatus.SUCCEEDED:
            raise OutputNotReady(
                f"The job is {record.status}; outputs exist once it has succeeded."
            )
        output = next((o for o in record.outputs if o.name == name), None)
        size = None if output is None else await self._stored_size(output.key)
        if output is None or size is None:
            raise OutputNotFound(f"Job {job_id} has no output named {name!r}.")
        tag = hashlib.sha256(f"{job_id}:{record.run}:{output.key}:{output.size_bytes}".encode())
        return OutputFile(
            size,
            output.format.media_type,
            f'"{tag.hexdigest()[:32]}"',
            self._storage.stream(output.key),
        )

    async def _stored_size(self, key: str) -> int | None:
        try:
            with storage_errors():
                return await self._storage.size(key)
        except NotFound:
            return None

    async def apply_event(self, event: JobEvent) -> JobChanged | None:
        """Apply a worker's event: what it changed, for the followers of changes (live
        streams, webhooks); None when it was stale."""
        return await self._store.apply_event(event)
