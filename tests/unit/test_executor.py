"""The resize threads: a failed job's memory is freed when its failure is, not by the cyclic
garbage collector some time later; a job's work knows which job it is (for its log lines)."""

import asyncio
import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from shared.log_context import JobRef, bind_job, current_job, sole_job_in_threads
from shared.schemas import ErrorCode
from worker_service.errors import PermanentFailure
from worker_service.executor import ResizeExecutor


class Pixels:
    """Stands in for a decoded image a failing job held."""


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_a_failed_jobs_objects_are_freed_with_its_failure(no_cyclic_gc: None) -> None:
    executor = ResizeExecutor(concurrency=1, timeout_seconds=10)
    held: list[weakref.ref[Pixels]] = []

    def failing_job(_: threading.Event) -> None:
        pixels = Pixels()  # held by this frame, which the failure's traceback holds
        held.append(weakref.ref(pixels))
        raise PermanentFailure(ErrorCode.UNDECODABLE_IMAGE, "broken")

    try:
        await executor.run(failing_job)
    except PermanentFailure:
        pass
    finally:
        executor.shutdown()
    # One turn of the loop for the callbacks still holding the finished future.
    await asyncio.sleep(0)
    assert held[0]() is None


async def test_a_jobs_work_runs_in_its_context_and_is_known_while_it_runs() -> None:
    executor = ResizeExecutor(concurrency=2, timeout_seconds=10)
    bind_job("5b0e6f0c-3f7e-4c39-9d8e-0f6c8f8ad7a4", 2)

    def work(_: threading.Event) -> tuple[JobRef | None, JobRef | None]:
        return current_job(), sole_job_in_threads()

    try:
        seen, running = await executor.run(work)
    finally:
        executor.shutdown()
    assert seen == running == JobRef("5b0e6f0c-3f7e-4c39-9d8e-0f6c8f8ad7a4", 2)
    assert sole_job_in_threads() is None
