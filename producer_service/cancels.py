"""Cancelling a job, so that it holds whatever restarts in between:

    1. a marker `cancels/{job}/{run}` in storage, before anything else: workers never open the
       database, and they look for it before taking a slot, once they have one, and before
       writing the manifest, so a task in any queue or any worker's prefetch never runs;
    2. the job ended `cancelled` in the store (one conditional UPDATE: the first end wins);
    3. a notice on `{q}.cancels`, which every worker hears: the one running the job stops
       libvips at once and frees its slot (only the fast path; the marker is what holds);
    4. the followers of a change (live streams, the webhook), as for a worker's final event.

A worker that stops a cancelled attempt deletes what it wrote and reports `cancelled`; an
attempt that got past its last look and reports `succeeded` anyway finds its job ended, and
`apply_event` deletes the outputs it reports, so a cancelled job keeps none.
"""

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from producer_service.broker.cancels import CancelNotices
from producer_service.callers import Caller
from producer_service.db.store import JobChanged, JobStore
from producer_service.errors import JobAlreadyFinished
from producer_service.jobs import Jobs
from producer_service.records import JobRecord
from producer_service.staging import storage_errors
from shared import layout
from shared.log_context import about_job
from shared.messages import CancelNotice, EventKind, JobEvent
from shared.schemas import JobStatus
from shared.storage import Storage

logger = logging.getLogger(__name__)

Follower = Callable[[JobChanged], Awaitable[None]]


@dataclass(frozen=True)
class Cancelled:
    job: JobRecord
    # What the job was when the cancel came: queued or processing.
    was: JobStatus


class Cancels:
    def __init__(
        self,
        jobs: Jobs,
        store: JobStore,
        storage: Storage,
        notices: CancelNotices,
        followers: Sequence[Follower],
    ) -> None:
        self._jobs = jobs
        self._store = store
        self._storage = storage
        self._notices = notices
        self._followers = followers

    async def cancel(self, caller: Caller, job_id: UUID) -> Cancelled:
        """End a queued or processing job `cancelled`; `JobAlreadyFinished` if it had ended."""
        record = await self._jobs.get(caller, job_id)
        with about_job(job_id):
            _refuse_if_ended(record)
            marker = layout.cancel_key(job_id, record.run)
            with storage_errors():
                await self._storage.put(marker, b"")
            changed = await self._store.cancel(job_id, record.run)
            if changed is None:
                await self._ended_meanwhile(caller, record, marker)
            else:
                await self._notices.announce(CancelNotice(job_id=job_id, run=record.run))
                for follow in self._followers:
                    await follow(changed)
                logger.info("cancelled while %s (run %d)", record.status, record.run)
        return Cancelled(await self._jobs.get(caller, job_id), record.status)

    async def _ended_meanwhile(self, caller: Caller, record: JobRecord, marker: str) -> None:
        """The job ended between the read and the UPDATE: refuse, and take back the marker
        unless a cancel of its own ended it (a stray marker would make a worker that is handed
        a copy of the task later treat the job as cancelled)."""
        current = await self._jobs.get(caller, record.id)
        if current.status is not JobStatus.CANCELLED:
            try:
                await self._storage.delete(marker)
            except OSError as exc:
                logger.warning("could not remove the cancel marker %s: %s", marker, exc)
        _refuse_if_ended(current)
        raise JobAlreadyFinished("The job was retried while it was being cancelled; read it again.")

    async def apply_event(self, event: JobEvent) -> JobChanged | None:
        """`Jobs.apply_event`, then the clean-up of a success that came too late: the job was
        cancelled while its worker was writing, so the outputs it reports are deleted."""
        changed = await self._jobs.apply_event(event)
        if changed is None and event.kind is EventKind.SUCCEEDED:
            await self._drop_late_outputs(event)
        return changed

    async def _drop_late_outputs(self, event: JobEvent) -> None:
        record = await self._store.get(event.job_id)
        if record is None or record.status is not JobStatus.CANCELLED or record.run != event.run:
            return
        try:
            await self._storage.delete_prefix(layout.outputs_prefix(event.job_id))
        except OSError as exc:
            logger.warning("outputs of a cancelled job left in storage: %s", exc)
            return
        logger.info("succeeded after it was cancelled: its outputs were deleted")


def _refuse_if_ended(record: JobRecord) -> None:
    if record.status.is_final:
        raise JobAlreadyFinished(
            f"The job has already ended ({record.status}); only a queued or processing job "
            "can be cancelled."
        )
