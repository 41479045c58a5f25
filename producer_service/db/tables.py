"""The job table. The API owns it; workers never open the database.

A change here needs a migration beside it (`producer_service/db/migrations/versions`).
"""

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite hands back naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    # Named constraints, so a migration can drop or change them on every backend.
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "%(table_name)s_%(column_0_name)s_key",
            "pk": "%(table_name)s_pkey",
        }
    )


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        sa.Index("ix_jobs_status_created", "status", "created_at", "id"),
        # Finds jobs finished before a time (JOB_RETENTION_HOURS) without a table scan.
        sa.Index("ix_jobs_status_updated", "status", "updated_at"),
        # Counts a key's active jobs (MAX_ACTIVE_JOBS_PER_KEY).
        sa.Index("ix_jobs_owner_status", "owner", "status"),
        # Finds webhooks due whose delivery the broker never confirmed (the webhook relay).
        sa.Index("ix_jobs_webhook_status", "webhook_status", "webhook_queued"),
        # An idempotency key is the caller's own: two API keys, or two browser tokens of one
        # key, may use the same one. Its index also finds a token's jobs (owner, token_id).
        sa.UniqueConstraint(
            "owner",
            "token_id",
            "idempotency_key",
            name="jobs_owner_token_id_idempotency_key_key",
        ),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    run: Mapped[int] = mapped_column(default=1)
    attempts: Mapped[int] = mapped_column(default=0)
    # Orders the non-final events of a run; see transitions.py.
    progress: Mapped[int] = mapped_column(default=0)
    variants: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    preset: Mapped[str | None] = mapped_column(sa.String(64))
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    # What the worker found the upload to be, and the preview it made; JSON, null until known.
    source: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    placeholder: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    source_key: Mapped[str] = mapped_column(sa.String(255))
    # The owner id of the API key that made the job (see callers.py); "" without keys.
    owner: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    # The id of the browser token that submitted the job (see tokens.py); "" for the key itself.
    token_id: Mapped[str] = mapped_column(sa.String(32), default="", server_default="")
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(255))
    # SHA-256 of what was submitted with the idempotency key: a replay must match it.
    request_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    # False until the broker confirmed the task; see jobs.py.
    published: Mapped[bool] = mapped_column(default=False)
    # Where the worker fetches the original from (docs/source-urls.md); None: an upload.
    source_url: Mapped[str | None] = mapped_column(sa.String(2048))
    # Where the completion webhook goes; None: no webhook.
    callback_url: Mapped[str | None] = mapped_column(sa.String(2048))
    # None until the job ends with a callback_url; then pending, delivered or failed. Changing
    # it leaves updated_at alone: that is when the job itself last changed.
    webhook_status: Mapped[str | None] = mapped_column(sa.String(16))
    webhook_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    webhook_last_error: Mapped[str | None] = mapped_column(sa.Text)
    # False until the broker confirmed the first try of a due webhook; see webhooks/.
    webhook_queued: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # `interactive` or `bulk`: which queue its tasks go to (shared/topology.py).
    priority: Mapped[str] = mapped_column(
        sa.String(16), default="interactive", server_default="interactive"
    )
    # The submit's trace context (W3C `traceparent`, ...), which its later publishes continue;
    # null when tracing was off.
    trace_context: Mapped[dict[str, str] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
