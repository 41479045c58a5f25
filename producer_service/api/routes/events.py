"""`GET /v1/jobs/{id}/events`: a job's status changes as Server-Sent Events.

The stream opens with the job as it is, sends the job again each time it changes, and ends
after `succeeded` or `failed`. An event's id names the state (`run.attempts.status`), so a
client reconnecting with `Last-Event-ID` gets the job again only if it has changed since.
Changes are noticed through the replica's change feed, with a re-read of the store every few
seconds as well, so a notice lost while the broker was away only delays an update.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.sse import EventSourceResponse, ServerSentEvent

from producer_service.api.deps import FeedDep, JobsDep, KeyOrTokenCallerDep
from producer_service.api.examples import JOB_EXAMPLES
from producer_service.api.paths import JobId, parse_job_id
from producer_service.api.problems import problem_responses
from producer_service.callers import Caller
from producer_service.errors import JobNotFound, StoreUnavailable, Unauthorized
from producer_service.jobs import Jobs
from producer_service.records import JobRecord
from producer_service.views import job_view

router = APIRouter(prefix="/v1", tags=["jobs"])

# How often a stream reads the store with no notice: the longest a lost notice delays it.
REREAD_SECONDS = 5.0
EVENT = "status"


def state_id(record: JobRecord) -> str:
    """What identifies the job's state: it changes with every status, attempt and run."""
    return f"{record.run}.{record.attempts}.{record.status.value}"


LastEventId = Annotated[
    str | None,
    Header(alias="Last-Event-ID", description="The id of the last event you received."),
]


async def watched_job(
    job_id: JobId,
    jobs: JobsDep,
    caller: KeyOrTokenCallerDep,
    last_event_id: LastEventId = None,
) -> JobRecord:
    """The job, read before the stream opens, so an unknown one is a 404 problem; a 204 when
    the client already has its final state (a browser's EventSource stops on a 204, and would
    reconnect for ever after an empty 200)."""
    record = await jobs.get(caller, parse_job_id(job_id))
    if record.status.is_final and state_id(record) == last_event_id:
        raise HTTPException(204)
    return record


_EXAMPLE = "\n".join(
    f"id: 1.{attempts}.{JOB_EXAMPLES[name]['status']}\nevent: {EVENT}\ndata: {{...the job...}}\n"
    for attempts, name in ((0, "queued"), (1, "succeeded"))
)


@router.get(
    "/jobs/{job_id}/events",
    response_class=EventSourceResponse,
    summary="Follow a job's status live (Server-Sent Events)",
    description="`text/event-stream`: an `event: status` with the job as `data` (as `GET "
    "/v1/jobs/{id}` returns it) now and on every change, until `succeeded` or `failed`, "
    "after which the stream ends. Comments (`: ping`) keep idle connections open. Send "
    "`Last-Event-ID` on reconnect to skip a state you already have; a reconnect after the "
    "final event gets `204`, so a browser's `EventSource` stops.",
    responses={
        200: {
            "description": "The event stream.",
            "content": {"text/event-stream": {"example": _EXAMPLE}},
        },
        204: {"description": "`Last-Event-ID` names the job's final state: nothing follows."},
        **problem_responses(Unauthorized, JobNotFound, StoreUnavailable),
    },
)
async def job_events(
    record: Annotated[JobRecord, Depends(watched_job)],
    jobs: JobsDep,
    feed: FeedDep,
    caller: KeyOrTokenCallerDep,
    last_event_id: LastEventId = None,
) -> AsyncIterator[ServerSentEvent]:
    sent = last_event_id
    with feed.watch(record.id) as changes:
        # Read again once watching, so a change just before the watch began is not missed.
        current = await _reread(jobs, caller, record)
        while current is not None:
            state = state_id(current)
            if state != sent:
                yield ServerSentEvent(id=state, event=EVENT, data=job_view(current))
                sent = state
            if current.status.is_final:
                return
            await changes.wait(REREAD_SECONDS)
            current = await _reread(jobs, caller, current)


async def _reread(jobs: Jobs, caller: Caller, record: JobRecord) -> JobRecord | None:
    """The job as the store has it now: as it was while the store does not answer, and None
    once it is gone (deleted)."""
    try:
        return await jobs.get(caller, record.id)
    except StoreUnavailable:
        return record
    except JobNotFound:
        return None
