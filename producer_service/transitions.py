"""How a worker's event changes a job: plain data the store turns into one conditional UPDATE.

Within a run, non-final events are ordered by `progress` = 2 * attempt (+1 once that attempt
is waiting to be retried), so a late `processing` of attempt 1 cannot undo `retrying` of
attempt 1 or `processing` of attempt 2. `succeeded`, `failed` and `cancelled` are final: the
first one to arrive wins and nothing later moves the job. A cancel is usually applied by the
API itself (`CANCELLING`) before any worker hears of it; the worker's `cancelled` event then
changes nothing, and only ends the job if the API stopped between its marker and its UPDATE.
A manual retry starts a new run, and events of an older run are ignored.
"""

from dataclasses import dataclass

from shared.messages import EventKind, FailureInfo, JobEvent, RenderedOutput
from shared.schemas import ErrorCode, JobStatus, Placeholder, SourceImage

FINAL_STATUSES = frozenset(status for status in JobStatus if status.is_final)


@dataclass(frozen=True)
class Transition:
    status: JobStatus
    attempt: int
    # None for a final status, which applies whatever the progress.
    progress: int | None = None
    outputs: list[RenderedOutput] | None = None
    source: SourceImage | None = None
    placeholder: Placeholder | None = None
    error: FailureInfo | None = None


# The API's own cancel of a run: final, and it leaves `attempts` as the workers left it.
CANCELLING = Transition(JobStatus.CANCELLED, attempt=0)


def transition_for(event: JobEvent) -> Transition:
    attempt = event.attempt
    match event.kind:
        case EventKind.PROCESSING:
            return Transition(
                JobStatus.PROCESSING, attempt, progress=2 * attempt, source=event.source
            )
        case EventKind.RETRYING:
            return Transition(JobStatus.QUEUED, attempt, progress=2 * attempt + 1)
        case EventKind.SUCCEEDED:
            return Transition(
                JobStatus.SUCCEEDED,
                attempt,
                outputs=list(event.outputs),
                source=event.source,
                placeholder=event.placeholder,
            )
        case EventKind.FAILED:
            error = event.error or FailureInfo(
                code=ErrorCode.INTERNAL_ERROR, message="The worker gave no reason."
            )
            return Transition(JobStatus.FAILED, attempt, error=error)
        case EventKind.CANCELLED:
            return Transition(JobStatus.CANCELLED, attempt)
