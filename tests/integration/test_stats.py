"""`GET /v1/stats` and the job figures of `/metrics` against a real broker: read afresh on
every call."""

from collections.abc import Callable
from pathlib import Path

from shared.settings import Settings
from tests.client import ApiClient, assert_problem
from tests.images import jpeg_bytes
from tests.scrape import Scrape, scrape
from tests.support import make_settings, running_api, running_worker

THUMB = [{"name": "thumb", "width": 32}]
# A few seconds of libvips work: long enough to be seen running.
SLOW = [{"name": "big", "width": 4000, "format": "avif", "quality": 70}]


async def test_stats_follow_the_queue_and_the_jobs_as_they_change(broker: Settings) -> None:
    async with running_api(broker) as http:
        api = ApiClient(http)
        empty = (await http.get("/v1/stats")).json()
        ids = [await api.submit(jpeg_bytes(), THUMB) for _ in range(3)]
        waiting = (await http.get("/v1/stats")).json()
        async with running_worker(broker):
            assert (await api.tally(ids)).succeeded == 3
            drained = (await http.get("/v1/stats")).json()

    assert empty == {
        "queue": {"name": broker.queue_name, "ready": 0, "unacked": 0, "consumers": 0},
        "lanes": {
            "interactive": {"ready": 0, "unacked": 0},
            "bulk": {"ready": 0, "unacked": 0},
        },
        "jobs": {"queued": 0, "processing": 0, "succeeded": 0, "failed": 0, "cancelled": 0},
        "oldest_queued_seconds": 0.0,
    }
    assert waiting["queue"]["ready"] == 3
    assert waiting["lanes"]["interactive"]["ready"] == 3
    assert waiting["jobs"]["queued"] == 3
    assert waiting["oldest_queued_seconds"] > 0
    assert drained["queue"] == {
        "name": broker.queue_name,
        "ready": 0,
        "unacked": 0,
        "consumers": 1,
    }
    assert drained["jobs"] == {
        "queued": 0,
        "processing": 0,
        "succeeded": 3,
        "failed": 0,
        "cancelled": 0,
    }
    assert drained["oldest_queued_seconds"] == 0.0


async def test_stats_are_503_with_retry_after_while_the_broker_is_down(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, amqp_url="amqp://guest:guest@127.0.0.1:1/")
    async with running_api(settings, ready=False) as http:
        response = await http.get("/v1/stats")
    assert_problem(response, 503)
    assert int(response.headers["retry-after"]) > 0


async def test_metrics_count_running_jobs_when_the_queue_shows_none_ready(
    broker_settings: Callable[..., Settings],
) -> None:
    """What the autoscaler reads (deploy/kubernetes/autoscaling.yaml): once a worker has taken
    every job, the queue has nothing ready, and the jobs still count as processing."""
    settings = broker_settings(worker_concurrency=2)
    async with running_api(settings) as http:
        api = ApiClient(http)
        ids = [await api.submit(jpeg_bytes(4000, 3000), SLOW) for _ in range(2)]
        waiting = await scrape(http)
        async with running_worker(settings):
            await api.wait_for_status("processing", ids, 2)
            busy = await scrape(http)
            stats = (await http.get("/v1/stats")).json()
            assert (await api.tally(ids)).succeeded == 2
        done = await scrape(http)

    def jobs(scraped: Scrape, status: str) -> float:
        return scraped.value("resize_jobs_current", queue=settings.queue_name, status=status)

    def queue(scraped: Scrape) -> tuple[float, float]:
        return tuple(  # type: ignore[return-value]
            scraped.value(f"resize_queue_{figure}", queue=settings.queue_name)
            for figure in ("messages_ready", "consumers")
        )

    assert (jobs(waiting, "queued"), jobs(waiting, "processing")) == (2, 0)
    assert waiting.value("resize_oldest_queued_seconds", queue=settings.queue_name) > 0
    assert stats["queue"]["ready"] == 0
    assert (queue(waiting), queue(busy)) == ((2, 0), (0, 1))
    assert (jobs(busy, "queued"), jobs(busy, "processing")) == (0, 2)
    assert (jobs(done, "processing"), jobs(done, "succeeded")) == (0, 2)
    assert done.value("resize_oldest_queued_seconds", queue=settings.queue_name) == 0
