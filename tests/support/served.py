"""The API in process over an in-memory broker (`tests/memory_broker.py`), with what it kept."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import aio_pika

from shared.messages import EVENT_TYPE, JobEvent, ResizeTask, message_properties
from shared.settings import Settings
from shared.topology import Topology
from tests.client import ApiClient
from tests.memory_broker import MemoryBroker
from tests.support.inspection import job_count, originals


@dataclass(frozen=True)
class Served:
    api: ApiClient
    settings: Settings
    broker: MemoryBroker

    @property
    def tasks(self) -> list[ResizeTask]:
        """The tasks waiting in the work queue, oldest first."""
        queue = Topology.from_settings(self.settings).work_queue
        return [ResizeTask.model_validate_json(body) for body in self.broker.bodies(queue)]

    async def report(self, event: JobEvent) -> None:
        """Publish `event` as a worker would, and wait until the API's consumers, and all they
        set off (live-stream notices, webhook tries), have run their course."""
        topology = Topology.from_settings(self.settings)
        properties = message_properties(str(event.job_id), EVENT_TYPE, "tests")
        message = aio_pika.Message(event.model_dump_json().encode(), **properties)
        self.broker.route(topology.events_exchange, event.routing_key, message, mandatory=True)
        await self.broker.settled()

    async def assert_nothing_kept(self) -> None:
        """No job row, no original, no upload left half-written, no task."""
        assert await job_count(self.settings) == 0
        assert originals(self.settings) == []
        assert list((self.settings.data_dir / "tmp").iterdir()) == []
        assert self.tasks == []


Serve = Callable[..., AbstractAsyncContextManager[Served]]
