"""Live change notices between API replicas, for the job event streams (SSE).

Whichever replica applies a worker's event to the store announces "job X changed" on the
`{q}.changes` exchange; every replica binds a queue of its own (exclusive, gone with its
connection) and wakes the streams watching X, which then read the job from the store. A notice
is only a hint: it is not persistent and nothing waits for it, and a stream re-reads the store
every few seconds anyway, so one lost while the broker was away delays an update, never loses it.
"""

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from uuid import UUID

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from producer_service.db.store import JobChanged
from shared.topology import Topology

logger = logging.getLogger(__name__)

NOTICE_KEY = "job.changed"


class Watch:
    """The notices of one job, for one stream."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def notify(self) -> None:
        self._changed.set()

    async def wait(self, at_most: float) -> bool:
        """Return on the next notice (or one that came since the last wait), True, or after
        `at_most` seconds without one, False."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                await self._changed.wait()
        notified = self._changed.is_set()
        self._changed.clear()
        return notified


class ChangeFeed:
    def __init__(self, topology: Topology) -> None:
        self._topology = topology
        self._exchange: AbstractExchange | None = None
        self._watches: defaultdict[UUID, set[Watch]] = defaultdict(set)

    async def attach(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel()
        # The exchange is declared with the rest of the topology; the queue is this replica's.
        exchange = await channel.get_exchange(self._topology.changes_exchange)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, NOTICE_KEY)
        await queue.consume(self._on_notice, no_ack=True)
        self._exchange = exchange

    async def follow(self, changed: JobChanged) -> None:
        """A change applied to the store, announced."""
        await self.announce(changed.job_id)

    async def announce(self, job_id: UUID) -> None:
        """Tell every replica's streams that the job changed in the store."""
        if self._exchange is None:
            return
        notice = aio_pika.Message(job_id.bytes, delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT)
        try:
            await self._exchange.publish(notice, routing_key=NOTICE_KEY)
        except CONNECTION_EXCEPTIONS as exc:
            logger.debug("change notice not sent: %r", exc)

    @contextlib.contextmanager
    def watch(self, job_id: UUID) -> Iterator[Watch]:
        watch = Watch()
        self._watches[job_id].add(watch)
        try:
            yield watch
        finally:
            self._watches[job_id].discard(watch)
            if not self._watches[job_id]:
                del self._watches[job_id]

    async def _on_notice(self, message: AbstractIncomingMessage) -> None:
        try:
            job_id = UUID(bytes=message.body)
        except ValueError:
            return
        for watch in self._watches.get(job_id, ()):
            watch.notify()
