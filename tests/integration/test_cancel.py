"""Cancel with real workers on RabbitMQ: a running job is stopped mid-libvips and keeps nothing,
a job in a worker's prefetch or queued across restarts never runs, a marker alone is enough, and
with several API replicas and workers the cancel reaches whichever worker holds the job."""

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest

from shared import layout
from shared.settings import Settings
from shared.storage import open_storage
from tests.client import ApiClient, Event, Json, assert_problem
from tests.images import jpeg_bytes
from tests.queue_types import each_queue_type  # noqa: F401 - each test on both queue types
from tests.receiver import Receiver, hooked
from tests.s3 import Bucket, storage_settings
from tests.support import BrokerProbe, running_api, running_worker, stored_keys, wait_for
from worker_service.worker import Worker

pytestmark = pytest.mark.timeout(180)

THUMB = [{"name": "thumb", "width": 64, "format": "webp"}]
# Several seconds of libvips work here: a cancel lands mid-render.
SLOW = [{"name": f"big{n}", "width": 3000, "format": "webp", "quality": 90} for n in range(4)]


def big_photo() -> bytes:
    return jpeg_bytes(4000, 3000)


def jobs_ended(worker: Worker, outcome: str) -> int:
    count = worker.metrics.registry.get_sample_value("resize_jobs_total", {"outcome": outcome})
    return int(count or 0)


async def cancelled_by(worker: Worker, count: int, within: float = 15) -> float:
    """Wait until `worker` has acked `count` cancelled deliveries; when it had (monotonic)."""

    async def done() -> bool:
        return jobs_ended(worker, "cancelled") >= count

    await wait_for(done, within, f"{count} cancelled deliveries")
    return time.monotonic()


async def test_a_processing_job_is_stopped_at_once_keeps_nothing_and_ends_like_any_job(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = hooked(broker_settings, worker_concurrency=1)
    async with (
        Receiver.running() as receiver,
        running_api(settings) as http,
        running_worker(settings) as worker,
    ):
        api = ApiClient(http)
        slow = await api.submit(big_photo(), SLOW, callback_url=receiver.url)
        waiting = await api.submit(jpeg_bytes(), THUMB)
        await api.wait_for_status("processing", [slow], 1)
        stream = asyncio.create_task(api.events(slow))
        asked = time.monotonic()
        answer = await api.cancel(slow)
        answered = time.monotonic()
        freed = await cancelled_by(worker, 1)
        await api.wait_for_status(["processing", "succeeded"], [waiting], 1)
        next_started = time.monotonic()
        events: list[Event] = await stream
        (webhook,) = await receiver.requests(1)
        assert (await api.finished(waiting))["status"] == "succeeded"
        job = await api.job(slow)
        outputs = await stored_keys(settings, layout.outputs_prefix(job_id(slow)))
        again = await http.post(f"/v1/jobs/{slow}/cancel")
    assert answer["status"] == "cancelled"
    assert answered - asked < 1
    assert freed - answered < 1, f"slot freed {freed - answered:.3f} s after the 202"
    assert next_started - answered < 2
    assert job["status"] == "cancelled"
    assert job["outputs"] == []
    assert outputs == []
    assert events[-1].job["status"] == "cancelled"
    assert webhook.job["status"] == "cancelled"
    assert jobs_ended(worker, "succeeded") == 1  # the waiting job only
    assert assert_problem(again, 409)["type"] == "/problems/job-already-finished"


async def test_a_queued_job_in_a_workers_prefetch_is_never_run_and_its_retry_is(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(worker_concurrency=1)
    async with (
        running_api(settings) as http,
        BrokerProbe.open(settings) as probe,
        running_worker(settings) as worker,
    ):
        api = ApiClient(http)
        slow = await api.submit(big_photo(), SLOW)
        await api.wait_for_status("processing", [slow], 1)
        held = await api.submit(jpeg_bytes(), THUMB)
        # Moved to the retry queue, whose consumer has prefetch room of its own: the worker
        # takes the task and holds it, waiting for the one slot the slow job has.
        work = await probe.channel.get_queue(probe.topology.work_queue)
        task = await work.get(timeout=5)
        await probe.publish(task.body, str(held), probe.topology.retry_queue)
        await task.ack()
        await wait_for(lambda: _empty(probe, probe.topology.retry_queue), what="the handover")
        job = await api.cancel(held)
        assert (await api.finished(slow, within=60))["status"] == "succeeded"
        await cancelled_by(worker, 1)
        outputs = await stored_keys(settings, layout.outputs_prefix(job_id(held)))
        retried = await http.post(f"/v1/jobs/{held}/retry")
        after_retry = await api.finished(held)
    assert job["status"] == "cancelled"
    assert outputs == []
    assert jobs_ended(worker, "succeeded") == 2  # the slow job, and the retry's new run
    assert retried.status_code == 202
    assert after_retry["status"] == "succeeded"
    assert [output["name"] for output in after_retry["outputs"]] == ["thumb"]


async def test_200_queued_jobs_cancelled_at_once_never_run_across_restarts(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(worker_concurrency=4)
    async with running_api(settings) as http:
        api = ApiClient(http)
        image = jpeg_bytes(320, 240)
        ids = [await api.submit(image, THUMB) for _ in range(200)]
        # 20 in flight, not 200: SQLite takes one write at a time, and on a busy machine the
        # last of 200 would wait past the store's 2 s bound (a 503 a client retries).
        in_flight = asyncio.Semaphore(20)

        async def cancel(job: str) -> Json:
            async with in_flight:
                return await api.cancel(job)

        answers = await asyncio.gather(*map(cancel, ids))
    # A new API and a worker that never heard a notice: the markers alone stop every task.
    async with running_api(settings) as http, running_worker(settings) as worker:
        api = ApiClient(http)
        await cancelled_by(worker, 200, within=120)
        tally = await api.tally(ids)
        outputs = await stored_keys(settings, "outputs/")
        fresh = await api.finished(await api.submit(image, THUMB))
    assert {answer["status"] for answer in answers} == {"cancelled"}
    assert tally.cancelled == 200
    assert jobs_ended(worker, "succeeded") == 1  # the fresh job only
    assert outputs == [key for key in outputs if key.startswith(f"outputs/{fresh['id']}/")]
    assert fresh["status"] == "succeeded"


async def test_a_marker_alone_ends_the_job_with_a_webhook_on_each_storage(
    broker_settings: Callable[..., Settings], each_storage: Bucket | None
) -> None:
    # The API stopped after writing the marker and before its UPDATE: the worker's
    # `cancelled` event ends the job instead.
    settings = hooked(broker_settings, **storage_settings(each_storage))
    async with Receiver.running() as receiver, running_api(settings) as http:
        api = ApiClient(http)
        job = await api.submit(jpeg_bytes(), THUMB, callback_url=receiver.url)
        async with open_storage(settings) as storage:
            await storage.put(layout.cancel_key(job_id(job), 1), b"")
        async with running_worker(settings) as worker:
            ended = await api.finished(job)
            (webhook,) = await receiver.requests(1)
        outputs = await stored_keys(settings, layout.outputs_prefix(job_id(job)))
    assert ended["status"] == "cancelled"
    assert webhook.job["status"] == "cancelled"
    assert jobs_ended(worker, "cancelled") == 1
    assert outputs == []


async def test_with_two_replicas_and_two_workers_the_cancel_reaches_the_worker_holding_the_job(
    broker_settings: Callable[..., Settings], postgres_url: str
) -> None:
    settings = broker_settings(database_url=postgres_url, worker_concurrency=1)
    async with (
        running_api(settings) as first,
        running_api(settings) as second,
        running_worker(settings, name="worker-a") as worker_a,
        running_worker(settings, name="worker-b") as worker_b,
    ):
        submitter, canceller = ApiClient(first), ApiClient(second)
        ids = [await submitter.submit(big_photo(), SLOW) for _ in range(2)]
        await submitter.wait_for_status("processing", ids, 2, within=60)
        answered = time.monotonic()
        answers = await asyncio.gather(*(canceller.cancel(job) for job in ids))
        stopped = [await cancelled_by(worker, 1) for worker in (worker_a, worker_b)]
        seen_by_submitter = await submitter.jobs(ids)
    assert {answer["status"] for answer in answers} == {"cancelled"}
    assert max(stopped) - answered < 1
    assert {job["status"] for job in seen_by_submitter} == {"cancelled"}
    assert jobs_ended(worker_a, "succeeded") + jobs_ended(worker_b, "succeeded") == 0


async def _empty(probe: BrokerProbe, queue: str) -> bool:
    return await probe.ready_messages(queue) == 0


def job_id(job: str) -> uuid.UUID:
    return uuid.UUID(job)
