"""Publishing completion webhook tries: `WebhookPublisher` declares the API's webhook queues
(`Topology.webhook_queues`) and publishes a try, persistent and confirmed, to `{q}.webhooks`
or, after a failure, to the delay tier of its backoff with a jittered expiration of its own
(`consumers.webhooks` takes them).
"""

import asyncio
import logging

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractRobustConnection,
)

from producer_service.errors import BrokerUnavailable
from shared.declare import declare_queues
from shared.messages import WEBHOOK_TYPE, WebhookDelivery, message_properties
from shared.settle import BROKER_ERRORS, Forward
from shared.topology import Topology

logger = logging.getLogger(__name__)

APP_ID = "producer_service"


class WebhookPublisher:
    def __init__(self, topology: Topology, timeout_seconds: float) -> None:
        self._topology = topology
        self._timeout = timeout_seconds
        self._channel: AbstractChannel | None = None

    async def attach(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare_queues(connection, channel, self._topology.webhook_queues())
        self._channel = channel

    @property
    def is_ready(self) -> bool:
        return self._channel is not None and not self._channel.is_closed

    async def publish(self, delivery: WebhookDelivery) -> None:
        """A webhook's first try, to `{q}.webhooks`; `BrokerUnavailable` if the broker does
        not take it."""
        try:
            await self.republish(Forward(delivery, self._topology.webhook_queue))
        except BROKER_ERRORS as exc:
            raise BrokerUnavailable(f"The broker did not take a webhook try: {exc!r}") from exc

    async def republish(self, forward: Forward[WebhookDelivery]) -> None:
        """A try on the forward's queue (`shared.settle.Republish`)."""
        if self._channel is None or self._channel.is_closed:
            raise ConnectionError("no channel to the broker")
        delivery = forward.body
        message = aio_pika.Message(
            delivery.model_dump_json().encode(),
            **message_properties(delivery.webhook_id, WEBHOOK_TYPE, APP_ID, forward.expiration_ms),
        )
        async with asyncio.timeout(self._timeout):
            await self._channel.default_exchange.publish(message, routing_key=forward.queue)
