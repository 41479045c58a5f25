"""The API's one AMQP connection, opened in the background so the API serves reads while the
broker is down, then kept alive by robust reconnects, to the next of a cluster's nodes when one
goes (channels, queues and consumers are restored by it after every outage)."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from aio_pika.abc import AbstractRobustConnection

from shared.connection import connect_and_set_up

ConnectHook = Callable[[AbstractRobustConnection], Awaitable[None]]


class Link(Protocol):
    """Keeps the API connected and set up by its hooks, from `start` until `close`."""

    def start(self) -> None: ...

    async def close(self) -> None: ...


class InProcessBroker(Protocol):
    """A broker in the API's own process, that links the hooks itself (tests run the API on
    one without RabbitMQ: `tests/memory_broker.py`)."""

    def link(self, hooks: Sequence[ConnectHook]) -> Link: ...


class BrokerLink:
    def __init__(
        self,
        urls: Sequence[str],
        name: str,
        hooks: Sequence[ConnectHook],
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        """`hooks` set the connection up on one of the nodes `urls` lists; `on_failure` hears
        why a try to connect failed."""
        self._urls = urls
        self._name = name
        self._hooks = hooks
        self._on_failure = on_failure
        self._connection: AbstractRobustConnection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="broker-connect")

    async def _connect(self) -> None:
        connected = await connect_and_set_up(
            self._urls, self._name, self._set_up, on_failure=self._on_failure
        )
        assert connected is not None  # only a stop event ends it early, and there is none
        self._connection, _ = connected

    async def _set_up(self, connection: AbstractRobustConnection) -> None:
        for hook in self._hooks:
            await hook(connection)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._connection is not None:
            await self._connection.close()
