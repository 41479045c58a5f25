"""The worker's confirmed publishing: status events for the API, and task copies for re-runs."""

import asyncio
import logging

import aio_pika
from aio_pika.abc import AbstractChannel

from shared.messages import (
    EVENT_TYPE,
    TASK_TYPE,
    EventKind,
    FailureInfo,
    JobEvent,
    JobResult,
    ResizeTask,
    message_properties,
)
from shared.schemas import SourceImage
from shared.settle import Forward
from shared.topology import Topology

logger = logging.getLogger(__name__)


APP_ID = "worker_service"


class Reporter:
    """Publishes on a channel with publisher confirms; each call returns once the broker has it."""

    def __init__(
        self, channel: AbstractChannel, topology: Topology, worker: str, timeout_seconds: float
    ) -> None:
        self._channel = channel
        self._topology = topology
        self._worker = worker
        self._timeout = timeout_seconds

    async def report(
        self,
        task: ResizeTask,
        kind: EventKind,
        *,
        source: SourceImage | None = None,
        result: JobResult | None = None,
        error: FailureInfo | None = None,
    ) -> None:
        event = JobEvent(
            job_id=task.job_id,
            run=task.run,
            attempt=task.attempt,
            kind=kind,
            outputs=result.outputs if result else [],
            source=result.source if result else source,
            placeholder=result.placeholder if result else None,
            error=error,
            worker=self._worker,
        )
        message = aio_pika.Message(
            event.model_dump_json().encode(),
            **message_properties(
                f"{task.job_id}:{task.run}:{task.attempt}:{kind.value}", EVENT_TYPE, APP_ID
            ),
        )
        exchange = await self._channel.get_exchange(self._topology.events_exchange, ensure=False)
        async with asyncio.timeout(self._timeout):
            await exchange.publish(message, routing_key=event.routing_key)

    async def republish(self, forward: Forward[ResizeTask]) -> None:
        """Put a copy of the task on the forward's queue, for a retry after backoff or a
        re-run elsewhere (`shared.settle.Republish`)."""
        task = forward.body
        message = aio_pika.Message(
            task.model_dump_json().encode(),
            **message_properties(str(task.job_id), TASK_TYPE, APP_ID, forward.expiration_ms),
        )
        async with asyncio.timeout(self._timeout):
            await self._channel.default_exchange.publish(message, routing_key=forward.queue)
