"""`GET /v1/jobs/{id}/events` against a real broker and worker: the job's states in order,
ending after the final one, resumable with Last-Event-ID, through any API replica."""

import contextlib
import uuid
from collections.abc import Callable

import aio_pika

from producer_service.app import create_app
from producer_service.broker.feed import ChangeFeed
from shared.settings import Settings
from shared.topology import Topology
from tests.client import ApiClient, Event
from tests.images import jpeg_bytes, undecodable_png
from tests.scrape import scrape
from tests.support import BrokerProbe, running_api, running_worker, serving, wait_for

THUMB = [{"name": "thumb", "width": 64, "format": "webp"}]
ORDER = ["queued", "processing", "succeeded"]
EVENTS_ROUTE = "/v1/jobs/{job_id}/events"


def statuses(events: list[Event]) -> list[str]:
    return [str(event.job["status"]) for event in events]


async def test_a_stream_follows_a_job_live_to_its_end_over_real_http(broker: Settings) -> None:
    events: list[Event] = []
    async with (
        serving(create_app(broker)) as port,
        ApiClient.at(port) as api,
        contextlib.AsyncExitStack() as worker,
    ):
        await wait_for(api.is_ready, what="the API to be ready")
        job_id = await api.submit(jpeg_bytes(2400, 1600), THUMB)
        async for event in api.follow(job_id):
            events.append(event)
            if len(events) == 1:
                # A stream is counted in the metrics once it ends, not while it is open.
                opened = await scrape(api.http)
                # The worker starts only now: every later change arrives on the open stream.
                await worker.enter_async_context(running_worker(broker))
        ended = await scrape(api.http)
    assert opened.value("http_requests_total", route=EVENTS_ROUTE) == 0
    assert ended.value("http_requests_total", route=EVENTS_ROUTE, status="200") == 1
    assert statuses(events) == ORDER
    assert [event.event for event in events] == ["status"] * 3
    assert [event.id for event in events] == ["1.0.queued", "1.1.processing", "1.1.succeeded"]
    assert events[-1].job["outputs"][0]["name"] == "thumb"


async def test_a_reconnect_with_last_event_id_skips_what_the_client_has(broker: Settings) -> None:
    async with running_api(broker) as http, running_worker(broker):
        api = ApiClient(http)
        job_id = await api.submit(undecodable_png(), THUMB)
        failed = await api.finished(job_id)
        (first,) = await api.events(job_id)
        after_final = await http.get(
            EVENTS_ROUTE.format(job_id=job_id), headers={"Last-Event-ID": first.id}
        )
        after_older = await api.events(job_id, last_event_id="1.0.queued")
    assert failed["status"] == "failed"
    assert (first.id, first.job) == ("1.1.failed", failed)
    # A 204, not an empty stream: a browser's EventSource stops instead of reconnecting.
    assert (after_final.status_code, after_final.content) == (204, b"")
    assert [event.id for event in after_older] == ["1.1.failed"]


async def test_either_replica_streams_a_job_whichever_took_it(
    broker_settings: Callable[..., Settings], postgres_url: str
) -> None:
    settings = broker_settings(database_url=postgres_url)
    async with (
        running_api(settings) as first,
        running_api(settings) as second,
        running_worker(settings),
    ):
        job_id = await ApiClient(first).submit(jpeg_bytes(), THUMB)
        events = await ApiClient(second).events(job_id)
    assert statuses(events)[-1] == "succeeded"


async def test_a_change_announced_by_one_replica_wakes_the_streams_of_another(
    broker: Settings,
) -> None:
    topology = Topology.from_settings(broker)
    announcer, listener = ChangeFeed(topology), ChangeFeed(topology)
    job_id, other_job = uuid.uuid4(), uuid.uuid4()
    async with (
        BrokerProbe.open(broker),  # the topology, as either service declares it
        await aio_pika.connect_robust(broker.amqp_url) as first,
        await aio_pika.connect_robust(broker.amqp_url) as second,
    ):
        await announcer.attach(first)
        await listener.attach(second)
        with listener.watch(job_id) as watched, listener.watch(other_job) as unrelated:
            await announcer.announce(job_id)
            assert await watched.wait(at_most=10)
            assert not await unrelated.wait(at_most=0.2)
