"""The job store: one SQLAlchemy table, SQLite by default, PostgreSQL for several API replicas.

Status changes are single conditional UPDATEs, so replicas applying events at the same time can
never move a job backwards: a row only changes when the event is newer than what it holds.
"""

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from producer_service.tables import Base, JobRow
from producer_service.transitions import FINAL_STATUSES, Transition, transition_for
from shared.messages import FailureInfo, JobEvent, RenderedOutput, utc_now
from shared.schemas import JobStatus, Variant


@dataclasses.dataclass(frozen=True)
class JobRecord:
    id: UUID
    status: JobStatus
    run: int
    attempts: int
    variants: list[Variant]
    outputs: list[RenderedOutput]
    error: FailureInfo | None
    source_key: str
    idempotency_key: str | None
    published: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def new(
        cls, job_id: UUID, variants: Sequence[Variant], source_key: str, idempotency_key: str | None
    ) -> "JobRecord":
        now = utc_now()
        return cls(
            id=job_id,
            status=JobStatus.QUEUED,
            run=1,
            attempts=0,
            variants=list(variants),
            outputs=[],
            error=None,
            source_key=source_key,
            idempotency_key=idempotency_key,
            published=False,
            created_at=now,
            updated_at=now,
        )

    @classmethod
    def from_row(cls, row: JobRow) -> "JobRecord":
        error = None
        if row.error_code is not None:
            error = FailureInfo.model_validate(
                {"code": row.error_code, "message": row.error_message or ""}
            )
        return cls(
            id=UUID(row.id),
            status=JobStatus(row.status),
            run=row.run,
            attempts=row.attempts,
            variants=[Variant.model_validate(v) for v in row.variants],
            outputs=[RenderedOutput.model_validate(o) for o in row.outputs],
            error=error,
            source_key=row.source_key,
            idempotency_key=row.idempotency_key,
            published=row.published,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def to_row(self) -> JobRow:
        return JobRow(
            id=str(self.id),
            status=self.status.value,
            run=self.run,
            attempts=self.attempts,
            progress=0,
            variants=[v.model_dump(mode="json") for v in self.variants],
            outputs=[o.model_dump(mode="json") for o in self.outputs],
            error_code=self.error.code.value if self.error else None,
            error_message=self.error.message if self.error else None,
            source_key=self.source_key,
            idempotency_key=self.idempotency_key,
            published=self.published,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class DuplicateIdempotencyKey(Exception):
    """Another request created a job with this key first."""


def _enable_sqlite_wal(dbapi_connection: Any, _: Any) -> None:
    # WAL lets status reads proceed while an event is being written.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        sa_event.listen(engine.sync_engine, "connect", _enable_sqlite_wal)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


class JobStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def create_schema(self) -> None:
        async with self._engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Replicas starting together must not race to create the same table.
                await connection.execute(sa.text("SELECT pg_advisory_xact_lock(7262001)"))
            await connection.run_sync(Base.metadata.create_all)

    async def close(self) -> None:
        await self._engine.dispose()

    async def ping(self) -> None:
        async with self._engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))

    async def add(self, record: JobRecord) -> None:
        try:
            async with self._sessions.begin() as session:
                session.add(record.to_row())
        except IntegrityError as exc:
            if record.idempotency_key is None:
                raise
            raise DuplicateIdempotencyKey(record.idempotency_key) from exc

    async def get(self, job_id: UUID) -> JobRecord | None:
        return await self._one(sa.select(JobRow).where(JobRow.id == str(job_id)))

    async def get_by_idempotency_key(self, key: str) -> JobRecord | None:
        return await self._one(sa.select(JobRow).where(JobRow.idempotency_key == key))

    async def mark_published(self, job_id: UUID) -> None:
        await self._execute(
            sa.update(JobRow).where(JobRow.id == str(job_id)).values(published=True)
        )

    async def delete(self, job_id: UUID) -> None:
        await self._execute(sa.delete(JobRow).where(JobRow.id == str(job_id)))

    async def list_page(
        self, status: JobStatus | None, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[JobRecord]:
        """Jobs newest first; `after` is the (created_at, id) of the last job of the page before."""
        statement = sa.select(JobRow).order_by(JobRow.created_at.desc(), JobRow.id.desc())
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

    async def unpublished(self, unchanged_since: datetime) -> list[JobRecord]:
        """Jobs whose task the broker never confirmed, left so by an API that died mid-submit
        (or mid-retry, which is why the age counts from the last change, not from creation)."""
        statement = (
            sa.select(JobRow)
            .where(JobRow.published.is_(False), JobRow.updated_at < unchanged_since)
            .order_by(JobRow.updated_at)
        )
        return await self._all(statement)

    async def restart(self, record: JobRecord) -> bool:
        """Put a failed job back to `queued` in a new run; False if it changed meanwhile."""
        return await self._replace_state(
            record.id,
            (JobStatus.FAILED, record.run),
            {
                "status": JobStatus.QUEUED.value,
                "run": record.run + 1,
                "attempts": 0,
                "progress": 0,
                "published": False,
            },
        )

    async def undo_restart(self, record: JobRecord) -> bool:
        """Return a job that `restart` requeued to `record`'s state (its task was refused)."""
        return await self._replace_state(
            record.id,
            (JobStatus.QUEUED, record.run + 1),
            {
                "status": record.status.value,
                "run": record.run,
                "attempts": record.attempts,
                "published": True,
            },
        )

    async def _replace_state(
        self, job_id: UUID, expected: tuple[JobStatus, int], values: dict[str, object]
    ) -> bool:
        status, run = expected
        statement = (
            sa.update(JobRow)
            .where(JobRow.id == str(job_id), JobRow.status == status.value, JobRow.run == run)
            .values(updated_at=utc_now(), **values)
        )
        return await self._execute(statement) > 0

    async def apply_event(self, event: JobEvent) -> bool:
        """Apply a worker's event if it is newer than the job's state; True when it was."""
        return await self._apply(event.job_id, event.run, transition_for(event))

    async def _apply(self, job_id: UUID, run: int, change: Transition) -> bool:
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
        if change.error is not None:
            statement = statement.values(
                error_code=change.error.code.value, error_message=change.error.message
            )
        return await self._execute(statement) > 0

    async def _one(self, statement: sa.Select[JobRow]) -> JobRecord | None:
        async with self._sessions() as session:
            row = (await session.execute(statement)).scalar_one_or_none()
            return None if row is None else JobRecord.from_row(row)

    async def _all(self, statement: sa.Select[JobRow]) -> list[JobRecord]:
        async with self._sessions() as session:
            return [JobRecord.from_row(row) for row in (await session.execute(statement)).scalars()]

    async def _execute(self, statement: sa.Executable) -> int:
        async with self._sessions.begin() as session:
            result = await session.execute(statement)
            return int(getattr(result, "rowcount", 0))
