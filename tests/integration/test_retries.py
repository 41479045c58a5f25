"""Retries wait in the broker, permanent failures fail at once, work is never done twice."""

import uuid
from collections.abc import Callable

import aio_pika

from shared import layout
from shared.messages import ErrorCode, EventKind, ResizeTask
from shared.schemas import OutputFormat, Variant
from shared.settings import Settings
from tests.images import jpeg_bytes
from tests.support import BrokerProbe, running_worker, wait_for

THUMB = [Variant(name="thumb", width=120, format=OutputFormat.WEBP)]
SLOW = [Variant(name="big", width=2400, format=OutputFormat.AVIF, quality=70)]


def block_outputs(settings: Settings, job_id: uuid.UUID) -> None:
    """Put a file where the job's output folder goes: writing outputs fails, like a full disk."""
    folder = layout.path_of(settings.data_dir, layout.output_key(job_id, "x", OutputFormat.PNG))
    folder.parent.parent.mkdir(parents=True, exist_ok=True)
    folder.parent.write_bytes(b"in the way")


async def test_a_transient_failure_waits_in_the_broker_then_succeeds(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(retry_base_delay_seconds=1.0)
    job_id = uuid.uuid4()
    block_outputs(settings, job_id)
    async with BrokerProbe.open(settings) as probe, running_worker(settings):
        await probe.submit_task(jpeg_bytes(), THUMB, job_id=job_id)
        processing, retrying = await probe.events(2)
        assert (processing.kind, retrying.kind) == (EventKind.PROCESSING, EventKind.RETRYING)
        assert retrying.error is not None
        assert retrying.error.code is ErrorCode.STORAGE_ERROR
        delay_queue = probe.topology.delay_queue(1000)
        assert await probe.ready_messages(delay_queue) == 1
        layout.path_of(settings.data_dir, f"outputs/{job_id}").unlink()
        second, succeeded = await probe.events(2)
    assert (second.kind, second.attempt) == (EventKind.PROCESSING, 2)
    assert (succeeded.kind, succeeded.attempt) == (EventKind.SUCCEEDED, 2)
    waited = (second.occurred_at - retrying.occurred_at).total_seconds()
    assert waited >= 0.5  # equal jitter: at least half of the 1 s tier


async def test_after_max_attempts_transient_failures_the_job_fails_and_is_dead_lettered(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(max_attempts=3)
    job_id = uuid.uuid4()
    block_outputs(settings, job_id)
    async with BrokerProbe.open(settings) as probe, running_worker(settings):
        await probe.submit_task(jpeg_bytes(), THUMB, job_id=job_id)
        events = await probe.events(6)
        assert [(e.kind, e.attempt) for e in events] == [
            (EventKind.PROCESSING, 1),
            (EventKind.RETRYING, 1),
            (EventKind.PROCESSING, 2),
            (EventKind.RETRYING, 2),
            (EventKind.PROCESSING, 3),
            (EventKind.FAILED, 3),
        ]
        assert events[-1].error is not None
        assert events[-1].error.code is ErrorCode.STORAGE_ERROR
        assert "Attempt 3 of 3" in events[-1].error.message
        await wait_for(lambda: probe.ready_messages(probe.topology.dead_letter_queue))


async def test_a_source_over_the_pixel_limit_fails_at_once(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(max_input_pixels=1000)
    async with BrokerProbe.open(settings) as probe, running_worker(settings):
        await probe.submit_task(jpeg_bytes(100, 100), THUMB)
        processing, failed = await probe.events(2)
    assert (processing.kind, failed.kind, failed.attempt) == (
        EventKind.PROCESSING,
        EventKind.FAILED,
        1,
    )
    assert failed.error is not None
    assert failed.error.code is ErrorCode.TOO_MANY_PIXELS


async def test_a_job_slower_than_the_timeout_is_stopped_and_retried(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(job_timeout_seconds=0.3, max_attempts=2)
    async with BrokerProbe.open(settings) as probe, running_worker(settings):
        task = await probe.submit_task(jpeg_bytes(4000, 3000), SLOW)
        events = await probe.events(4)
        quick = await probe.submit_task(jpeg_bytes(), THUMB)
        after = await probe.events(2)
    assert [(e.kind, e.attempt) for e in events] == [
        (EventKind.PROCESSING, 1),
        (EventKind.RETRYING, 1),
        (EventKind.PROCESSING, 2),
        (EventKind.FAILED, 2),
    ]
    assert events[-1].error is not None
    assert events[-1].error.code is ErrorCode.TIMEOUT
    # libvips was stopped at the deadline rather than left to finish (it needs seconds).
    assert (events[1].occurred_at - events[0].occurred_at).total_seconds() < 1.5
    big = layout.path_of(
        settings.data_dir, layout.output_key(task.job_id, "big", OutputFormat.AVIF)
    )
    assert not big.exists()
    assert [(e.job_id, e.kind) for e in after][-1] == (quick.job_id, EventKind.SUCCEEDED)


async def test_a_duplicate_delivery_of_a_finished_job_is_acked_without_redoing_it(
    broker: Settings,
) -> None:
    async with BrokerProbe.open(broker) as probe, running_worker(broker):
        task = await probe.submit_task(jpeg_bytes(), THUMB)
        _, succeeded = await probe.events(2)
        output = layout.path_of(broker.data_dir, succeeded.outputs[0].key)
        written = output.stat().st_mtime_ns
        await probe.publish(task.model_dump_json().encode(), str(task.job_id))
        (again,) = await probe.events(1)
        assert again.kind is EventKind.SUCCEEDED
        assert again.outputs == succeeded.outputs
        assert output.stat().st_mtime_ns == written
        assert await probe.ready_messages(probe.topology.work_queue) == 0


async def test_a_delivery_its_holder_dropped_counts_as_an_attempt(broker: Settings) -> None:
    async with BrokerProbe.open(broker) as probe:
        task = await probe.submit_task(jpeg_bytes(), THUMB)
        await drop_one_delivery(broker, probe.topology.work_queue)
        async with running_worker(broker):
            processing, succeeded = await probe.events(2)
    assert (processing.job_id, processing.attempt) == (task.job_id, 2)
    assert (succeeded.kind, succeeded.attempt) == (EventKind.SUCCEEDED, 2)


async def test_a_job_whose_holders_keep_dying_fails_at_max_attempts(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(max_attempts=3)
    async with BrokerProbe.open(settings) as probe:
        task = ResizeTask(job_id=uuid.uuid4(), attempt=3, source_key="originals/x", variants=THUMB)
        await probe.publish(task.model_dump_json().encode(), str(task.job_id))
        await drop_one_delivery(settings, probe.topology.work_queue)
        async with running_worker(settings):
            (failed,) = await probe.events(1)
        assert failed.kind is EventKind.FAILED
        assert failed.error is not None
        assert failed.error.code is ErrorCode.ATTEMPTS_EXHAUSTED
        await wait_for(lambda: probe.ready_messages(probe.topology.dead_letter_queue))


async def drop_one_delivery(settings: Settings, queue_name: str) -> None:
    """Take a delivery and vanish without settling it, as a worker that crashed mid-job."""
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name)
        message = await queue.get(no_ack=False, timeout=5)
        assert message is not None
