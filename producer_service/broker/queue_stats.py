"""The task queues' figures as the broker sees them now: messages ready and consumers, for the
work queue (the interactive lane) and summed over the bulk lanes.

Each read opens a channel of its own for one passive `queue.declare`, whose answer the broker
computes on the spot; nothing is cached between reads (a robust channel's queue object would
hand back the count of its first declare). AMQP has no figure for unacknowledged messages:
the stats route takes those from the job store.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import AMQPError

from producer_service.errors import BrokerUnavailable


@dataclass(frozen=True)
class QueueFigures:
    ready: int
    consumers: int
    # Tasks waiting in every bulk lane together.
    bulk_ready: int = 0


class QueueInspector:
    def __init__(self, queue: str, timeout_seconds: float, bulk_queues: Sequence[str] = ()) -> None:
        self._queue = queue
        self._bulk_queues = list(bulk_queues)
        self._timeout = timeout_seconds
        self._connection: AbstractRobustConnection | None = None

    async def attach(self, connection: AbstractRobustConnection) -> None:
        self._connection = connection

    async def read(self) -> QueueFigures:
        connection = self._connection
        if connection is None or not connection.connected.is_set():
            raise BrokerUnavailable("The message broker is not reachable; try again shortly.")
        try:
            async with asyncio.timeout(self._timeout):
                channel = await connection.channel(publisher_confirms=False)
                async with channel:
                    underlay = await channel.get_underlay_channel()
                    declared = await underlay.queue_declare(self._queue, passive=True)
                    bulk_ready = 0
                    for name in self._bulk_queues:
                        lane = await underlay.queue_declare(name, passive=True)
                        bulk_ready += lane.message_count or 0
        except (TimeoutError, AMQPError, ConnectionError) as exc:
            raise BrokerUnavailable(
                f"The message broker did not answer for queue {self._queue}; try again shortly."
            ) from exc
        return QueueFigures(
            ready=declared.message_count or 0,
            consumers=declared.consumer_count or 0,
            bulk_ready=bulk_ready,
        )
