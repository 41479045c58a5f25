"""The ids and names routes read from paths: a malformed one names nothing, so it is a 404
before any lookup."""

from typing import Annotated
from uuid import UUID

from fastapi import Path

from producer_service.api.examples import EXAMPLE_ID
from producer_service.errors import JobNotFound, OutputNotFound
from shared.variants import VARIANT_NAME

JobId = Annotated[str, Path(description="The job's id (a UUID4).", examples=[EXAMPLE_ID])]


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
