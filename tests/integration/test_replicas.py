"""Two API replicas on one PostgreSQL job store, with two workers: every job is seen by both."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import Settings
from tests.client import ApiClient, Tally
from tests.conftest import TEST_POSTGRES_URL
from tests.images import jpeg_bytes
from tests.support import running_api, running_worker

THUMB = [{"name": "thumb", "width": 80, "format": "webp"}]


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
    async with (
        running_api(settings) as first,
        running_api(settings) as second,
        running_worker(settings, name="worker-a"),
        running_worker(settings, name="worker-b"),
    ):
        apis = [ApiClient(first), ApiClient(second)]
        ids = await asyncio.gather(*(api.submit(jpeg_bytes(), THUMB) for api in apis * 5))
        # Each replica sees every job, whichever took it, succeed on its first attempt.
        for api in apis:
            assert await api.tally(ids) == Tally(10, 10, 0, 0)
            assert {job["attempts"] for job in await api.jobs(ids)} == {1}
