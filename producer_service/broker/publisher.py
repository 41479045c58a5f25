"""Publishing resize tasks: persistent, confirmed, refused fast when the broker cannot take them."""

import asyncio
import contextlib
import logging
import time
from typing import Protocol

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, DeliveryError, PublishError
from pamqp.commands import Basic

from producer_service.errors import BrokerUnavailable, QueueFull
from shared.messages import TASK_TYPE, ResizeTask, message_properties
from shared.topology import Topology, declare_topology

logger = logging.getLogger(__name__)


class Publisher(Protocol):
    """Where the API sends tasks: the broker (`TaskPublisher`), or an in-memory fake in tests."""

    @property
    def is_ready(self) -> bool: ...

    async def check(self) -> None:
        """Return once a task sent now would be taken; else raise `BrokerUnavailable`."""

    async def publish(self, task: ResizeTask) -> None:
        """Return once the task is safely taken; else raise a `ServiceUnavailable` error."""


def task_message(task: ResizeTask) -> aio_pika.Message:
    return aio_pika.Message(
        task.model_dump_json().encode(),
        **message_properties(str(task.job_id), TASK_TYPE, "producer_service"),
    )


class TaskPublisher:
    def __init__(self, topology: Topology, timeout_seconds: float) -> None:
        self._topology = topology
        self._timeout = timeout_seconds
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        # Why the broker cannot be reached, as the last try to connect found it.
        self._down_reason = "unreachable"
        self._renewed_at = 0.0
        self._retiring: set[asyncio.Task[None]] = set()

    def note_failure(self, reason: str) -> None:
        self._down_reason = reason

    async def attach(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare_topology(connection, channel, self._topology)
        self._connection, self._channel = connection, channel
        self._down_reason = "unreachable"  # what a later outage will be, unless told otherwise

    @property
    def is_ready(self) -> bool:
        return (
            self._connection is not None
            and self._connection.connected.is_set()
            and self._channel is not None
            and not self._channel.is_closed
        )

    def _ready_channel(self) -> AbstractChannel:
        if not self.is_ready or self._channel is None:
            raise BrokerUnavailable(
                f"The message broker is not reachable ({self._down_reason}); try again shortly.",
                reason=self._down_reason,
            )
        return self._channel

    async def check(self) -> None:
        """Return once the broker confirms a message now. A frozen broker keeps its connection
        open but confirms nothing, which only this round trip shows. The probe is unroutable,
        so the broker drops it, and it is not mandatory, so it comes back only as a confirm."""
        probe = aio_pika.Message(b"", delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT)
        channel = self._ready_channel()
        try:
            await channel.default_exchange.publish(
                probe, routing_key=self._topology.readiness_probe_key, mandatory=False
            )
        except CONNECTION_EXCEPTIONS as exc:
            raise BrokerUnavailable("The broker link broke.", reason="unreachable") from exc

    async def _renew_channel(self) -> None:
        """Publish on a new channel from now on (at most once a second), the old one closed
        once the publishes under way on it are over.

        A nack means a full queue, or, on RabbitMQ 3.10, a channel that first published to a
        quorum queue while its leader was gone (the API's channel, restored on another node
        right after a node died): such a channel is refused for good, while a new one is
        taken as soon as a new leader is elected (tests/cluster)."""
        if self._connection is None or time.monotonic() - self._renewed_at < 1:
            return
        self._renewed_at = time.monotonic()
        old = self._channel
        try:
            self._channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
        except CONNECTION_EXCEPTIONS:
            return  # the connection is going: its restore brings the channel back
        if old is not None:
            retiring = asyncio.create_task(self._retire(old))
            self._retiring.add(retiring)
            retiring.add_done_callback(self._retiring.discard)

    async def _retire(self, channel: AbstractChannel) -> None:
        await asyncio.sleep(self._timeout)
        with contextlib.suppress(*CONNECTION_EXCEPTIONS):
            await channel.close()

    async def publish(self, task: ResizeTask) -> None:
        """Return once the broker has confirmed the task; raise a 503 error otherwise."""
        channel = self._ready_channel()
        try:
            async with asyncio.timeout(self._timeout):
                await channel.default_exchange.publish(
                    task_message(task), routing_key=self._topology.work_queue
                )
        except PublishError as exc:
            logger.error("task unroutable: %s", exc)
            raise BrokerUnavailable("The work queue is missing; try again shortly.") from exc
        except DeliveryError as exc:
            if isinstance(exc.frame, Basic.Nack):
                await self._renew_channel()
                raise QueueFull(
                    f"{self._topology.max_queued_jobs} jobs are already waiting; try again shortly."
                ) from exc
            raise BrokerUnavailable("The broker refused the task; try again shortly.") from exc
        except (TimeoutError, *CONNECTION_EXCEPTIONS) as exc:
            logger.warning("task not confirmed: %r", exc)
            raise BrokerUnavailable(
                "The message broker did not confirm the task; try again shortly."
            ) from exc
