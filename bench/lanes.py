"""Section `lanes`: interactive before bulk, and bulk keys in turn (issue 22), on a deployment
of its own with two API keys, A (the bulk importer) and B (people, then a second importer):

    idle      interactive jobs one at a time on an idle worker
    alone     a bulk backlog of A's, drained: bulk jobs/s
    with      the same backlog, with interactive jobs of B's spread over its drain: their
              times against idle, and bulk jobs/s against alone
    two keys  A's backlog queued first, then B's smaller one: how many of A's finished
              before B's last (in turn: about as many as B's; one after another: all of A's)

Each backlog is queued whole while the worker is paused (SIGSTOP, as `api` pauses it), so it
waits as the issue states it; the deployment asks the broker for a long AMQP heartbeat, so a
pause the length of thousands of uploads does not cost the worker its connection. A job's time
is the store's `created_at` to `updated_at` (the row is written just before the task's publish,
the 202 follows its confirm), which polling does not blur.
"""

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

import httpx

from bench.api import paused
from bench.client import ServiceClient, Upload
from bench.corpus import Photo
from bench.deployment import Deployment, deployed
from bench.options import Options
from bench.report import Report
from bench.throughput import SUBMITTERS, Rate
from bench.workloads import LANE_VARIANTS, upload_of

KEY_A, KEY_B = "bench-key-a", "bench-key-b"
HEARTBEAT_SECONDS = 900
# Interactive jobs are spread over this share of the backlog's drain (as long as it ran alone),
# so the last still finds a backlog behind it.
SPREAD = 0.6


@dataclass(frozen=True)
class Times:
    """Jobs' times, created_at to updated_at, in seconds."""

    seconds: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        if len(self.seconds) < 2:
            return self.seconds[0]
        return statistics.quantiles(self.seconds, n=100, method="inclusive")[94]


@dataclass(frozen=True)
class Shared:
    times: Times
    rate: Rate
    # The backlog's last job was still queued when the last interactive job finished.
    busy_to_the_end: bool


def job_seconds(job: dict[str, Any]) -> float:
    return (_at(job["updated_at"]) - _at(job["created_at"])).total_seconds()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def with_heartbeat(amqp_url: str) -> str:
    """Each node's URL asking for a heartbeat long enough to outlast a pause."""
    urls = [url.strip() for url in amqp_url.split(",") if url.strip()]
    joined = "&" if "?" in urls[0] else "?"
    return ",".join(f"{url}{joined}heartbeat={HEARTBEAT_SECONDS}" for url in urls)


@asynccontextmanager
async def _client(deployment: Deployment, key: str) -> AsyncIterator[ServiceClient]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=deployment.base_url, timeout=60, headers=headers) as http:
        yield ServiceClient(http)


@dataclass
class LaneRun:
    options: Options
    photos: list[Photo]
    deployment: Deployment
    bulk: ServiceClient
    people: ServiceClient

    def uploads(self, count: int, priority: str) -> list[Upload]:
        return [
            replace(upload_of(self.photos[n % len(self.photos)], LANE_VARIANTS), priority=priority)
            for n in range(count)
        ]

    async def person(self, upload: Upload) -> float:
        """One interactive job of B's, submitted and followed to its end: its time."""
        job = await self.people.finished(await self.people.submit(upload))
        return job_seconds(job)

    async def idle(self) -> Times:
        uploads = self.uploads(self.options.lanes_interactive, "interactive")
        return Times([await self.person(upload) for upload in uploads])

    async def queued(self, client: ServiceClient, count: int) -> list[str]:
        """`count` bulk jobs of the client's key, queued while the worker is paused."""
        with paused(self.deployment):
            return await client.submit_all(self.uploads(count, "bulk"), SUBMITTERS)

    async def alone(self) -> Rate:
        ids = await self.queued(self.bulk, self.options.lanes_bulk)
        started = time.monotonic()
        return Rate(len(ids), await self.bulk.wait_succeeded(ids) - started)

    async def shared(self, alone: Rate) -> Shared:
        ids = await self.queued(self.bulk, self.options.lanes_bulk)
        started = time.monotonic()
        count = self.options.lanes_interactive
        every = SPREAD * alone.seconds / count
        people = asyncio.create_task(self._people_over(started, every, count, ids[-1]))
        rate = Rate(len(ids), await self.bulk.wait_succeeded(ids) - started)
        times, busy = await people
        return Shared(times, rate, busy)

    async def _people_over(
        self, started: float, every: float, count: int, last_bulk: str
    ) -> tuple[Times, bool]:
        seconds = []
        for index, upload in enumerate(self.uploads(count, "interactive")):
            await asyncio.sleep(started + (index + 0.5) * every - time.monotonic())
            seconds.append(await self.person(upload))
        return Times(seconds), await self.bulk.status(last_bulk) == "queued"

    async def two_keys(self) -> int:
        """A's backlog queued first, then B's; how many of A's finished before B's last."""
        first = await self.queued(self.bulk, self.options.lanes_first)
        second = await self.queued(self.people, self.options.lanes_second)
        await asyncio.gather(self.bulk.wait_succeeded(first), self.people.wait_succeeded(second))
        a_ended = await _ended(self.bulk, first)
        b_last = max(await _ended(self.people, second))
        return sum(ended < b_last for ended in a_ended)


async def _ended(client: ServiceClient, ids: Sequence[str]) -> list[datetime]:
    return [_at((await client.job(job_id))["updated_at"]) for job_id in ids]


@dataclass(frozen=True)
class LaneFigures:
    idle: Times
    alone: Rate
    shared: Shared
    # Key A's jobs that finished before key B's last.
    before: int
    concurrency: int

    def add_to(self, report: Report, options: Options) -> None:
        add = partial(report.add, "lanes")
        idle, alone, shared = self.idle, self.alone, self.shared
        jobs = f"{len(idle.seconds)} interactive jobs"
        add("interactive p50, idle worker", idle.p50, "s", f"{jobs} one at a time")
        add("interactive p95, idle worker", idle.p95, "s")
        state = "busy to the end" if shared.busy_to_the_end else "NOT busy to the end"
        note = f"{jobs} spread over the drain of {alone.jobs} queued bulk jobs, worker {state}"
        add("interactive p50, behind bulk", shared.times.p50, "s", note)
        add("interactive p95, behind bulk", shared.times.p95, "s")
        add("interactive p95 behind bulk / idle", shared.times.p95 / idle.p95, "ratio", "goal: < 2")
        note = (
            f"{alone.jobs} queued bulk jobs, concurrency {self.concurrency}, {alone.seconds:.1f} s"
        )
        add("bulk throughput alone", alone.jobs_per_second, "jobs/s", note)
        note = f"the same, with the interactive jobs, {shared.rate.seconds:.1f} s"
        add("bulk throughput with interactive", shared.rate.jobs_per_second, "jobs/s", note)
        ratio = shared.rate.jobs_per_second / alone.jobs_per_second
        add("bulk throughput with / alone", ratio, "ratio", "goal: > 0.95")
        note = (
            f"key A's {options.lanes_first} bulk jobs queued first, then key B's "
            f"{options.lanes_second}; goal: < {0.3 * options.lanes_first:.0f}"
        )
        add("key A's jobs done before key B's last", self.before, "count", note)


async def run_lanes(options: Options, photos: list[Photo], report: Report) -> None:
    overrides = {**options.setting_overrides, "api_keys": f"{KEY_A},{KEY_B}"}
    async with (
        deployed(with_heartbeat(options.amqp_url), overrides, options.extra_env) as deployment,
        _client(deployment, KEY_A) as bulk,
        _client(deployment, KEY_B) as people,
    ):
        run = LaneRun(options, photos, deployment, bulk, people)
        await run.person(run.uploads(1, "interactive")[0])  # the worker has loaded its codecs
        with report.timed("lanes"):
            idle = await run.idle()
            alone = await run.alone()
            shared = await run.shared(alone)
            before = await run.two_keys()
        concurrency = deployment.settings.worker_concurrency
    LaneFigures(idle, alone, shared, before, concurrency).add_to(report, options)
