"""Taking completion webhook tries from `{q}.webhooks`, on a channel of its own,
WEBHOOK_CONCURRENCY at a time (its prefetch), so a slow target holds at most that many tries of
this replica for WEBHOOK_TIMEOUT_SECONDS each, and never the events consumer nor a submit.
Each try is settled through `shared.settle`: an `Ack` when it is over, a `Forward` of the next
try to its delay tier (nacked with requeue if the broker does not take it, so this try is made
again rather than lost), a `Requeue` after a pause when the job store is down.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from producer_service.broker.webhooks import WebhookPublisher
from producer_service.consumers.handling import read_body, store_down
from producer_service.errors import StoreUnavailable
from shared.log_context import about_job
from shared.messages import WebhookDelivery
from shared.settle import Outcome, settle
from shared.topology import Topology
from shared.tracing import Tracing


class WebhookConsumer:
    def __init__(
        self,
        topology: Topology,
        prefetch: int,
        attempt: Callable[[WebhookDelivery], Awaitable[Outcome]],
        publisher: WebhookPublisher,
        *,
        drain_seconds: float,
        tracing: Tracing,
    ) -> None:
        """`attempt` makes one try; `drain_seconds` is how long `close` lets tries under way
        finish."""
        self._topology = topology
        self._prefetch = prefetch
        self._attempt = attempt
        self._publisher = publisher
        self._drain = drain_seconds
        self._tracing = tracing
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._under_way: set[asyncio.Task[object]] = set()

    async def attach(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        # Declared by the webhook publisher (`Topology.webhook_queues`).
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
        with (
            about_job(delivery.job_id),
            self._tracing.consuming(
                "webhook.try",
                message.headers,
                **{"job.id": str(delivery.job_id), "webhook.attempt": delivery.attempt},
            ),
        ):
            outcome: Outcome
            try:
                outcome = await self._attempt(delivery)
            except StoreUnavailable:
                outcome = store_down(f"webhook try {delivery.attempt}")
            await settle(message, outcome, self._publisher.republish)
