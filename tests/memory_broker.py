"""A broker in this process that delivers: the part of aio-pika the API's broker code uses
(channels, the default and topic exchanges, durable and exclusive queues, consumers with
prefetch, confirms), so the API runs whole without RabbitMQ: a task it publishes lands in the
work queue, and an event a test publishes as a worker would is applied by the real events
consumer, announced to the live streams, and may queue a webhook the real webhook consumer
tries. Queue arguments work as RabbitMQ reads them: `x-max-length` with `reject-publish`
nacks the publish, `x-message-ttl` (or a message's expiration) dead-letters to
`x-dead-letter-routing-key`, a declare with other arguments is refused.

What it leaves out: persistence, several connections' ordering subtleties, and everything the
API never asks for. The real-broker tests stay; this is for what happens after a publish.
"""

import asyncio
import itertools
import re
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aio_pika
from aiormq.exceptions import ChannelNotFoundEntity, ChannelPreconditionFailed, DeliveryError
from pamqp.commands import Basic

Callback = Callable[[Any], Awaitable[None]]


@dataclass
class Declared:
    """What a queue declare answers."""

    message_count: int
    consumer_count: int


@dataclass
class Consumer:
    callback: Callback
    channel: "MemoryChannel"
    no_ack: bool
    tag: str = field(default_factory=lambda: f"ctag-{uuid.uuid4().hex[:8]}")


class MemoryQueue:
    def __init__(self, broker: "MemoryBroker", name: str, arguments: dict[str, Any]) -> None:
        self.broker = broker
        self.name = name
        self.arguments = arguments
        self.ready: deque[aio_pika.Message] = deque()
        self.consumers: list[Consumer] = []
        self._turn = itertools.count()

    def put(self, message: aio_pika.Message) -> None:
        ttl = _ttl_seconds(message, self.arguments)
        if ttl is not None:
            self._expire_after(message, ttl)
        self.ready.append(message)
        self.broker.wake(self)

    def _expire_after(self, message: aio_pika.Message, seconds: float) -> None:
        def expire() -> None:
            if message in self.ready:
                self.ready.remove(message)
                self.dead_letter(message)

        asyncio.get_running_loop().call_later(seconds, expire)

    def dead_letter(self, message: aio_pika.Message) -> None:
        target = self.arguments.get("x-dead-letter-routing-key")
        if target is not None and target in self.broker.queues:
            # RabbitMQ drops a dead-lettered message's own expiration: it must not expire again.
            self.broker.queues[target].put(_copy(message, expiration=False))

    def next_consumer(self) -> Consumer | None:
        """The consumer whose turn it is and whose channel has room under its prefetch."""
        if not self.consumers:
            return None
        start = next(self._turn) % len(self.consumers)
        for consumer in self.consumers[start:] + self.consumers[:start]:
            if consumer.no_ack or consumer.channel.has_room():
                return consumer
        return None


class MemoryIncomingMessage:
    """A delivery as a consumer callback sees it."""

    def __init__(self, queue: MemoryQueue, message: aio_pika.Message, consumer: Consumer) -> None:
        self._queue = queue
        self._message = message
        self._channel = consumer.channel
        self.body = message.body
        self.message_id = message.message_id
        self.headers = message.headers
        self.type = message.type
        self.redelivered = bool(message.headers.get("x-memory-redelivered"))
        self.settled: str | None = None
        if not consumer.no_ack:
            self._channel.unacked += 1

    async def ack(self) -> None:
        self._settle("ack")

    async def nack(self, requeue: bool = True) -> None:
        self._settle("nack")
        if requeue:
            self._message.headers["x-memory-redelivered"] = True
            self._queue.ready.appendleft(self._message)
            self._queue.broker.wake(self._queue)
        else:
            self._queue.dead_letter(self._message)

    async def reject(self, requeue: bool = False) -> None:
        await self.nack(requeue=requeue)

    def _settle(self, how: str) -> None:
        assert self.settled is None, f"settled twice: {self.settled}, then {how}"
        self.settled = how
        self._channel.unacked -= 1
        for queue in self._queue.broker.queues.values():
            self._queue.broker.wake(queue)


class MemoryExchange:
    def __init__(self, channel: "MemoryChannel", name: str) -> None:
        self._channel = channel
        self.name = name

    async def publish(
        self, message: aio_pika.Message, routing_key: str, *, mandatory: bool = True, **_: Any
    ) -> None:
        self._channel.check_open()
        self._channel.broker.route(self.name, routing_key, message, mandatory)


class MemoryQueueHandle:
    """A queue as a channel declared it."""

    def __init__(self, channel: "MemoryChannel", queue: MemoryQueue) -> None:
        self._channel = channel
        self._queue = queue
        self.name = queue.name
        self.declaration_result = Declared(len(queue.ready), len(queue.consumers))

    async def bind(self, exchange: Any, routing_key: str = "#", **_: Any) -> None:
        name = exchange if isinstance(exchange, str) else exchange.name
        self._channel.broker.bindings.append((name, routing_key, self.name))

    async def consume(self, callback: Callback, no_ack: bool = False, **_: Any) -> str:
        consumer = Consumer(callback, self._channel, no_ack)
        self._queue.consumers.append(consumer)
        self._channel.broker.wake(self._queue)
        return consumer.tag

    async def cancel(self, tag: str, **_: Any) -> None:
        self._queue.consumers = [c for c in self._queue.consumers if c.tag != tag]


class MemoryUnderlay:
    """The low-level channel, for a passive declare's figures."""

    def __init__(self, broker: "MemoryBroker") -> None:
        self._broker = broker

    async def queue_declare(self, name: str, passive: bool = True, **_: Any) -> Declared:
        return self._broker.declared(name)


class MemoryChannel:
    def __init__(self, connection: "MemoryConnection") -> None:
        self.connection = connection
        self.broker = connection.broker
        self.prefetch = 0
        self.unacked = 0
        self._closed = False
        self.default_exchange = MemoryExchange(self, "")

    def __await__(self) -> Any:
        async def opened() -> "MemoryChannel":
            self.check_open()
            return self

        return opened().__await__()

    async def __aenter__(self) -> "MemoryChannel":
        self.check_open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def is_closed(self) -> bool:
        return self._closed or not self.connection.connected.is_set()

    def check_open(self) -> None:
        if self.is_closed:
            raise ConnectionError("the in-memory broker is down")

    def has_room(self) -> bool:
        return self.prefetch == 0 or self.unacked < self.prefetch

    async def close(self) -> None:
        self._closed = True
        for queue in self.broker.queues.values():
            queue.consumers = [c for c in queue.consumers if c.channel is not self]

    async def set_qos(self, prefetch_count: int = 0, **_: Any) -> None:
        self.prefetch = prefetch_count

    async def declare_exchange(self, name: str, *_: Any, **__: Any) -> MemoryExchange:
        self.check_open()
        self.broker.exchanges.add(name)
        return MemoryExchange(self, name)

    async def get_exchange(self, name: str, ensure: bool = True) -> MemoryExchange:
        return MemoryExchange(self, name)

    async def exchange_delete(self, name: str, **_: Any) -> None:
        self.broker.exchanges.discard(name)

    async def declare_queue(
        self,
        name: str = "",
        *,
        arguments: dict[str, Any] | None = None,
        passive: bool = False,
        **_: Any,
    ) -> MemoryQueueHandle:
        self.check_open()
        queue = self.broker.queues.get(name)
        if passive:
            if queue is None:
                raise ChannelNotFoundEntity(f"no queue {name!r}")
            return MemoryQueueHandle(self, queue)
        if queue is None:
            name = name or f"amq.gen-{uuid.uuid4().hex}"
            queue = self.broker.queues[name] = MemoryQueue(self.broker, name, arguments or {})
        elif queue.arguments != (arguments or {}):
            raise ChannelPreconditionFailed(f"queue {name!r} exists with other arguments")
        return MemoryQueueHandle(self, queue)

    async def get_queue(self, name: str, ensure: bool = True) -> MemoryQueueHandle:
        return await self.declare_queue(name, passive=True)

    async def queue_delete(
        self, name: str, *, if_unused: bool = False, if_empty: bool = False, **_: Any
    ) -> None:
        queue = self.broker.queues.get(name)
        if queue is None:
            return
        if (if_unused and queue.consumers) or (if_empty and queue.ready):
            raise ChannelPreconditionFailed(f"queue {name!r} is in use or holds messages")
        del self.broker.queues[name]

    async def get_underlay_channel(self) -> MemoryUnderlay:
        return MemoryUnderlay(self.broker)


class MemoryConnection:
    def __init__(self, broker: "MemoryBroker") -> None:
        self.broker = broker
        self.connected = asyncio.Event()
        self.connected.set()

    def channel(self, *_: Any, **__: Any) -> MemoryChannel:
        return MemoryChannel(self)

    async def close(self) -> None:
        self.connected.clear()


class MemoryLink:
    """Sets a connection to the in-memory broker up with the API's hooks, as `BrokerLink` does
    with RabbitMQ."""

    def __init__(self, broker: "MemoryBroker", hooks: Sequence[Callable[[Any], Awaitable[None]]]):
        self._broker = broker
        self._hooks = hooks
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._set_up())

    async def _set_up(self) -> None:
        connection = self._broker.connect()
        for hook in self._hooks:
            await hook(connection)

    async def close(self) -> None:
        if self._task is not None:
            await self._task
        for connection in self._broker.connections:
            await connection.close()


class MemoryBroker:
    def __init__(self) -> None:
        self.queues: dict[str, MemoryQueue] = {}
        self.exchanges: set[str] = set()
        self.bindings: list[tuple[str, str, str]] = []
        self.connections: list[MemoryConnection] = []
        self._deliveries: set[asyncio.Task[None]] = set()

    def link(self, hooks: Sequence[Callable[[Any], Awaitable[None]]]) -> MemoryLink:
        return MemoryLink(self, hooks)

    def connect(self) -> MemoryConnection:
        connection = MemoryConnection(self)
        self.connections.append(connection)
        return connection

    def go_down(self) -> None:
        """Every connection lost (and not coming back)."""
        for connection in self.connections:
            connection.connected.clear()

    def declared(self, name: str) -> Declared:
        queue = self.queues.get(name)
        if queue is None:
            raise ChannelNotFoundEntity(f"no queue {name!r}")
        return Declared(len(queue.ready), len(queue.consumers))

    def bodies(self, queue: str) -> list[bytes]:
        """The ready messages of `queue`, oldest first."""
        return [message.body for message in self.queues[queue].ready]

    def route(self, exchange: str, key: str, message: aio_pika.Message, mandatory: bool) -> None:
        if exchange == "":
            targets = [key] if key in self.queues else []
        else:
            targets = [
                q for (e, pattern, q) in self.bindings if e == exchange and _matches(pattern, key)
            ]
        if not targets and mandatory:
            raise DeliveryError(None, Basic.Return(312, "NO_ROUTE", exchange, key))
        for name in targets:
            queue = self.queues[name]
            limit = queue.arguments.get("x-max-length")
            overflow = queue.arguments.get("x-overflow")
            if limit is not None and overflow == "reject-publish" and len(queue.ready) >= limit:
                raise DeliveryError(None, Basic.Nack(delivery_tag=1))
            queue.put(_copy(message))

    def wake(self, queue: MemoryQueue) -> None:
        """Hand ready messages to consumers with room, each in a task of its own."""
        while queue.ready:
            consumer = queue.next_consumer()
            if consumer is None:
                return
            message = queue.ready.popleft()
            incoming = MemoryIncomingMessage(queue, message, consumer)
            task = asyncio.get_running_loop().create_task(_run(consumer.callback, incoming))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def settled(self) -> None:
        """Wait until every delivery handed out so far has run its course."""
        while self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)


async def _run(callback: Callback, incoming: MemoryIncomingMessage) -> None:
    await callback(incoming)


def _copy(message: aio_pika.Message, *, expiration: bool = True) -> aio_pika.Message:
    """What a queue holds: the message as published (a queue's copy, headers its own)."""
    return aio_pika.Message(
        message.body,
        message_id=message.message_id,
        headers=dict(message.headers),
        type=message.type,
        expiration=message.expiration if expiration else None,
    )


def _ttl_seconds(message: aio_pika.Message, arguments: dict[str, Any]) -> float | None:
    """How long the message may wait in a queue: the shorter of its own expiration and the
    queue's TTL; None when neither is set."""
    limits = []
    if isinstance(message.expiration, timedelta):
        limits.append(message.expiration.total_seconds())
    if "x-message-ttl" in arguments:
        limits.append(arguments["x-message-ttl"] / 1000)
    return min(limits, default=None)


def _matches(pattern: str, key: str) -> bool:
    """A topic binding: `*` one word, `#` any number of words."""
    regex = re.escape(pattern).replace(r"\#", ".*").replace(r"\*", "[^.]+")
    return re.fullmatch(regex, key) is not None


@asynccontextmanager
async def memory_broker() -> AsyncIterator[MemoryBroker]:
    broker = MemoryBroker()
    yield broker
    await broker.settled()
