"""How a job looks from outside, for every route that shows one: its URL and JSON, and the
ids and names read from paths (a malformed one names nothing: 404 before any lookup)."""

from typing import Annotated
from uuid import UUID

from fastapi import Path

from producer_service.api.examples import EXAMPLE_ID
from producer_service.errors import JobNotFound, OutputNotFound
from producer_service.records import JobRecord
from shared.schemas import Job, JobError, JobStatus, Output
from shared.variants import VARIANT_NAME

JobId = Annotated[str, Path(description="The job's id (a UUID4).", examples=[EXAMPLE_ID])]


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
        error=error,
        variants=record.variants,
        preset=record.preset,
        source=record.source,
        placeholder=record.placeholder,
        outputs=outputs,
        callback_url=record.callback_url,
        webhook=record.webhook,
    )


def parse_job_id(raw: str) -> UUID:
    """A malformed id names no job, so it is a 404 like any unknown one."""
    try:
        return UUID(raw)
    except ValueError:
        raise JobNotFound(f"No job has id {_shown(raw)}.") from None


def parse_output_name(job_id: UUID, raw: str) -> str:
    """A name no variant could have names no output: 404 before anything is looked up."""
    if VARIANT_NAME.fullmatch(raw) is None:
        raise OutputNotFound(f"Job {job_id} has no output named {_shown(raw)}.")
    return raw


def _shown(raw: str) -> str:
    """Client text quoted back in an error, cut short: an error is no echo chamber."""
    return repr(raw if len(raw) <= 64 else raw[:64] + "...")
