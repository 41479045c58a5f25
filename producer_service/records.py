"""A job as the API's use cases see it, and how it maps to and from its table row."""

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from producer_service.db.tables import JobRow
from shared.messages import FailureInfo, RenderedOutput, utc_now
from shared.schemas import JobStatus, Placeholder, SourceImage, WebhookState, WebhookStatus
from shared.variants import Variant


@dataclasses.dataclass(frozen=True)
class JobRecord:
    id: UUID
    status: JobStatus
    run: int
    attempts: int
    variants: list[Variant]
    # The preset that named the variants; None when they were spelled out.
    preset: str | None
    outputs: list[RenderedOutput]
    source: SourceImage | None
    placeholder: Placeholder | None
    error: FailureInfo | None
    source_key: str
    # The owner id of the API key that made it; "" without keys.
    owner: str
    # The id of the browser token it was submitted with; "" when the key itself submitted it.
    token_id: str
    idempotency_key: str | None
    request_fingerprint: str | None
    published: bool
    created_at: datetime
    updated_at: datetime
    # Where the completion webhook goes (None: nowhere), and, once the job ended, how it fares.
    callback_url: str | None = None
    webhook: WebhookState | None = None
    # Whether the broker confirmed the first try of the webhook due (see webhooks/).
    webhook_queued: bool = False

    @classmethod
    def new(
        cls,
        job_id: UUID,
        variants: Sequence[Variant],
        source_key: str,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
        *,
        owner: str = "",
        token_id: str = "",
        preset: str | None = None,
        callback_url: str | None = None,
    ) -> "JobRecord":
        now = utc_now()
        return cls(
            id=job_id,
            status=JobStatus.QUEUED,
            run=1,
            attempts=0,
            variants=list(variants),
            preset=preset,
            outputs=[],
            source=None,
            placeholder=None,
            error=None,
            source_key=source_key,
            owner=owner,
            token_id=token_id,
            idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint,
            published=False,
            created_at=now,
            updated_at=now,
            callback_url=callback_url,
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
        )

    def to_row(self) -> JobRow:
        return JobRow(
            id=str(self.id),
            status=self.status.value,
            run=self.run,
            attempts=self.attempts,
            progress=0,
            variants=[v.model_dump(mode="json") for v in self.variants],
            preset=self.preset,
            outputs=[o.model_dump(mode="json") for o in self.outputs],
            source=None if self.source is None else self.source.model_dump(mode="json"),
            placeholder=(
                None if self.placeholder is None else self.placeholder.model_dump(mode="json")
            ),
            error_code=self.error.code.value if self.error else None,
            error_message=self.error.message if self.error else None,
            source_key=self.source_key,
            owner=self.owner,
            token_id=self.token_id,
            idempotency_key=self.idempotency_key,
            request_fingerprint=self.request_fingerprint,
            published=self.published,
            created_at=self.created_at,
            updated_at=self.updated_at,
            callback_url=self.callback_url,
            webhook_status=None if self.webhook is None else self.webhook.status.value,
            webhook_attempts=0 if self.webhook is None else self.webhook.attempts,
            webhook_last_error=None if self.webhook is None else self.webhook.last_error,
            webhook_queued=self.webhook_queued,
        )


def _webhook_state(row: JobRow) -> WebhookState | None:
    if row.webhook_status is None:
        return None
    return WebhookState(
        status=WebhookStatus(row.webhook_status),
        attempts=row.webhook_attempts,
        last_error=row.webhook_last_error,
    )
