"""Applying workers' status events to the job store.

Every API replica consumes the one durable events queue, so each event is applied once by
some replica; the store's conditional updates make a repeated or late event harmless. An event
that changed the job is then announced to every replica's live streams (`feed.py`).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from pydantic import BaseModel, ValidationError

from producer_service.errors import StoreUnavailable
from shared.log_context import about_job
from shared.messages import JobEvent
from shared.topology import Topology

logger = logging.getLogger(__name__)

EVENT_PREFETCH = 32
# A store that fails is given a moment before the event is handed back, not a hot loop.
STORE_FAILURE_PAUSE_SECONDS = 1.0


class EventConsumer:
    def __init__(
        self,
        topology: Topology,
        apply: Callable[[JobEvent], Awaitable[bool]],
        announce: Callable[[UUID], Awaitable[None]],
    ) -> None:
        self._topology = topology
        self._apply = apply
        self._announce = announce

    async def attach(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=EVENT_PREFETCH)
        exchange = await channel.declare_exchange(
            self._topology.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        # Declared with its arguments (QUEUE_TYPE) by the topology; a declare without them
        # would be refused by a quorum queue.
        queue = await channel.get_queue(self._topology.events_queue)
        await queue.bind(exchange, "#")
        await queue.consume(self.on_message)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        event = await read_body(message, JobEvent, "event")
        if event is None:
            return
        with about_job(event.job_id, event.attempt):
            await self._store_event(message, event)

    async def _store_event(self, message: AbstractIncomingMessage, event: JobEvent) -> None:
        try:
            applied = await self._apply(event)
        except StoreUnavailable:
            await hand_back(message, f"storing event {event.kind}")
            return
        logger.info("event %s %s", event.kind, "applied" if applied else "stale, ignored")
        await settle(message, ack=True)
        if applied:
            await self._announce(event.job_id)


Body = TypeVar("Body", bound=BaseModel)


async def read_body(message: AbstractIncomingMessage, model: type[Body], what: str) -> Body | None:
    """The message's body as `model`; None, the message dropped, when it is not one (a
    message that can never be read must not come back)."""
    try:
        return model.model_validate_json(message.body)
    except ValidationError as exc:
        logger.error("dropping an unreadable %s %s: %s", what, message.message_id, exc)
        await settle(message, ack=False, requeue=False)
        return None


async def hand_back(message: AbstractIncomingMessage, doing: str) -> None:
    """The job store failed while `doing` what the message asks: give it a moment, then
    return the message to the broker to be delivered again."""
    logger.warning("%s failed: the job store is not answering; retrying", doing)
    await asyncio.sleep(STORE_FAILURE_PAUSE_SECONDS)
    await settle(message, ack=False, requeue=True)


async def settle(message: AbstractIncomingMessage, *, ack: bool, requeue: bool = False) -> None:
    try:
        if ack:
            await message.ack()
        else:
            await message.nack(requeue=requeue)
    except CONNECTION_EXCEPTIONS as exc:
        # The channel died; the broker redelivers the message, and an event applied twice is
        # harmless (a webhook try made twice is what receivers dedupe on webhook-id for).
        logger.warning("could not settle message %s: %r", message.message_id, exc)
