"""Storage in an S3 bucket (AWS or any S3-compatible server: MinIO, Ceph, ...), each key under
the prefix STORAGE_URL names (`s3://bucket/prefix`), over one aiobotocore client per process.

A PUT replaces an object in one step (S3 never shows part of one), so the protocol's atomic
write needs no temp object, and there are no half-written objects to list or sweep. Refusals
become `OSError`s whose text is a reason in a word or two (`bucket missing`, `access denied`,
`unreachable`, ...) and the object's `s3://` address: never a credential. The client's
timeouts and retries are bounded, so a dead endpoint is an error within seconds, not a hang.
"""

import asyncio
import contextlib
import errno
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as EndpointError
from botocore.handlers import add_expect_header

from shared import layout
from shared.settings import Settings
from shared.storage.protocol import NotFound

if TYPE_CHECKING:  # the stubs are a dev dependency
    from types_aiobotocore_s3 import S3Client

CHUNK_BYTES = 64 * 1024
# The most keys S3 lists in one answer, and deletes in one DeleteObjects call.
LIST_PAGE = 1000
DELETE_BATCH = 1000
_PROBE_PREFIX = ".probe/"

# Each try connects within CONNECT and hears each part of the answer within READ; a failed try
# (a dropped connection, a timeout, a 5xx, throttling) is tried once more after a jittered
# backoff of at most a second. So an endpoint that refuses is an error at once, one that
# drops packets within ~5 s and one that accepts and never answers within ~11 s: never a hang.
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 2
# Each download streaming to a client holds a connection while it runs; the default 10 would
# make the eleventh download (and every write) wait for one.
MAX_CONNECTIONS = 64

_MISSING_KEY = frozenset({"NoSuchKey", "404", "NotFound"})
_REFUSED = frozenset(
    {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"}
)


class S3Storage:
    def __init__(self, client: "S3Client", bucket: str, prefix: str) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator["S3Storage"]:
        """The storage STORAGE_URL names, its client open while the block runs."""
        location = settings.s3_location
        if location is None:
            raise ValueError("STORAGE_URL does not name an S3 bucket")
        secret = settings.aws_secret_access_key
        config = AioConfig(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            max_pool_connections=MAX_CONNECTIONS,
            # S3-compatible servers answer at one host (http://minio:9000/bucket/key); AWS's
            # own endpoints resolve the bucket as a host name.
            s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
        )
        async with get_session().create_client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.aws_region,
            aws_access_key_id=settings.aws_access_key_id,
            aws_secret_access_key=None if secret is None else secret.get_secret_value(),
            config=config,
        ) as client:
            # aiohttp waits for a `100 Continue` with no timeout at all, so a server that
            # takes a PUT and never answers would hang it: send bodies straight away.
            client.meta.events.unregister("before-call.s3", add_expect_header)
            yield cls(client, *location)

    def object_key(self, key: str) -> str:
        layout.check_key(key)
        return self.prefix + key

    async def put(self, key: str, data: bytes) -> None:
        with self._errors(key):
            await self._client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data)

    async def put_file(self, key: str, source: Path) -> None:
        handle = await asyncio.to_thread(source.open, "rb")
        with handle, self._errors(key):
            # botocore reads the file itself (and again from the start on a retry).
            await self._client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=handle)
        await asyncio.to_thread(source.unlink)

    async def read(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.stream(key)])

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        with self._errors(key):
            response = await self._client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        async with response["Body"] as body:
            while True:
                with self._errors(key):
                    chunk = await body.read(CHUNK_BYTES)
                if not chunk:
                    return
                yield chunk  # outside _errors: what the consumer throws in is not ours

    async def size(self, key: str) -> int:
        return await self._head(key)

    async def exists(self, key: str) -> bool:
        try:
            await self._head(key)
        except NotFound:
            return False
        return True

    async def delete(self, key: str) -> None:
        with self._errors(key):
            await self._client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    async def delete_prefix(self, prefix: str) -> None:
        keys = await self.list(prefix)
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            with self._errors(prefix):
                answer = await self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self.object_key(k)} for k in batch], "Quiet": True},
                )
            if errors := answer.get("Errors"):
                first = errors[0]
                raise _refusal(first.get("Code", ""), self._address(first.get("Key", prefix)))

    async def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket,
            Prefix=self.prefix + prefix,
            PaginationConfig={"PageSize": LIST_PAGE},
        )
        with self._errors(prefix):
            async for page in pages:
                keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
        return sorted(keys)

    @contextlib.asynccontextmanager
    async def local_file(self, key: str) -> AsyncIterator[Path]:
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="storage-"))
        try:
            path = folder / "object"
            handle = await asyncio.to_thread(path.open, "wb")
            with handle:
                async for chunk in self.stream(key):
                    await asyncio.to_thread(handle.write, chunk)
            yield path
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def check_writable(self) -> None:
        probe = f"{_PROBE_PREFIX}{uuid.uuid4().hex}"
        await self.put(probe, b"\0")
        await self.delete(probe)

    async def _head(self, key: str) -> int:
        """The object's size. A HEAD answer has no body, so its 404 does not say whether the
        key or the whole bucket is missing: a bucket gone is an outage, not `NotFound`."""
        try:
            with self._errors(key):
                answer = await self._client.head_object(
                    Bucket=self.bucket, Key=self.object_key(key)
                )
        except NotFound:
            with self._errors(key, of_bucket=True):
                await self._client.head_bucket(Bucket=self.bucket)
            raise
        return answer["ContentLength"]

    def _address(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    @contextlib.contextmanager
    def _errors(self, key: str, *, of_bucket: bool = False) -> Iterator[None]:
        """S3's answers as the protocol's: a missing key (unless the request was about the
        bucket) is `NotFound`, anything else an `OSError`."""
        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_KEY and not of_bucket:
                raise NotFound(key) from exc
            raise _refusal(code, self._address(key)) from exc
        except BotoCoreError as exc:
            raise _unreachable(exc, self._address(key)) from exc


def _refusal(code: str, address: str) -> OSError:
    """An error the server answered with, as an `OSError` naming the reason."""
    if code == "NoSuchBucket" or code in _MISSING_KEY:  # of a bucket (HeadBucket's is "404")
        return OSError(errno.ENOENT, "bucket missing", address)
    if code in _REFUSED:
        return OSError(errno.EACCES, "access denied", address)
    return OSError(errno.EIO, f"answered {code or 'an error'}", address)


def _unreachable(error: BotoCoreError, address: str) -> OSError:
    """A request that got no answer (or no credentials to sign it), as an `OSError`."""
    if isinstance(error, ConnectTimeoutError | ReadTimeoutError):
        return OSError(errno.ETIMEDOUT, "not answering in time", address)
    if isinstance(error, EndpointError | HTTPClientError):
        return OSError(errno.ECONNREFUSED, "unreachable", address)
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return OSError(errno.EACCES, "no credentials", address)
    return OSError(errno.EIO, type(error).__name__, address)
