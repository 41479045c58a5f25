"""Bodies that cross the broker: the task a worker runs, the events it reports back, and the
API's own webhook deliveries.

Each body carries `version`; a consumer refuses a version it does not know rather than guess.
"""

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt

from shared.schemas import ErrorCode, Placeholder, Priority, SourceImage
from shared.tracing import context_headers
from shared.variants import OutputFormat, Variant

TASK_TYPE = "image_resize.task.v1"
EVENT_TYPE = "image_resize.event.v1"
WEBHOOK_TYPE = "image_resize.webhook.v1"
CANCEL_TYPE = "image_resize.cancel.v1"
PERSISTENT_DELIVERY_MODE = 2


def utc_now() -> datetime:
    return datetime.now(UTC)


def message_properties(
    message_id: str, message_type: str, app_id: str, expiration_ms: int | None = None
) -> dict[str, Any]:
    """AMQP properties of every message the services send: JSON, persistent, typed, stamped,
    and carrying the trace context of the span that sends it (W3C `traceparent`)."""
    return {
        "headers": context_headers(),
        "content_type": "application/json",
        "delivery_mode": PERSISTENT_DELIVERY_MODE,
        "message_id": message_id,
        "type": message_type,
        "app_id": app_id,
        "timestamp": utc_now(),
        "expiration": None if expiration_ms is None else timedelta(milliseconds=expiration_ms),
    }


class ResizeTask(BaseModel):
    """One job for a worker: where the original is and what to make of it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    version: Literal[1] = 1
    job_id: UUID
    run: PositiveInt = Field(default=1, description="Bumped by a manual retry of a failed job.")
    attempt: PositiveInt = Field(default=1, description="Delivery number within the run.")
    source_key: str
    variants: list[Variant] = Field(min_length=1)
    # Where the worker fetches the original from, into `source_key`, when it is not there yet
    # (the first attempt); None: the original was uploaded.
    source_url: str | None = None
    # Which queue the task waits in and which local lane a worker gives it; carried so every
    # re-run and the outbox's republish keep it (`Topology.task_queue`).
    priority: Priority = Priority.INTERACTIVE
    lane: NonNegativeInt = Field(default=0, description="The bulk lane, from the job's owner.")

    def next_attempt(self) -> "ResizeTask":
        return self.model_copy(update={"attempt": self.attempt + 1})


class RenderedOutput(BaseModel):
    """One written output; `key` locates it in storage."""

    model_config = ConfigDict(frozen=True)

    name: str
    format: OutputFormat
    width: PositiveInt
    height: PositiveInt
    size_bytes: int
    key: str


class JobResult(BaseModel):
    """What a succeeded attempt made: its outputs, and what the source turned out to be."""

    model_config = ConfigDict(frozen=True)

    outputs: list[RenderedOutput]
    source: SourceImage
    placeholder: Placeholder


class EventKind(StrEnum):
    PROCESSING = "processing"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # The attempt stopped, or never started, because the job was cancelled.
    CANCELLED = "cancelled"


class FailureInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: ErrorCode
    message: str


class JobEvent(BaseModel):
    """A worker's report on one attempt of a job."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    version: Literal[1] = 1
    job_id: UUID
    run: PositiveInt
    attempt: PositiveInt
    kind: EventKind
    outputs: list[RenderedOutput] = Field(default_factory=list)
    # Known from `processing` on (the worker has read the header), and on `succeeded`.
    source: SourceImage | None = None
    placeholder: Placeholder | None = None
    error: FailureInfo | None = None
    worker: str = ""
    occurred_at: datetime = Field(default_factory=utc_now)

    @property
    def routing_key(self) -> str:
        return f"job.{self.kind.value}"


class WebhookDelivery(BaseModel):
    """One try of a job's completion webhook. Only the API sends and reads it; the body POSTed
    is built from the job at each try, so the message names the job and the try only."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    version: Literal[1] = 1
    job_id: UUID
    run: PositiveInt = Field(description="The run whose end the webhook reports.")
    attempt: PositiveInt = Field(default=1, description="The try's number, from 1.")

    @property
    def webhook_id(self) -> str:
        """The `webhook-id` header: the same on every try of the delivery (Standard Webhooks
        forbids `.` in it)."""
        return f"{self.job_id}:{self.run}"

    def next_attempt(self) -> "WebhookDelivery":
        return self.model_copy(update={"attempt": self.attempt + 1})


class CancelNotice(BaseModel):
    """ "Stop run `run` of this job": the API's fast word to every worker that a job was
    cancelled. The marker in storage (`shared.layout.cancel_key`) is what holds; this only
    spares the worker holding the job a wait for its next look at it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    version: Literal[1] = 1
    job_id: UUID
    run: PositiveInt
