"""`GET /metrics`: Prometheus metrics, open like the health checks (no key needed)."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from producer_service.api.deps import MetricsDep

router = APIRouter(tags=["operations"])

EXAMPLE = """\
# HELP http_requests_total HTTP requests answered, by method, route template and status.
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="200"} 42.0
# HELP resize_submits_total Submits by outcome: accepted, replayed (Idempotency-Key), ...
# TYPE resize_submits_total counter
resize_submits_total{outcome="accepted",status="202"} 17.0
resize_submits_total{outcome="queue-full",status="503"} 1.0
"""


@router.get(
    "/metrics",
    summary="Prometheus metrics of this API process",
    description="The text exposition format, or OpenMetrics when `Accept` asks for it: "
    "requests by route template and status, submits by outcome, publish-confirm latency, "
    "and the process's CPU, memory and garbage collection.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"example": EXAMPLE}}}},
)
def metrics(request: Request, metrics: MetricsDep) -> Response:
    # A plain function: FastAPI runs it in a thread, so collecting (which reads /proc, and
    # every process's file in multiprocess mode) never holds up the event loop.
    body, content_type = metrics.exposition(request.headers.get("accept"))
    return Response(body, media_type=content_type)
