"""A real worker's Prometheus metrics on METRICS_PORT, after real jobs on the real broker."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from shared.settings import Settings
from shared.variants import Fit, OutputFormat, Variant
from tests.images import jpeg_bytes, undecodable_png
from tests.scrape import Scrape, scrape
from tests.support import BrokerProbe, free_port, running_worker, wait_for

VARIANTS = [
    Variant(name="thumb", width=160, height=160, format=OutputFormat.WEBP),
    Variant(name="square", width=100, height=100, fit=Fit.COVER, format=OutputFormat.PNG),
]
# Takes a while, so the job is seen in flight.
SLOW = [Variant(name="big", width=1800, format=OutputFormat.AVIF, quality=60)]


@asynccontextmanager
async def worker_metrics(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the metrics server of a worker running with `settings`."""
    assert settings.metrics_port is not None
    async with (
        running_worker(settings),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.metrics_port}") as http,
    ):
        yield http


async def settled(http: httpx.AsyncClient, deliveries: int) -> Scrape | None:
    """The metrics once `deliveries` are settled and none is held any more."""
    metrics = await scrape(http)
    done = metrics.value("resize_deliveries_total") == deliveries
    return metrics if done and metrics.value("resize_jobs_in_flight") == 0 else None


async def test_a_job_is_counted_timed_and_its_bytes_measured(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(metrics_port=free_port())
    source = jpeg_bytes(640, 480)
    async with BrokerProbe.open(settings) as probe, worker_metrics(settings) as http:
        task = await probe.submit_task(source, VARIANTS)
        succeeded = await probe.final_event(task.job_id)
        metrics = await wait_for(lambda: settled(http, 1), what="the job to be settled")
    assert metrics.value("resize_jobs_total", outcome="succeeded") == 1
    assert metrics.value("resize_jobs_total", outcome="failed") == 0
    assert metrics.value("resize_deliveries_total", settlement="Ack") == 1
    assert metrics.value("resize_job_duration_seconds_count", outcome="succeeded") == 1
    assert metrics.value("resize_job_duration_seconds_sum") > 0
    for output_format in ("webp", "png"):
        assert metrics.value("resize_variant_render_seconds_count", format=output_format) == 1
    assert metrics.value("resize_source_bytes_total") == len(source)
    written = sum(output.size_bytes for output in succeeded.outputs)
    assert metrics.value("resize_output_bytes_total") == written > 0
    assert metrics.value("libvips_tracked_memory_highwater_bytes") > 0
    assert metrics.value("process_resident_memory_bytes") > 0


async def test_a_failed_job_shows_under_its_outcome_and_code(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(metrics_port=free_port())
    async with BrokerProbe.open(settings) as probe, worker_metrics(settings) as http:
        task = await probe.submit_task(undecodable_png(), VARIANTS)
        await probe.final_event(task.job_id)
        metrics = await wait_for(lambda: settled(http, 1), what="the job to be settled")
    assert metrics.value("resize_jobs_total", outcome="failed") == 1
    assert metrics.value("resize_jobs_total", outcome="succeeded") == 0
    assert metrics.value("resize_job_failures_total", code="undecodable_image") == 1
    assert metrics.value("resize_deliveries_total", settlement="DeadLetter") == 1
    assert metrics.value("resize_job_duration_seconds_count", outcome="failed") == 1


async def test_a_running_job_is_in_flight_and_the_server_stops_with_the_worker(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(metrics_port=free_port())
    async with BrokerProbe.open(settings) as probe, worker_metrics(settings) as http:

        async def in_flight() -> bool:
            return (await scrape(http)).value("resize_jobs_in_flight") == 1

        task = await probe.submit_task(jpeg_bytes(3000, 2000), SLOW)
        await wait_for(in_flight, what="the job in flight")
        await probe.final_event(task.job_id, within=60)
        await wait_for(lambda: settled(http, 1), what="the job to be settled")
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{settings.metrics_port}/metrics")
