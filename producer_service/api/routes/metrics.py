"""`GET /metrics`: Prometheus metrics, open like the health checks (no key needed)."""

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response

from producer_service.api.deps import MetricsDep, SettingsDep, StoreDep
from producer_service.errors import StoreUnavailable

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
    "jobs in the store by status and the oldest queued job's wait (read at each scrape, for "
    "autoscalers), and the process's CPU, memory and garbage collection.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"example": EXAMPLE}}}},
)
async def metrics(
    request: Request, metrics: MetricsDep, settings: SettingsDep, store: StoreDep
) -> Response:
    try:
        tally = await store.tally()
    except StoreUnavailable as exc:
        # The rest of the metrics still tell what is wrong; the job figures go missing.
        logger.warning("metrics: no job figures, the job store is unavailable: %s", exc)
        tally = None
    metrics.record_jobs(settings.queue_name, tally)
    # Collecting reads /proc (and every process's file in multiprocess mode): off the loop.
    body, content_type = await asyncio.to_thread(metrics.exposition, request.headers.get("accept"))
    return Response(body, media_type=content_type)
