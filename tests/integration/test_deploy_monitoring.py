"""The dashboard and the alerting rules in deploy/ read only what the services export: scraped
from a real API and a real worker on the real broker, after a job that succeeds with a webhook and
one that fails."""

from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shared.settings import Settings
from tests.client import ApiClient
from tests.deploy_monitoring import expressions
from tests.images import jpeg_bytes, undecodable_png
from tests.promql import selectors
from tests.receiver import Receiver, hooked
from tests.scrape import Scrape, scrape
from tests.support import free_port, running_api, running_worker, wait_for

THUMB = [{"name": "thumb", "width": 32}]
# The suffixes a family's samples take, by its type.
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count")}


def exported(text: str) -> dict[str, set[str]]:
    """Every series name a scrape answers, with its label names; a family with no sample yet
    (a labelled counter nothing has counted) still names its series."""
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for suffix in SUFFIXES.get(family.type, ("",)):
            series.setdefault(family.name + suffix, set())
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


async def counted(http: httpx.AsyncClient, name: str, total: float) -> Scrape | None:
    metrics = await scrape(http)
    return metrics if metrics.value(name) >= total else None


async def test_every_series_the_dashboard_and_the_alerts_read_is_exported(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = hooked(broker_settings, metrics_port=free_port())
    async with (
        Receiver.running() as receiver,
        running_api(settings) as http,
        running_worker(settings),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.metrics_port}") as worker,
    ):
        api = ApiClient(http)
        ids = [
            await api.submit(jpeg_bytes(), THUMB, callback_url=receiver.url),
            await api.submit(undecodable_png(), THUMB),
        ]
        tally = await api.tally(ids)
        await wait_for(lambda: counted(http, "webhook_deliveries_total", 1), what="the webhook")
        await wait_for(lambda: counted(worker, "resize_deliveries_total", 2), what="settling")
        await http.get("/readyz")
        series = exported((await http.get("/metrics")).text)
        for name, labels in exported((await worker.get("/metrics")).text).items():
            series.setdefault(name, set()).update(labels)
    assert (tally.succeeded, tally.failed) == (1, 1)
    read = [(where, selector) for where, expr in expressions() for selector in selectors(expr)]
    assert len(read) > 30
    for where, selector in read:
        assert selector.metric in series, f"{where} reads {selector.metric}, which no one exports"
        unknown = selector.labels - series[selector.metric]
        assert not unknown, f"{where} matches {selector.metric} on labels it lacks: {unknown}"
