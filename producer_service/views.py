"""How a job looks from outside, the same wherever it is shown (`GET`, the event stream, a
webhook's body): its URL and its JSON. No web framework here: a use case builds it too."""

from uuid import UUID

from producer_service.records import JobRecord
from shared.schemas import Job, JobError, JobStatus, Output


def job_url(job_id: UUID) -> str:
    return f"/v1/jobs/{job_id}"


def job_view(record: JobRecord) -> Job:
    outputs = [
        Output(
            name=o.name,
            format=o.format,
            width=o.width,
            height=o.height,
            size_bytes=o.size_bytes,
            url=f"{job_url(record.id)}/outputs/{o.name}",
        )
        for o in record.outputs
    ]
    error = None
    if record.status is JobStatus.FAILED and record.error is not None:
        error = JobError(code=record.error.code, message=record.error.message)
    return Job(
        id=record.id,
        status=record.status,
        attempts=record.attempts,
        created_at=record.created_at,
        updated_at=record.updated_at,
        priority=record.priority,
        error=error,
        variants=record.variants,
        preset=record.preset,
        source=record.source,
        placeholder=record.placeholder,
        outputs=outputs,
        source_url=record.source_url,
        callback_url=record.callback_url,
        webhook=record.webhook,
    )
