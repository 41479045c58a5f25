"""`create_app(settings)`: the FastAPI app, and the lifespan that opens and closes its edges."""

import os
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from producer_service.api.browsers import allow_browsers
from producer_service.api.deps import Services, without_key_requirement
from producer_service.api.docs import serve_docs
from producer_service.api.job_requests import JobRequests
from producer_service.api.openapi import Amendment, amend_openapi
from producer_service.api.problems import (
    errors_as_problems,
    install_problem_handlers,
    without_status,
)
from producer_service.api.request_metrics import RequestMetrics
from producer_service.api.routes import health
from producer_service.api.routes.events import router as events_router
from producer_service.api.routes.jobs import router as jobs_router
from producer_service.api.routes.metrics import router as metrics_router
from producer_service.api.routes.presets import router as presets_router
from producer_service.api.routes.problem_pages import router as problem_pages_router
from producer_service.api.routes.stats import router as stats_router
from producer_service.api.routes.tokens import router as tokens_router
from producer_service.api.routes.tokens import without_token_refusal
from producer_service.api.web import serve_web
from producer_service.background.outbox import outbox_relay, webhook_relay
from producer_service.background.retention import retention_sweep
from producer_service.broker.events import EventConsumer
from producer_service.broker.feed import ChangeFeed
from producer_service.broker.link import BrokerLink
from producer_service.broker.publisher import Publisher, TaskPublisher
from producer_service.broker.queue_stats import QueueInspector
from producer_service.broker.webhooks import WebhookConsumer, WebhookPublisher
from producer_service.callers import KeyRing
from producer_service.db.store import JobStore
from producer_service.jobs import JobService
from producer_service.metrics import ApiMetrics
from producer_service.presets import Presets
from producer_service.storage import UploadArea
from producer_service.webhooks.deliveries import Webhooks
from producer_service.webhooks.sender import WebhookSender
from shared.images import restrict_libvips
from shared.settings import Settings
from shared.storage import open_storage
from shared.topology import Topology

DESCRIPTION = """\
Upload an image and get `202 Accepted` at once; workers resize it with libvips in the background.

1. `POST /v1/jobs` with the image as `file`, and optional JSON `variants` or a `preset` name
   (`GET /v1/presets`).
2. Follow `GET /v1/jobs/{id}/events` (Server-Sent Events), or poll `GET /v1/jobs/{id}`, until
   `status` is `succeeded` (or `failed`, with a reason).
3. Download each output from its `url`.

Where the service runs with API keys, send `Authorization: Bearer <key>` (**Authorize** above);
each key sees only the jobs it created. A browser never holds a key: its backend mints it a
short-lived token (`POST /v1/tokens`), and the browser uploads with that instead. A page for
people who would rather click is at `/`.

Every error is `application/problem+json` (RFC 9457); each `type` is a page saying what it
means (`/problems`).
"""


def _unused_answers(settings: Settings) -> list[Amendment]:
    """What the OpenAPI document drops because this deployment never answers it."""
    amendments: list[Amendment] = []
    if not settings.api_key_list:
        amendments += [without_key_requirement, without_status(401), without_status(403)]
    else:
        amendments.append(without_token_refusal)
    if settings.max_active_jobs_per_key is None:
        amendments.append(without_status(429))
    return amendments


def _webhook_edges(
    settings: Settings, store: JobStore, topology: Topology, metrics: ApiMetrics
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
    )
    return publisher, webhooks, consumer


ROUTERS = [
    jobs_router,
    events_router,
    presets_router,
    tokens_router,
    stats_router,
    health.router,
    problem_pages_router,
    metrics_router,
]


def create_app(settings: Settings, publisher: Publisher | None = None) -> FastAPI:
    """The API. `publisher` stands in for the broker (tests that need none): tasks go to it,
    and no broker link or event consumer is opened. A PRESETS_FILE that cannot be used raises
    `PresetsFileError` here, before anything starts."""
    presets = Presets.of(settings)
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
            tasks = metrics.timed(broker if publisher is None else publisher)
            # A replay waits for the first try's confirm, and for its clean-up when refused.
            replay_wait = settings.publish_timeout_seconds + settings.database_timeout_seconds
            deliveries, webhooks, webhook_consumer = _webhook_edges(
                settings, store, topology, metrics
            )
            edges.push_async_callback(webhooks.close)
            jobs = JobService(
                store,
                storage,
                tasks,
                replay_wait,
                settings.max_active_jobs_per_key,
                webhooks=webhooks if publisher is None else None,
            )
            background = [outbox_relay(jobs, tasks), webhook_relay(webhooks)]
            if settings.job_retention_hours is not None:
                background.append(retention_sweep(jobs, settings.job_retention_hours))
            keys = KeyRing(settings.api_key_list)
            feed = ChangeFeed(topology)
            queues = QueueInspector(topology.work_queue, settings.publish_timeout_seconds)
            app.state.services = Services(
                settings=settings,
                jobs=jobs,
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
            if publisher is None:
                consumer = EventConsumer(topology, jobs.apply_event, feed.announce)
                # The stats reader first: once the publisher is ready (/readyz 200), the
                # queue figures answer too; webhooks can be queued before events arrive.
                link = BrokerLink(
                    settings.amqp_url,
                    f"producer_service {socket.gethostname()}:{os.getpid()}",
                    [
                        queues.attach,
                        broker.attach,
                        feed.attach,
                        deliveries.attach,
                        consumer.attach,
                        webhook_consumer.attach,
                    ],
                    on_failure=broker.note_failure,
                )
                link.start()
                edges.push_async_callback(link.close)
                # Before the link closes: tries under way finish first.
                edges.push_async_callback(webhook_consumer.close)
            for loop in background:
                loop.start()
                edges.push_async_callback(loop.close)
            yield

    app = FastAPI(
        title="Image resize service",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by serve_docs, without a CDN
        redoc_url=None,
    )
    install_problem_handlers(app)
    # Inside CORS: a preflight the CORS middleware answers reaches no route and is not counted.
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(JobRequests)  # outside the last resort, so its error line has the job
    serve_docs(app)
    allow_browsers(app, settings.cors_origin_list)
    amend_openapi(app, errors_as_problems, *_unused_answers(settings))
    for router in ROUTERS:
        app.include_router(router)
    serve_web(app)
    return app
