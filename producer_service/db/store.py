"""The job store: one SQLAlchemy table, SQLite by default, PostgreSQL for several API replicas.

Status changes are single conditional UPDATEs, so replicas applying events at the same time can
never move a job backwards: a row only changes when the event is newer than what it holds.
Any failure of the database itself comes out as `StoreUnavailable` (a 503), never a raw driver
error.
"""

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from producer_service.callers import Scope
from producer_service.db.database import Database, Work, open_database
from producer_service.db.engine import PoolLimits, failure_reason
from producer_service.db.migrate import migrate
from producer_service.db.rows import record_from_row, row_from_record
from producer_service.db.tables import JobRow
from producer_service.errors import StoreUnavailable, TooManyActiveJobs
from producer_service.records import JobRecord
from producer_service.transitions import (
    CANCELLING,
    FINAL_STATUSES,
    Transition,
    transition_for,
)
from shared.messages import JobEvent, utc_now
from shared.schemas import JobStatus, Priority, WebhookStatus
from shared.settings import Settings

ACTIVE_STATUSES = [JobStatus.QUEUED.value, JobStatus.PROCESSING.value]
# What a manual retry may start again.
RESTARTABLE = (JobStatus.FAILED, JobStatus.CANCELLED)
_FINISHED = JobRow.status.in_([status.value for status in FINAL_STATUSES])
# A webhook still being tried needs its job: it is what the retries send.
_WEBHOOK_SETTLED = sa.or_(
    JobRow.webhook_status.is_(None), JobRow.webhook_status != WebhookStatus.PENDING.value
)


def _expired(cutoff: datetime) -> sa.ColumnElement[bool]:
    """Finished before `cutoff`, and no webhook about it still pending; `updated_at` stays
    when the webhook settles, so the job goes on the first sweep after that."""
    return sa.and_(_FINISHED, JobRow.updated_at < cutoff, _WEBHOOK_SETTLED)


def expired_jobs(cutoff: datetime, limit: int) -> sa.Select[str]:
    """The retention sweep's query: still a range on the (status, updated_at) index, which
    skips the few pending webhooks in it by their rows (one is pending a few hours at most)."""
    return sa.select(JobRow.id).where(_expired(cutoff)).order_by(JobRow.updated_at).limit(limit)


@dataclass(frozen=True)
class JobTally:
    by_status: dict[JobStatus, int]
    oldest_queued_at: datetime | None
    # Of the `processing` jobs, those of priority bulk.
    processing_bulk: int = 0

    def oldest_queued_seconds(self) -> float:
        """How long the oldest queued job has waited, in ms-rounded seconds; 0 when none."""
        if self.oldest_queued_at is None:
            return 0.0
        return round(max(0.0, (utc_now() - self.oldest_queued_at).total_seconds()), 3)


@dataclass(frozen=True)
class JobChanged:
    """An event changed its job (run `run`); `webhook_due` when it ended a job with a
    callback_url."""

    job_id: UUID
    run: int
    webhook_due: bool = False


class DuplicateIdempotencyKey(Exception):
    """Another request created a job with this key first."""


# Advisory lock class of an owner's active-job count on PostgreSQL (with hashtext(owner)).
OWNER_LOCK = 7262002


logger = logging.getLogger(__name__)

T = TypeVar("T")

# A job sent back to the queue has no webhook due until its new run ends.
_NO_WEBHOOK_YET: dict[str, object] = {
    "webhook_status": None,
    "webhook_attempts": 0,
    "webhook_last_error": None,
    "webhook_queued": False,
}


@contextlib.asynccontextmanager
async def _store_errors() -> AsyncIterator[None]:
    """Turn a failing database into `StoreUnavailable`; a duplicate key is the caller's case."""
    try:
        yield
    except IntegrityError:
        raise
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        reason = failure_reason(exc)
        logger.warning("job store failed (%s): %r", reason, getattr(exc, "orig", None) or exc)
        raise StoreUnavailable(
            "The job store is not answering; try again shortly.", reason=reason
        ) from exc


def _keep_within_cap(session: Session, owner: str, max_active: int | None) -> None:
    """Called in the transaction that just made one of `owner`'s jobs active (a submit's
    INSERT, a retry's UPDATE): `TooManyActiveJobs`, which rolls it back, if the owner now holds
    more than `max_active` queued and processing jobs (None: no limit). SQLite has one writer
    at a time; PostgreSQL takes a lock per owner before counting, so the owner's next writer
    counts only once this one has committed. Writing first means a job that is not made (a
    duplicate Idempotency-Key, a job no longer failed) is never refused for the cap."""
    if max_active is None:
        return
    if session.get_bind().dialect.name == "postgresql":
        lock = sa.select(sa.func.pg_advisory_xact_lock(OWNER_LOCK, sa.func.hashtext(owner)))
        session.execute(lock)
    count = sa.select(sa.func.count()).where(
        JobRow.owner == owner, JobRow.status.in_(ACTIVE_STATUSES)
    )
    if int(session.execute(count).scalar_one()) > max_active:
        raise TooManyActiveJobs(
            f"This key already has {max_active} jobs queued or processing; "
            "submit more as they finish."
        )


def _replace_state(
    job_id: UUID, expected: tuple[JobStatus, int], values: dict[str, object]
) -> sa.Update:
    """The UPDATE that sets `values` if the job is still in the (status, run) `expected`."""
    status, run = expected
    return (
        sa.update(JobRow)
        .where(JobRow.id == str(job_id), JobRow.status == status.value, JobRow.run == run)
        .values(updated_at=utc_now(), **values)
    )


def _visible_to(scope: Scope | None) -> list[sa.ColumnElement[bool]]:
    """The conditions a job must meet to be in `scope` (none: every job is)."""
    if scope is None:
        return []
    conditions = [JobRow.owner == scope.owner]
    if scope.token_id is not None:
        conditions.append(JobRow.token_id == scope.token_id)
    return conditions


class JobStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    @classmethod
    def from_settings(cls, settings: Settings) -> "JobStore":
        """The store `DATABASE_URL` names, with its timeout and pool settings."""
        pool = PoolLimits(settings.database_pool_size, settings.database_max_overflow)
        return cls(
            open_database(settings.job_store_url, settings.database_timeout_seconds, pool=pool)
        )

    async def migrate(self) -> None:
        """Bring the schema up to date (see `producer_service.db.migrate`)."""
        async with _store_errors():
            await self._database.run(lambda session: migrate(session.connection()), write=True)

    async def close(self) -> None:
        await self._database.dispose()

    async def check_writable(self) -> None:
        """Raise `StoreUnavailable` unless a write could start now (not locked, not read-only).

        The probe updates no row and is rolled back, but it takes the same locks a write does.
        """
        probe = sa.update(JobRow).where(JobRow.id == "").values(status=JobRow.status)

        def update_nothing(session: Session) -> None:
            session.execute(probe)
            session.rollback()

        await self._run(update_nothing)

    async def add(self, record: JobRecord, max_active: int | None = None) -> None:
        """Insert the job; with `max_active`, only if its owner then holds no more queued and
        processing jobs than that (else `TooManyActiveJobs`). A key another job already has
        is `DuplicateIdempotencyKey`, whatever the count."""

        def insert(session: Session) -> None:
            session.add(row_from_record(record))
            session.flush()  # the unique key is checked before the cap
            _keep_within_cap(session, record.owner, max_active)

        try:
            await self._run(insert, write=True)
        except IntegrityError as exc:
            if record.idempotency_key is None:
                raise
            raise DuplicateIdempotencyKey(record.idempotency_key) from exc

    async def get(self, job_id: UUID, scope: Scope | None = None) -> JobRecord | None:
        """The job, if it is in `scope` (any job when None)."""
        return await self._one(
            sa.select(JobRow).where(JobRow.id == str(job_id), *_visible_to(scope))
        )

    async def get_by_idempotency_key(self, owner: str, token_id: str, key: str) -> JobRecord | None:
        """The job a key (token_id "") or one of its browser tokens submitted with `key`."""
        return await self._one(
            sa.select(JobRow).where(
                JobRow.owner == owner, JobRow.token_id == token_id, JobRow.idempotency_key == key
            )
        )

    async def mark_published(self, job_id: UUID) -> None:
        await self._execute(
            sa.update(JobRow).where(JobRow.id == str(job_id)).values(published=True)
        )

    async def delete(self, job_id: UUID) -> None:
        await self._execute(sa.delete(JobRow).where(JobRow.id == str(job_id)))

    async def delete_finished(
        self, job_id: UUID, scope: Scope | None, finished_before: datetime | None = None
    ) -> bool:
        """Delete the job if it is in `scope` (any job when None) and has finished (with
        `finished_before`: expired, see `finished_before`); whether it did. One conditional
        DELETE, so a retry that starts at the same moment cannot lose it."""
        gone = _FINISHED if finished_before is None else _expired(finished_before)
        statement = sa.delete(JobRow).where(JobRow.id == str(job_id), gone, *_visible_to(scope))
        return await self._execute(statement) > 0

    async def finished_before(self, cutoff: datetime, limit: int) -> list[UUID]:
        """Up to `limit` jobs that finished before `cutoff` and have no webhook still being
        tried, oldest first (an index range)."""
        statement = expired_jobs(cutoff, limit)

        def select(session: Session) -> list[UUID]:
            return [UUID(job_id) for job_id in session.execute(statement).scalars()]

        return await self._run(select)

    async def list_page(
        self,
        scope: Scope | None,
        status: JobStatus | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[JobRecord]:
        """The jobs in `scope` (every job when None) newest first; `after` is the
        (created_at, id) of the last job of the page before."""
        statement = (
            sa.select(JobRow)
            .where(*_visible_to(scope))
            .order_by(JobRow.created_at.desc(), JobRow.id.desc())
        )
        if status is not None:
            statement = statement.where(JobRow.status == status.value)
        if after is not None:
            created_at, job_id = after
            statement = statement.where(
                sa.or_(
                    JobRow.created_at < created_at,
                    sa.and_(JobRow.created_at == created_at, JobRow.id < str(job_id)),
                )
            )
        return await self._all(statement.limit(limit))

    async def tally(self) -> "JobTally":
        """Every job by status, and when the oldest queued one was submitted: one grouped
        count and one lookup, both answered by the (status, created_at) index."""
        counts = sa.select(JobRow.status, sa.func.count()).group_by(JobRow.status)
        oldest = sa.select(sa.func.min(JobRow.created_at)).where(
            JobRow.status == JobStatus.QUEUED.value
        )
        bulk = sa.select(sa.func.count()).where(
            JobRow.status == JobStatus.PROCESSING.value, JobRow.priority == Priority.BULK.value
        )

        def read(session: Session) -> JobTally:
            by_status = {status: int(count) for status, count in session.execute(counts)}
            first = session.execute(oldest).scalar_one_or_none()
            processing_bulk = int(session.execute(bulk).scalar_one())
            return JobTally(
                {s: by_status.get(s.value, 0) for s in JobStatus}, first, processing_bulk
            )

        return await self._run(read)

    async def unpublished(self, unchanged_since: datetime) -> list[JobRecord]:
        """Jobs whose task the broker never confirmed, left so by an API that died mid-submit
        (or mid-retry, which is why the age counts from the last change, not from creation)."""
        statement = (
            sa.select(JobRow)
            .where(JobRow.published.is_(False), JobRow.updated_at < unchanged_since)
            .order_by(JobRow.updated_at)
        )
        return await self._all(statement)

    async def restart(self, record: JobRecord, max_active: int | None = None) -> bool:
        """Put a failed or cancelled job back to `queued` in a new run; False if it changed
        meanwhile. With `max_active`, capped as `add` is (`TooManyActiveJobs`)."""
        if record.status not in RESTARTABLE:
            return False
        statement = _replace_state(
            record.id,
            (record.status, record.run),
            {
                "status": JobStatus.QUEUED.value,
                "run": record.run + 1,
                "attempts": 0,
                "progress": 0,
                "published": False,
                **_NO_WEBHOOK_YET,
            },
        )

        def requeue(session: Session) -> bool:
            if not getattr(session.execute(statement), "rowcount", 0):
                return False
            _keep_within_cap(session, record.owner, max_active)
            return True

        return await self._run(requeue, write=True)

    async def undo_restart(self, record: JobRecord) -> bool:
        """Return a job that `restart` requeued to `record`'s state (its task was refused)."""
        statement = _replace_state(
            record.id,
            (JobStatus.QUEUED, record.run + 1),
            {
                "status": record.status.value,
                "run": record.run,
                "attempts": record.attempts,
                "published": True,
                "webhook_status": None if record.webhook is None else record.webhook.status.value,
                "webhook_attempts": 0 if record.webhook is None else record.webhook.attempts,
                "webhook_last_error": None if record.webhook is None else record.webhook.last_error,
                "webhook_queued": record.webhook_queued,
            },
        )
        return await self._execute(statement) > 0

    async def apply_event(self, event: JobEvent) -> JobChanged | None:
        """Apply a worker's event if it is newer than the job's state; None when it was not."""
        return await self._apply(event.job_id, event.run, transition_for(event))

    async def cancel(self, job_id: UUID, run: int) -> JobChanged | None:
        """End run `run` of the job `cancelled` if it has not ended; None when it had."""
        return await self._apply(job_id, run, CANCELLING)

    async def _apply(self, job_id: UUID, run: int, change: Transition) -> JobChanged | None:
        statement = (
            sa.update(JobRow)
            .where(
                JobRow.id == str(job_id),
                JobRow.run == run,
                JobRow.status.not_in([s.value for s in FINAL_STATUSES]),
            )
            .values(status=change.status.value, updated_at=utc_now())
        )
        if change.progress is not None:
            statement = statement.where(JobRow.progress < change.progress).values(
                progress=change.progress, attempts=change.attempt
            )
        else:
            statement = statement.values(
                attempts=sa.case(
                    (JobRow.attempts > change.attempt, JobRow.attempts), else_=change.attempt
                )
            )
        if change.outputs is not None:
            statement = statement.values(
                outputs=[o.model_dump(mode="json") for o in change.outputs]
            )
        if change.source is not None:
            statement = statement.values(source=change.source.model_dump(mode="json"))
        if change.placeholder is not None:
            statement = statement.values(placeholder=change.placeholder.model_dump(mode="json"))
        if change.error is not None:
            statement = statement.values(
                error_code=change.error.code.value, error_message=change.error.message
            )
        if change.status.is_final:
            # Due in the same UPDATE that ends the job, which only one replica's event wins:
            # the webhook is decided once, durably, with the status it reports.
            statement = statement.values(
                webhook_status=sa.case(
                    (JobRow.callback_url.is_not(None), WebhookStatus.PENDING.value)
                ),
                webhook_attempts=0,
                webhook_last_error=None,
                webhook_queued=False,
            )
        # What the row holds after the UPDATE, so the replica that ended the job knows at
        # once whether a webhook fell due (no row: the event changed nothing).
        returned = statement.returning(JobRow.webhook_status)

        def apply(session: Session) -> JobChanged | None:
            row = session.execute(returned).first()
            if row is None:
                return None
            due = row.webhook_status == WebhookStatus.PENDING.value
            return JobChanged(job_id, run, webhook_due=due)

        return await self._run(apply, write=True)

    async def mark_webhook_queued(self, job_id: UUID, run: int) -> None:
        await self._execute(
            sa.update(JobRow)
            .where(JobRow.id == str(job_id), JobRow.run == run)
            .values(webhook_queued=True)
        )

    async def stranded_webhooks(self, unchanged_since: datetime) -> list[JobRecord]:
        """Jobs whose webhook fell due before `unchanged_since` and whose first try the broker
        never confirmed: the API that ended them died before publishing it."""
        statement = (
            sa.select(JobRow)
            .where(
                JobRow.webhook_status == WebhookStatus.PENDING.value,
                JobRow.webhook_queued.is_(False),
                JobRow.updated_at < unchanged_since,
            )
            .order_by(JobRow.updated_at)
        )
        return await self._all(statement)

    async def record_webhook_try(
        self, job_id: UUID, run: int, attempt: int, status: WebhookStatus, error: str | None
    ) -> bool:
        """Record try `attempt` of run `run`'s pending webhook, which leaves it `status`
        (pending: it failed and will be tried again); `error` is why it failed. False when the
        webhook is no longer pending there: another copy of the delivery settled it, or the job
        was retried by hand or deleted. `updated_at` stays: the job itself did not change."""
        statement = (
            sa.update(JobRow)
            .where(
                JobRow.id == str(job_id),
                JobRow.run == run,
                JobRow.webhook_status == WebhookStatus.PENDING.value,
            )
            .values(
                webhook_status=status.value,
                webhook_attempts=sa.case(
                    (JobRow.webhook_attempts > attempt, JobRow.webhook_attempts), else_=attempt
                ),
            )
        )
        if error is not None:
            statement = statement.values(webhook_last_error=error)
        return await self._execute(statement) > 0

    async def _one(self, statement: sa.Select[JobRow]) -> JobRecord | None:
        def select(session: Session) -> JobRecord | None:
            row = session.execute(statement).scalar_one_or_none()
            return None if row is None else record_from_row(row)

        return await self._run(select)

    async def _all(self, statement: sa.Select[JobRow]) -> list[JobRecord]:
        def select(session: Session) -> list[JobRecord]:
            return [record_from_row(row) for row in session.execute(statement).scalars()]

        return await self._run(select)

    async def _execute(self, statement: sa.Executable) -> int:
        def execute(session: Session) -> int:
            return int(getattr(session.execute(statement), "rowcount", 0))

        return await self._run(execute, write=True)

    async def _run(self, work: Work[T], *, write: bool = False) -> T:
        """`work` in a session (a transaction when `write`), tried once more on a fresh
        connection when the pool found the first one broken: a SQLite connection a read-only
        spell left read-only, a PostgreSQL server that restarted. Other failures of the
        database come out as `StoreUnavailable`."""
        async with _store_errors():
            try:
                return await self._database.run(work, write=write)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                logger.info("job store connection was broken (%s); retrying", failure_reason(exc))
                return await self._database.run(work, write=write)
