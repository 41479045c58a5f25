"""S3 storage failing under a running API and worker (real broker, moto's S3 server): the bucket
deleted mid-run, and the endpoint unreachable for a while. Submits answer 503 with a reason,
/readyz names it, jobs in flight are retried (`storage_error`) rather than lost or failed at
once, and each job ends as its files allow once storage is back."""

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import pytest

from shared.settings import Settings
from tests.client import ApiClient, Tally, assert_problem
from tests.faults.proxy import CuttingProxy
from tests.images import jpeg_bytes
from tests.s3 import Bucket
from tests.support import running_api, running_worker, wait_for
from worker_service.worker import Worker

pytestmark = pytest.mark.timeout(90)

THUMB = [{"name": "thumb", "width": 120, "format": "webp"}]
# Enough attempts (0.2-1 s apart) that no job runs out of them while storage is away.
ATTEMPTS = 20


@pytest.fixture
def queue_type() -> str:
    """Storage faults do not depend on the queue type: classic queues only."""
    return "classic"


def storage_retries(worker: Worker, count: int) -> Callable[[], Awaitable[bool]]:
    """For `wait_for`: whether the worker has sent `count` attempts to retry for
    `storage_error`."""

    async def check() -> bool:
        sample = worker.metrics.registry.get_sample_value(
            "resize_job_retries_total", {"reason": "storage_error"}
        )
        return (sample or 0) >= count

    return check


async def test_a_bucket_deleted_mid_run_is_a_503_and_its_jobs_retry_until_it_is_back(
    broker_settings: Callable[..., Settings], s3_bucket: Bucket
) -> None:
    settings = broker_settings(**s3_bucket.settings(), max_attempts=ATTEMPTS)
    async with running_api(settings) as http:
        api = ApiClient(http)
        earlier = await api.submit(jpeg_bytes(), THUMB)
        async with running_worker(settings):
            (output,) = (await api.finished(earlier))["outputs"]
        waiting = [await api.submit(jpeg_bytes(), THUMB) for _ in range(2)]

        await s3_bucket.remove()  # its objects first: S3 deletes only an empty bucket
        refused = await api.post_job(jpeg_bytes(), THUMB)
        not_ready = await http.get("/readyz")
        unavailable = await http.get(output["url"])
        async with running_worker(settings) as worker:
            await wait_for(storage_retries(worker, 2), what="both jobs retried")
            while_gone = await api.jobs(waiting)
            await s3_bucket.create()
            ended = [await api.finished(job_id) for job_id in waiting]
            later = await api.finished(await api.submit(jpeg_bytes(), THUMB))
        ready = await http.get("/readyz")
        expired = await http.get(output["url"])

    assert assert_problem(refused, 503)["reason"] == "bucket missing"
    assert refused.headers["retry-after"]
    assert assert_problem(not_ready, 503)["checks"]["storage"] == "bucket missing"
    assert assert_problem(unavailable, 503)["type"] == "/problems/storage-unavailable"
    # Retried, not failed, while the bucket was gone...
    assert [job["status"] for job in while_gone] == ["queued", "queued"]
    # ...and once it is back, each job ends with a reason: their originals went with the
    # bucket, so they fail `source_missing`; a job submitted now succeeds.
    assert [(job["status"], job["error"]["code"]) for job in ended] == [
        ("failed", "source_missing"),
        ("failed", "source_missing"),
    ]
    assert later["status"] == "succeeded"
    assert ready.status_code == 200
    # The earlier job still reads `succeeded`; its output went with the bucket: 404, not 500.
    assert assert_problem(expired, 404)["type"] == "/problems/output-not-found"


async def test_an_unreachable_endpoint_is_a_503_and_its_jobs_succeed_once_it_is_back(
    broker_settings: Callable[..., Settings], s3_bucket: Bucket
) -> None:
    moto = urlsplit(s3_bucket.server.endpoint)
    assert moto.hostname is not None
    assert moto.port is not None
    async with CuttingProxy.open(moto.hostname, moto.port) as proxy:
        endpoint = f"http://127.0.0.1:{proxy.port}"
        settings = broker_settings(**s3_bucket.settings(endpoint), max_attempts=ATTEMPTS)
        async with running_api(settings) as http:
            api = ApiClient(http)
            waiting = [await api.submit(jpeg_bytes(), THUMB) for _ in range(2)]
            proxy.go_down()
            refused = await api.post_job(jpeg_bytes(), THUMB)
            not_ready = await http.get("/readyz")
            async with running_worker(settings) as worker:
                await wait_for(storage_retries(worker, 2), what="both jobs retried")
                proxy.come_back()
                tally = await api.tally(waiting)
            ready = await http.get("/readyz")

    assert assert_problem(refused, 503)["reason"] == "unreachable"
    assert assert_problem(not_ready, 503)["checks"]["storage"] == "unreachable"
    assert tally == Tally(submitted=2, succeeded=2, failed=0, lost=0)
    assert ready.status_code == 200
