"""The API's one AMQP connection, opened in the background so the API serves reads while the
broker is down, then kept alive by aio-pika's robust reconnects (channels, queues and consumers
are restored by it after every outage)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

logger = logging.getLogger(__name__)

ConnectHook = Callable[[AbstractRobustConnection], Awaitable[None]]

CONNECT_TIMEOUT_SECONDS = 5.0
RECONNECT_INTERVAL_SECONDS = 1.0


class BrokerLink:
    def __init__(self, url: str, name: str, hooks: Sequence[ConnectHook]) -> None:
        self._url = url
        self._name = name
        self._hooks = hooks
        self._connection: AbstractRobustConnection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="broker-connect")

    @property
    def is_connected(self) -> bool:
        connection = self._connection
        return connection is not None and connection.connected.is_set()

    async def _connect(self) -> None:
        while True:
            try:
                connection = await aio_pika.connect_robust(
                    self._url,
                    client_properties={"connection_name": self._name},
                    timeout=CONNECT_TIMEOUT_SECONDS,
                    reconnect_interval=RECONNECT_INTERVAL_SECONDS,
                )
            except CONNECTION_EXCEPTIONS as exc:
                logger.warning("broker unreachable (%s); retrying", exc)
                await asyncio.sleep(RECONNECT_INTERVAL_SECONDS)
                continue
            try:
                for hook in self._hooks:
                    await hook(connection)
            except CONNECTION_EXCEPTIONS:
                # A topology mismatch (PRECONDITION_FAILED) lands here too: say it loudly.
                logger.exception("broker set-up failed; retrying")
                await connection.close()
                await asyncio.sleep(RECONNECT_INTERVAL_SECONDS)
                continue
            self._connection = connection
            logger.info("connected to the broker as %s", self._name)
            return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._connection is not None:
            await self._connection.close()
