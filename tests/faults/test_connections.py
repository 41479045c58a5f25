"""Connections cut while a service starts or runs, and connections a client keeps alive across
errors.

A TCP proxy between a service and the broker cuts the service's first connection after a given
number of bytes from the broker; a sweep over that number breaks its start-up at every step
(handshake, channel opens, each declare, qos, consume). The service must retry the whole
start-up and serve, never exit. The same proxy, gone down for a few seconds, is an outage a
running service must say it had in two log lines, not one a reconnect try.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from producer_service.app import create_app
from shared.messages import EventKind
from shared.settings import Settings
from shared.variants import OutputFormat, Variant
from tests.client import ApiClient, Tally
from tests.faults.proxy import CuttingProxy
from tests.images import jpeg_bytes
from tests.support import (
    TEST_AMQP_URL,
    BrokerProbe,
    exchange,
    free_port,
    json_lines,
    logged,
    multipart_request,
    running_api,
    running_worker,
    service_env,
    serving,
    started,
    stop,
    wait_for,
)

pytestmark = pytest.mark.timeout(180)

THUMB = [Variant(name="thumb", width=120, format=OutputFormat.WEBP)]
TINY = [{"name": "tiny", "width": 9}]


@asynccontextmanager
async def broker_proxy() -> AsyncIterator[CuttingProxy]:
    target = urlsplit(TEST_AMQP_URL)
    async with CuttingProxy.open(target.hostname or "127.0.0.1", target.port or 5672) as proxy:
        yield proxy


def through(proxy: CuttingProxy, settings: Settings) -> Settings:
    target = urlsplit(settings.amqp_url)
    url = target._replace(netloc=f"{target.username}:{target.password}@127.0.0.1:{proxy.port}")
    return settings.model_copy(update={"amqp_url": url.geturl()})


def cut_points(total: int, count: int) -> list[int]:
    """`count` byte offsets spread over a start-up of `total` bytes, the handshake included."""
    return [total * (n + 1) // (count + 1) for n in range(count)]


async def consuming(probe: BrokerProbe) -> bool:
    queue = await probe.channel.declare_queue(probe.topology.retry_queue, passive=True)
    return bool(queue.declaration_result.consumer_count)


async def test_a_worker_cut_off_anywhere_in_its_start_up_retries_and_serves(
    broker: Settings,
) -> None:
    async with broker_proxy() as proxy, BrokerProbe.open(broker) as probe:
        settings = through(proxy, broker)
        async with running_worker(settings):
            # The retry queue is consumed last: once it has a consumer, start-up is over.
            await wait_for(lambda: consuming(probe), what="the worker to consume")
            start_up_bytes = proxy.bytes_to_client[0]
        succeeded = 0
        points = cut_points(start_up_bytes, 10)
        for point in points:
            proxy.cut_after(point)
            # running_worker fails the test if the worker's run ends with an error.
            async with running_worker(settings):
                await probe.submit_task(jpeg_bytes(), THUMB)
                events = await probe.events(2, within=30)
            succeeded += [event.kind for event in events] == [
                EventKind.PROCESSING,
                EventKind.SUCCEEDED,
            ]
    assert proxy.cuts == len(points)
    assert Tally(len(points), succeeded, 0, len(points) - succeeded) == Tally(10, 10, 0, 0)


def cut(proxy: CuttingProxy, cuts: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return proxy.cuts == cuts

    return check


async def accepted_once(api: ApiClient, accepted: list[str]) -> bool:
    """One submit: a 202 is noted; the only other answer allowed is a 503 with Retry-After."""
    response = await api.post_job(jpeg_bytes(), TINY)
    if response.status_code == 503 and "retry-after" in response.headers:
        return False
    assert response.status_code == 202, response.text
    accepted.append(response.json()["id"])
    return True


async def test_an_api_cut_off_anywhere_in_its_broker_set_up_retries_and_takes_jobs(
    broker: Settings,
) -> None:
    async with broker_proxy() as proxy:
        settings = through(proxy, broker)
        async with running_api(settings):
            start_up_bytes = proxy.bytes_to_client[0]
        accepted: list[str] = []
        points = cut_points(start_up_bytes, 5)
        for cuts, point in enumerate(points, start=1):
            proxy.cut_after(point)
            async with running_api(settings, ready=False) as http:
                await wait_for(cut(proxy, cuts), what="the cut")
                # Readiness can still say yes in the instant after a late cut: a client that
                # honours the 503 gets its 202 once the API has its link back.
                await wait_for(lambda: accepted_once(ApiClient(http), accepted), within=30)
        async with BrokerProbe.open(broker) as probe:
            queued = await probe.ready_messages(probe.topology.work_queue)
    assert proxy.cuts == len(points)
    assert len(set(accepted)) == queued == len(points)


# What each service logs once it is serving, and what shows it still works after an outage.
SERVING = {"worker_service": "consuming", "producer_service": "connected to the broker"}
OUTAGE_TRIES = 5


async def works_after_outage(module: str, settings: Settings, broker: Settings) -> None:
    if module == "worker_service":
        async with BrokerProbe.open(broker) as probe:
            task = await probe.submit_task(jpeg_bytes(), THUMB)
            assert (await probe.final_event(task.job_id)).kind is EventKind.SUCCEEDED
    else:
        async with ApiClient.at(settings.port) as api:
            await api.submit(jpeg_bytes(), TINY)


@pytest.mark.parametrize("module", ["worker_service", "producer_service"])
async def test_a_broker_outage_is_one_warning_and_one_recovery_line_in_a_services_log(
    module: str, broker_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    broker = broker_settings(port=free_port(), log_format="json")
    log = tmp_path / f"{module}.log"
    async with broker_proxy() as proxy:
        settings = through(proxy, broker)
        with started(module, service_env(settings), log) as process:
            await wait_for(logged(log, SERVING[module]), within=30, what="the service to serve")
            proxy.go_down()

            async def tried_enough() -> bool:
                return proxy.refused >= OUTAGE_TRIES

            await wait_for(tried_enough, within=30, what="reconnect tries")
            proxy.come_back()
            await wait_for(logged(log, "broker connection back"), within=30, what="recovery")
            await works_after_outage(module, settings, broker)
            # The proxy runs on this loop: stopping must not block it.
            await asyncio.to_thread(stop, process, log)
    entries = json_lines(log)
    outage = [e for e in entries if e["message"].startswith("broker connection")]
    assert [(e["level"], e["message"].split(" (")[0]) for e in outage][:1] == [
        ("WARNING", "broker connection lost")
    ]
    assert [e["level"] for e in outage] == ["WARNING", "INFO"]
    assert outage[1]["message"].startswith("broker connection back after")
    assert [e for e in entries if e["logger"].startswith(("aio_pika", "aiormq"))] == []


async def test_a_500_class_answer_leaves_the_keep_alive_connection_usable(
    broker: Settings,
) -> None:
    app = create_app(broker)

    async def broken_route() -> None:
        raise RuntimeError("a bug no handler knows")

    app.add_api_route("/broken", broken_route)
    health = b"GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n"
    async with serving(app) as port:
        async with ApiClient.at(port) as api:
            await wait_for(api.is_ready, what="the API to be ready")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            bug = await exchange(reader, writer, b"GET /broken HTTP/1.1\r\nHost: api\r\n\r\n")
            after_bug = await exchange(reader, writer, health)
            # A real fault: where uploads are written, a file stands instead of a folder.
            uploads = broker.data_dir / "tmp"
            uploads.rmdir()
            uploads.write_bytes(b"")
            fault = await exchange(reader, writer, multipart_request("/v1/jobs", jpeg_bytes()))
            after_fault = await exchange(reader, writer, health)
        finally:
            writer.close()
    assert bug[0] == 500
    assert bug[1]["content-type"] == "application/problem+json"
    assert fault[0] == 503
    assert after_bug[0] == after_fault[0] == 200
    assert "close" not in (bug[1].get("connection", ""), fault[1].get("connection", ""))
