"""Bounded threads for libvips, so CPU work never runs on the event loop (and heartbeats flow).

A job holds one of `concurrency` slots while it runs; its deadline starts once it has the slot.
Which waiting job gets a freed slot is `lanes.LaneScheduler`'s choice.
At the deadline, or when the worker cancels it, libvips is told to stop (eval/kill) and the
thread is awaited, so no abandoned work keeps a core busy. Once the worker is stopping, a job
still waiting for a slot is refused with `Draining` and goes back to the queue unstarted.

The work runs in a copy of the caller's context (`run_in_executor` does not copy it), so its log
lines, libvips' warnings among them, carry the job they are about (`shared.log_context`).
"""

import asyncio
import contextvars
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

from shared.log_context import in_worker_thread
from shared.schemas import ErrorCode, Priority
from shared.topology import BULK_LANES
from worker_service.errors import TransientFailure
from worker_service.lanes import LaneScheduler

T = TypeVar("T")


class ResizeExecutor:
    def __init__(self, concurrency: int, timeout_seconds: float) -> None:
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="resize")
        # Bulk jobs get a slot a core; the rest wait free for interactive ones (`lanes`).
        cores = len(os.sched_getaffinity(0))
        self._slots = LaneScheduler(concurrency, BULK_LANES, bulk_slots=cores)
        self._timeout = timeout_seconds

    @asynccontextmanager
    async def slot(
        self, priority: Priority = Priority.INTERACTIVE, lane: int = 0
    ) -> AsyncIterator[None]:
        """A slot, when the scheduler gives one to a job of this `priority` and `lane`."""
        async with self._slots.slot(priority, lane):
            yield

    async def run(
        self, work: Callable[[threading.Event], T], cancel: threading.Event | None = None
    ) -> T:
        """Run `work(cancel)` in a thread within the deadline; `work` must watch `cancel`,
        which the caller may set too (a cancelled job: `worker_service.revocations`)."""
        if cancel is None:
            cancel = threading.Event()
        context = contextvars.copy_context()
        future = asyncio.get_running_loop().run_in_executor(
            self._pool, context.run, _noted, work, cancel
        )
        try:
            async with asyncio.timeout(self._timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            cancel.set()
            await asyncio.gather(future, return_exceptions=True)
            raise TransientFailure(
                ErrorCode.TIMEOUT,
                f"The attempt ran longer than {self._timeout:g} seconds and was stopped.",
            ) from None
        except asyncio.CancelledError:
            cancel.set()
            await asyncio.gather(future, return_exceptions=True)
            raise
        finally:
            # A failure's traceback holds this frame and the future holds the failure: without
            # this, the cycle (and the pixels the failed job decoded, hundreds of MB for a
            # bomb) would wait for the cyclic garbage collector.
            del future

    def close(self) -> None:
        """Start no more jobs; running ones go on."""
        self._slots.close()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _noted(work: Callable[[threading.Event], T], cancel: threading.Event) -> T:
    with in_worker_thread():
        return work(cancel)
