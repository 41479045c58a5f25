"""The v1 REST routes: thin, they read the request, call `jobs.py` and shape the answer."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from producer_service.api.deps import (
    CallerDep,
    JobsDep,
    KeyOrTokenCallerDep,
    MetricsDep,
    PresetsDep,
    SettingsDep,
    UploadsDep,
)
from producer_service.api.examples import JOB_EXAMPLES
from producer_service.api.pagination import decode_cursor, encode_cursor
from producer_service.api.paths import JobId, parse_job_id, parse_output_name
from producer_service.api.problems import problem_responses
from producer_service.callers import Caller
from producer_service.errors import (
    ApiProblem,
    BrokerUnavailable,
    CallbackTargetRefused,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidCallbackUrl,
    InvalidRequest,
    InvalidSourceUrl,
    JobNotFailed,
    JobNotFinished,
    JobNotFound,
    OutputNotFound,
    OutputNotReady,
    PayloadTooLarge,
    QueueFull,
    SourceUrlRefused,
    StorageUnavailable,
    StoreUnavailable,
    TokenNotAllowed,
    TooManyActiveJobs,
    Unauthorized,
    UnsupportedMediaType,
    WebhooksNotConfigured,
)
from producer_service.records import JobRecord
from producer_service.submissions import received_submission
from producer_service.views import job_url, job_view
from shared.schemas import Job, JobPage, JobStatus
from shared.variants import DEFAULT_VARIANTS, VARIANT_NAME, OutputFormat

router = APIRouter(prefix="/v1", tags=["jobs"])


def job_examples(description: str, *names: str) -> dict[str, Any]:
    """An OpenAPI response showing the named `JOB_EXAMPLES`."""
    examples = {name: {"summary": f"a {name} job", "value": JOB_EXAMPLES[name]} for name in names}
    return {"description": description, "content": {"application/json": {"examples": examples}}}


_DEFAULTS = ", ".join(
    f"`{v.name}` ({v.width}x{v.height} {v.fit}, {v.format} q{v.quality})" for v in DEFAULT_VARIANTS
)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Send the same key again to get the first job back instead of a new one "
        "(the same file or source_url, and variants; anything else is 422). While the first "
        "request still waits for the broker, a repeat waits with it, or gets 409 with "
        "Retry-After.",
    ),
]


def accepted(record: JobRecord) -> JSONResponse:
    """202 with the job and its URL: the answer once the broker has confirmed the task."""
    return JSONResponse(
        job_view(record).model_dump(mode="json"),
        status_code=202,
        headers={"Location": job_url(record.id)},
    )


def _cache_scope(caller: Caller) -> str:
    return "public" if caller.sees_every_job else "private"


_EXAMPLE_VARIANTS = (
    '[{"name": "thumb", "width": 320, "height": 320, "format": "webp"}, '
    '{"name": "square", "width": 512, "height": 512, "fit": "cover", "crop": "attention"}]'
)
_IMAGE = "(the image's bytes)"

# The optional fields' examples are whole forms under the media type's `examples`, not each
# field's own `example`: Swagger UI's Try it out fills every field with its `example` (or, with
# none, a made-up "string"), and `variants`, `preset` and `callback_url` at once are 422. Their
# `default` is blank, what leaving them out means, so a form with only a file chosen is sent
# with only its file.
_SUBMIT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                # `file` or `source_url`, one of them: said in words, not as `oneOf`, which
                # Swagger UI's form does not render.
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The image: JPEG, PNG, WebP, GIF, TIFF or HEIF/AVIF. "
                            "Its type is read from its bytes, not its name. Send it or "
                            "`source_url`, not both.",
                        },
                        "source_url": {
                            "type": "string",
                            "format": "uri",
                            "maxLength": 2048,
                            "default": "",
                            "description": "Instead of `file`: an `https` URL the service "
                            "fetches the image from after the `202`, for example "
                            "`https://images.example.com/photo.jpg`. Its host must resolve to "
                            "public addresses only (unless the deployment sets "
                            "SOURCE_URL_ALLOW_PRIVATE, which also allows `http`); each redirect "
                            "(at most 5) is checked again. A source that cannot be fetched, is "
                            "larger than the upload limit or is not an image fails the job with "
                            "a `source_*` or `unsupported_format` error code.",
                        },
                        "variants": {
                            "type": "string",
                            "default": "",
                            "description": "A JSON array of up to 10 `Variant` objects, for "
                            f"example `{_EXAMPLE_VARIANTS}`. Absent or blank (and no `preset`): "
                            f"the `default` preset, {_DEFAULTS} unless the deployment redefined "
                            "it.",
                        },
                        "preset": {
                            "type": "string",
                            "default": "",
                            "description": "The name of a preset (`GET /v1/presets`), for "
                            "example `thumbnail`, instead of `variants`; both at once is 422. "
                            "Required where the deployment takes presets only (PRESETS_ONLY).",
                        },
                        "callback_url": {
                            "type": "string",
                            "format": "uri",
                            "maxLength": 2048,
                            "default": "",
                            "description": "An `https` URL that gets one POST of the job, "
                            "signed the Standard Webhooks way, when it succeeds or fails "
                            "(retried for hours if it does not answer 2xx), for example "
                            "`https://hooks.example.com/resized`. Its host must resolve to "
                            "public addresses only (unless the deployment sets "
                            "WEBHOOK_ALLOW_PRIVATE, which also allows `http`); the service "
                            "needs WEBHOOK_SECRET to send webhooks at all.",
                        },
                        "priority": {
                            "type": "string",
                            "enum": ["", "interactive", "bulk"],
                            "default": "",
                            "description": "`interactive` (also when absent or blank) or "
                            "`bulk`. Bulk jobs use what interactive ones leave: an "
                            "interactive job starts as soon as a worker slot frees, ahead of "
                            "any bulk backlog. Send `bulk` for imports and batch work; each "
                            "API key's bulk jobs take turns with other keys'.",
                        },
                    },
                },
                "examples": {
                    "file": {
                        "summary": "a file alone: the default preset",
                        "value": {"file": _IMAGE},
                    },
                    "preset": {
                        "summary": "a preset",
                        "value": {"file": _IMAGE, "preset": "thumbnail"},
                    },
                    "variants": {
                        "summary": "variants of your own",
                        "value": {"file": _IMAGE, "variants": _EXAMPLE_VARIANTS},
                    },
                    "source_url": {
                        "summary": "an image fetched from a URL",
                        "value": {
                            "source_url": "https://images.example.com/photo.jpg",
                            "preset": "thumbnail",
                        },
                    },
                    "bulk": {
                        "summary": "a bulk job, behind interactive ones",
                        "value": {"file": _IMAGE, "preset": "thumbnail", "priority": "bulk"},
                    },
                    "callback_url": {
                        "summary": "a webhook when the job ends",
                        "value": {
                            "file": _IMAGE,
                            "callback_url": "https://hooks.example.com/resized",
                        },
                    },
                },
            }
        },
    }
}


@router.post(
    "/jobs",
    status_code=202,
    summary="Submit an image to resize",
    description="Stores the upload (or, with `source_url`, notes where a worker fetches it "
    "from), queues one resize task and answers `202` once the broker has confirmed the task. "
    "Poll the job at `Location` until it has `succeeded` or `failed`, or send a `callback_url` "
    "to have the ended job POSTed to you.",
    response_model=Job,
    responses={
        202: {
            **job_examples("Accepted: the task is safely queued.", "queued"),
            "headers": {
                "Location": {"description": "The job's URL.", "schema": {"type": "string"}}
            },
        },
        **problem_responses(
            Unauthorized,
            PayloadTooLarge,
            UnsupportedMediaType,
            InvalidRequest,
            InvalidSourceUrl,
            SourceUrlRefused,
            InvalidCallbackUrl,
            CallbackTargetRefused,
            WebhooksNotConfigured,
            IdempotencyKeyReused,
            IdempotencyKeyInFlight,
            TooManyActiveJobs,
            BrokerUnavailable,
            QueueFull,
            StoreUnavailable,
            StorageUnavailable,
        ),
    },
    openapi_extra=_SUBMIT_BODY,
)
async def submit_job(
    request: Request,
    *,
    settings: SettingsDep,
    jobs: JobsDep,
    uploads: UploadsDep,
    presets: PresetsDep,
    metrics: MetricsDep,
    caller: KeyOrTokenCallerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    try:
        async with received_submission(
            request.headers,
            request.stream(),
            uploads,
            settings,
            presets,
            fingerprint=idempotency_key is not None,
            only_preset=caller.only_preset,
            by_token=caller.token is not None,
        ) as submission:
            submitted = await jobs.submit(caller, submission, idempotency_key)
    except ApiProblem as refusal:
        metrics.count_submit(refusal.slug, refusal.status)
        raise
    metrics.count_submit("replayed" if submitted.replayed else "accepted", 202)
    return accepted(submitted.job)


@router.get(
    "/jobs",
    summary="List jobs, newest first",
    description="Filter by `status` (for example every `failed` job) and page with `cursor`.",
    response_model=JobPage,
    responses={
        200: {
            "description": "One page of jobs.",
            "content": {
                "application/json": {
                    "example": {"items": [JOB_EXAMPLES["failed"]], "next_cursor": None}
                }
            },
        },
        **problem_responses(Unauthorized, InvalidRequest, StoreUnavailable),
    },
)
async def list_jobs(
    jobs: JobsDep,
    caller: KeyOrTokenCallerDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Jobs per page.")] = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> JobPage:
    after = None if cursor is None else decode_cursor(cursor)
    records = await jobs.list_page(caller, status, after, limit + 1)
    page = records[:limit]
    next_cursor = encode_cursor(page[-1]) if len(records) > limit else None
    return JobPage(items=[job_view(record) for record in page], next_cursor=next_cursor)


@router.post(
    "/jobs/{job_id}/retry",
    status_code=202,
    summary="Retry a failed or cancelled job",
    description="Queues a failed or cancelled job again as a new run with a fresh attempt "
    "budget, once the broker has confirmed its task; outputs and status then follow as for a "
    "new job. The job counts "
    "against `MAX_ACTIVE_JOBS_PER_KEY` again, as a submit does.",
    response_model=Job,
    responses={
        202: job_examples("Accepted: the job is queued again.", "queued"),
        **problem_responses(
            Unauthorized,
            TokenNotAllowed,
            JobNotFound,
            JobNotFailed,
            TooManyActiveJobs,
            BrokerUnavailable,
            QueueFull,
            StoreUnavailable,
        ),
    },
)
async def retry_job(job_id: JobId, jobs: JobsDep, caller: CallerDep) -> JSONResponse:
    record = await jobs.retry(caller, parse_job_id(job_id))
    return accepted(record)


@router.delete(
    "/jobs/{job_id}",
    status_code=204,
    summary="Delete a finished job, its original and its outputs",
    description="The job is `404` from then on. A job still `queued` or `processing` is `409`: "
    "cancel it first (`POST /v1/jobs/{job_id}/cancel`).",
    response_class=Response,
    responses={
        204: {"description": "Deleted: the job, its original and every output are gone."},
        **problem_responses(
            Unauthorized, TokenNotAllowed, JobNotFound, JobNotFinished, StoreUnavailable
        ),
    },
)
async def delete_job(job_id: JobId, jobs: JobsDep, caller: CallerDep) -> Response:
    await jobs.delete(caller, parse_job_id(job_id))
    return Response(status_code=204)


@router.get(
    "/jobs/{job_id}",
    summary="Read a job's status and outputs",
    response_model=Job,
    responses={
        200: job_examples("The job.", "queued", "succeeded", "failed", "failed_fetch"),
        **problem_responses(Unauthorized, JobNotFound, StoreUnavailable),
    },
)
async def get_job(job_id: JobId, jobs: JobsDep, caller: KeyOrTokenCallerDep) -> Job:
    return job_view(await jobs.get(caller, parse_job_id(job_id)))


OUTPUT_PATH = "/jobs/{job_id}/outputs/{name}"
_OUTPUT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The image bytes, with the output format's content type.",
        "content": {
            fmt.media_type: {"schema": {"type": "string", "format": "binary"}}
            for fmt in OutputFormat
        },
    },
    304: {"description": "Not modified: `If-None-Match` named the output's `ETag`."},
    **problem_responses(
        Unauthorized, JobNotFound, OutputNotFound, OutputNotReady, StoreUnavailable
    ),
}


@router.get(
    OUTPUT_PATH,
    summary="Download one resized image",
    response_class=StreamingResponse,
    responses=_OUTPUT_RESPONSES,
)
@router.head(
    OUTPUT_PATH,
    summary="An output's headers only (type, size, ETag), without its bytes",
    response_class=StreamingResponse,
    responses=_OUTPUT_RESPONSES,
)
async def get_output(
    request: Request,
    *,
    job_id: JobId,
    name: Annotated[
        str,
        Path(description=f"The variant's name (`{VARIANT_NAME.pattern}`).", examples=["thumb"]),
    ],
    jobs: JobsDep,
    caller: KeyOrTokenCallerDep,
    if_none_match: Annotated[
        str | None,
        Header(description="An `ETag` you have: `304` with no body if it still matches."),
    ] = None,
) -> Response:
    job = parse_job_id(job_id)
    output = await jobs.output_file(caller, job, parse_output_name(job, name))
    headers = {
        # A succeeded job never changes, so its outputs can be cached for good; with keys,
        # only by the caller's own cache, never a shared one.
        "Cache-Control": f"{_cache_scope(caller)}, max-age=31536000, immutable",
        "ETag": output.etag,
        "X-Content-Type-Options": "nosniff",
    }
    if _matches(if_none_match, output.etag):
        return Response(status_code=304, headers=headers)
    headers["Content-Length"] = str(output.size)
    if request.method == "HEAD":
        return Response(media_type=output.media_type, headers=headers)
    # Streamed from storage whatever the backend; it is opened only here, after the checks.
    return StreamingResponse(output.chunks, media_type=output.media_type, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` names this ETag (or `*`); weak forms match too (RFC 9110)."""
    if if_none_match is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags
