"""`create_app(settings)`: the FastAPI app: its routes, middleware and OpenAPI document; the
edges its routes use are opened and closed by `wiring.open_edges` with its life."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from producer_service.api.browsers import allow_browsers
from producer_service.api.deps import without_key_requirement
from producer_service.api.docs import serve_docs
from producer_service.api.examples import model_examples
from producer_service.api.job_requests import JobRequests
from producer_service.api.openapi import Amendment, amend_openapi
from producer_service.api.problems import (
    errors_as_problems,
    install_problem_handlers,
    without_status,
)
from producer_service.api.query_params import V1_RULES
from producer_service.api.request_metrics import RequestMetrics
from producer_service.api.routes import health
from producer_service.api.routes.cancel import router as cancel_router
from producer_service.api.routes.events import router as events_router
from producer_service.api.routes.jobs import router as jobs_router
from producer_service.api.routes.metrics import router as metrics_router
from producer_service.api.routes.presets import router as presets_router
from producer_service.api.routes.problem_pages import router as problem_pages_router
from producer_service.api.routes.stats import router as stats_router
from producer_service.api.routes.tokens import router as tokens_router
from producer_service.api.routes.tokens import without_token_refusal
from producer_service.api.routes.webhook_secret import router as webhook_secret_router
from producer_service.api.routes.webhook_secret import without_keyless_refusal
from producer_service.api.web import serve_web
from producer_service.broker.link import InProcessBroker
from producer_service.metrics import ApiMetrics
from producer_service.presets import Presets
from producer_service.wiring import open_edges
from shared.settings import Settings
from shared.tracing import Tracing

SERVICE_NAME = "resize-api"

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
        amendments += [without_token_refusal, without_keyless_refusal]
    if settings.max_active_jobs_per_key is None:
        amendments.append(without_status(429))
    return amendments


ROUTERS = [
    jobs_router,
    cancel_router,
    events_router,
    presets_router,
    tokens_router,
    webhook_secret_router,
    stats_router,
    health.router,
    problem_pages_router,
    metrics_router,
]


def create_app(settings: Settings, in_process: InProcessBroker | None = None) -> FastAPI:
    """The API. `in_process` stands in for RabbitMQ (tests): the same publishers and consumers
    run on it. A PRESETS_FILE that cannot be used raises `PresetsFileError` here, before
    anything starts."""
    presets = Presets.of(settings)
    metrics = ApiMetrics()
    tracing = Tracing.start(settings.otel_exporter_otlp_endpoint, SERVICE_NAME)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with open_edges(settings, presets, metrics, tracing, in_process) as edges:
                app.state.edges = edges
                yield
        finally:
            # Exports what is buffered: blocking I/O, so off the loop.
            await asyncio.to_thread(tracing.shutdown)

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
    amend_openapi(app, model_examples, errors_as_problems, *_unused_answers(settings))
    for router in ROUTERS:
        app.include_router(router, **(V1_RULES if router.prefix == "/v1" else {}))
    serve_web(app)
    if tracing.is_on:
        trace_requests(app, tracing)
    return app


def trace_requests(app: FastAPI, tracing: Tracing) -> None:
    """A server span per request, continuing a caller's `traceparent` (OpenTelemetry's FastAPI
    instrumentation: it propagates correctly, and names spans by route template). Imported
    only when tracing is on (~40 ms of start-up)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: PLC0415

    # Without the per-message receive/send spans: a 64 MB upload would make thousands.
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracing.provider, exclude_spans=["receive", "send"]
    )
