"""API requests a second per core: submits and status reads of tiny jobs, each phase measured
alone, on a deployment of its own (the API and one worker; the job store on PostgreSQL, in a
database of the bench's own, with `--postgres-url`).

    submit  N `POST /v1/jobs` of a 64x64 JPEG, CLIENTS (32) at a time, the worker paused
            (SIGSTOP), so the API's CPU over the phase is the submits' alone;
    events  the worker resumed (SIGCONT) runs the N jobs; the API's CPU until all have succeeded
            is applying each job's two events, plus the bench's polling for the end;
    status  N `GET /v1/jobs/{id}` of those jobs, as many at a time.

A phase's requests per core is its requests over the CPU time (user + system, every thread) the
API used in it: on a shared machine that holds steadier than a wall-clock rate. The wall-clock
rate is reported beside it with the API pinned to one core (`sched_setaffinity` on each of its
threads, as `taskset -a -p` does) and the bench's client on the others. With PostgreSQL, each
phase also gives the store's commits, rollbacks (reads) and rows written per request.
"""

import logging
import os
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from bench.bursts import Burst, burst
from bench.client import ServiceClient
from bench.deployment import Deployment, deployed
from bench.options import Options
from bench.postgres import PrivateDatabase, StoreCounts, private_database
from bench.proc import CpuMeter
from bench.report import Report
from bench.workloads import tiny_upload

logger = logging.getLogger(__name__)

CLIENTS = 32
PHASES = {
    "submit": "POST /v1/jobs of a 64x64 JPEG, one 32 px variant, the worker paused",
    "events": "the worker resumed: applying one job's events (processing, succeeded), and "
    "the bench's polls until all have succeeded",
    "status": "GET /v1/jobs/{id} of those jobs",
}
READS = "the reads (SQLAlchemy ends a session that only read with a rollback)"
ROWS = "tup_inserted + tup_updated + tup_deleted"


@dataclass(frozen=True)
class Phase:
    """What one phase of `requests` cost the API (and the store, on PostgreSQL)."""

    name: str
    what: str
    requests: int
    api_cpu_seconds: float
    burst: Burst | None
    store: StoreCounts | None

    @property
    def per_core_second(self) -> float:
        return self.requests / self.api_cpu_seconds

    @property
    def cpu_ms(self) -> float:
        return self.api_cpu_seconds / self.requests * 1000


@dataclass(frozen=True)
class ApiRun:
    pinned: bool
    phases: list[Phase]
    on_postgres: bool


async def run_api(options: Options, report: Report) -> None:
    with report.timed("api"):
        run = await measure_api(options)
    where = "the API on one core, the client on the others" if run.pinned else "one core"
    store = "PostgreSQL" if run.on_postgres else "SQLite"
    add = partial(report.add, "api")
    for phase in run.phases:
        add(f"{phase.name}: API CPU per request", phase.cpu_ms, "ms", f"{phase.what}; {store}")
        if phase.burst is not None:
            add(f"{phase.name}: requests per API core", phase.per_core_second, "req/s", "1 / CPU")
            add(
                f"{phase.name}: requests a second",
                phase.burst.per_second,
                "req/s",
                f"wall clock, {where}, {CLIENTS} clients, {phase.burst.seconds:.1f} s",
            )
            add(f"{phase.name}: p95", phase.burst.p95 * 1000, "ms")
        if phase.store is not None:
            per_request = partial(_per_request, add, phase)
            per_request("commits", phase.store.commits, "xact_commit: the writes")
            per_request("rollbacks", phase.store.rollbacks, f"xact_rollback: {READS}")
            per_request("rows written", phase.store.rows_written, ROWS)


def _per_request(add: Callable[..., None], phase: Phase, what: str, count: int, note: str) -> None:
    add(f"{phase.name}: PostgreSQL {what} per request", count / phase.requests, "each", note)


async def measure_api(options: Options) -> ApiRun:
    store: AbstractAsyncContextManager[PrivateDatabase | None] = (
        private_database(options.postgres_url, options.postgres_report_wait)
        if options.postgres_url
        else nullcontext(None)
    )
    async with store as database:
        store_url = {"database_url": database.url} if database else {}
        settings = {**options.setting_overrides, **store_url}
        async with (
            deployed(options.amqp_url, settings, options.extra_env) as deployment,
            httpx.AsyncClient(base_url=deployment.base_url, timeout=60) as http,
        ):
            client = ServiceClient(http)
            await client.wait_succeeded([await client.submit(tiny_upload())])  # warm-up
            with pinned(deployment.api.process.pid) as is_pinned:
                phases = await _Phases(options.api_requests, client, deployment, database).run()
    return ApiRun(is_pinned, phases, database is not None)


@dataclass
class _Phases:
    count: int
    client: ServiceClient
    deployment: Deployment
    database: PrivateDatabase | None
    ids: list[str] = field(default_factory=list)

    async def run(self) -> list[Phase]:
        counts = await self._counts()
        with paused(self.deployment):  # until the store's counts are read: the submits' alone
            submits, counts = await self._phase("submit", self._submits, counts)
        events, counts = await self._phase("events", self._events, counts)
        reads, _ = await self._phase("status", self._reads, counts)
        return [submits, events, reads]

    async def _phase(
        self, name: str, work: Callable[[], Awaitable[Burst | None]], before: StoreCounts | None
    ) -> tuple[Phase, StoreCounts | None]:
        """Run `work` (its timed requests, if any) and what it cost the API and the store;
        the store's counts after it (the next phase's before)."""
        logger.info("api: %s, %d requests", name, self.count)
        cpu = CpuMeter("API", self.deployment.api.process.pid)
        timed = await work()
        seconds = cpu.seconds()
        after = await self._counts()
        used = after - before if after is not None and before is not None else None
        return Phase(name, PHASES[name], self.count, seconds, timed, used), after

    async def _submits(self) -> Burst:
        upload = tiny_upload()

        async def submit(_: int) -> None:
            self.ids.append(await self.client.submit(upload))

        return await burst(submit, self.count, CLIENTS)

    async def _events(self) -> None:
        await self.client.wait_succeeded(self.ids)

    async def _reads(self) -> Burst:
        async def read(index: int) -> None:
            await self.client.status(self.ids[index % len(self.ids)])

        return await burst(read, self.count, CLIENTS)

    async def _counts(self) -> StoreCounts | None:
        return await self.database.counts() if self.database else None


@contextmanager
def paused(deployment: Deployment) -> Iterator[None]:
    """The worker stopped (SIGSTOP) for the block: it takes no task and sends no event."""
    worker = deployment.worker.process
    worker.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        worker.send_signal(signal.SIGCONT)


@contextmanager
def pinned(pid: int) -> Iterator[bool]:
    """Every thread of `pid` on one core and this process on the others, for the block; False
    (nothing pinned) on a machine with one core."""
    cores = os.sched_getaffinity(0)
    if len(cores) < 2:
        yield False
        return
    api_core = max(cores)
    for thread in Path(f"/proc/{pid}/task").iterdir():
        with suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(thread.name), {api_core})
    os.sched_setaffinity(0, cores - {api_core})
    try:
        yield True
    finally:
        os.sched_setaffinity(0, cores)
