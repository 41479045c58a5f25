"""Two API replicas on one PostgreSQL job store, with two workers: every job is seen by both."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import Settings
from tests.conftest import TEST_POSTGRES_URL
from tests.images import jpeg_bytes
from tests.support import running_api, running_worker, wait_for


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A database of the test's own on the test PostgreSQL server, dropped afterwards."""
    name = f"jobs_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(TEST_POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield TEST_POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    await admin.dispose()


async def test_two_api_replicas_and_two_workers_agree_on_every_job(
    broker_settings: Callable[..., Settings], postgres_url: str
) -> None:
    settings = broker_settings(database_url=postgres_url, worker_concurrency=2)
    variants = json.dumps([{"name": "thumb", "width": 80, "format": "webp"}])
    async with (
        running_api(settings) as first,
        running_api(settings) as second,
        running_worker(settings, name="worker-a"),
        running_worker(settings, name="worker-b"),
    ):

        async def submit(client: httpx.AsyncClient) -> str:
            response = await client.post(
                "/v1/jobs",
                files={"file": ("p.jpg", jpeg_bytes(), "image/jpeg")},
                data={"variants": variants},
            )
            assert response.status_code == 202
            return str(response.json()["id"])

        ids = await asyncio.gather(*(submit(c) for c in [first, second] * 5))

        async def all_succeeded() -> bool:
            for client in (first, second):
                for job_id in ids:
                    job = (await client.get(f"/v1/jobs/{job_id}")).json()
                    if job["status"] != "succeeded" or job["attempts"] != 1:
                        return False
            return True

        await wait_for(all_succeeded, within=60, what="every job to succeed on both replicas")
