"""What a worker knows of cancelled runs: a notice stops the running attempt of its run (and only
that run's), is remembered for tasks still waiting, and the marker in storage holds without any
notice; storage that cannot tell is a retry, never a guess."""

import errno
import os
import uuid

import pytest

from shared import layout
from shared.messages import ResizeTask
from shared.schemas import ErrorCode
from shared.storage.memory import MemoryStorage
from shared.topology import Topology
from shared.variants import Variant
from worker_service import revocations
from worker_service.errors import JobCancelled, TransientFailure
from worker_service.revocations import Revocations

TOPOLOGY = Topology("test", 10)


def task(run: int = 1) -> ResizeTask:
    variants = [Variant(name="thumb", width=32)]
    return ResizeTask(job_id=uuid.uuid4(), run=run, source_key="originals/x", variants=variants)


class BlindStorage(MemoryStorage):
    async def exists(self, key: str) -> bool:
        raise OSError(errno.EIO, os.strerror(errno.EIO))


async def test_a_notice_stops_the_running_attempt_of_its_run_only() -> None:
    watch = Revocations(MemoryStorage(), TOPOLOGY)
    first, second = task(), task()
    with watch.running(first) as cancelled, watch.running(second) as other:
        watch.hear((first.job_id, first.run))
        assert cancelled.stop.is_set()
        assert cancelled.cancelled
        assert not other.stop.is_set()
        with pytest.raises(JobCancelled):
            await watch.check(first, cancelled)
        await watch.check(second, other)


async def test_a_notice_heard_before_the_task_runs_stops_it_without_asking_storage() -> None:
    watch = Revocations(BlindStorage(), TOPOLOGY)
    waiting = task()
    watch.hear((waiting.job_id, waiting.run))
    with pytest.raises(JobCancelled):
        await watch.check(waiting)
    with watch.running(waiting) as attempt:
        assert attempt.stop.is_set()


async def test_the_marker_alone_cancels_its_run_and_not_a_retried_one() -> None:
    storage = MemoryStorage()
    watch = Revocations(storage, TOPOLOGY)
    cancelled = task(run=1)
    await storage.put(layout.cancel_key(cancelled.job_id, 1), b"")
    with pytest.raises(JobCancelled):
        await watch.check(cancelled)
    await watch.check(cancelled.model_copy(update={"run": 2}))


async def test_storage_that_cannot_tell_is_a_retry() -> None:
    watch = Revocations(BlindStorage(), TOPOLOGY)
    with pytest.raises(TransientFailure) as failure:
        await watch.check(task())
    assert failure.value.code is ErrorCode.STORAGE_ERROR


async def test_only_the_latest_notices_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(revocations, "REMEMBERED", 2)
    watch = Revocations(MemoryStorage(), TOPOLOGY)
    oldest, *latest = [task() for _ in range(3)]
    for each in (oldest, *latest):
        watch.hear((each.job_id, each.run))
    await watch.check(oldest)  # forgotten, and no marker: it runs
    for each in latest:
        with pytest.raises(JobCancelled):
            await watch.check(each)
