"""The broker side of completion webhooks: publishing tries, and consuming them.

`WebhookPublisher` declares the API's webhook queues (`Topology.webhook_queues`) and publishes
a try, persistent and confirmed, to `{q}.webhooks` or, after a failure, to the delay tier of
its backoff with a jittered expiration of its own. `WebhookConsumer` takes tries from
`{q}.webhooks` on a channel of its own, WEBHOOK_CONCURRENCY at a time (its prefetch), so a
slow target holds at most that many tries of this replica for WEBHOOK_TIMEOUT_SECONDS each,
and never the events consumer nor a submit. Each try is settled in one place:

    Settled   ack
    TryLater  publish the next try to its delay tier, then ack; if the broker does not take
              it, nack with requeue, so this try is made again rather than lost
    store down: pause, then nack with requeue
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, DeliveryError, PublishError

from producer_service.broker.events import hand_back, read_body, settle
from producer_service.errors import BrokerUnavailable, ServiceUnavailable, StoreUnavailable
from producer_service.webhooks.deliveries import Outcome, Settled, TryLater
from shared.log_context import about_job
from shared.messages import WEBHOOK_TYPE, WebhookDelivery, message_properties
from shared.topology import Topology, declare_queues, jittered

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

    async def publish(self, delivery: WebhookDelivery, delay_ms: int | None = None) -> None:
        if self._channel is None or self._channel.is_closed:
            raise BrokerUnavailable("The message broker is not reachable.")
        queue = self._topology.webhook_queue
        expiration = None
        if delay_ms is not None:
            queue, expiration = self._topology.webhook_delay_queue(delay_ms), jittered(delay_ms)
        message = aio_pika.Message(
            delivery.model_dump_json().encode(),
            **message_properties(delivery.webhook_id, WEBHOOK_TYPE, APP_ID, expiration),
        )
        try:
            async with asyncio.timeout(self._timeout):
                await self._channel.default_exchange.publish(message, routing_key=queue)
        except (TimeoutError, PublishError, DeliveryError, *CONNECTION_EXCEPTIONS) as exc:
            raise BrokerUnavailable(f"The broker did not take a webhook try: {exc!r}") from exc


class WebhookConsumer:
    def __init__(
        self,
        topology: Topology,
        prefetch: int,
        attempt: Callable[[WebhookDelivery], Awaitable[Outcome]],
        publisher: WebhookPublisher,
        drain_seconds: float,
    ) -> None:
        """`attempt` makes one try; `drain_seconds` is how long `close` lets tries under way
        finish."""
        self._topology = topology
        self._prefetch = prefetch
        self._attempt = attempt
        self._publisher = publisher
        self._drain = drain_seconds
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._under_way: set[asyncio.Task[object]] = set()

    async def attach(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        # Declared with its arguments by the webhook publisher, attached first.
        self._queue = await channel.get_queue(self._topology.webhook_queue)
        self._tag = await self._queue.consume(self.on_message)

    async def close(self) -> None:
        """Take no more tries, and let those under way finish (each is bounded by the
        sender's timeout); any still unsettled then goes back to the broker with the link."""
        if self._queue is not None and self._tag is not None:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await self._queue.cancel(self._tag)
        if self._under_way:
            await asyncio.wait(self._under_way, timeout=self._drain)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._under_way.add(task)
        try:
            await self._handle(message)
        finally:
            self._under_way.discard(task)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        delivery = await read_body(message, WebhookDelivery, "webhook try")
        if delivery is None:
            return
        with about_job(delivery.job_id):
            try:
                outcome = await self._attempt(delivery)
            except StoreUnavailable:
                await hand_back(message, f"webhook try {delivery.attempt}")
                return
            await self._settle(message, outcome)

    async def _settle(self, message: AbstractIncomingMessage, outcome: Outcome) -> None:
        match outcome:
            case Settled():
                await settle(message, ack=True)
            case TryLater(delivery, delay_ms):
                try:
                    await self._publisher.publish(delivery, delay_ms)
                except ServiceUnavailable as exc:
                    logger.warning("webhook try %d not queued: %r", delivery.attempt, exc)
                    await settle(message, ack=False, requeue=True)
                else:
                    await settle(message, ack=True)
