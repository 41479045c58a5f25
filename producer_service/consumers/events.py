"""Applying workers' status events to the job store.

Every API replica consumes the one durable events queue, so each event is applied once by
some replica; the store's conditional updates make a repeated or late event harmless. What an
event changed then goes to each follower, wired once (`wiring.py`): the notice to every
replica's live streams (`feed.py`), and the first try of a webhook the change made due.
"""

import logging
from collections.abc import Awaitable, Callable, Sequence

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from producer_service.consumers.handling import read_body, store_down
from producer_service.db.store import JobChanged
from producer_service.errors import StoreUnavailable
from shared.log_context import about_job
from shared.messages import JobEvent
from shared.settle import Ack, settle
from shared.topology import Topology
from shared.tracing import Tracing

logger = logging.getLogger(__name__)

EVENT_PREFETCH = 32


class EventConsumer:
    def __init__(
        self,
        topology: Topology,
        apply: Callable[[JobEvent], Awaitable[JobChanged | None]],
        followers: Sequence[Callable[[JobChanged], Awaitable[None]]],
        tracing: Tracing,
    ) -> None:
        self._topology = topology
        self._apply = apply
        self._followers = followers
        self._tracing = tracing

    async def attach(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=EVENT_PREFETCH)
        # Declared, with its binding, with the rest of the topology (`declare_topology`).
        queue = await channel.get_queue(self._topology.events_queue)
        await queue.consume(self.on_message)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        event = await read_body(message, JobEvent, "event")
        if event is None:
            return
        with (
            about_job(event.job_id, event.attempt),
            self._tracing.consuming(
                "resize.apply_event",
                message.headers,
                **{
                    "job.id": str(event.job_id),
                    "job.attempt": event.attempt,
                    "job.event": event.kind,
                },
            ),
        ):
            await self._store_event(message, event)

    async def _store_event(self, message: AbstractIncomingMessage, event: JobEvent) -> None:
        try:
            changed = await self._apply(event)
        except StoreUnavailable:
            await settle(message, store_down(f"storing event {event.kind}"))
            return
        logger.info("event %s %s", event.kind, "applied" if changed else "stale, ignored")
        await settle(message, Ack())
        if changed is not None:
            for follow in self._followers:
                await follow(changed)
