"""Fetching a job's original from its `source_url` into storage, where an upload would be.

The same guard as webhooks (`shared.checked_network`): every connection resolves its host
again and connects only to checked addresses, and every redirect's URL is checked like the
first one (scheme, no user name or password, a valid host); at most MAX_REDIRECTS of them.
The whole fetch has a deadline (SOURCE_URL_TIMEOUT_SECONDS), each connection its own
(SOURCE_URL_CONNECT_TIMEOUT_SECONDS). The body is streamed to a temp file and counted as it
comes: reading stops at MAX_UPLOAD_BYTES, and the first bytes must be an image's (sniffed
as uploads are). Once whole, the file is stored under the job's original key, so a later
attempt finds it there and fetches nothing.

What goes wrong is a `JobFailure` with its own code: a refused address, a bad redirect, too
many redirects, a body too large or not an image, and an HTTP 4xx fail the job at once; a
host that does not answer, a deadline passed, or an HTTP 5xx, 408 or 429 is retried with
backoff, as a storage failure is.
"""

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO

import httpcore
import httpx

from shared import layout
from shared.addresses import AddressRefused, Resolver, Unresolvable, resolve_host
from shared.checked_network import checked_pool, request_target
from shared.images import SNIFF_BYTES, sniff
from shared.schemas import ErrorCode
from shared.settings import Settings
from shared.storage import Storage
from shared.url_targets import parse_target
from worker_service.errors import PermanentFailure, TransientFailure
from worker_service.job_files import storage_errors

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Answers worth asking again later: the source is busy or broken for now.
RETRIED_STATUSES = frozenset({408, 429})
FIELD = "source_url"
HEADERS = [("accept", "image/*"), ("user-agent", "image-resize-service"), ("connection", "close")]
_WRITE_BYTES = 1024 * 1024
_READABLE = "JPEG, PNG, WebP, GIF, TIFF, HEIF/AVIF"


class SourceFetcher:
    def __init__(
        self, settings: Settings, storage: Storage, resolve: Resolver = resolve_host
    ) -> None:
        self._storage = storage
        self._resolve = resolve
        self._allow_private = settings.source_url_allow_private
        self._max_bytes = settings.max_upload_bytes
        self._timeout = settings.source_url_timeout_seconds
        self._timeouts = {
            "connect": settings.source_url_connect_timeout_seconds,
            **dict.fromkeys(("read", "write", "pool"), self._timeout),
        }
        self._temp_dir = settings.data_dir.resolve() / layout.TEMP_DIR

    async def fetch(self, url: str, key: str) -> None:
        """The image at `url`, stored under `key`; a `JobFailure` saying why not."""
        async with self._temp_file() as (path, handle):
            try:
                async with asyncio.timeout(self._timeout):
                    await self._download(url, handle)
            except TimeoutError:
                raise TransientFailure(
                    ErrorCode.SOURCE_TIMEOUT,
                    f"The source did not send the whole image within {self._timeout:g} s.",
                ) from None
            await asyncio.to_thread(handle.close)
            with storage_errors():
                await self._storage.put_file(key, path)

    @contextlib.asynccontextmanager
    async def _temp_file(self) -> AsyncIterator[tuple[Path, BinaryIO]]:
        with storage_errors():
            await asyncio.to_thread(self._temp_dir.mkdir, parents=True, exist_ok=True)
            descriptor, name = await asyncio.to_thread(
                tempfile.mkstemp, dir=self._temp_dir, prefix="fetch-"
            )
        path = Path(name)
        handle = os.fdopen(descriptor, "wb")
        try:
            yield path, handle
        finally:
            await asyncio.to_thread(handle.close)
            # Gone already when storage took the file by renaming it.
            await asyncio.to_thread(path.unlink, missing_ok=True)

    async def _download(self, url: str, sink: BinaryIO) -> None:
        async with checked_pool(self._resolve, self._allow_private, 1) as pool:
            for _ in range(MAX_REDIRECTS + 1):
                next_url = await self._get(pool, self._checked(url), sink)
                if next_url is None:
                    return
                url = next_url
        raise PermanentFailure(
            ErrorCode.SOURCE_TOO_MANY_REDIRECTS,
            f"The source redirected more than {MAX_REDIRECTS} times (last to {url[:256]}).",
        )

    def _checked(self, url: str) -> httpx.URL:
        """A URL to request: the submitted one again, or a redirect's, under the same rules."""
        try:
            parse_target(url, allow_http=self._allow_private, field=FIELD)
        except ValueError as exc:
            raise PermanentFailure(
                ErrorCode.SOURCE_REFUSED, f"The source redirected to a URL refused here: {exc}"
            ) from None
        return httpx.URL(url)

    async def _get(
        self, pool: httpcore.AsyncConnectionPool, url: httpx.URL, sink: BinaryIO
    ) -> str | None:
        """One GET: the URL it redirects to, or None once its body is in `sink`."""
        target, host = request_target(url)
        try:
            async with pool.stream(
                "GET", target, headers=[host, *HEADERS], extensions={"timeout": self._timeouts}
            ) as response:
                if response.status in REDIRECTS:
                    return _redirect(url, response)
                _check_status(response.status)
                _check_length(response, self._max_bytes)
                await _save_body(response.aiter_stream(), sink, self._max_bytes)
                return None
        except AddressRefused as exc:
            raise PermanentFailure(
                ErrorCode.SOURCE_REFUSED,
                f"The source's host {exc}; images are fetched from public addresses only.",
            ) from None
        except Unresolvable as exc:
            raise _unreachable(f"its host {exc} does not resolve") from None
        except httpcore.ConnectTimeout:
            raise _unreachable(f"{url.host} did not accept a connection in time") from None
        except httpcore.ConnectError as exc:
            raise _unreachable(f"could not connect to {url.host}: {exc or 'refused'}") from None
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError) as exc:
            raise _unreachable(f"the connection to {url.host} failed: {exc!r}") from None


def _unreachable(why: str) -> TransientFailure:
    return TransientFailure(
        ErrorCode.SOURCE_UNREACHABLE, f"The source could not be fetched: {why}."
    )


def _redirect(url: httpx.URL, response: httpcore.Response) -> str:
    location = _header(response, b"location")
    if location is None:
        raise PermanentFailure(
            ErrorCode.SOURCE_HTTP_ERROR,
            f"The source answered HTTP {response.status} without saying where to go.",
        )
    try:
        return str(url.join(location))
    except httpx.InvalidURL as exc:
        raise PermanentFailure(
            ErrorCode.SOURCE_REFUSED, f"The source redirected to something not a URL: {exc}."
        ) from None


def _check_status(status: int) -> None:
    if status == 200:
        return
    try:
        phrase = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        phrase = str(status)
    message = f"The source answered HTTP {phrase} instead of the image."
    if status >= 500 or status in RETRIED_STATUSES:
        raise TransientFailure(ErrorCode.SOURCE_HTTP_ERROR, message)
    raise PermanentFailure(ErrorCode.SOURCE_HTTP_ERROR, message)


def _check_length(response: httpcore.Response, max_bytes: int) -> None:
    """Refuse at once a body whose Content-Length alone says it is too large."""
    declared = _header(response, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)


def _header(response: httpcore.Response, name: bytes) -> str | None:
    value = next((v for k, v in response.headers if k.lower() == name), None)
    return None if value is None else value.decode("latin-1").strip()


def _too_large(max_bytes: int) -> PermanentFailure:
    return PermanentFailure(
        ErrorCode.SOURCE_TOO_LARGE, f"The source is larger than {max_bytes} bytes, the limit here."
    )


async def _save_body(chunks: AsyncIterator[bytes], sink: BinaryIO, max_bytes: int) -> None:
    """Stream the body into `sink`: stop past `max_bytes`, and unless it starts as an image."""
    size = written = 0
    head = b""
    pending: list[bytes] = []
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
            if len(head) == SNIFF_BYTES:
                _check_image(head)
        pending.append(chunk)
        if size - written >= _WRITE_BYTES:
            await asyncio.to_thread(sink.writelines, pending)
            pending, written = [], size
    _check_image(head)
    await asyncio.to_thread(sink.writelines, pending)


def _check_image(head: bytes) -> None:
    if sniff(head) is None:
        raise PermanentFailure(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"The source is not an image this service reads ({_READABLE}); "
            "its bytes were checked, not its Content-Type.",
        )
