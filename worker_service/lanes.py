"""Which waiting job gets a worker slot when one frees: interactive first, bulk lanes in turn.

The worker consumes the interactive queue and every bulk lane at once, each with a prefetch of
its own, so deliveries of several lanes wait here together. A freed slot goes to the oldest
waiting interactive job; only when none waits and none runs does it go to a bulk job, taken
from the lanes in round-robin, so one key's backlog never holds another's back.

Bulk jobs hold at most `bulk_slots` slots (the worker gives them one per core: from one job a
core on, a worker's rate is flat, docs/benchmarks.md "Tuning"), so the rest are free the moment
an interactive job arrives: it starts at once and shares the cores with one bulk job a core,
rather than waiting for a slot and sharing them with three. Pausing bulk starts while an
interactive job ran kept its time lower still, but left cores idle: bulk throughput fell to
0.89 of its rate alone (docs/benchmarks.md, "Lanes").

A job still waiting when the worker stops gets `Draining` at once: it goes back unstarted, its
attempt not counted (`Handler._run`).
"""

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from shared.schemas import Priority


class Draining(Exception):
    """The worker is stopping and this job has not started."""


class LaneScheduler:
    def __init__(self, concurrency: int, bulk_lanes: int, bulk_slots: int | None = None) -> None:
        self._free = concurrency
        self._bulk_free = concurrency if bulk_slots is None else min(bulk_slots, concurrency)
        self._interactive: deque[asyncio.Future[None]] = deque()
        self._bulk: list[deque[asyncio.Future[None]]] = [deque() for _ in range(bulk_lanes)]
        self._next_lane = 0
        self._closing = False

    @asynccontextmanager
    async def slot(self, priority: Priority, lane: int = 0) -> AsyncIterator[None]:
        """Hold a slot while the block runs; `Draining` once the worker is stopping."""
        if self._closing:
            raise Draining
        turn = asyncio.get_running_loop().create_future()
        self._waiting(priority, lane).append(turn)
        self._dispatch()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self._release(priority)  # granted just as it was cancelled
            raise
        try:
            yield
        finally:
            self._release(priority)

    def close(self) -> None:
        """Start nothing more: every waiting job is refused with `Draining`."""
        self._closing = True
        for waiting in [self._interactive, *self._bulk]:
            while waiting:
                turn = waiting.popleft()
                if not turn.done():
                    turn.set_exception(Draining())

    @property
    def waiting(self) -> int:
        return sum(len(lane) for lane in [self._interactive, *self._bulk])

    def _waiting(self, priority: Priority, lane: int) -> deque[asyncio.Future[None]]:
        if priority is Priority.INTERACTIVE:
            return self._interactive
        return self._bulk[lane % len(self._bulk)]

    def _release(self, priority: Priority) -> None:
        self._free += 1
        if priority is Priority.BULK:
            self._bulk_free += 1
        self._dispatch()

    def _dispatch(self) -> None:
        while self._free > 0:
            turn = _first_live(self._interactive)
            if turn is None and self._bulk_free > 0:
                turn = self._next_bulk()
                if turn is not None:
                    self._bulk_free -= 1
            if turn is None:
                return
            self._free -= 1
            turn.set_result(None)

    def _next_bulk(self) -> asyncio.Future[None] | None:
        """The first live waiter of the lane after the last one served, in turn."""
        count = len(self._bulk)
        for step in range(count):
            lane = (self._next_lane + step) % count
            turn = _first_live(self._bulk[lane])
            if turn is not None:
                self._next_lane = (lane + 1) % count
                return turn
        return None


def _first_live(waiting: deque[asyncio.Future[None]]) -> asyncio.Future[None] | None:
    """Pop the first waiter not cancelled meanwhile (its job's task was)."""
    while waiting:
        turn = waiting.popleft()
        if not turn.done():
            return turn
    return None
