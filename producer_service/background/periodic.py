"""A background loop of the API: one pass now, then one every interval, until the app stops.

A pass that finds the broker, the store or the disk failing (`Unavailable`) is logged
and tried again at the next interval; the loop itself never dies of it.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from producer_service.errors import Unavailable

logger = logging.getLogger(__name__)

NOT_READY_PAUSE_SECONDS = 1.0


class Periodic:
    def __init__(
        self,
        name: str,
        interval_seconds: float,
        run_pass: Callable[[], Awaitable[object]],
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        """`run_pass` every `interval_seconds`, once `ready()` says it can run at all."""
        self._name = name
        self._interval = interval_seconds
        self._run_pass = run_pass
        self._ready = ready
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            if not self._ready():
                await asyncio.sleep(NOT_READY_PAUSE_SECONDS)
                continue
            try:
                await self._run_pass()
            except Unavailable as exc:
                logger.warning("%s pass failed, will try again: %r", self._name, exc)
            await asyncio.sleep(self._interval)
