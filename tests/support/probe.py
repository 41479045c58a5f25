"""A test's own view of the broker: publish tasks as the API would, read events and queues."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection

from shared import layout
from shared.declare import declare_topology
from shared.messages import TASK_TYPE, EventKind, JobEvent, ResizeTask, message_properties
from shared.settings import Settings
from shared.topology import Topology
from shared.variants import Variant

FINAL_EVENTS = (EventKind.SUCCEEDED, EventKind.FAILED, EventKind.CANCELLED)


class BrokerProbe:
    """A test's own view of the broker: publish tasks as the API would, read events and queues."""

    def __init__(
        self, settings: Settings, connection: AbstractConnection, channel: AbstractChannel
    ):
        self.settings = settings
        self.topology = Topology.from_settings(settings)
        self.connection = connection
        self.channel = channel

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator["BrokerProbe"]:
        connection = await aio_pika.connect(settings.amqp_url, timeout=5)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            await declare_topology(connection, channel, Topology.from_settings(settings))
            yield cls(settings, connection, channel)

    async def submit_task(
        self, image: bytes, variants: list[Variant], job_id: uuid.UUID | None = None, **fields: Any
    ) -> ResizeTask:
        """Store an original and publish its task the way the API does."""
        job_id = job_id or uuid.uuid4()
        key = layout.original_key(job_id)
        path = layout.path_of(self.settings.data_dir, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image)
        task = ResizeTask(job_id=job_id, source_key=key, variants=variants, **fields)
        await self.publish(task.model_dump_json().encode(), str(job_id))
        return task

    async def publish(self, body: bytes, message_id: str, queue: str | None = None) -> None:
        await self.channel.default_exchange.publish(
            aio_pika.Message(body, **message_properties(message_id, TASK_TYPE, "tests")),
            routing_key=queue or self.topology.work_queue,
        )

    async def events(self, count: int, within: float = 30) -> list[JobEvent]:
        """The next `count` status events, in the order the broker delivered them."""
        queue = await self.channel.get_queue(self.topology.events_queue)
        received: list[JobEvent] = []
        async with asyncio.timeout(within), queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                received.append(JobEvent.model_validate_json(message.body))
                if len(received) == count:
                    break
        return received

    async def final_event(self, job_id: uuid.UUID, within: float = 30) -> JobEvent:
        """Events up to the one that ends `job_id` (succeeded or failed); that one."""
        async with asyncio.timeout(within):
            while True:
                (event,) = await self.events(1, within)
                if event.job_id == job_id and event.kind in FINAL_EVENTS:
                    return event

    async def ready_messages(self, queue: str) -> int:
        declared = await self.channel.declare_queue(queue, passive=True)
        count = declared.declaration_result.message_count
        assert count is not None
        return count
