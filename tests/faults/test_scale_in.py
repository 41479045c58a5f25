"""A scale-in, as Kubernetes does it: SIGTERM to one of several workers while it holds jobs
mid-resize. Every job ends `succeeded`, and none runs from scratch more than twice (once when
the drain deadline cuts a job short, never when it finishes in time). Runs from scratch are
counted from the workers' own `processing` events, which a test queue bound to the events
exchange receives beside the API's.
"""

import collections
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aio_pika.abc import AbstractIncomingMessage

from shared.messages import EventKind, JobEvent
from shared.settings import Settings
from tests.client import ApiClient, Tally
from tests.faults.test_faults import big_photo
from tests.support import BrokerProbe, running_api, service_env, started, stop, wait_for

pytestmark = pytest.mark.timeout(180)

# A few seconds of libvips work each: a SIGTERM lands in the middle of it.
SLOW = [{"name": "big", "width": 4000, "format": "avif", "quality": 70}]
JOBS = 4  # two on each worker


@pytest.fixture
def queue_type() -> str:
    """Quorum queues, as deploy/kubernetes runs them (the other fault tests cover classic)."""
    return "quorum"


@asynccontextmanager
async def events_tap(settings: Settings) -> AsyncIterator[list[JobEvent]]:
    """Every event any worker publishes from now on, in the order the broker delivers them."""
    received: list[JobEvent] = []

    async def keep(message: AbstractIncomingMessage) -> None:
        received.append(JobEvent.model_validate_json(message.body))
        await message.ack()

    async with BrokerProbe.open(settings) as probe:  # declares the exchange
        queue = await probe.channel.declare_queue(
            f"{settings.queue_name}.tap.{uuid.uuid4().hex[:8]}", exclusive=True
        )
        await queue.bind(probe.topology.events_exchange, "#")
        await queue.consume(keep)
        yield received


def runs(events: list[JobEvent], job_id: str) -> list[str]:
    """The workers that started `job_id` from scratch, in order."""
    return [e.worker for e in events if str(e.job_id) == job_id and e.kind is EventKind.PROCESSING]


def by(process: subprocess.Popen[bytes]) -> Callable[[str], bool]:
    return lambda worker: worker.endswith(f":{process.pid}")


@pytest.mark.parametrize(
    ("drain_seconds", "reruns"),
    [
        # The default relation (SHUTDOWN_TIMEOUT_SECONDS >= JOB_TIMEOUT_SECONDS, a grace period
        # above both): the stopped worker finishes what it runs; nothing runs twice.
        (60.0, 0),
        # A drain deadline shorter than the jobs: they are interrupted, handed back and run
        # once more, to the end, on the worker that stays.
        (0.5, 1),
    ],
)
async def test_sigterm_to_a_busy_worker_ends_every_job_succeeded_none_run_twice_over(
    broker_settings: Callable[..., Settings], tmp_path: Path, drain_seconds: float, reruns: int
) -> None:
    settings = broker_settings(worker_concurrency=2, shutdown_timeout_seconds=drain_seconds)
    async with running_api(settings) as http, events_tap(settings) as events:
        api = ApiClient(http)
        ids = [await api.submit(big_photo(), SLOW) for _ in range(JOBS)]
        env = service_env(settings)
        stopped_log, staying_log = tmp_path / "stopped.log", tmp_path / "staying.log"
        with (
            started("worker_service", env, stopped_log) as stopped,
            started("worker_service", env, staying_log) as staying,
        ):

            async def mid_resize() -> list[str]:
                taken = {str(e.job_id) for e in events if by(stopped)(e.worker)}
                ended = {str(e.job_id) for e in events if e.kind is EventKind.SUCCEEDED}
                return sorted(taken - ended) if len(taken - ended) == 2 else []

            held = await wait_for(mid_resize, within=60, what="the worker to run two jobs")
            # SIGTERM; it exits 0 within its drain deadline and the settling after it, far
            # inside Kubernetes' grace period (deploy/kubernetes/base/worker.yaml).
            stop(stopped, stopped_log, within=drain_seconds + 20)
            result = await api.tally(ids, within=90)
            attempts = [job["attempts"] for job in await api.jobs(ids)]
            stop(staying, staying_log, within=60)

    assert result == Tally(submitted=JOBS, succeeded=JOBS, failed=0, lost=0)
    starts = {job_id: runs(events, job_id) for job_id in ids}
    assert all(1 <= len(workers) <= 2 for workers in starts.values()), starts
    rerun = [job_id for job_id, workers in starts.items() if len(workers) == 2]
    if reruns:
        # The jobs cut short are exactly those it held, each run again by the other worker.
        assert sorted(rerun) == held
        assert all(not by(stopped)(starts[job_id][1]) for job_id in held)
    else:
        assert rerun == []
        finished_by = {str(e.job_id): e.worker for e in events if e.kind is EventKind.SUCCEEDED}
        assert all(by(stopped)(finished_by[job_id]) for job_id in held)
    # A job handed back at a stop keeps its attempt: a scale-in costs no attempt.
    assert collections.Counter(attempts) == {1: JOBS}
