"""The REST API as the command line uses it: submit, follow a job, download its outputs.

It is also the one client of the API the tests and the benchmark build on: `post_job` (one
submit, as a form), `server_events` (a job's event stream) and `send` (the retry policy below)
are theirs too.

Every request is retried, a bounded number of times, when the API answers 429 or 503 (waiting
its `Retry-After`), 409 to an idempotent replay still in flight, or does not answer at all. A
submit carries an `Idempotency-Key`, so a retried one returns the first job instead of a new one.

    ApiError       what stops one file; its text is the reason the summary shows
    ├── Refused    the API answered with a problem (415, 413, 422, 404, ...)
    └── Unreachable  no answer, every try
    Unauthorized   the API answered 401: the key is wrong for every file, so the run stops

The first submit goes alone, the others once it has an answer that is not a 401: a wrong key
costs one request, not one per file.
"""

import asyncio
import contextlib
import email.utils
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.schemas import Job, Output
from shared.variants import VARIANT_NAME

RETRIED_STATUSES = frozenset({409, 429, 503})
# The wait when a retried answer has no usable Retry-After, or there was no answer.
DEFAULT_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 120.0
POLL_SECONDS = 1.0
# Longer than the API's SSE keep-alive (15 s), so a quiet stream is not taken for a dead one.
TIMEOUT = httpx.Timeout(60.0)


class ApiError(Exception):
    """One file cannot go on; `str()` says why."""


class Refused(ApiError):
    """The API answered with an error."""


class Unreachable(ApiError):
    """The API did not answer."""


class Unauthorized(Exception):
    """The API refused the key (401); `str()` is its answer."""


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait before sending the request again, or None when it should not be."""
    if response.status_code not in RETRIED_STATUSES:
        return None
    value = response.headers.get("Retry-After", "")
    if response.status_code == 409 and not value:
        return None  # a conflict that waiting does not resolve
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            seconds = DEFAULT_RETRY_SECONDS
    return min(max(seconds, 0.0), MAX_RETRY_SECONDS)


@dataclass(frozen=True)
class FilePart:
    """The image of a submit: the file name and type the form part carries, and its bytes."""

    name: str
    content: bytes
    media_type: str = "application/octet-stream"


@dataclass(frozen=True)
class ServerEvent:
    """One Server-Sent Event: its `id:`, `event:` and `data:` fields."""

    id: str
    event: str
    data: str


async def server_events(lines: AsyncIterator[str]) -> AsyncGenerator[ServerEvent, None]:
    """The events in a `text/event-stream`, as its lines arrive; comments (keep-alives) and
    fields other than these three are skipped."""
    fields: dict[str, list[str]] = {}
    async for line in lines:
        if line:
            field, _, value = line.partition(":")
            if field in ("id", "event", "data"):
                fields.setdefault(field, []).append(value.removeprefix(" "))
        elif "data" in fields:
            yield ServerEvent(
                "".join(fields.get("id", [])),
                "".join(fields.get("event", ["message"])),
                "\n".join(fields["data"]),
            )
            fields = {}


def refusal(response: httpx.Response) -> Refused | Unauthorized:
    """The problem's `detail` (RFC 9457), or the status line when the body is not one."""
    try:
        detail = str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        detail = response.reason_phrase
    refused = Unauthorized if response.status_code == 401 else Refused
    return refused(f"{response.status_code}: {detail}")


class ResizeApi:
    def __init__(self, http: httpx.AsyncClient, retries: int) -> None:
        self.http = http
        self.retries = retries
        self.first_submit_sent = False
        # Set once the first submit has an answer; `key_refused` is the 401, if it was one.
        self.first_submit_answered = asyncio.Event()
        self.key_refused: Unauthorized | None = None

    async def send(
        self,
        request: Callable[[], Awaitable[httpx.Response]],
        on_retry: Callable[[httpx.Response], None] = lambda _: None,
    ) -> httpx.Response:
        """`request()`, again after each retryable answer (shown to `on_retry` first) or
        transport error, `retries` times."""
        for retries_left in range(self.retries, -1, -1):
            try:
                response = await request()
            except httpx.TransportError as exc:
                if not retries_left:
                    raise Unreachable(f"no answer from the API: {exc!r}") from exc
                await asyncio.sleep(DEFAULT_RETRY_SECONDS)
                continue
            delay = retry_after(response)
            if delay is None or not retries_left:
                return response
            on_retry(response)
            await asyncio.sleep(delay)
        raise AssertionError("the loop returns or raises")

    async def post_job(
        self,
        image: FilePart | None,
        fields: Mapping[str, str],
        headers: Mapping[str, str] | None = None,
        *,
        part: str = "file",
    ) -> httpx.Response:
        """One `POST /v1/jobs`, as a browser form sends it, whatever the answer. Without an
        image (a `source_url` in `fields`), the fields alone, still as multipart."""
        files: dict[str, tuple[str | None, bytes | str] | tuple[str, bytes, str]]
        if image is None:
            files = {name: (None, value) for name, value in fields.items()}
            fields = {}
        else:
            files = {part: (image.name, image.content, image.media_type)}
        return await self.http.post(
            "/v1/jobs", files=files, data=dict(fields), headers=dict(headers or {})
        )

    async def submit(self, source: Path | str, form: Mapping[str, str], key: str) -> Job:
        """`POST /v1/jobs` with the file (or a URL, sent as `source_url`) and `form`; the job
        once the API accepted it."""
        image = None
        if isinstance(source, str):
            form = {**form, "source_url": source}
        else:
            image = FilePart(source.name, await asyncio.to_thread(source.read_bytes))
        first, self.first_submit_sent = not self.first_submit_sent, True
        if not first:
            await self.first_submit_answered.wait()
        if self.key_refused is not None:
            raise Unauthorized(str(self.key_refused))
        try:
            response = await self.send(lambda: self.post_job(image, form, {"Idempotency-Key": key}))
        finally:
            # No answer says nothing about the key: the others then try for themselves. They
            # wake after this step, so they see `key_refused` when this answer is a 401.
            self.first_submit_answered.set()
        if response.status_code != 202:
            refused = refusal(response)
            if isinstance(refused, Unauthorized):
                self.key_refused = refused
            raise refused
        return Job.model_validate_json(response.content)

    async def job(self, job_id: uuid.UUID) -> Job:
        response = await self.send(lambda: self.http.get(f"/v1/jobs/{job_id}"))
        if response.status_code != 200:
            raise refusal(response)
        return Job.model_validate_json(response.content)

    async def follow(self, job_id: uuid.UUID, seen: Callable[[Job], None]) -> Job:
        """The job once it has succeeded or failed, `seen` called with each state on the way.
        Over its event stream; by polling when the stream breaks or ends early."""
        try:
            async with contextlib.aclosing(self.events(job_id)) as events:
                async for job in events:
                    seen(job)
                    if job.status.is_final:
                        return job
        except (httpx.TransportError, Refused):
            pass
        while True:
            job = await self.job(job_id)
            seen(job)
            if job.status.is_final:
                return job
            await asyncio.sleep(POLL_SECONDS)

    async def events(self, job_id: uuid.UUID) -> AsyncGenerator[Job, None]:
        """The jobs in `GET /v1/jobs/{id}/events` (Server-Sent Events) as they arrive."""
        async with self.http.stream("GET", f"/v1/jobs/{job_id}/events") as response:
            if response.status_code != 200:
                await response.aread()
                raise refusal(response)
            async for event in server_events(response.aiter_lines()):
                yield Job.model_validate_json(event.data)

    async def download(self, output: Output, path: Path) -> None:
        """The output's bytes, written to `path` through a temporary file and a rename."""
        if not VARIANT_NAME.fullmatch(output.name):
            raise Refused(f"unexpected output name {output.name!r}")  # never a path outside
        response = await self.send(lambda: self.http.get(output.url))
        if response.status_code != 200:
            raise refusal(response)
        await asyncio.to_thread(write_file, path, response.content)


def write_file(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(content)
    partial.replace(path)
