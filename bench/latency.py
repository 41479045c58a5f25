"""Submit latency: `POST /v1/jobs` sent at fixed times (an open loop), so a slow answer does not
hold back the next request, and time spent waiting for a connection counts. Each latency runs
from the moment a request was due to its answer."""

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.client import ServiceClient, Upload
from bench.corpus import Photo, nearest
from bench.workloads import LATENCY_VARIANTS, upload_of

LATENCY_UPLOAD_BYTES = 1_000_000


@dataclass(frozen=True)
class Schedule:
    """`count` submits, `rate` a second, of `uploads` in turn."""

    uploads: Sequence[Upload]
    rate: float
    count: int

    @property
    def upload(self) -> Upload:
        """The first upload (the only one, in the latency runs)."""
        return self.uploads[0]


def latency_schedule(corpus: Sequence[Photo], rate: float, count: int) -> Schedule:
    """The latency requests: the corpus file nearest 1 MB, with a tiny variant."""
    upload = upload_of(nearest(list(corpus), LATENCY_UPLOAD_BYTES), LATENCY_VARIANTS)
    return Schedule((upload,), rate, count)


@dataclass(frozen=True)
class Latency:
    """Percentiles in seconds, and the jobs the requests made."""

    p50: float
    p95: float
    p99: float
    ids: list[str]


@dataclass(frozen=True)
class BusyLatency:
    latency: Latency
    backlog: int
    # The backlog's last job was still queued when the last answer came: busy throughout.
    busy_to_the_end: bool


async def idle_latency(client: ServiceClient, schedule: Schedule) -> Latency:
    """With nothing queued; the worker is idle again when it returns."""
    latency = await measure_latency(client, schedule)
    await client.wait_succeeded(latency.ids)
    return latency


async def busy_latency(
    client: ServiceClient, schedule: Schedule, backlog: Sequence[Upload], submitters: int
) -> BusyLatency:
    """While the worker works through `backlog`, queued first; it has finished when it returns."""
    backlog_ids = await client.submit_all(backlog, submitters)
    latency = await measure_latency(client, schedule)
    busy = await client.status(backlog_ids[-1]) == "queued"
    await client.wait_succeeded([*backlog_ids, *latency.ids])
    return BusyLatency(latency, len(backlog_ids), busy)


async def measure_latency(client: ServiceClient, schedule: Schedule) -> Latency:
    first = time.monotonic() + 0.05
    tasks = []
    async with asyncio.TaskGroup() as group:
        for index in range(schedule.count):
            due = first + index / schedule.rate
            await asyncio.sleep(due - time.monotonic())
            upload = schedule.uploads[index % len(schedule.uploads)]
            tasks.append(group.create_task(client.submit_timed(upload, due)))
    results = [task.result() for task in tasks]
    cuts = statistics.quantiles([seconds for _, seconds in results], n=100, method="inclusive")
    return Latency(cuts[49], cuts[94], cuts[98], [job_id for job_id, _ in results])
