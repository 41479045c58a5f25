"""The API's /metrics, in process over an in-memory broker: requests by route template,
submits by outcome, publish confirms, process metrics; open whatever API_KEYS says."""

import uuid

from pydantic import SecretStr

from tests.images import jpeg_bytes
from tests.scrape import scrape
from tests.support.served import Serve

JOB_ROUTE = "/v1/jobs/{job_id}"


async def test_requests_are_counted_by_route_template_method_and_status(serve: Serve) -> None:
    async with serve() as served:
        http = served.api.http
        job_id = await served.api.submit(jpeg_bytes())
        unknown = uuid.uuid4()
        assert (await http.get(f"/v1/jobs/{job_id}")).status_code == 200
        assert (await http.get(f"/v1/jobs/{unknown}")).status_code == 404
        assert (await http.get(f"/no/such/{unknown}")).status_code == 404
        assert (await http.put(f"/v1/jobs/{job_id}")).status_code == 405
        metrics = await scrape(http)
    requests = "http_requests_total"
    assert metrics.value(requests, method="GET", route=JOB_ROUTE, status="200") == 1
    assert metrics.value(requests, method="GET", route=JOB_ROUTE, status="404") == 1
    assert metrics.value(requests, method="PUT", route=JOB_ROUTE, status="405") == 1
    assert metrics.value(requests, method="POST", route="/v1/jobs", status="202") == 1
    assert metrics.value(requests, route="<unmatched>", status="404") == 1
    # No id ever becomes a label: one series per route, however many jobs there are.
    routes = metrics.labels(requests, "route")
    assert not any(job_id in route or str(unknown) in route for route in routes)
    assert metrics.value("http_request_duration_seconds_count", route=JOB_ROUTE) == 3


async def test_submits_are_counted_by_outcome_and_confirms_are_timed(serve: Serve) -> None:
    replay = {"Idempotency-Key": "order-1"}
    async with serve() as served:
        api = served.api
        await api.submit(jpeg_bytes())
        first = await api.submit(jpeg_bytes(), headers=replay)
        assert await api.submit(jpeg_bytes(), headers=replay) == first
        assert (await api.post_job(b"not an image")).status_code == 415
        served.broker.go_down()
        assert (await api.post_job(jpeg_bytes())).status_code == 503
        metrics = await scrape(api.http)
    submits = "resize_submits_total"
    assert metrics.value(submits, outcome="accepted", status="202") == 2
    assert metrics.value(submits, outcome="replayed", status="202") == 1
    assert metrics.value(submits, outcome="unsupported-media-type", status="415") == 1
    assert metrics.value(submits, outcome="broker-unavailable", status="503") == 1
    confirm = "resize_publish_confirm_seconds"
    assert metrics.value(f"{confirm}_count", outcome="confirmed") == 2
    assert metrics.value(f"{confirm}_bucket", outcome="confirmed", le="+Inf") == 2
    assert metrics.value(f"{confirm}_count", outcome="broker-unavailable") == 1


async def test_process_metrics_are_served(serve: Serve) -> None:
    async with serve() as served:
        metrics = await scrape(served.api.http)
    assert metrics.value("process_resident_memory_bytes") > 0
    assert metrics.value("process_cpu_seconds_total") > 0
    assert "python_gc_collections_total" in metrics.names()


async def test_metrics_stay_open_when_api_keys_are_on(serve: Serve) -> None:
    async with serve(api_keys=SecretStr("k-1")) as served:
        http = served.api.http
        assert (await http.get("/v1/jobs")).status_code == 401
        metrics = await scrape(http)
    assert metrics.value("http_requests_total", route="/v1/jobs", status="401") == 1


async def test_metrics_come_as_openmetrics_when_a_scraper_asks(serve: Serve) -> None:
    async with serve() as served:
        response = await served.api.http.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
