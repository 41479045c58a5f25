"""Two API replicas on one PostgreSQL job store, with two workers: every job is seen by both."""

import asyncio
from collections.abc import Callable

from shared.settings import Settings
from tests.client import ApiClient, Tally
from tests.images import jpeg_bytes
from tests.support import running_api, running_worker

THUMB = [{"name": "thumb", "width": 80, "format": "webp"}]


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
