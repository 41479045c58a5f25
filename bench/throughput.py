"""Throughput over HTTP: submit a batch, and time it from the first submit until the last job
has succeeded. Corpus jobs give the service's rate; tiny ones its ceiling."""

import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.client import ServiceClient, Upload

# Concurrent submitters of corpus jobs: a few clients uploading at once.
SUBMITTERS = 4


@dataclass(frozen=True)
class Rate:
    jobs: int
    seconds: float

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.seconds


@dataclass(frozen=True)
class ServiceRate(Rate):
    # How long the submits took, the worker already at work on the first ones.
    submit_seconds: float

    @property
    def submit_seconds_per_job(self) -> float:
        return self.submit_seconds / self.jobs


async def measure_throughput(
    client: ServiceClient, uploads: Sequence[Upload], submitters: int
) -> ServiceRate:
    started = time.monotonic()
    ids = await client.submit_all(uploads, submitters)
    submitted = time.monotonic()
    return ServiceRate(len(ids), await client.wait_succeeded(ids) - started, submitted - started)
