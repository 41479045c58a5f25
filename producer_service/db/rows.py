"""How a job record maps to and from its table row: the one place that knows both."""

from uuid import UUID

from producer_service.db.tables import JobRow
from producer_service.records import JobRecord
from shared.messages import FailureInfo, RenderedOutput
from shared.schemas import (
    JobStatus,
    Placeholder,
    Priority,
    SourceImage,
    WebhookState,
    WebhookStatus,
)
from shared.variants import Variant


def record_from_row(row: JobRow) -> JobRecord:
    error = None
    if row.error_code is not None:
        error = FailureInfo.model_validate(
            {"code": row.error_code, "message": row.error_message or ""}
        )
    return JobRecord(
        id=UUID(row.id),
        status=JobStatus(row.status),
        run=row.run,
        attempts=row.attempts,
        variants=[Variant.model_validate(v) for v in row.variants],
        preset=row.preset,
        outputs=[RenderedOutput.model_validate(o) for o in row.outputs],
        source=None if row.source is None else SourceImage.model_validate(row.source),
        placeholder=(
            None if row.placeholder is None else Placeholder.model_validate(row.placeholder)
        ),
        error=error,
        source_key=row.source_key,
        owner=row.owner,
        token_id=row.token_id,
        idempotency_key=row.idempotency_key,
        request_fingerprint=row.request_fingerprint,
        published=row.published,
        created_at=row.created_at,
        updated_at=row.updated_at,
        callback_url=row.callback_url,
        webhook=_webhook_state(row),
        webhook_queued=row.webhook_queued,
        source_url=row.source_url,
        priority=Priority(row.priority),
        trace_context=row.trace_context,
    )


def row_from_record(record: JobRecord) -> JobRow:
    return JobRow(
        id=str(record.id),
        status=record.status.value,
        run=record.run,
        attempts=record.attempts,
        progress=0,
        variants=[v.model_dump(mode="json") for v in record.variants],
        preset=record.preset,
        outputs=[o.model_dump(mode="json") for o in record.outputs],
        source=None if record.source is None else record.source.model_dump(mode="json"),
        placeholder=(
            None if record.placeholder is None else record.placeholder.model_dump(mode="json")
        ),
        error_code=record.error.code.value if record.error else None,
        error_message=record.error.message if record.error else None,
        source_key=record.source_key,
        owner=record.owner,
        token_id=record.token_id,
        idempotency_key=record.idempotency_key,
        request_fingerprint=record.request_fingerprint,
        published=record.published,
        created_at=record.created_at,
        updated_at=record.updated_at,
        callback_url=record.callback_url,
        webhook_status=None if record.webhook is None else record.webhook.status.value,
        webhook_attempts=0 if record.webhook is None else record.webhook.attempts,
        webhook_last_error=None if record.webhook is None else record.webhook.last_error,
        webhook_queued=record.webhook_queued,
        source_url=record.source_url,
        priority=record.priority.value,
        trace_context=record.trace_context,
    )


def _webhook_state(row: JobRow) -> WebhookState | None:
    if row.webhook_status is None:
        return None
    return WebhookState(
        status=WebhookStatus(row.webhook_status),
        attempts=row.webhook_attempts,
        last_error=row.webhook_last_error,
    )
