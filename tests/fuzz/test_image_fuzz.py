"""Mutated images (truncated, bit-flipped, spliced, lying about their size; every accepted
format) through the API's upload probe and the worker's decode path: each ends in a clear
refusal or a resized image, never another exception, a crash or a hang. The worker process
itself is fuzzed too, on the real broker: every job ends with a reason, and it keeps serving.
"""

import asyncio
import subprocess
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings

from producer_service.errors import PayloadTooLarge, UnsupportedMediaType
from producer_service.submissions import probe
from shared.messages import EventKind, JobEvent
from shared.schemas import ErrorCode
from shared.settings import Settings
from shared.topology import Topology
from shared.variants import Fit, OutputFormat, Variant
from tests.fuzz.mutations import mutated_images
from tests.images import LIMITS
from tests.support import (
    TEST_AMQP_URL,
    BrokerProbe,
    delete_queues,
    make_settings,
    require_broker,
    service_env,
    started,
    stop,
)
from worker_service.errors import PermanentFailure
from worker_service.render import prepare_libvips, render_job

VARIANTS = [
    Variant(name="thumb", width=48, format=OutputFormat.WEBP),
    Variant(name="square", width=32, height=32, fit=Fit.COVER, format=OutputFormat.JPEG),
]
# Why a mutated image may fail: what it is, never a bug or a hang (internal_error, timeout).
REASONS = {ErrorCode.UNDECODABLE_IMAGE, ErrorCode.TOO_MANY_PIXELS, ErrorCode.TOO_MANY_PAGES}
FUZZ = settings(max_examples=300, deadline=5000)


@pytest.fixture(scope="module", autouse=True)
def libvips_as_the_services_set_it() -> None:
    prepare_libvips()


@pytest.mark.timeout(300)
@FUZZ
@given(image=mutated_images())
def test_the_upload_probe_refuses_or_reads_every_mutated_image(
    tmp_path_factory: pytest.TempPathFactory, image: bytes
) -> None:
    path = tmp_path_factory.mktemp("probe") / "upload"
    path.write_bytes(image)
    try:
        header = probe(path, LIMITS)
    except (PayloadTooLarge, UnsupportedMediaType) as refusal:
        event(f"probe: {refusal.status}")
        return
    event("probe: read")
    assert header.width > 0
    assert header.height > 0
    assert header.pixels <= LIMITS.input_pixels


@pytest.mark.timeout(300)
@FUZZ
@given(image=mutated_images())
def test_the_worker_decode_path_fails_clearly_or_resizes_every_mutated_image(
    tmp_path_factory: pytest.TempPathFactory, image: bytes
) -> None:
    path = tmp_path_factory.mktemp("decode") / "original"
    path.write_bytes(image)
    reason: ErrorCode | None = None
    try:
        rendered = render_job(path, VARIANTS, LIMITS)
    except PermanentFailure as failure:
        reason = failure.code
    else:
        assert [output.variant.name for output in rendered.outputs] == ["thumb", "square"]
    event(f"worker: {reason or 'resized'}")
    assert reason is None or reason in REASONS


@pytest.fixture(scope="module")
def worker_lane(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Settings, subprocess.Popen[bytes]]]:
    """One worker process (`python -m worker_service`) on the real broker, for every example."""
    asyncio.run(require_broker(TEST_AMQP_URL))
    folder = tmp_path_factory.mktemp("worker")
    # One attempt: a mutated image that only fails on a retry would still show as a bug.
    lane = make_settings(folder, max_attempts=1, job_timeout_seconds=10)
    log = folder / "worker.log"
    with started("worker_service", service_env(lane), log) as worker:
        yield lane, worker
        stop(worker, log)
    asyncio.run(delete_queues(TEST_AMQP_URL, Topology.from_settings(lane)))


@pytest.mark.timeout(300)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=mutated_images())
def test_the_worker_ends_every_mutated_job_with_a_reason_and_keeps_serving(
    worker_lane: tuple[Settings, subprocess.Popen[bytes]], image: bytes
) -> None:
    lane, worker = worker_lane

    async def run() -> JobEvent:
        async with BrokerProbe.open(lane) as broker:
            task = await broker.submit_task(image, VARIANTS)
            return await broker.final_event(task.job_id)

    event = asyncio.run(run())
    assert worker.poll() is None, "the worker process died"
    if event.kind is EventKind.FAILED:
        assert event.error is not None
        assert event.error.code in REASONS, event.error
    else:
        assert event.kind is EventKind.SUCCEEDED
