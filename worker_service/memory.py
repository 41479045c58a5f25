"""The memory all of a worker's running jobs share (WORKER_MEMORY_MB), so that several large
jobs at once cannot take the worker past it. Each job reserves what it will hold at most
(`shared.job_memory.job_bytes`) before it starts; a job needing more than the whole budget never
gets here (`shared.images.check_outputs` fails it first).
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class MemoryBudget:
    """Bytes the worker's running jobs may hold together. A job waits until its share is free,
    in turn (first come, first served, so a large job is not passed over forever)."""

    def __init__(self, total_bytes: int) -> None:
        self.total = total_bytes
        self._free = total_bytes
        self._turn = asyncio.Lock()
        self._released = asyncio.Event()

    @property
    def free(self) -> int:
        return self._free

    @asynccontextmanager
    async def reserve(self, amount: int) -> AsyncIterator[None]:
        if amount > self.total:
            # It would wait for ever: such a job is failed before it asks.
            raise ValueError(f"{amount} bytes asked of a budget of {self.total}")
        async with self._turn:
            while self._free < amount:
                self._released.clear()
                await self._released.wait()
            self._free -= amount
        try:
            yield
        finally:
            self._free += amount
            self._released.set()
