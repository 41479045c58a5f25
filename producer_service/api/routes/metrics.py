"""`GET /metrics`: Prometheus metrics, open like the health checks (no key needed)."""

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response

from producer_service.api.deps import MetricsDep, QueuesDep, SettingsDep, StoreDep
from producer_service.broker.queue_stats import QueueFigures, QueueInspector
from producer_service.db.store import JobStore, JobTally
from producer_service.errors import BrokerUnavailable, StoreUnavailable

logger = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

EXAMPLE = """\
# HELP http_requests_total HTTP requests answered, by method, route template and status.
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="200"} 42.0
# HELP resize_submits_total Submits by outcome: accepted, replayed (Idempotency-Key), ...
# TYPE resize_submits_total counter
resize_submits_total{outcome="accepted",status="202"} 17.0
resize_submits_total{outcome="queue-full",status="503"} 1.0
# HELP resize_jobs_current Jobs in the job store by status, read when scraped (service-wide: ...
# TYPE resize_jobs_current gauge
resize_jobs_current{queue="image_resize",status="queued"} 12.0
resize_jobs_current{queue="image_resize",status="processing"} 8.0
"""


@router.get(
    "/metrics",
    summary="Prometheus metrics of this API process",
    description="The text exposition format, or OpenMetrics when `Accept` asks for it: "
    "requests by route template and status, submits by outcome, publish-confirm latency, "
    "jobs in the store by status, the oldest queued job's wait and the work queue's ready "
    "messages and consumers (read at each scrape, for autoscalers and alerts), broker "
    "outages, and the process's CPU, memory and garbage collection.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"example": EXAMPLE}}}},
)
async def metrics(
    request: Request,
    metrics: MetricsDep,
    settings: SettingsDep,
    store: StoreDep,
    queues: QueuesDep,
) -> Response:
    tally, queue_figures = await asyncio.gather(_tally(store), _queue_figures(queues))
    metrics.record_figures(settings.queue_name, tally, queue_figures)
    # Collecting reads /proc (and every process's file in multiprocess mode): off the loop.
    body, content_type = await asyncio.to_thread(metrics.exposition, request.headers.get("accept"))
    return Response(body, media_type=content_type)


# The rest of the metrics still tell what is wrong when the store or the broker does not
# answer; only their figures go missing.
async def _tally(store: JobStore) -> JobTally | None:
    try:
        return await store.tally()
    except StoreUnavailable as exc:
        logger.warning("metrics: no job figures, the job store is unavailable: %s", exc)
        return None


async def _queue_figures(queues: QueueInspector) -> QueueFigures | None:
    try:
        return await queues.read()
    except BrokerUnavailable as exc:
        logger.warning("metrics: no queue figures: %s", exc.detail)
        return None
