"""The API's composition root: `open_edges` opens every edge the routes use (storage, the job
store, the broker link and its consumers, the background loops) and closes them in reverse
order, so `create_app` only assembles the web side. `Edges` is what it hands the routes, each
as a dependency of its own (`api/deps.py`)."""

import os
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from producer_service.background.outbox import outbox_relay, webhook_relay
from producer_service.background.retention import retention_sweep
from producer_service.broker.cancels import CancelNoticePublisher
from producer_service.broker.feed import ChangeFeed
from producer_service.broker.link import BrokerLink, InProcessBroker, Link
from producer_service.broker.publisher import Publisher, TaskPublisher
from producer_service.broker.queue_stats import QueueInspector
from producer_service.broker.traced_publisher import TracedPublisher
from producer_service.broker.webhooks import WebhookPublisher
from producer_service.callbacks.sender import WebhookSender
from producer_service.callers import KeyRing
from producer_service.cancels import Cancels
from producer_service.consumers.events import EventConsumer
from producer_service.consumers.webhooks import WebhookConsumer
from producer_service.db.store import JobStore
from producer_service.jobs import Jobs
from producer_service.metrics import ApiMetrics
from producer_service.presets import Presets
from producer_service.staging import UploadArea
from producer_service.webhooks import Webhooks
from shared.images import restrict_libvips
from shared.settings import Settings
from shared.storage import Storage, open_storage
from shared.topology import Topology
from shared.tracing import Tracing


@dataclass(frozen=True)
class Edges:
    settings: Settings
    jobs: Jobs
    cancels: Cancels
    store: JobStore
    storage: Storage
    uploads: UploadArea
    publisher: Publisher
    keys: KeyRing
    feed: ChangeFeed
    presets: Presets
    queues: QueueInspector
    metrics: ApiMetrics


@asynccontextmanager
async def open_edges(
    settings: Settings,
    presets: Presets,
    metrics: ApiMetrics,
    tracing: Tracing,
    in_process: InProcessBroker | None = None,
) -> AsyncIterator[Edges]:
    """Everything the routes use, open while the block runs. `in_process` stands in for
    RabbitMQ (tests): the same publishers and consumers run on it."""
    restrict_libvips()  # the upload probe reads headers with libvips
    uploads = UploadArea(settings.data_dir)
    uploads.prepare()
    async with AsyncExitStack() as edges:
        storage = await edges.enter_async_context(open_storage(settings))
        store = JobStore.from_settings(settings)
        edges.push_async_callback(store.close)
        await store.migrate()
        topology = Topology.from_settings(settings)
        broker = TaskPublisher(topology, settings.publish_timeout_seconds)
        tasks = TracedPublisher(metrics.timed(broker), tracing, topology)
        # A replay waits for the first try's confirm, and for its clean-up when refused.
        replay_wait = settings.publish_timeout_seconds + settings.database_timeout_seconds
        deliveries, webhooks, webhook_consumer = _webhook_edges(
            settings, store, topology, metrics, tracing
        )
        edges.push_async_callback(webhooks.close)
        keys = KeyRing(settings.api_key_list)
        jobs = Jobs(
            store,
            storage,
            tasks,
            replay_wait,
            settings.max_active_jobs_per_key,
            lane_of=keys.lane_of,
        )
        background = [outbox_relay(jobs, tasks), webhook_relay(webhooks)]
        if settings.job_retention_hours is not None:
            background.append(retention_sweep(jobs, settings.job_retention_hours))
        feed = ChangeFeed(topology)
        queues = QueueInspector(
            topology.work_queue, settings.publish_timeout_seconds, topology.bulk_queues
        )
        # What follows a change, wired once: live streams hear of it, a webhook it made due
        # gets its first try (after a worker's event, or a cancel).
        followers = [feed.follow, webhooks.follow]
        notices = CancelNoticePublisher(topology, settings.publish_timeout_seconds)
        cancels = Cancels(jobs, store, storage, notices, followers)
        opened = Edges(
            settings=settings,
            jobs=jobs,
            cancels=cancels,
            store=store,
            storage=storage,
            uploads=uploads,
            publisher=tasks,
            keys=keys,
            feed=feed,
            presets=presets,
            queues=queues,
            metrics=metrics,
        )
        consumer = EventConsumer(topology, cancels.apply_event, followers, tracing)
        # The publisher declares the topology the others use; webhooks can be queued before
        # events arrive; the API is ready (/readyz 200) once every step is done.
        hooks = [
            queues.attach,
            broker.attach,
            feed.attach,
            notices.attach,
            deliveries.attach,
            consumer.attach,
            webhook_consumer.attach,
            broker.serve,
        ]
        link: Link
        if in_process is None:
            name = f"producer_service {socket.gethostname()}:{os.getpid()}"
            link = BrokerLink(settings.amqp_urls, name, hooks, on_failure=broker.note_failure)
        else:
            link = in_process.link(hooks)
        link.start()
        edges.push_async_callback(link.close)
        # Before the link closes: tries under way finish first.
        edges.push_async_callback(webhook_consumer.close)
        for loop in background:
            loop.start()
            edges.push_async_callback(loop.close)
        yield opened


def _webhook_edges(
    settings: Settings, store: JobStore, topology: Topology, metrics: ApiMetrics, tracing: Tracing
) -> tuple[WebhookPublisher, Webhooks, WebhookConsumer]:
    """Completion webhooks: the publisher of tries, the use cases, and the consumer of tries."""
    publisher = WebhookPublisher(topology, settings.publish_timeout_seconds)
    sender = WebhookSender(
        settings.webhook_timeout_seconds,
        settings.webhook_allow_private,
        settings.webhook_concurrency,
    )
    secret = settings.webhook_secret
    webhooks = Webhooks(
        store,
        publisher,
        sender,
        topology,
        secret=None if secret is None else secret.get_secret_value(),
        max_attempts=settings.webhook_max_attempts,
        metrics=metrics,
    )
    consumer = WebhookConsumer(
        topology,
        settings.webhook_concurrency,
        webhooks.attempt,
        publisher,
        drain_seconds=settings.webhook_timeout_seconds,
        tracing=tracing,
    )
    return publisher, webhooks, consumer
