"""The worker's choice of what starts next: interactive before bulk, bulk lanes in turn, bulk
within its slots, and waiting jobs refused unstarted when the worker stops."""

import asyncio
from contextlib import AsyncExitStack

import pytest

from shared.schemas import Priority
from worker_service.lanes import Draining, LaneScheduler

INTERACTIVE, BULK = Priority.INTERACTIVE, Priority.BULK


class Jobs:
    """Jobs that each take a slot, note that they started, and hold it until finished."""

    def __init__(self, scheduler: LaneScheduler) -> None:
        self.scheduler = scheduler
        self.started: list[str] = []
        self._finish: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def submit(self, name: str, priority: Priority, lane: int = 0) -> None:
        self._finish[name] = asyncio.Event()
        self.tasks[name] = asyncio.create_task(self._run(name, priority, lane))

    async def _run(self, name: str, priority: Priority, lane: int) -> None:
        async with self.scheduler.slot(priority, lane):
            self.started.append(name)
            await self._finish[name].wait()

    async def finish(self, name: str) -> None:
        self._finish[name].set()
        await self.tasks[name]
        await settled()


async def settled() -> None:
    """Let every task that can run now do so (each hand-over is a few loop turns)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_freed_slot_goes_to_a_waiting_interactive_job_before_older_bulk_ones() -> None:
    jobs = Jobs(LaneScheduler(concurrency=1, bulk_lanes=4))
    for name in ["bulk-1", "bulk-2", "bulk-3"]:
        jobs.submit(name, BULK)
    await settled()
    jobs.submit("person", INTERACTIVE)
    await settled()
    assert jobs.started == ["bulk-1"]

    await jobs.finish("bulk-1")
    assert jobs.started == ["bulk-1", "person"]


async def test_bulk_lanes_are_served_in_turn_not_one_backlog_after_another() -> None:
    jobs = Jobs(LaneScheduler(concurrency=1, bulk_lanes=4))
    for n in range(4):
        jobs.submit(f"a{n}", BULK, lane=0)  # key A queued first
    for n in range(2):
        jobs.submit(f"b{n}", BULK, lane=1)
    await settled()
    for name in ["a0", "b0", "a1", "b1", "a2"]:
        await jobs.finish(name)
    assert jobs.started == ["a0", "b0", "a1", "b1", "a2", "a3"]


async def test_lanes_beyond_the_count_share_one_by_their_number_modulo() -> None:
    jobs = Jobs(LaneScheduler(concurrency=1, bulk_lanes=2))
    jobs.submit("lane0", BULK, lane=0)
    jobs.submit("lane2-a", BULK, lane=2)  # the same lane as 0
    jobs.submit("lane2-b", BULK, lane=2)
    jobs.submit("lane1", BULK, lane=1)
    await settled()
    for name in ["lane0", "lane1", "lane2-a"]:
        await jobs.finish(name)
    assert jobs.started == ["lane0", "lane1", "lane2-a", "lane2-b"]


async def test_bulk_jobs_hold_at_most_their_slots_and_an_interactive_job_starts_at_once() -> None:
    jobs = Jobs(LaneScheduler(concurrency=4, bulk_lanes=4, bulk_slots=2))
    for n in range(4):
        jobs.submit(f"bulk-{n}", BULK, lane=n)
    await settled()
    assert jobs.started == ["bulk-0", "bulk-1"]

    jobs.submit("person", INTERACTIVE)  # no slot to wait for
    await settled()
    assert jobs.started == ["bulk-0", "bulk-1", "person"]
    await jobs.finish("bulk-0")  # a bulk slot frees: the next lane's job takes it
    assert jobs.started == ["bulk-0", "bulk-1", "person", "bulk-2"]


async def test_interactive_jobs_take_every_free_slot_at_once() -> None:
    jobs = Jobs(LaneScheduler(concurrency=2, bulk_lanes=4))
    jobs.submit("first", INTERACTIVE)
    jobs.submit("second", INTERACTIVE)
    await settled()
    assert jobs.started == ["first", "second"]


async def test_stopping_refuses_every_waiting_job_at_once_and_lets_running_ones_finish() -> None:
    scheduler = LaneScheduler(concurrency=1, bulk_lanes=4)
    jobs = Jobs(scheduler)
    jobs.submit("running", BULK)
    jobs.submit("held-bulk", BULK, lane=3)
    jobs.submit("held-person", INTERACTIVE)
    await settled()

    scheduler.close()
    for name in ["held-bulk", "held-person"]:
        with pytest.raises(Draining):
            await jobs.tasks[name]
    assert not jobs.tasks["running"].done()
    await jobs.finish("running")
    assert jobs.started == ["running"]
    with pytest.raises(Draining):
        async with scheduler.slot(INTERACTIVE):
            pass


async def test_a_job_cancelled_while_waiting_gives_up_its_place_and_no_slot_is_lost() -> None:
    scheduler = LaneScheduler(concurrency=1, bulk_lanes=4)
    jobs = Jobs(scheduler)
    jobs.submit("running", BULK)
    jobs.submit("cancelled", INTERACTIVE)
    jobs.submit("next", BULK, lane=1)
    await settled()
    jobs.tasks["cancelled"].cancel()
    await settled()
    await jobs.finish("running")
    assert jobs.started == ["running", "next"]
    await jobs.finish("next")
    assert scheduler.waiting == 0
    async with AsyncExitStack() as held:  # the one slot is free again
        await asyncio.wait_for(held.enter_async_context(scheduler.slot(INTERACTIVE)), 1)
