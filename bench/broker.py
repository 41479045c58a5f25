"""Publisher confirms a second on one broker node, as the API publishes: its own `TaskPublisher`
(one channel in confirm mode, each publish awaiting its own confirm) sending real tasks (a corpus
job's four variants) to a work queue declared from the service's own topology, once with
classic and once with quorum queues. One publish in flight is one submit at a time; many in
flight is many submits at once on one API, whose confirms the broker batches.

Nothing consumes the tasks, so the queue is purged after each run and its topology deleted at
the end. The AMQP URL may list a cluster's nodes, comma-separated; the publisher connects to
the first, which also becomes the quorum queue's leader (by default RabbitMQ puts a new queue's
leader on the node the declaring client is connected to: `queue_leader_locator`).
"""

import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import aio_pika
from aio_pika.abc import AbstractQueue

from bench.bursts import Burst, burst
from bench.options import Options, first_node
from bench.report import Report
from bench.settings import default_settings
from bench.workloads import JOB_VARIANTS
from producer_service.broker.publisher import TaskPublisher, task_message
from shared.declare import delete_topology
from shared.layout import original_key
from shared.messages import ResizeTask
from shared.topology import Topology

logger = logging.getLogger(__name__)

QUEUE_TYPES = ("classic", "quorum")
# One submit at a time; as many as the ceiling's concurrent submitters.
IN_FLIGHT = (1, 32)


@dataclass(frozen=True)
class Confirms:
    queue_type: str
    in_flight: int
    burst: Burst
    # CPU time the publishing (this) process used over the run.
    publisher_cpu_seconds: float

    @property
    def publisher_busy(self) -> float:
        """The share of one core the publisher used: near 1, it and not the broker was the limit."""
        return self.publisher_cpu_seconds / self.burst.seconds


def node_name(url: str) -> str:
    """host:port, without the credentials, for the report."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5672}"


def a_task() -> ResizeTask:
    job_id = uuid.uuid4()
    return ResizeTask(job_id=job_id, source_key=original_key(job_id), variants=list(JOB_VARIANTS))


def task_bytes() -> int:
    return len(task_message(a_task()).body)


async def run_broker(options: Options, report: Report) -> None:
    url = first_node(options.amqp_url)
    with report.timed("broker"):
        results = await measure_confirms(url, options.broker_messages)
    for result in results:
        setup = f"{result.queue_type} queue, {result.in_flight} in flight"
        report.add(
            "broker",
            f"confirms a second, {setup}",
            result.burst.per_second,
            "confirms/s",
            f"{result.burst.count} tasks of {task_bytes()} bytes to node {node_name(url)}, "
            f"{result.burst.seconds:.1f} s",
        )
        report.add("broker", f"confirm p95, {setup}", result.burst.p95 * 1000, "ms")
        report.add(
            "broker",
            f"publisher CPU per confirm, {setup}",
            result.publisher_cpu_seconds / result.burst.count * 1e6,
            "µs",
            f"the bench's own process: {result.publisher_busy:.0%} of a core over the run",
        )


async def measure_confirms(url: str, messages: int) -> list[Confirms]:
    results = []
    for queue_type in QUEUE_TYPES:
        async with _publisher(url, queue_type, messages) as (publisher, work_queue):
            for in_flight in IN_FLIGHT:
                logger.info(
                    "broker: %d tasks, %s queue, %d in flight", messages, queue_type, in_flight
                )
                tasks = [a_task() for _ in range(messages)]
                cpu = time.process_time()
                published = await _publish(publisher, tasks, in_flight)
                cpu_seconds = time.process_time() - cpu
                results.append(Confirms(queue_type, in_flight, published, cpu_seconds))
                await work_queue.purge()
    return results


async def _publish(publisher: TaskPublisher, tasks: Sequence[ResizeTask], in_flight: int) -> Burst:
    async def publish(index: int) -> None:
        await publisher.publish(tasks[index])

    return await burst(publish, len(tasks), in_flight)


@asynccontextmanager
async def _publisher(
    url: str, queue_type: str, messages: int
) -> AsyncIterator[tuple[TaskPublisher, AbstractQueue]]:
    settings = default_settings(
        amqp_url=url, queue_name=f"bench-{secrets.token_hex(6)}", queue_type=queue_type
    )
    # The service's cap, unless one run publishes more than it lets wait.
    topology = Topology.from_settings(
        settings.model_copy(update={"max_queued_jobs": max(settings.max_queued_jobs, messages)})
    )
    connection = await aio_pika.connect_robust(url, timeout=10)
    async with connection:
        publisher = TaskPublisher(topology, settings.publish_timeout_seconds)
        try:
            await publisher.attach(connection)
            await publisher.serve(connection)
            channel = await connection.channel()
            yield publisher, await channel.get_queue(topology.work_queue, ensure=False)
        finally:
            await delete_topology(connection, topology)
