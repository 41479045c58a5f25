"""`GET /v1/stats`: queue depth, consumers and jobs by status, for operators and autoscalers."""

from fastapi import APIRouter

from producer_service.api.deps import CallerDep, QueuesDep, SettingsDep, StoreDep
from producer_service.api.examples import STATS_EXAMPLE
from producer_service.api.problems import problem_responses
from producer_service.errors import (
    BrokerUnavailable,
    StoreUnavailable,
    TokenNotAllowed,
    Unauthorized,
)
from shared.schemas import JobCounts, JobStatus, Lanes, LaneStats, QueueStats, Stats

router = APIRouter(prefix="/v1", tags=["operations"])


@router.get(
    "/stats",
    summary="Queue depth, consumers and jobs by status",
    description="Read afresh from the broker (a passive declare of the work queue and of each "
    "bulk lane) and the job store on every call. `queue` is the work queue, where interactive "
    "jobs wait; `lanes` has the figures by priority. An autoscaler should scale on queued + "
    "processing jobs (bulk ones too), not on `queue.ready` (0 while workers are still busy "
    "with what they took); `/metrics` exports them as `resize_jobs_current`. Figures are "
    "service-wide: with API keys, any key sees the same counts, and no job ids.",
    response_model=Stats,
    responses={
        200: {
            "description": "The figures now.",
            "content": {"application/json": {"example": STATS_EXAMPLE}},
        },
        **problem_responses(Unauthorized, TokenNotAllowed, BrokerUnavailable, StoreUnavailable),
    },
)
async def read_stats(
    settings: SettingsDep, store: StoreDep, queues: QueuesDep, _: CallerDep
) -> Stats:
    queue = await queues.read()
    tally = await store.tally()
    counts = tally.by_status
    processing = counts[JobStatus.PROCESSING]
    return Stats(
        queue=QueueStats(
            name=settings.queue_name,
            ready=queue.ready,
            unacked=processing,
            consumers=queue.consumers,
        ),
        lanes=Lanes(
            interactive=LaneStats(ready=queue.ready, unacked=processing - tally.processing_bulk),
            bulk=LaneStats(ready=queue.bulk_ready, unacked=tally.processing_bulk),
        ),
        jobs=JobCounts(**{status.value: count for status, count in counts.items()}),
        oldest_queued_seconds=tally.oldest_queued_seconds(),
    )
