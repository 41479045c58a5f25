"""HTTP models: what a client sends in `variants`, what it reads back, and the problem body."""

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

MAX_VARIANTS = 10
MAX_SIDE = 8192


class Fit(StrEnum):
    CONTAIN = "contain"
    COVER = "cover"
    FILL = "fill"


class Crop(StrEnum):
    CENTRE = "centre"
    ATTENTION = "attention"
    ENTROPY = "entropy"


class OutputFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    AVIF = "avif"

    @property
    def media_type(self) -> str:
        return f"image/{self.value}"

    @property
    def extension(self) -> str:
        """The file suffix, which also picks libvips' saver (`write_to_buffer(".jpg")`)."""
        return "jpg" if self is OutputFormat.JPEG else self.value


class SourceFormat(StrEnum):
    """The formats the service reads (see `shared.images` for how each is recognised)."""

    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    WEBP = "webp"
    TIFF = "tiff"
    HEIC = "heic"
    AVIF = "avif"


Side = Annotated[int, Field(ge=1, le=MAX_SIDE)]


# A variant's name: it names the output's URL, so nothing a path or a shell would read.
VARIANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class Variant(BaseModel):
    """One resized output of a job."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"name": "thumb", "width": 320, "height": 320, "format": "webp"},
                {
                    "name": "square",
                    "width": 512,
                    "height": 512,
                    "fit": "cover",
                    "crop": "attention",
                },
            ]
        },
    )

    name: str = Field(
        pattern=VARIANT_NAME.pattern,
        description="Unique within the job; names the output's URL.",
    )
    width: Side | None = Field(default=None, description="Box width; at least one side is set.")
    height: Side | None = Field(default=None, description="Box height; at least one side is set.")
    fit: Fit = Field(
        default=Fit.CONTAIN,
        description="contain: inside the box, aspect kept; cover: fills the box, cropped; "
        "fill: stretched to the box. A missing side follows the aspect ratio.",
    )
    crop: Crop = Field(default=Crop.CENTRE, description="Which part `cover` keeps.")
    format: OutputFormat = OutputFormat.JPEG
    quality: int = Field(default=80, ge=1, le=100, description="Encoder quality (not PNG).")
    upscale: bool = Field(default=False, description="Enlarge a source smaller than the box.")

    @model_validator(mode="after")
    def _needs_a_side(self) -> "Variant":
        if self.width is None and self.height is None:
            raise ValueError("a variant needs a width, a height or both")
        return self


def _unique_names(variants: list[Variant]) -> list[Variant]:
    names = [variant.name for variant in variants]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"variant names must be unique; repeated: {', '.join(duplicates)}")
    return variants


VariantList = Annotated[
    list[Variant],
    Field(min_length=1, max_length=MAX_VARIANTS),
    AfterValidator(_unique_names),
]
variant_list_adapter: TypeAdapter[list[Variant]] = TypeAdapter(VariantList)

DEFAULT_VARIANTS: tuple[Variant, ...] = (
    Variant(name="thumb", width=320, height=320, format=OutputFormat.WEBP),
    Variant(name="large", width=1600, height=1600, format=OutputFormat.JPEG, quality=85),
)

# A preset's name: it is sent in a form field and recorded on the job, like a variant's name.
PRESET_NAME = VARIANT_NAME


class Preset(BaseModel):
    """A named list of variants a submit may ask for by name instead of spelling them out."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=PRESET_NAME.pattern, description="What a submit sends as `preset`.")
    variants: VariantList


class PresetList(BaseModel):
    presets: list[Preset] = Field(description="Every preset, by name.")


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


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


_EXAMPLE_ID = "0b6f3c4e-8d1a-4c1e-9a57-3f0f1c2b7d10"
_EXAMPLE_VARIANTS = [
    {
        "name": "thumb",
        "width": 320,
        "height": 320,
        "fit": "contain",
        "crop": "centre",
        "format": "webp",
        "quality": 80,
        "upscale": False,
    },
]
JOB_EXAMPLES: dict[str, dict[str, Any]] = {
    "queued": {
        "id": _EXAMPLE_ID,
        "status": "queued",
        "attempts": 0,
        "created_at": "2026-11-23T10:00:00Z",
        "updated_at": "2026-11-23T10:00:00Z",
        "error": None,
        "variants": _EXAMPLE_VARIANTS,
        "preset": None,
        "source": None,
        "placeholder": None,
        "outputs": [],
        "callback_url": None,
        "webhook": None,
    },
    "succeeded": {
        "id": _EXAMPLE_ID,
        "status": "succeeded",
        "attempts": 1,
        "created_at": "2026-11-23T10:00:00Z",
        "updated_at": "2026-11-23T10:00:01Z",
        "error": None,
        "variants": _EXAMPLE_VARIANTS,
        "preset": None,
        "source": {"format": "jpeg", "width": 4032, "height": 3024},
        "placeholder": {"thumbhash": "VAgKHYK9moifhoaFmHZ2mHJAAydU", "dominant_color": "#4f6b2a"},
        "outputs": [
            {
                "name": "thumb",
                "format": "webp",
                "width": 320,
                "height": 213,
                "size_bytes": 10422,
                "url": f"/v1/jobs/{_EXAMPLE_ID}/outputs/thumb",
            }
        ],
        "callback_url": "https://hooks.example.com/resized",
        "webhook": {"status": "delivered", "attempts": 2, "last_error": "HTTP 503"},
    },
    "failed": {
        "id": _EXAMPLE_ID,
        "status": "failed",
        "attempts": 1,
        "created_at": "2026-11-23T10:00:00Z",
        "updated_at": "2026-11-23T10:00:01Z",
        "error": {
            "code": "undecodable_image",
            "message": "libvips could not read the image: vipspng: libpng read error",
        },
        "variants": _EXAMPLE_VARIANTS,
        "preset": None,
        "source": None,
        "placeholder": None,
        "outputs": [],
        "callback_url": None,
        "webhook": None,
    },
}


class Job(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": list(JOB_EXAMPLES.values())})

    id: UUID
    status: JobStatus
    attempts: int = Field(description="Deliveries of the job to a worker so far.")
    created_at: datetime
    updated_at: datetime
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


class JobCounts(BaseModel):
    queued: int
    processing: int
    succeeded: int
    failed: int


STATS_EXAMPLE: dict[str, Any] = {
    "queue": {"name": "image_resize", "ready": 42, "unacked": 8, "consumers": 2},
    "jobs": {"queued": 50, "processing": 8, "succeeded": 1204, "failed": 3},
    "oldest_queued_seconds": 12.5,
}


class Stats(BaseModel):
    """What an operator or an autoscaler reads: read afresh from the broker and store."""

    model_config = ConfigDict(json_schema_extra={"examples": [STATS_EXAMPLE]})

    queue: QueueStats
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
TOKEN_EXAMPLE: dict[str, Any] = {
    "token": "rt_eyJvd25lciI6IjIzOWQ2MTBjM2NiMzg5MWIiLCJpZCI6IkVmQnE1enVUYnRDQnFiWkkiLCJwcmVz"
    "ZXQiOiJhdmF0YXIiLCJleHAiOjE3OTU1NTUyMDB9.ZxLOihNGyJaDXQYc-7mMNgMp_zxlCL2LapojurMtyXU",
    "expires_at": "2026-11-24T21:20:00Z",
}


class BrowserToken(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [TOKEN_EXAMPLE]})

    token: str = Field(
        description="Send as `Authorization: Bearer <token>`: it submits jobs and reads the "
        "jobs submitted with it, nothing else."
    )
    expires_at: datetime = Field(description="When the token stops working (UTC).")


# The secret of key `an-example-key` where WEBHOOK_SECRET is `an-example-webhook-secret`.
WEBHOOK_SECRET_EXAMPLE: dict[str, Any] = {
    "secret": "3d41cc021a0ca769f6d4d6bb01bbcb70ce3e347692aa1e337d53d6a0553840a6"
}


class WebhookSecret(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [WEBHOOK_SECRET_EXAMPLE]})

    secret: str = Field(
        description="What the webhooks of this key's jobs are signed with: verify them with "
        "it exactly as with WEBHOOK_SECRET (its UTF-8 bytes key the HMAC). It stays the same "
        "while the key and WEBHOOK_SECRET do."
    )
