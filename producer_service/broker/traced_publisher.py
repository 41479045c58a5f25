"""A `Publisher` that sends each task in a PRODUCER span of its own, so the task's message
carries that span's context to the worker (`shared.messages.message_properties`). Its parent is
the job's trace (`Jobs` publishes `in_trace` of the job), with a link to the request that
published it when that is another trace (a manual retry)."""

from opentelemetry.trace import SpanKind

from producer_service.broker.publisher import Publisher, WrappedPublisher
from shared.messages import ResizeTask
from shared.topology import Topology
from shared.tracing import Tracing, links


class TracedPublisher(WrappedPublisher):
    def __init__(self, publisher: Publisher, tracing: Tracing, topology: Topology) -> None:
        super().__init__(publisher)
        self._tracing = tracing
        self._topology = topology

    async def publish(self, task: ResizeTask) -> None:
        with self._tracing.tracer.start_as_current_span(
            "resize.publish",
            kind=SpanKind.PRODUCER,
            links=links(),
            attributes={
                "job.id": str(task.job_id),
                "job.run": task.run,
                "job.attempt": task.attempt,
                "messaging.system": "rabbitmq",
                "messaging.destination.name": self._topology.task_queue(task.priority, task.lane),
            },
        ):
            await super().publish(task)
