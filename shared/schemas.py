"""HTTP models: the bodies the API reads and answers with, and the problem body. The variants a
client asks for are `shared.variants`."""

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.variants import VARIANT_NAME, OutputFormat, SourceFormat, Variant, VariantList

# A preset's name: it is sent in a form field and recorded on the job, like a variant's name.
PRESET_NAME = VARIANT_NAME


class Preset(BaseModel):
    """A named list of variants a submit may ask for by name instead of spelling them out."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=PRESET_NAME.pattern, description="What a submit sends as `preset`.")
    variants: VariantList


class PresetList(BaseModel):
    presets: list[Preset] = Field(description="Every preset, by name.")


class Priority(StrEnum):
    """A job's lane: `bulk` jobs use what `interactive` ones leave (docs/scaling.md, "Lanes")."""

    INTERACTIVE = "interactive"
    BULK = "bulk"


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class ErrorCode(StrEnum):
    """Stable reasons a job fails; clients may branch on them."""

    UNDECODABLE_IMAGE = "undecodable_image"
    TOO_MANY_PIXELS = "too_many_pixels"
    TOO_MANY_PAGES = "too_many_pages"
    TOO_MANY_OUTPUT_PIXELS = "too_many_output_pixels"
    TOO_MUCH_MEMORY = "too_much_memory"
    SOURCE_MISSING = "source_missing"
    INVALID_TASK = "invalid_task"
    TIMEOUT = "timeout"
    STORAGE_ERROR = "storage_error"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    INTERNAL_ERROR = "internal_error"
    # A `source_url` the worker could not turn into an original (docs/source-urls.md).
    SOURCE_UNREACHABLE = "source_unreachable"
    SOURCE_TIMEOUT = "source_timeout"
    SOURCE_HTTP_ERROR = "source_http_error"
    SOURCE_TOO_LARGE = "source_too_large"
    SOURCE_TOO_MANY_REDIRECTS = "source_too_many_redirects"
    SOURCE_REFUSED = "source_refused"
    UNSUPPORTED_FORMAT = "unsupported_format"


class JobError(BaseModel):
    code: ErrorCode = Field(description="Stable, machine-readable reason a client may branch on.")
    message: str = Field(description="What went wrong, for people.")


class SourceImage(BaseModel):
    """The uploaded image as the worker read it."""

    model_config = ConfigDict(frozen=True)

    format: SourceFormat
    width: int = Field(description="As displayed: after the EXIF orientation is applied.")
    height: int = Field(description="As displayed: after the EXIF orientation is applied.")


class Placeholder(BaseModel):
    """What a page can paint before any output has loaded."""

    model_config = ConfigDict(frozen=True)

    thumbhash: str = Field(
        description="A ThumbHash (https://evanw.github.io/thumbhash/), base64: a blurred "
        "preview with the image's colours, aspect ratio and alpha, in about 25 bytes."
    )
    dominant_color: str = Field(
        pattern=r"^#[0-9a-f]{6}$", description="The image's most common colour, `#rrggbb`."
    )


class WebhookStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookState(BaseModel):
    """How the job's completion webhook fares: due once the job has ended."""

    model_config = ConfigDict(frozen=True)

    status: WebhookStatus = Field(
        description="pending: being delivered or waiting to be tried again; delivered: the "
        "target answered 2xx; failed: every try failed (or the target was refused)."
    )
    attempts: int = Field(description="POSTs tried so far.")
    last_error: str | None = Field(
        description="Why the last failed try failed (`HTTP 500`, `timed out`, ...); null "
        "when none has failed."
    )


class Output(BaseModel):
    name: str
    format: OutputFormat
    width: int
    height: int
    size_bytes: int
    url: str


class Job(BaseModel):
    id: UUID
    status: JobStatus
    attempts: int = Field(description="Deliveries of the job to a worker so far.")
    created_at: datetime
    updated_at: datetime
    priority: Priority = Field(
        default=Priority.INTERACTIVE,
        description="`interactive` jobs start before any waiting `bulk` job.",
    )
    error: JobError | None = Field(description="Why the job failed; null unless `failed`.")
    variants: list[Variant]
    preset: str | None = Field(
        default=None, description="The preset the job was submitted with; null for `variants`."
    )
    source: SourceImage | None = Field(
        default=None,
        description="The uploaded image's format and size; null until a worker read it.",
    )
    placeholder: Placeholder | None = Field(
        default=None,
        description="A preview to paint before the outputs load; null until `succeeded`.",
    )
    outputs: list[Output] = Field(description="The resized images; filled once `succeeded`.")
    source_url: str | None = Field(
        default=None,
        description="Where the worker fetches the original from; null for an uploaded file.",
    )
    callback_url: str | None = Field(
        default=None, description="Where the job's completion webhook goes; null for none."
    )
    webhook: WebhookState | None = Field(
        default=None,
        description="The completion webhook's delivery; null without `callback_url` and "
        "until the job has ended. Not part of the webhook's own body.",
    )


class JobPage(BaseModel):
    """One page of jobs, newest first."""

    items: list[Job]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class Problem(BaseModel):
    """An error body, `application/problem+json` (RFC 9457)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Field errors, for 422 answers."
    )


class QueueStats(BaseModel):
    name: str = Field(description="The work queue.")
    ready: int = Field(description="Tasks waiting for a worker, as the broker counts them now.")
    unacked: int = Field(
        description="Tasks a worker holds and has not finished: the jobs `processing` now."
    )
    consumers: int = Field(description="Worker channels consuming the queue now.")


class LaneStats(BaseModel):
    ready: int = Field(description="Tasks of this priority waiting for a worker.")
    unacked: int = Field(description="Jobs of this priority `processing` now.")


class Lanes(BaseModel):
    interactive: LaneStats = Field(description="The work queue, `queue` above.")
    bulk: LaneStats = Field(description="Every bulk lane queue, summed.")


class JobCounts(BaseModel):
    queued: int
    processing: int
    succeeded: int
    failed: int
    cancelled: int = 0


class Stats(BaseModel):
    """What an operator or an autoscaler reads: read afresh from the broker and store."""

    queue: QueueStats
    lanes: Lanes = Field(description="The figures by priority (`queue` is the interactive lane).")
    jobs: JobCounts = Field(description="Jobs in the store by status (every key's).")
    oldest_queued_seconds: float = Field(
        description="How long the oldest queued job has waited; 0 when none is queued."
    )


# Browser tokens (POST /v1/tokens): what a backend asks for, and what it hands its browser.

MAX_TOKEN_SECONDS = 3600
DEFAULT_TOKEN_SECONDS = 900


class TokenRequest(BaseModel):
    # Strict: `true` or `"900"` for `expires_in` is a mistake to point out, not to coerce.
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"expires_in": DEFAULT_TOKEN_SECONDS, "preset": "avatar"}]},
    )

    expires_in: int = Field(
        default=DEFAULT_TOKEN_SECONDS,
        ge=1,
        le=MAX_TOKEN_SECONDS,
        description="Seconds the token works for: at most an hour.",
    )
    preset: str | None = Field(
        default=None,
        pattern=PRESET_NAME.pattern,
        description="The one preset (`GET /v1/presets`) the token may submit; a submit with it "
        "then gets that preset whether it names it or not, and `variants` or another preset "
        "is 422. Null: whatever the key itself could submit.",
    )


# A real token (of a key used nowhere), minted at 21:05 for 15 minutes, limited to `avatar`.
class BrowserToken(BaseModel):
    token: str = Field(
        description="Send as `Authorization: Bearer <token>`: it submits jobs and reads the "
        "jobs submitted with it, nothing else."
    )
    expires_at: datetime = Field(description="When the token stops working (UTC).")


# The secret of key `an-example-key` where WEBHOOK_SECRET is `an-example-webhook-secret`.
class WebhookSecret(BaseModel):
    secret: str = Field(
        description="What the webhooks of this key's jobs are signed with: verify them with "
        "it exactly as with WEBHOOK_SECRET (its UTF-8 bytes key the HMAC). It stays the same "
        "while the key and WEBHOOK_SECRET do."
    )
