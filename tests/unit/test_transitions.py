"""How events order: within a run by attempt, and final states are final."""

import uuid

from producer_service.transitions import transition_for
from shared.messages import EventKind, JobEvent
from shared.schemas import ErrorCode, JobStatus


def event(kind: EventKind, attempt: int) -> JobEvent:
    return JobEvent(job_id=uuid.uuid4(), run=1, attempt=attempt, kind=kind)


def test_progress_orders_non_final_events_by_attempt_then_phase() -> None:
    ordered = [
        transition_for(event(EventKind.PROCESSING, 1)),
        transition_for(event(EventKind.RETRYING, 1)),
        transition_for(event(EventKind.PROCESSING, 2)),
        transition_for(event(EventKind.RETRYING, 2)),
    ]
    progress = [t.progress or 0 for t in ordered]
    assert progress == sorted(progress)
    assert len(set(progress)) == len(progress)
    assert [t.status for t in ordered] == [JobStatus.PROCESSING, JobStatus.QUEUED] * 2


def test_final_events_apply_whatever_the_progress() -> None:
    assert transition_for(event(EventKind.SUCCEEDED, 1)).progress is None
    assert transition_for(event(EventKind.FAILED, 3)).progress is None


def test_a_failed_event_without_a_reason_still_gets_one() -> None:
    change = transition_for(event(EventKind.FAILED, 1))
    assert change.status is JobStatus.FAILED
    assert change.error is not None
    assert change.error.code is ErrorCode.INTERNAL_ERROR
