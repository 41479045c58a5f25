"""The worker's confirmed publishing: status events for the API, and task copies for re-runs."""

import logging

import aio_pika

from shared.cluster import ConfirmChannel
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
from shared.topology import DEFAULT_EXCHANGE, Topology

logger = logging.getLogger(__name__)


APP_ID = "worker_service"


class Reporter:
    """Publishes on a channel with publisher confirms; each call returns once the broker has it."""

    def __init__(self, channel: ConfirmChannel, topology: Topology, worker: str) -> None:
        self._channel = channel
        self._topology = topology
        self._worker = worker

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
        await self._channel.publish(self._topology.events_exchange, message, event.routing_key)

    async def republish(self, forward: Forward[ResizeTask]) -> None:
        """Put a copy of the task on the forward's queue, for a retry after backoff or a
        re-run elsewhere (`shared.settle.Republish`)."""
        task = forward.body
        message = aio_pika.Message(
            task.model_dump_json().encode(),
            **message_properties(str(task.job_id), TASK_TYPE, APP_ID, forward.expiration_ms),
        )
        await self._channel.publish(DEFAULT_EXCHANGE, message, forward.queue)
