"""The worker's life: connect, set prefetch, declare, consume, and on stop drain and close.

Stopping: the consumers are cancelled so no new delivery arrives, running jobs get up to
SHUTDOWN_TIMEOUT_SECONDS to finish, jobs not yet started and jobs still running at the deadline
go back to the queue with their attempt uncounted, then the channels and connection close.
"""

import asyncio
import logging
import os
import socket
from collections import Counter

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from shared.settings import Settings
from shared.topology import Topology, declare_topology
from worker_service.executor import ResizeExecutor
from worker_service.handler import Handler, Outcome, Requeue
from worker_service.reporter import Reporter
from worker_service.storage import OutputStorage

logger = logging.getLogger(__name__)

RECONNECT_INTERVAL_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 5.0
HEARTBEAT_INTERVAL_SECONDS = 5.0


class Worker:
    def __init__(self, settings: Settings, name: str | None = None) -> None:
        self.settings = settings
        self.name = name or f"worker_service {socket.gethostname()}:{os.getpid()}"
        self.topology = Topology.from_settings(settings)
        self.outcomes: Counter[str] = Counter()
        self._inflight: set[asyncio.Task[object]] = set()
        self._handler: Handler | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then drain and close."""
        connection = await self._connect(stop)
        if connection is None:
            return
        executor = ResizeExecutor(
            self.settings.worker_concurrency, self.settings.job_timeout_seconds
        )
        heartbeat = asyncio.create_task(self._heartbeat(connection), name="heartbeat")
        try:
            consumers = await self._start(connection, executor)
            logger.info(
                "%s consuming %s with concurrency %d",
                self.name,
                self.topology.work_queue,
                self.settings.worker_concurrency,
            )
            await stop.wait()
            await self._drain(consumers, executor)
        finally:
            heartbeat.cancel()
            await connection.close()
            executor.shutdown()
            logger.info("%s stopped: %s", self.name, dict(self.outcomes) or "no jobs")

    async def _heartbeat(self, connection: AbstractRobustConnection) -> None:
        path = self.settings.worker_heartbeat_file
        if path is None:
            return
        while True:
            if connection.connected.is_set():
                await asyncio.to_thread(path.touch)
            await asyncio.sleep(HEARTBEAT_INTERVAL_SECONDS)

    async def _connect(self, stop: asyncio.Event) -> AbstractRobustConnection | None:
        while not stop.is_set():
            try:
                return await aio_pika.connect_robust(
                    self.settings.amqp_url,
                    client_properties={"connection_name": self.name},
                    timeout=CONNECT_TIMEOUT_SECONDS,
                    reconnect_interval=RECONNECT_INTERVAL_SECONDS,
                )
            except CONNECTION_EXCEPTIONS as exc:
                logger.warning("broker unreachable (%s); retrying", exc)
                try:
                    await asyncio.wait_for(stop.wait(), RECONNECT_INTERVAL_SECONDS)
                except TimeoutError:
                    continue
        return None

    async def _start(
        self, connection: AbstractRobustConnection, executor: ResizeExecutor
    ) -> list[tuple[AbstractQueue, str]]:
        publish_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare_topology(connection, publish_channel, self.topology)
        reporter = Reporter(
            publish_channel, self.topology, self.name, self.settings.publish_timeout_seconds
        )
        self._handler = Handler(
            self.settings, self.topology, reporter, executor, OutputStorage(self.settings.data_dir)
        )
        consume_channel = await connection.channel()
        await consume_channel.set_qos(prefetch_count=self.settings.worker_concurrency)
        consumers: list[tuple[AbstractQueue, str]] = []
        for name in (self.topology.work_queue, self.topology.retry_queue):
            queue = await consume_channel.get_queue(name)  # declared above; checked here
            consumers.append((queue, await queue.consume(self._on_message)))
        return consumers

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # aiormq interrupts consumer callbacks when their channel closes. The job runs in a task
        # of its own, so a lost connection does not throw work away: the job finishes, writes
        # its outputs, and the broker's redelivery then finds it done.
        job = asyncio.create_task(self._process(message))
        self._inflight.add(job)
        job.add_done_callback(self._inflight.discard)
        await asyncio.shield(job)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        assert self._handler is not None
        try:
            outcome: Outcome = await self._handler.handle(message)
        except asyncio.CancelledError:
            # Interrupted at the drain deadline: hand the job back, then end quietly.
            current = asyncio.current_task()
            assert current is not None
            current.uncancel()
            outcome = self._handler.rerun(message)
        except Exception:
            logger.exception("delivery %s: unexpected error", message.message_id)
            outcome = Requeue()
        self.outcomes[type(outcome).__name__] += 1
        await self._handler.settle(message, outcome)

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
