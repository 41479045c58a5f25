"""What happens after a publish, on the in-memory broker (`tests/memory_broker.py`), in
seconds: a worker's events applied to the store by the real events consumer, announced to the
live stream, and the webhook an ending makes due queued and tried by the real webhook consumer.
The same paths run against RabbitMQ in tests/integration."""

import asyncio
import uuid

from shared.messages import EventKind, FailureInfo, JobEvent, RenderedOutput
from shared.schemas import ErrorCode, SourceImage
from shared.variants import OutputFormat, SourceFormat
from tests.images import jpeg_bytes
from tests.receiver import SECRET, Receiver
from tests.support.served import Serve, Served

THUMB = [{"name": "thumb", "width": 120, "format": "webp"}]
SOURCE = SourceImage(format=SourceFormat.JPEG, width=640, height=480)


def succeeded(job_id: uuid.UUID) -> JobEvent:
    output = RenderedOutput(
        name="thumb",
        format=OutputFormat.WEBP,
        width=120,
        height=90,
        size_bytes=999,
        key=f"outputs/{job_id}/thumb.webp",
    )
    return JobEvent(
        job_id=job_id, run=1, attempt=1, kind=EventKind.SUCCEEDED, outputs=[output], source=SOURCE
    )


async def submitted(served: Served) -> uuid.UUID:
    job_id = await served.api.submit(jpeg_bytes(), THUMB)
    (task,) = served.tasks
    assert str(task.job_id) == job_id
    return task.job_id


async def test_a_workers_events_are_applied_and_streamed_as_they_come(serve: Serve) -> None:
    async with serve() as served:
        job_id = await submitted(served)
        # httpx's ASGI transport hands the stream over once it has ended, so the stream may
        # open before or after each event: it shows the states it saw, in order, to the end.
        stream = asyncio.create_task(served.api.events(str(job_id)))
        processing = JobEvent(
            job_id=job_id, run=1, attempt=1, kind=EventKind.PROCESSING, source=SOURCE
        )
        await served.report(processing)
        await served.report(succeeded(job_id))
        statuses = [event.job["status"] for event in await stream]
        job = await served.api.job(str(job_id))
    order = ["queued", "processing", "succeeded"]
    assert statuses == order[order.index(statuses[0]) :]
    assert job["status"] == "succeeded"
    assert job["outputs"][0]["url"] == f"/v1/jobs/{job_id}/outputs/thumb"


async def test_a_late_or_repeated_event_changes_nothing(serve: Serve) -> None:
    async with serve() as served:
        job_id = await submitted(served)
        await served.report(succeeded(job_id))
        late = JobEvent(job_id=job_id, run=1, attempt=1, kind=EventKind.PROCESSING)
        await served.report(late)
        await served.report(succeeded(job_id))
        job = await served.api.job(str(job_id))
    assert (job["status"], job["attempts"]) == ("succeeded", 1)


async def test_an_ending_queues_its_webhook_and_the_try_is_delivered_signed(serve: Serve) -> None:
    async with (
        Receiver.running() as receiver,
        serve(webhook_secret=SECRET, webhook_allow_private=True) as served,
    ):
        job_id = await served.api.submit(jpeg_bytes(), THUMB, callback_url=receiver.url)
        error = FailureInfo(code=ErrorCode.UNDECODABLE_IMAGE, message="broken")
        failed = JobEvent(
            job_id=uuid.UUID(job_id), run=1, attempt=1, kind=EventKind.FAILED, error=error
        )
        await served.report(failed)
        (request,) = await receiver.requests(1)
        job = await served.api.job(job_id)
    assert request.job["status"] == "failed"
    assert request.headers["webhook-id"] == f"{job_id}:1"
    assert job["webhook"]["status"] == "delivered"


async def test_a_failed_webhook_try_waits_out_its_tier_and_is_tried_again(serve: Serve) -> None:
    async with (
        Receiver.running(script=[503]) as receiver,
        serve(
            webhook_secret=SECRET,
            webhook_allow_private=True,
            webhook_retry_base_seconds=0.2,
            webhook_retry_max_delay_seconds=0.2,
        ) as served,
    ):
        job_id = await served.api.submit(jpeg_bytes(), THUMB, callback_url=receiver.url)
        await served.report(succeeded(uuid.UUID(job_id)))
        first, second = await receiver.requests(2)
        await served.broker.settled()
        job = await served.api.job(job_id)
    assert first.webhook_id == second.webhook_id
    assert (job["webhook"]["status"], job["webhook"]["attempts"]) == ("delivered", 2)
