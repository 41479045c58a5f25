"""Job time at a steady load: corpus jobs submitted at fixed times (an open loop, as people
upload: a slow answer does not hold back the next), each timed from its submit to its success
as the job store recorded them (`created_at` to `updated_at`), with how many cores the worker
kept busy meanwhile. It is the figure a latency goal ("p95 under 10 s") is about: queueing
and the run together, at a load that is a known share of the worker's capacity.
"""

import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bench.client import ServiceClient, Upload
from bench.latency import Schedule, measure_latency
from bench.proc import CpuMeter


@dataclass(frozen=True)
class Steady:
    jobs: int
    rate: float
    # Seconds from submit to success.
    p50: float
    p95: float
    longest: float
    # The worker's CPU seconds over the run's wall seconds: cores it kept busy.
    worker_cores: float

    @property
    def worker_share(self) -> float:
        """Of the machine's cores."""
        return self.worker_cores / (os.cpu_count() or 1)


async def measure_steady(
    client: ServiceClient, uploads: Sequence[Upload], rate: float, worker_pid: int
) -> Steady:
    worker = CpuMeter("worker", worker_pid)
    started = time.monotonic()
    latency = await measure_latency(client, Schedule(uploads, rate, len(uploads)))
    await client.wait_succeeded(latency.ids)
    busy = worker.seconds() / (time.monotonic() - started)
    times = [_seconds_to_success(await client.finished(job_id)) for job_id in latency.ids]
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return Steady(len(times), rate, cuts[49], cuts[94], max(times), busy)


def _seconds_to_success(job: dict[str, object]) -> float:
    created = datetime.fromisoformat(str(job["created_at"]))
    return (datetime.fromisoformat(str(job["updated_at"])) - created).total_seconds()
