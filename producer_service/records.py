"""A job as the API's use cases see it (`db/rows.py` maps it to and from its table row)."""

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from shared.messages import FailureInfo, RenderedOutput, utc_now
from shared.schemas import JobStatus, Placeholder, Priority, SourceImage, WebhookState
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
    # Where the worker fetches the original from; None: it was uploaded.
    source_url: str | None = None
    priority: Priority = Priority.INTERACTIVE
    # The submit's trace context as message headers; None when tracing was off.
    trace_context: dict[str, str] | None = None

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
        source_url: str | None = None,
        priority: Priority = Priority.INTERACTIVE,
        trace_context: dict[str, str] | None = None,
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
            source_url=source_url,
            priority=priority,
            trace_context=trace_context,
        )
