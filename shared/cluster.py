"""A robust connection to a broker cluster: one node at a time, the next one when it goes; and
a publishing channel that outlives what losing a node does to quorum queues' publishers.

aio-pika's `RobustConnection` reconnects to its one `url` for ever. `ClusterConnection` is that
connection with the cluster's node list: whenever its connection closes without being asked to
(a lost node, a failed try to connect, a restore that failed after connecting), its `url` moves
to the next node, so the robust connection's own reconnect loop goes round the nodes, restoring
channels, queues and consumers on whichever answers. Round-robin rather than "back to the first
one": the node just lost is the last to be tried again.

What it relies on (aio-pika 10.2, pinned in pyproject.toml and held by tests/unit/test_cluster):
every close and every failed try passes through `Connection._on_connection_close`, and each try
to connect reads the public `url` attribute anew.
"""

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika import RobustConnection
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractRobustChannel
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, DeliveryError
from pamqp.commands import Basic
from yarl import URL

DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671}


def node_of(url: URL | str) -> str:
    """`host:port` of a broker URL, for logs: never its credentials."""
    url = URL(url)
    return f"{url.host}:{url.explicit_port or DEFAULT_PORTS.get(url.scheme, 5672)}"


class ClusterConnection(RobustConnection):
    def __init__(self, nodes: Sequence[URL], first: int = 0, **kwargs: Any) -> None:
        """A connection that tries `nodes[first]` first, then each next node in turn."""
        self.nodes = tuple(nodes)
        self._at = first % len(self.nodes)
        super().__init__(self.nodes[self._at], **kwargs)

    @property
    def node(self) -> str:
        """The node connected to (or being tried), as `host:port`."""
        return node_of(self.url)

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        # The close callbacks (the outage log) still see the node that closed.
        await super()._on_connection_close(closing)
        if not self.close_called:
            self._at = (self._at + 1) % len(self.nodes)
            self.url = self.nodes[self._at]


class ConfirmChannel:
    """A publisher-confirm channel that is replaced by a new one after a nack.

    On RabbitMQ 3.10 a channel that first publishes to a quorum queue while the queue has no
    leader (a channel restored on another node right after a node died) is nacked for good,
    while a new channel is taken as soon as a new leader is elected (tests/cluster). A nack may
    as well mean a full queue, so a renewal happens at most once a second; the old channel is
    closed once the publishes under way on it are over (each waits `timeout_seconds` at most).
    """

    def __init__(
        self, connection: AbstractConnection, channel: AbstractChannel, timeout_seconds: float
    ) -> None:
        self._connection = connection
        self.channel = channel
        self._timeout = timeout_seconds
        self._renewed_at = 0.0
        self._retiring: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, connection: AbstractConnection, timeout_seconds: float) -> "ConfirmChannel":
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        return cls(connection, channel, timeout_seconds)

    async def publish(self, exchange: str, message: aio_pika.Message, routing_key: str) -> None:
        """Publish and wait for the confirm (`TimeoutError` after `timeout_seconds`); a nack
        renews the channel and is raised, as `DeliveryError`."""
        try:
            async with asyncio.timeout(self._timeout):
                if isinstance(self.channel, AbstractRobustChannel):
                    # Restored after an outage in no set order: a consumer's channel may be
                    # back, and handing out deliveries, before this one is.
                    await self.channel.ready()
                target = (
                    self.channel.default_exchange
                    if exchange == ""
                    else await self.channel.get_exchange(exchange, ensure=False)
                )
                await target.publish(message, routing_key=routing_key)
        except DeliveryError as exc:
            if isinstance(exc.frame, Basic.Nack):
                await self._renew()
            raise

    async def _renew(self) -> None:
        if time.monotonic() - self._renewed_at < 1:
            return
        self._renewed_at = time.monotonic()
        old = self.channel
        try:
            self.channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
        except CONNECTION_EXCEPTIONS:
            return  # the connection is going: its restore brings the old channel back
        retiring = asyncio.create_task(self._retire(old))
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)

    async def _retire(self, channel: AbstractChannel) -> None:
        await asyncio.sleep(self._timeout)
        with contextlib.suppress(*CONNECTION_EXCEPTIONS):
            await channel.close()
