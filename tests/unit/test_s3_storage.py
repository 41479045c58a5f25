"""What only the S3 backend has to get right (the shared contract is in test_storage.py): where
keys land in the bucket, large deletes, and S3's failures as the protocol's `OSError`s, each
with a reason and never a credential, in seconds rather than a hang."""

import asyncio
import errno
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from shared.storage import S3Storage, Storage
from shared.storage import s3 as s3_module
from tests.s3 import SECRET_ACCESS_KEY, Bucket
from tests.support import free_port, make_settings


@asynccontextmanager
async def s3_storage(tmp_path: Path, bucket: Bucket, **overrides: Any) -> AsyncIterator[S3Storage]:
    async with S3Storage.open(make_settings(tmp_path, **bucket.settings(**overrides))) as storage:
        yield storage


async def consume(storage: Storage, key: str) -> None:
    async for _ in storage.stream(key):
        pass


async def open_local_file(storage: Storage, key: str) -> None:
    async with storage.local_file(key):
        pass


# Every call of the protocol, each on a key that would exist in a working bucket.
CALLS: dict[str, Callable[[Storage], Awaitable[object]]] = {
    "put": lambda storage: storage.put("outputs/a/x.webp", b"x"),
    "read": lambda storage: storage.read("originals/a"),
    "stream": lambda storage: consume(storage, "originals/a"),
    "size": lambda storage: storage.size("originals/a"),
    "exists": lambda storage: storage.exists("originals/a"),
    "delete": lambda storage: storage.delete("originals/a"),
    "delete_prefix": lambda storage: storage.delete_prefix("outputs/a/"),
    "list": lambda storage: storage.list("outputs/"),
    "local_file": lambda storage: open_local_file(storage, "originals/a"),
    "check_writable": lambda storage: storage.check_writable(),
}


async def test_keys_live_under_the_urls_prefix_and_nothing_else_is_touched(
    s3_bucket: Bucket, tmp_path: Path
) -> None:
    async with s3_storage(tmp_path, s3_bucket) as storage:
        await storage.put("originals/a", b"1")
        await storage.put("outputs/a/x.webp", b"2")
        await storage.check_writable()  # its probe object goes again
    async with s3_bucket.server.client() as client:
        await client.put_object(Bucket=s3_bucket.name, Key="someone-elses/file", Body=b"3")
    assert sorted(await s3_bucket.keys()) == [
        "images/originals/a",
        "images/outputs/a/x.webp",
        "someone-elses/file",
    ]
    async with s3_storage(tmp_path, s3_bucket) as storage:
        assert await storage.list("") == ["originals/a", "outputs/a/x.webp"]


async def test_listing_and_deleting_a_prefix_take_every_page_in_batches(
    s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_module, "LIST_PAGE", 2)  # S3's real limits are 1000 a call
    monkeypatch.setattr(s3_module, "DELETE_BATCH", 3)
    keys = [f"outputs/a/{n}.png" for n in range(7)]
    batches: list[int] = []
    async with s3_bucket.server.client() as client:
        client.meta.events.register(
            "provide-client-params.s3.DeleteObjects",
            lambda params, **_: batches.append(len(params["Delete"]["Objects"])),
        )
        storage = S3Storage(client, s3_bucket.name, "images/")
        for key in [*keys, "outputs/b/keep.png"]:
            await storage.put(key, b"1")
        assert await storage.list("outputs/a/") == sorted(keys)
        await storage.delete_prefix("outputs/a/")
        assert await storage.list("outputs/") == ["outputs/b/keep.png"]
    assert batches == [3, 3, 1]


async def outcomes(storage: Storage, calls: Iterable[str]) -> dict[str, str]:
    """What each call raised, as `ERRNO reason`, to compare all of them at once."""
    seen = {}
    for name in calls:
        try:
            await CALLS[name](storage)
        except OSError as exc:
            leak = " and the secret" if SECRET_ACCESS_KEY in f"{exc} {exc!r}" else ""
            seen[name] = f"{errno.errorcode[exc.errno or 0]} {exc.strerror}{leak}"
        else:
            seen[name] = "no error"
    return seen


async def test_a_missing_bucket_is_an_outage_for_every_call_not_a_missing_key(
    s3_bucket: Bucket, tmp_path: Path
) -> None:
    await s3_bucket.remove()
    async with s3_storage(tmp_path, s3_bucket) as storage:
        seen = await outcomes(storage, CALLS)
    # `exists` and `size` too: S3 answers their HEAD with a bare 404 either way.
    assert seen == dict.fromkeys(CALLS, "ENOENT bucket missing")


async def test_an_endpoint_that_refuses_connections_is_unreachable_within_seconds(
    s3_bucket: Bucket, tmp_path: Path
) -> None:
    nothing = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    async with s3_storage(tmp_path, s3_bucket, s3_endpoint_url=nothing) as storage:
        seen = await outcomes(storage, ["put", "exists", "stream"])
    assert seen == dict.fromkeys(["put", "exists", "stream"], "ECONNREFUSED unreachable")
    assert time.monotonic() - started < 5  # three calls, each tried twice


async def test_an_endpoint_that_never_answers_times_out(
    s3_bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_module, "READ_TIMEOUT_SECONDS", 0.3)  # the real one is 5 s

    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # takes the request, never answers

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    silent = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        async with s3_storage(tmp_path, s3_bucket, s3_endpoint_url=silent) as storage:
            started = time.monotonic()
            with pytest.raises(OSError, match="not answering in time") as failure:
                await storage.put("outputs/a/x.webp", b"x")
            assert time.monotonic() - started < 3
        for writer in held:
            writer.close()
            await writer.wait_closed()
    assert failure.value.errno == errno.ETIMEDOUT
    assert len(held) == s3_module.MAX_ATTEMPTS
