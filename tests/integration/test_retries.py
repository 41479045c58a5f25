"""Retries wait in the broker, permanent failures fail at once, work is never done twice."""

import uuid
from collections.abc import Callable

import aio_pika
import pytest

from shared import layout
from shared.messages import EventKind
from shared.schemas import ErrorCode
from shared.settings import Settings
from shared.variants import OutputFormat, Variant
from tests.images import FIXTURES, jpeg_bytes
from tests.queue_types import each_queue_type  # noqa: F401 - each test on both queue types
from tests.support import BrokerProbe, running_worker, wait_for

ANIMATED_GIF = (FIXTURES / "animated.gif").read_bytes()
THUMB = [Variant(name="thumb", width=120, format=OutputFormat.WEBP)]


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

        async def waiting_in_broker() -> bool:
            return await probe.ready_messages(delay_queue) == 1

        await wait_for(waiting_in_broker, what="the retry to wait in its delay queue")
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


@pytest.mark.parametrize(
    ("limit", "image", "variants", "code"),
    [
        ({"max_input_pixels": 1000}, jpeg_bytes(100, 100), THUMB, ErrorCode.TOO_MANY_PIXELS),
        ({"max_input_pages": 2}, ANIMATED_GIF, THUMB, ErrorCode.TOO_MANY_PAGES),
        (
            {"max_output_pixels": 10_000},
            jpeg_bytes(640, 480),
            [Variant(name="big", width=4000, height=4000, upscale=True)],
            ErrorCode.TOO_MANY_OUTPUT_PIXELS,
        ),
        (
            {"worker_memory_mb": 64},
            jpeg_bytes(640, 480),
            [Variant(name="big", width=4000, height=4000, format=OutputFormat.AVIF, upscale=True)],
            ErrorCode.TOO_MUCH_MEMORY,
        ),
    ],
    ids=["pixels", "pages", "output-pixels", "memory"],
)
async def test_a_task_over_a_limit_fails_at_once_from_the_header(
    broker_settings: Callable[..., Settings],
    limit: dict[str, int],
    image: bytes,
    variants: list[Variant],
    code: ErrorCode,
) -> None:
    """A task that never passed the API's checks (published by hand, or by an API with other
    settings) is refused by the worker too."""
    settings = broker_settings(**limit)
    async with BrokerProbe.open(settings) as probe, running_worker(settings):
        await probe.submit_task(image, variants)
        # Refused from its header, before it counts as processing.
        (failed,) = await probe.events(1)
    assert (failed.kind, failed.attempt) == (EventKind.FAILED, 1)
    assert failed.error is not None
    assert failed.error.code is code


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
        await probe.submit_task(jpeg_bytes(), THUMB, attempt=3)
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
