"""The worker against a real RabbitMQ: resize, report, ack last, run jobs side by side, share."""

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from aio_pika.message import IncomingMessage

from shared import layout
from shared.messages import EventKind, JobEvent, ResizeTask
from shared.schemas import ErrorCode
from shared.settings import Settings
from shared.variants import Fit, OutputFormat, Variant
from tests.images import jpeg_bytes, load, photo
from tests.queue_types import each_queue_type  # noqa: F401 - each test on both queue types
from tests.support import BrokerProbe, output_path, running_worker, wait_for

VARIANTS = [
    Variant(name="thumb", width=160, height=160, format=OutputFormat.WEBP),
    Variant(name="square", width=100, height=100, fit=Fit.COVER, format=OutputFormat.PNG),
]
# Big enough that a job takes a while, so overlapping jobs are visible.
SLOW = [Variant(name="big", width=1800, format=OutputFormat.AVIF, quality=60)]


async def test_a_task_is_resized_reported_and_acked(broker: Settings) -> None:
    async with BrokerProbe.open(broker) as probe:
        async with running_worker(broker):
            task = await probe.submit_task(jpeg_bytes(640, 480), VARIANTS)
            processing, succeeded = await probe.events(2)
        # The worker has closed its connection: a delivery it had not acked would be back.
        for queue in (probe.topology.work_queue, probe.topology.dead_letter_queue):
            assert await probe.ready_messages(queue) == 0
        assert (processing.kind, succeeded.kind) == (EventKind.PROCESSING, EventKind.SUCCEEDED)
        assert processing.job_id == succeeded.job_id == task.job_id
        assert succeeded.attempt == 1
        outputs = {output.name: output for output in succeeded.outputs}
        assert (outputs["thumb"].width, outputs["thumb"].height) == (160, 120)
        assert (outputs["square"].width, outputs["square"].height) == (100, 100)
        for output in succeeded.outputs:
            data = output_path(broker, output.key).read_bytes()
            assert len(data) == output.size_bytes
            assert load(data).width == output.width


async def test_the_delivery_is_acked_only_after_outputs_and_event_are_safe(
    broker: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_at_ack: list[tuple[bool, int]] = []
    original_ack = IncomingMessage.ack

    async with BrokerProbe.open(broker) as probe:

        async def spying_ack(message: IncomingMessage, multiple: bool = False) -> None:
            task_outputs = [
                layout.path_of(broker.data_dir, layout.output_key(job_id, v.name, v.format))
                for v in VARIANTS
            ]
            events = await probe.ready_messages(probe.topology.events_queue)
            seen_at_ack.append((all(path.is_file() for path in task_outputs), events))
            await original_ack(message, multiple)

        monkeypatch.setattr(IncomingMessage, "ack", spying_ack)
        async with running_worker(broker):
            job_id = (await probe.submit_task(jpeg_bytes(), VARIANTS)).job_id
            await wait_for(lambda: _settled(seen_at_ack), what="the ack")
    assert seen_at_ack == [(True, 2)]


async def _settled(seen: list[Any]) -> bool:
    return bool(seen)


async def test_one_worker_runs_several_jobs_at_once(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(worker_concurrency=8)
    async with BrokerProbe.open(settings) as probe, running_worker(settings):
        for _ in range(8):
            await probe.submit_task(jpeg_bytes(3000, 2000), SLOW)
        events = await probe.events(16, within=120)
    assert _most_running(events) >= 4
    assert Counter(e.kind for e in events)[EventKind.SUCCEEDED] == 8


async def test_jobs_whose_encoders_need_more_than_the_memory_budget_run_one_at_a_time(
    broker_settings: Callable[..., Settings],
) -> None:
    # A 64x64 PNG asking for an AVIF whose encoder holds ~90 MB (28 bytes an output pixel):
    # its decode is nothing, but no two of them fit in 160 MiB.
    settings = broker_settings(worker_concurrency=4, worker_memory_mb=160)
    tiny = bytes(photo(64, 64).pngsave_buffer())
    large = [Variant(name="poster", width=1800, format=OutputFormat.AVIF, upscale=True)]
    async with BrokerProbe.open(settings) as probe, running_worker(settings):
        for _ in range(3):
            await probe.submit_task(tiny, large)
        events = await probe.events(6, within=120)
    assert _most_running(events) == 1
    assert Counter(e.kind for e in events)[EventKind.SUCCEEDED] == 3


def _most_running(events: list[JobEvent]) -> int:
    """The most jobs between their `processing` and final events at once."""
    running, most = set(), 0
    for event in events:
        if event.kind is EventKind.PROCESSING:
            running.add(event.job_id)
        else:
            running.discard(event.job_id)
        most = max(most, len(running))
    return most


async def test_two_workers_compete_on_one_queue_and_share_the_jobs(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(worker_concurrency=1)
    async with (
        BrokerProbe.open(settings) as probe,
        running_worker(settings, name="worker-a"),
        running_worker(settings, name="worker-b"),
    ):
        jobs = {(await probe.submit_task(jpeg_bytes(2000, 1500), SLOW)).job_id for _ in range(6)}
        events = await probe.events(12, within=120)
    succeeded = [e for e in events if e.kind is EventKind.SUCCEEDED]
    assert {e.job_id for e in succeeded} == jobs
    assert {e.worker for e in succeeded} == {"worker-a", "worker-b"}


async def test_an_undecodable_image_fails_at_once_and_the_worker_keeps_serving(
    broker: Settings,
) -> None:
    async with BrokerProbe.open(broker) as probe, running_worker(broker):
        bad = await probe.submit_task(b"\xff\xd8\xff\xe0" + b"\0" * 2000, VARIANTS)
        good = await probe.submit_task(jpeg_bytes(), VARIANTS)
        # The bad one fails from its header, before it counts as processing.
        events = await probe.events(3)
        failed = _final(events, bad.job_id)
        assert failed.kind is EventKind.FAILED
        assert failed.error is not None
        assert failed.error.code is ErrorCode.UNDECODABLE_IMAGE
        assert _final(events, good.job_id).kind is EventKind.SUCCEEDED
        await wait_for(
            lambda: probe.ready_messages(probe.topology.dead_letter_queue), what="a dead letter"
        )


def _final(events: list[JobEvent], job_id: object) -> JobEvent:
    return [e for e in events if e.job_id == job_id][-1]


async def test_a_body_that_is_not_a_task_fails_its_job_and_is_dead_lettered(
    broker: Settings,
) -> None:
    async with BrokerProbe.open(broker) as probe, running_worker(broker):
        job_id = "7d444840-9dc3-4a26-9a5b-0e2d0a3b8f3c"
        await probe.publish(b'{"version": 1, "job_id": "7d444840-9dc3', job_id)
        (failed,) = await probe.events(1)
        assert str(failed.job_id) == job_id
        assert failed.kind is EventKind.FAILED
        assert failed.error is not None
        assert failed.error.code is ErrorCode.INVALID_TASK
        await wait_for(
            lambda: probe.ready_messages(probe.topology.dead_letter_queue), what="a dead letter"
        )


async def test_a_task_whose_original_is_gone_is_failed_at_once_and_dropped(
    broker: Settings,
) -> None:
    async with BrokerProbe.open(broker) as probe:
        async with running_worker(broker):
            # The task of a submit the API refused after a confirm timeout, which reached the
            # queue after all: the API has removed its original.
            orphan = ResizeTask(job_id=uuid.uuid4(), source_key="originals/gone", variants=VARIANTS)
            await probe.publish(orphan.model_dump_json().encode(), str(orphan.job_id))
            (failed,) = await probe.events(1)
        # The worker has closed its connection: a delivery it had not acked would be back.
        assert await probe.ready_messages(probe.topology.work_queue) == 0
        assert await probe.ready_messages(probe.topology.dead_letter_queue) == 0
    assert failed.job_id == orphan.job_id
    assert failed.kind is EventKind.FAILED
    assert failed.error is not None
    assert failed.error.code is ErrorCode.SOURCE_MISSING
