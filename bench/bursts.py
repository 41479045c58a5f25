"""A closed loop of requests: `count` calls, `concurrency` at a time, each timed from its start to
its answer. `api` sends HTTP requests with it and `broker` confirmed publishes."""

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Burst:
    count: int
    seconds: float
    p95: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


async def burst(call: Callable[[int], Awaitable[object]], count: int, concurrency: int) -> Burst:
    """`call(0)` … `call(count - 1)`, each client starting the next as soon as it has an answer."""
    latencies: list[float] = []
    pending = iter(range(count))

    async def client() -> None:
        for index in pending:
            started = time.monotonic()
            await call(index)
            latencies.append(time.monotonic() - started)

    started = time.monotonic()
    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, count)):
            group.create_task(client())
    seconds = time.monotonic() - started
    if len(latencies) == 1:
        return Burst(count, seconds, latencies[0])
    return Burst(count, seconds, statistics.quantiles(latencies, n=100, method="inclusive")[94])
