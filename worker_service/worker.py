"""The worker's life: connect, set prefetch, declare, consume, and on stop drain and close.

Stopping: the consumers are cancelled so no new delivery arrives, running jobs get up to
SHUTDOWN_TIMEOUT_SECONDS to finish, jobs not yet started and jobs still running at the deadline
go back to the queue with their attempt uncounted, then the channels and connection close.
"""

import asyncio
import functools
import logging
import os
import socket

from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from shared.cluster import ConfirmChannel
from shared.connection import connect_and_set_up
from shared.declare import declare_topology
from shared.settings import Settings
from shared.settle import Outcome, Requeue, settle
from shared.storage import Storage, open_storage
from shared.topology import Topology
from shared.tracing import Tracing
from worker_service.executor import ResizeExecutor
from worker_service.handler import Handler
from worker_service.metrics import WorkerMetrics
from worker_service.render import prepare_libvips
from worker_service.reporter import Reporter
from worker_service.revocations import Revocations

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_SECONDS = 5.0
# `service.name` of the worker's spans, unless OTEL_SERVICE_NAME says otherwise.
SERVICE_NAME = "resize-worker"


class Worker:
    def __init__(self, settings: Settings, name: str | None = None) -> None:
        self.settings = settings
        self.name = name or f"worker_service {socket.gethostname()}:{os.getpid()}"
        self.topology = Topology.from_settings(settings)
        self._inflight: set[asyncio.Task[object]] = set()
        self.metrics = WorkerMetrics(in_flight=lambda: len(self._inflight))
        self.tracing = Tracing.start(settings.otel_exporter_otlp_endpoint, SERVICE_NAME)
        self._handler: Handler | None = None
        # Set once start-up is over: a task delivered before waits for it, so a stop during
        # start-up (which cuts it short and closes the connection) never cuts a running job.
        self._serving = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then drain and close."""
        prepare_libvips()
        executor = ResizeExecutor(
            self.settings.worker_concurrency, self.settings.job_timeout_seconds
        )
        try:
            async with (
                self.metrics.serving(self.settings.metrics_port),
                open_storage(self.settings) as storage,
            ):
                started = await connect_and_set_up(
                    self.settings.amqp_urls,
                    self.name,
                    functools.partial(self._start, executor=executor, storage=storage),
                    stop,
                )
                if started is not None:
                    await self._serve(*started, executor, stop)
        finally:
            executor.shutdown()
            await asyncio.to_thread(self.tracing.shutdown)  # exports what is still buffered
            logger.info("%s stopped: %s", self.name, self.metrics.summary() or "no jobs")

    async def _serve(
        self,
        connection: AbstractRobustConnection,
        consumers: list[tuple[AbstractQueue, str]],
        executor: ResizeExecutor,
        stop: asyncio.Event,
    ) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(connection), name="heartbeat")
        self._serving.set()
        try:
            logger.info(
                "%s consuming %s and its %d bulk lanes with concurrency %d",
                self.name,
                self.topology.work_queue,
                len(self.topology.bulk_queues),
                self.settings.worker_concurrency,
            )
            await stop.wait()
            await self._drain(consumers, executor)
        finally:
            heartbeat.cancel()
            await connection.close()

    async def _heartbeat(self, connection: AbstractRobustConnection) -> None:
        path = self.settings.worker_heartbeat_file
        if path is None:
            return
        while True:
            if connection.connected.is_set():
                await asyncio.to_thread(path.touch)
            await asyncio.sleep(HEARTBEAT_INTERVAL_SECONDS)

    async def _start(
        self, connection: AbstractRobustConnection, *, executor: ResizeExecutor, storage: Storage
    ) -> list[tuple[AbstractQueue, str]]:
        publish_channel = await ConfirmChannel.open(
            connection, self.settings.publish_timeout_seconds
        )
        await declare_topology(connection, publish_channel.channel, self.topology)
        reporter = Reporter(publish_channel, self.topology, self.name)
        revocations = Revocations(storage, self.topology)
        await revocations.attach(connection)  # before the first task: none misses its notice
        self._handler = Handler(
            self.settings,
            self.topology,
            reporter,
            executor,
            storage,
            revocations=revocations,
            metrics=self.metrics,
            tracer=self.tracing.tracer,
        )
        concurrency = self.settings.worker_concurrency
        consumers: list[tuple[AbstractQueue, str]] = []
        # A channel per prefetch: a robust channel restores one qos for all its consumers.
        # Interactive tasks can fill every slot; each bulk lane holds one task more than that,
        # so a slot its lane frees finds the next task here, not a broker round trip away.
        # The retry queue last: once it has a consumer, start-up is over.
        for prefetch, names in (
            (concurrency + 1, self.topology.bulk_queues),
            (concurrency, [self.topology.work_queue, self.topology.retry_queue]),
        ):
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=prefetch)
            for name in names:
                queue = await channel.get_queue(name)  # declared above; checked here
                consumers.append((queue, await queue.consume(self._on_message)))
        return consumers

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # aiormq interrupts consumer callbacks when their channel closes. The job runs in a task
        # of its own, so a lost connection does not throw work away: the job finishes, writes
        # its outputs, and the broker's redelivery then finds it done.
        await self._serving.wait()
        job = asyncio.create_task(self._process(message))
        self._inflight.add(job)
        job.add_done_callback(self._inflight.discard)
        await asyncio.shield(job)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        """One delivery in a CONSUMER span, the child of the span that published it: what the
        handler publishes (events, the next attempt) carries this span's context on."""
        with self.tracing.consuming(
            "resize.attempt",
            message.headers,
            **{
                "messaging.system": "rabbitmq",
                "messaging.destination.name": message.routing_key or "",
            },
        ):
            await self._settle(message)

    async def _settle(self, message: AbstractIncomingMessage) -> None:
        assert self._handler is not None
        try:
            outcome: Outcome = await self._handler.handle(message)
        except asyncio.CancelledError:
            # Interrupted at the drain deadline: hand the job back, then end quietly.
            current = asyncio.current_task()
            assert current is not None
            current.uncancel()
            outcome = self._handler.interrupted(message)
        except Exception:
            logger.exception("delivery %s: unexpected error", message.message_id)
            outcome = Requeue()
        self.metrics.settled(type(outcome).__name__)
        await settle(message, outcome, self._handler.republish)

    async def _drain(
        self, consumers: list[tuple[AbstractQueue, str]], executor: ResizeExecutor
    ) -> None:
        for queue, tag in consumers:
            try:
                await queue.cancel(tag)
            except CONNECTION_EXCEPTIONS as exc:
                logger.warning("could not cancel consumer on %s: %r", queue.name, exc)
        executor.close()
        if not self._inflight:
            return
        logger.info("draining %d running jobs", len(self._inflight))
        _, late = await asyncio.wait(
            set(self._inflight), timeout=self.settings.shutdown_timeout_seconds
        )
        for task in late:
            task.cancel()
        if late:
            logger.warning("requeueing %d jobs still running at the deadline", len(late))
            await asyncio.wait(late)
