"""`POST /v1/jobs/{id}/cancel`: stop a queued or processing job (the use case is
`producer_service.cancels`)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from producer_service.api.deps import CallerDep, CancelsDep, MetricsDep
from producer_service.api.paths import JobId, parse_job_id
from producer_service.api.problems import problem_responses
from producer_service.api.routes.jobs import accepted, job_examples
from producer_service.errors import (
    JobAlreadyFinished,
    JobNotFound,
    StorageUnavailable,
    StoreUnavailable,
    TokenNotAllowed,
    Unauthorized,
)
from shared.schemas import Job

router = APIRouter(prefix="/v1", tags=["jobs"])


@router.post(
    "/jobs/{job_id}/cancel",
    status_code=202,
    summary="Cancel a queued or processing job",
    description="A `queued` job is never processed; a `processing` one is stopped at once "
    "(libvips is interrupted) and keeps no outputs. The job is `cancelled` (final) when this "
    "answers, whatever restarts after it; its event stream ends and its webhook is sent as "
    "for any end. `retry` runs it again as a new run; `DELETE` then removes it.",
    response_model=Job,
    responses={
        202: job_examples("Cancelled: no worker will run it, or go on running it.", "cancelled"),
        **problem_responses(
            Unauthorized,
            TokenNotAllowed,
            JobNotFound,
            JobAlreadyFinished,
            StoreUnavailable,
            StorageUnavailable,
        ),
    },
)
async def cancel_job(
    job_id: JobId, cancels: CancelsDep, caller: CallerDep, metrics: MetricsDep
) -> JSONResponse:
    cancelled = await cancels.cancel(caller, parse_job_id(job_id))
    metrics.count_cancel(cancelled.was.value)
    return accepted(cancelled.job)
