"""What a test reads (and sets up) behind the API's back: the store's rows, storage's files,
raw HTTP, the keys and tokens of two tenants, and a job a dead API left unconfirmed."""

import asyncio
import dataclasses
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from producer_service.callers import Caller, KeyRing, owner_id
from producer_service.db.database import open_database
from producer_service.db.store import JobStore
from producer_service.records import JobRecord
from shared import layout
from shared.messages import utc_now
from shared.settings import Settings
from shared.storage import open_storage
from shared.variants import DEFAULT_VARIANTS


def output_path(settings: Settings, key: str) -> Path:
    return layout.path_of(settings.data_dir, key)


async def job_count(settings: Settings) -> int:
    """Rows in the job store."""
    database = open_database(settings.job_store_url)
    try:
        return await database.run(
            lambda session: int(session.execute(sa.text("SELECT count(*) FROM jobs")).scalar_one()),
            write=False,
        )
    finally:
        await database.dispose()


async def stored_keys(settings: Settings, prefix: str) -> list[str]:
    """The keys under `prefix` in the storage the settings name (DATA_DIR or a bucket)."""
    async with open_storage(settings) as storage:
        return await storage.list(prefix)


def originals(settings: Settings) -> list[Path]:
    """The uploads kept in storage."""
    folder = settings.data_dir / "originals"
    return list(folder.iterdir()) if folder.exists() else []


def expired_token(key: str) -> str:
    """A browser token of `key` that expired a while ago: minted by a key ring whose clock is
    an hour behind, as the API's own ring would have minted it then."""
    ring = KeyRing([key], clock=lambda: time.time() - 3600)
    token, _ = ring.mint(Caller(owner_id(key)), 900, None)
    return token


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, dict[str, str]]:
    """One request on an open connection: the answer's status and headers (body read too)."""
    writer.write(request)
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in head[1:] if line)
    await reader.readexactly(int(headers.get("content-length", "0")))
    return int(head[0].split()[1]), headers


def multipart_request(path: str, image: bytes) -> bytes:
    boundary = "boundary42"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: api\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    )
    return head.encode() + body


async def add_stranded_job(settings: Settings, original: bytes, **fields: Any) -> uuid.UUID:
    """A job as an API that died before its broker's confirm leaves it: its original stored,
    its row unpublished and an hour old (`fields` go to `JobRecord.new`); its id."""
    job_id = uuid.uuid4()
    path = layout.path_of(settings.data_dir, layout.original_key(job_id))
    path.parent.mkdir(parents=True)
    path.write_bytes(original)
    record = JobRecord.new(job_id, DEFAULT_VARIANTS, layout.original_key(job_id), **fields)
    an_hour_ago = utc_now() - timedelta(hours=1)
    store = JobStore.from_settings(settings)
    try:
        await store.migrate()
        await store.add(dataclasses.replace(record, created_at=an_hour_ago, updated_at=an_hour_ago))
    finally:
        await store.close()
    return job_id
