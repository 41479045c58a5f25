"""Publishing resize tasks: persistent, confirmed, refused fast when the broker cannot take them."""

import logging
from typing import Protocol

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, DeliveryError, PublishError
from pamqp.commands import Basic

from producer_service.errors import BrokerUnavailable, QueueFull
from shared.cluster import ConfirmChannel
from shared.declare import declare_topology
from shared.messages import TASK_TYPE, ResizeTask, message_properties
from shared.topology import DEFAULT_EXCHANGE, Topology

logger = logging.getLogger(__name__)


class Publisher(Protocol):
    """Where the API sends tasks: the broker (`TaskPublisher`), or an in-memory fake in tests."""

    @property
    def is_ready(self) -> bool: ...

    async def check(self) -> None:
        """Return once a task sent now would be taken; else raise `BrokerUnavailable`."""

    async def publish(self, task: ResizeTask) -> None:
        """Return once the task is safely taken; else raise a `Unavailable` error."""


class WrappedPublisher:
    """A `Publisher` around another that adds to `publish` (timing, a span) and is ready and
    checked as the one it wraps."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher

    @property
    def is_ready(self) -> bool:
        return self._publisher.is_ready

    async def check(self) -> None:
        await self._publisher.check()

    async def publish(self, task: ResizeTask) -> None:
        await self._publisher.publish(task)


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
        self._channel: ConfirmChannel | None = None
        # Why the broker cannot be reached, as the last try to connect found it.
        self._down_reason = "unreachable"
        # Set once the whole broker set-up is done (`serve`), not only this part of it.
        self._serving = False

    def note_failure(self, reason: str) -> None:
        self._down_reason = reason

    async def attach(self, connection: AbstractRobustConnection) -> None:
        """Open the publishing channel and declare the topology; tasks are taken once `serve`
        has run too."""
        channel = await ConfirmChannel.open(connection, self._timeout)
        await declare_topology(connection, channel.channel, self._topology)
        self._connection, self._channel = connection, channel
        self._down_reason = "unreachable"  # what a later outage will be, unless told otherwise

    async def serve(self, connection: AbstractRobustConnection) -> None:
        """The last step of the broker set-up: from now on the API is ready. (A step failing
        before it throws the connection away and starts the set-up again; ready before then,
        the API would answer 200 on /readyz and then 503 on a submit.)"""
        self._serving = True

    @property
    def is_ready(self) -> bool:
        return (
            self._serving
            and self._connection is not None
            and self._connection.connected.is_set()
            and self._channel is not None
            and not self._channel.channel.is_closed
        )

    def _ready_channel(self) -> ConfirmChannel:
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
            await channel.channel.default_exchange.publish(
                probe, routing_key=self._topology.readiness_probe_key, mandatory=False
            )
        except CONNECTION_EXCEPTIONS as exc:
            raise BrokerUnavailable("The broker link broke.", reason="unreachable") from exc

    async def publish(self, task: ResizeTask) -> None:
        """Return once the broker has confirmed the task; raise a 503 error otherwise."""
        channel = self._ready_channel()
        try:
            queue = self._topology.task_queue(task.priority, task.lane)
            await channel.publish(DEFAULT_EXCHANGE, task_message(task), queue)
        except PublishError as exc:
            logger.error("task unroutable: %s", exc)
            raise BrokerUnavailable("The work queue is missing; try again shortly.") from exc
        except DeliveryError as exc:
            if isinstance(exc.frame, Basic.Nack):
                raise QueueFull(
                    f"{self._topology.max_queued_jobs} jobs are already waiting; try again shortly."
                ) from exc
            raise BrokerUnavailable("The broker refused the task; try again shortly.") from exc
        except (TimeoutError, *CONNECTION_EXCEPTIONS) as exc:
            logger.warning("task not confirmed: %r", exc)
            raise BrokerUnavailable(
                "The message broker did not confirm the task; try again shortly."
            ) from exc
