"""Fault injection: every scenario counts jobs submitted, succeeded, failed and lost (always 0).

Workers run as real processes (`python -m worker_service`) so they can be killed; tests that stop
the broker use a private RabbitMQ node of their own.
"""

import asyncio
import functools
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import aio_pika
import pytest

from shared import layout
from shared.messages import TASK_TYPE, ResizeTask, message_properties
from shared.settings import Settings
from tests.client import ApiClient, Tally
from tests.images import jpeg_bytes, undecodable_png
from tests.support import (
    BrokerProbe,
    logged,
    make_settings,
    running_api,
    service_env,
    started,
    stop,
    wait_for,
)
from tests.support.private_nodes import PrivateBroker

pytestmark = pytest.mark.timeout(180)

THUMB = [{"name": "thumb", "width": 120, "format": "webp"}]
# About a second of libvips work on this machine: long enough to be caught mid-job.
SLOW = [{"name": "big", "width": 2400, "format": "avif", "quality": 70}]
# Several seconds: long enough for a broker to be stopped while it runs.
SLOWER = [{"name": f"big{n}", "width": 4000, "format": "avif", "quality": 70} for n in (1, 2)]


@functools.cache
def big_photo(width: int = 4000, height: int = 3000) -> bytes:
    return jpeg_bytes(width, height)


async def test_a_worker_sigkilled_mid_job_loses_nothing(
    broker_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = broker_settings(worker_concurrency=2)
    async with running_api(settings) as http:
        api = ApiClient(http)
        ids = [await api.submit(big_photo(), SLOW) for _ in range(6)]
        with started("worker_service", service_env(settings), tmp_path / "w1.log") as first:
            killed = await api.wait_for_status("processing", ids, 1)
            first.send_signal(signal.SIGKILL)
            first.wait()
        with started("worker_service", service_env(settings), tmp_path / "w2.log") as second:
            result = await api.tally(ids)
            stop(second, tmp_path / "w2.log", within=60)
        attempts = {str(job["id"]): int(str(job["attempts"])) for job in await api.jobs(ids)}
    assert result == Tally(submitted=6, succeeded=6, failed=0, lost=0)
    # A job seen running when the worker died was delivered again, and that delivery counted
    # (one could just have finished before the kill landed, hence `any`).
    assert any(attempts[job_id] == 2 for job_id in killed)
    assert all(attempts[job_id] <= 2 for job_id in ids)


async def test_sigterm_finishes_running_jobs_and_leaves_the_rest_queued(
    broker_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = broker_settings(worker_concurrency=2)
    log = tmp_path / "w1.log"
    async with running_api(settings) as http:
        api = ApiClient(http)
        ids = [await api.submit(big_photo(), SLOW) for _ in range(6)]
        with started("worker_service", service_env(settings), log) as worker:
            running = await api.wait_for_status("processing", ids, 2)
            stop(worker, log, within=60)
        assert (await api.tally(running)).succeeded == len(running)
        after_stop = [job["status"] for job in await api.jobs(ids)]
        assert set(after_stop) == {"succeeded", "queued"}
        assert after_stop.count("queued") >= 2
        with started("worker_service", service_env(settings), tmp_path / "w2.log") as second:
            result = await api.tally(ids)
            stop(second, tmp_path / "w2.log", within=60)
        attempts = [job["attempts"] for job in await api.jobs(ids)]
    assert result == Tally(submitted=6, succeeded=6, failed=0, lost=0)
    assert attempts == [1] * 6


async def test_jobs_queued_while_the_broker_restarts_all_complete(
    private_broker: PrivateBroker, tmp_path: Path, queue_type: str
) -> None:
    settings = make_settings(tmp_path, queue_type=queue_type, amqp_url=private_broker.url)
    async with running_api(settings) as http:
        api = ApiClient(http)
        ids = [await api.submit(jpeg_bytes(), THUMB) for _ in range(5)]
        await private_broker.stop()
        await private_broker.start()
        with started("worker_service", service_env(settings), tmp_path / "worker.log") as worker:
            result = await api.tally(ids)
            stop(worker, tmp_path / "worker.log", within=60)
    assert result == Tally(submitted=5, succeeded=5, failed=0, lost=0)


async def test_a_broker_outage_gives_503_then_everything_recovers_by_itself(
    private_broker: PrivateBroker, tmp_path: Path, queue_type: str
) -> None:
    settings = make_settings(
        tmp_path, queue_type=queue_type, amqp_url=private_broker.url, worker_concurrency=2
    )
    log = tmp_path / "worker.log"
    async with running_api(settings) as http:
        api = ApiClient(http)
        with started("worker_service", service_env(settings), log) as worker:
            before = await api.submit(jpeg_bytes(), THUMB)
            assert (await api.tally([before])).succeeded == 1
            in_flight = await api.submit(big_photo(6000, 4500), SLOWER)
            await api.wait_for_status("processing", [in_flight], 1)

            await private_broker.stop()
            started_at = time.monotonic()
            refused = await api.post_job(jpeg_bytes())
            assert time.monotonic() - started_at < 5
            assert refused.status_code == 503
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["retry-after"]) > 0
            assert (await http.get("/readyz")).status_code == 503
            assert (await http.get(f"/v1/jobs/{before}")).json()["status"] == "succeeded"

            await private_broker.start()

            async def ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await wait_for(ready, within=60, what="the API to reconnect")
            after = await api.submit(jpeg_bytes(), THUMB)
            result = await api.tally([before, in_flight, after])
            assert worker.poll() is None, log.read_text()
            stop(worker, log, within=60)
    assert result == Tally(submitted=3, succeeded=3, failed=0, lost=0)


async def test_a_frozen_broker_gives_503_within_seconds_and_a_late_task_is_dropped(
    private_broker: PrivateBroker, tmp_path: Path, queue_type: str
) -> None:
    settings = make_settings(
        tmp_path, queue_type=queue_type, amqp_url=private_broker.url, publish_timeout_seconds=3
    )
    async with running_api(settings) as http:
        api = ApiClient(http)
        private_broker.freeze()
        try:
            started_at = time.monotonic()
            refused = await api.post_job(jpeg_bytes(), THUMB)
            waited = time.monotonic() - started_at
            ready = await http.get("/readyz")
        finally:
            private_broker.thaw()
        await wait_for(api.is_ready, what="the API to be ready again")
        accepted = await api.submit(jpeg_bytes(), THUMB)
        listed = (await http.get("/v1/jobs")).json()["items"]
        async with BrokerProbe.open(settings) as probe:
            # The refused task reached the queue once the broker woke: two tasks, one job.
            await wait_for(lambda: _at_least(probe, probe.topology.work_queue, 2), what="tasks")
            with started(
                "worker_service", service_env(settings), tmp_path / "worker.log"
            ) as worker:
                result = await api.tally([accepted])
                stop(worker, tmp_path / "worker.log", within=60)
            leftovers = [
                await probe.ready_messages(queue)
                for queue in (probe.topology.work_queue, probe.topology.dead_letter_queue)
            ]
    assert refused.status_code == 503
    assert "retry-after" in refused.headers
    assert waited < 5
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"] == "not confirming"
    assert [job["id"] for job in listed] == [accepted]
    assert result == Tally(submitted=1, succeeded=1, failed=0, lost=0)
    assert leftovers == [0, 0]  # the late task was dropped, not dead-lettered


async def test_a_replay_while_the_first_try_waits_never_gets_a_job_that_is_dropped(
    private_broker: PrivateBroker, tmp_path: Path, queue_type: str
) -> None:
    settings = make_settings(
        tmp_path, queue_type=queue_type, amqp_url=private_broker.url, publish_timeout_seconds=2
    )
    key = {"Idempotency-Key": "order-7"}
    async with running_api(settings) as http:
        api = ApiClient(http)
        private_broker.freeze()
        try:
            first = asyncio.create_task(api.post_job(jpeg_bytes(), THUMB, key))
            await wait_for(lambda: _listed(api), what="the first try's job row")
            replay = asyncio.create_task(api.post_job(jpeg_bytes(), THUMB, key))
            first_answer = await first
        finally:
            private_broker.thaw()
        replay_answer = await replay
        replayed = str(replay_answer.json()["id"])
        with started("worker_service", service_env(settings), tmp_path / "worker.log") as worker:
            result = await api.tally([replayed])
            stop(worker, tmp_path / "worker.log", within=60)
        again = await api.post_job(jpeg_bytes(), THUMB, key)
        listed = [job["id"] for job in (await http.get("/v1/jobs")).json()["items"]]
    assert first_answer.status_code == 503
    assert replay_answer.status_code == 202, replay_answer.text
    assert result == Tally(submitted=1, succeeded=1, failed=0, lost=0)
    assert again.json()["id"] == replayed
    assert listed == [replayed]


async def _listed(api: ApiClient) -> bool:
    return bool((await api.http.get("/v1/jobs")).json()["items"])


async def test_poison_inputs_fail_fast_and_the_worker_keeps_serving(
    broker: Settings, tmp_path: Path
) -> None:
    async with running_api(broker) as http, BrokerProbe.open(broker) as probe:
        api = ApiClient(http)
        bad = [await api.submit(undecodable_png(), THUMB) for _ in range(2)]
        good = await api.submit(jpeg_bytes(), THUMB)
        await probe.channel.default_exchange.publish(
            _message(b'{"version": 1, "job_id": "oops"}', str(uuid.uuid4())),
            routing_key=probe.topology.work_queue,
        )
        with started("worker_service", service_env(broker), tmp_path / "worker.log") as worker:
            result = await api.tally([*bad, good])
            failed = await api.jobs(bad)
            dead = await wait_for(
                lambda: _at_least(probe, probe.topology.dead_letter_queue, 3),
                what="three dead letters",
            )
            stop(worker, tmp_path / "worker.log", within=60)
    assert result == Tally(submitted=3, succeeded=1, failed=2, lost=0)
    assert all(job["attempts"] == 1 for job in failed)
    assert all(job["error"]["code"] == "undecodable_image" for job in failed)
    assert dead == 3


async def test_a_job_slower_than_the_timeout_is_stopped_retried_then_failed(
    broker_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = broker_settings(job_timeout_seconds=0.3, max_attempts=2)
    async with running_api(settings) as http:
        api = ApiClient(http)
        slow = await api.submit(big_photo(), SLOW)
        quick = await api.submit(jpeg_bytes(), THUMB)
        with started("worker_service", service_env(settings), tmp_path / "worker.log") as worker:
            result = await api.tally([slow, quick])
            stop(worker, tmp_path / "worker.log", within=60)
        timed_out, done = await api.jobs([slow, quick])
    assert result == Tally(submitted=2, succeeded=1, failed=1, lost=0)
    assert timed_out["attempts"] == 2
    assert timed_out["error"]["code"] == "timeout"
    assert done["status"] == "succeeded"
    big = layout.path_of(settings.data_dir, f"outputs/{slow}/big.avif")
    assert not big.exists()


async def test_a_duplicate_delivery_of_a_finished_job_changes_nothing(
    broker: Settings, tmp_path: Path
) -> None:
    async with running_api(broker) as http, BrokerProbe.open(broker) as probe:
        api = ApiClient(http)
        job_id = await api.submit(jpeg_bytes(), THUMB)
        with started("worker_service", service_env(broker), tmp_path / "worker.log") as worker:
            first = await api.tally([job_id])
            output = layout.path_of(broker.data_dir, f"outputs/{job_id}/thumb.webp")
            written = output.stat().st_mtime_ns
            (job,) = await api.jobs([job_id])
            variants = job["variants"]
            task = ResizeTask.model_validate(
                {"job_id": job_id, "source_key": f"originals/{job_id}", "variants": variants}
            )
            await probe.channel.default_exchange.publish(
                _message(task.model_dump_json().encode(), job_id),
                routing_key=probe.topology.work_queue,
            )
            await wait_for(
                logged(tmp_path / "worker.log", "already done"),
                what="the duplicate to be taken",
            )
            stop(worker, tmp_path / "worker.log", within=60)
        (after,) = await api.jobs([job_id])
    assert first == Tally(submitted=1, succeeded=1, failed=0, lost=0)
    assert after["status"] == "succeeded"
    assert after["attempts"] == 1
    assert output.stat().st_mtime_ns == written


def _message(body: bytes, message_id: str) -> aio_pika.Message:
    return aio_pika.Message(body, **message_properties(message_id, TASK_TYPE, "tests"))


async def _at_least(probe: BrokerProbe, queue: str, count: int) -> int | None:
    ready = await probe.ready_messages(queue)
    return ready if ready >= count else None
