"""The outbox relay: a job whose API died between writing its row and the broker's confirm is
published later instead of staying `queued` forever.

A submit writes the row with `published = false` and sets it once the broker confirms. Rows still
unpublished after STRANDED_AFTER (far beyond any live submit, which gives up after
PUBLISH_TIMEOUT_SECONDS) belong to a submit that died; this relay publishes them, at start-up and
then every RELAY_INTERVAL_SECONDS. A task published twice is harmless: workers skip finished jobs.
"""

import asyncio
import logging
from datetime import timedelta

from producer_service.broker.publisher import Publisher
from producer_service.errors import ServiceUnavailable
from producer_service.jobs import JobService

logger = logging.getLogger(__name__)

STRANDED_AFTER = timedelta(seconds=60)
RELAY_INTERVAL_SECONDS = 10.0
NOT_CONNECTED_PAUSE_SECONDS = 1.0


class OutboxRelay:
    def __init__(self, jobs: JobService, publisher: Publisher) -> None:
        self._jobs = jobs
        self._publisher = publisher
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            if not self._publisher.is_ready:
                await asyncio.sleep(NOT_CONNECTED_PAUSE_SECONDS)
                continue
            try:
                await self._jobs.publish_stranded(STRANDED_AFTER)
            except ServiceUnavailable as exc:
                logger.warning("outbox relay pass failed, will try again: %r", exc)
            await asyncio.sleep(RELAY_INTERVAL_SECONDS)
