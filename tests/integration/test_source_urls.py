"""Images fetched from a `source_url`, end to end: the API, a worker, the broker, and a real
HTTP server on loopback as the image host (SOURCE_URL_ALLOW_PRIVATE lets the worker reach it;
without it the same URL is a 422 at submit). Every way a fetch goes wrong ends the job
`failed` with its code and a sentence; a fetched original is kept, so a retry fetches nothing."""

import dataclasses
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from producer_service.db.store import JobStore
from producer_service.records import JobRecord
from shared import layout
from shared.messages import utc_now
from shared.settings import Settings
from shared.variants import variant_list_adapter
from tests.client import ApiClient, assert_problem
from tests.images import jpeg_bytes
from tests.s3 import Bucket, storage_settings
from tests.source_server import Answer, SourceServer, redirect
from tests.support import running_api, running_worker, stored_keys

THUMB = [{"name": "thumb", "width": 64, "format": "webp"}]
JPEG = jpeg_bytes(320, 240)
LIMIT = len(JPEG) + 1000


def fetching(broker_settings: Callable[..., Settings], **overrides: Any) -> Settings:
    """Settings that let the worker fetch from loopback, with deadlines of a second and one
    attempt, so a failure is final at once."""
    values: dict[str, Any] = {
        "source_url_allow_private": True,
        "source_url_timeout_seconds": 1.0,
        "source_url_connect_timeout_seconds": 1.0,
        "max_attempts": 1,
        "max_upload_bytes": LIMIT,
        **overrides,
    }
    return broker_settings(**values)


async def test_an_image_at_a_url_is_fetched_once_resized_and_kept_as_its_original(
    broker_settings: Callable[..., Settings], each_storage: Bucket | None
) -> None:
    settings = fetching(broker_settings, **storage_settings(each_storage))
    async with (
        SourceServer.running({"/photo.jpg": Answer(body=JPEG)}) as server,
        running_api(settings) as http,
        running_worker(settings),
    ):
        api = ApiClient(http)
        answer = await api.post_job(None, THUMB, source_url=server.url("/photo.jpg"))
        assert answer.status_code == 202, answer.text
        job = await api.finished(answer.json()["id"])
        assert job["status"] == "succeeded", job
        assert job["source"] == {"format": "jpeg", "width": 320, "height": 240}
        assert job["source_url"] == server.url("/photo.jpg")
        thumb = await http.get(job["outputs"][0]["url"])
        assert thumb.status_code == 200
        assert thumb.headers["content-type"] == "image/webp"
        assert server.hits == {"/photo.jpg": 1}
    kept = await stored_keys(settings, "originals/")
    assert kept == [layout.original_key(job["id"])]


BAD_SOURCES = {
    # path: (what it answers, the job's error code, words of its message)
    "/missing.jpg": (Answer(404, b"not found"), "source_http_error", "HTTP 404 Not Found"),
    "/broken.jpg": (Answer(502, b"bad gateway"), "source_http_error", "HTTP 502 Bad Gateway"),
    "/stalls.jpg": (Answer(body=JPEG, stall=True), "source_timeout", "within 1 s"),
    "/huge.jpg": (Answer(body=JPEG + bytes(2000)), "source_too_large", f"than {LIMIT} bytes"),
    "/endless.jpg": (Answer(body=JPEG[:16], endless=True), "source_too_large", "larger than"),
    "/page.html": (
        Answer(body=b"<!doctype html><title>Photo</title>", headers={"content-type": "image/jpeg"}),
        "unsupported_format",
        "not an image this service reads",
    ),
    "/loop.jpg": (redirect("/loop.jpg"), "source_too_many_redirects", "more than 5 times"),
    "/to-file.jpg": (redirect("file:///etc/passwd"), "source_refused", "absolute https or http"),
}


async def test_each_source_that_cannot_be_fetched_fails_its_job_with_its_code(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = fetching(broker_settings)
    routes = {path: answer for path, (answer, _, _) in BAD_SOURCES.items()}
    async with (
        SourceServer.running(routes) as server,
        running_api(settings) as http,
        running_worker(settings),
    ):
        api = ApiClient(http)
        ids = {path: await submitted(api, server.url(path)) for path in BAD_SOURCES}
        async with SourceServer.running({}) as closed:
            gone = closed.url("/photo.jpg")  # nothing listens there once this block ends
        ids["closed port"] = await submitted(api, gone)
        jobs = {path: await api.finished(job_id, within=20) for path, job_id in ids.items()}
    expected = {path: code for path, (_, code, _) in BAD_SOURCES.items()}
    assert {path: job["error"]["code"] for path, job in jobs.items()} == {
        **expected,
        "closed port": "source_unreachable",
    }
    for path, (_, _, words) in BAD_SOURCES.items():
        assert jobs[path]["status"] == "failed"
        assert words in jobs[path]["error"]["message"], jobs[path]
    assert await stored_keys(settings, "originals/") == []


async def submitted(api: ApiClient, url: str) -> str:
    answer = await api.post_job(None, THUMB, source_url=url)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


async def test_a_retry_of_a_job_whose_fetch_succeeded_does_not_fetch_again(
    broker_settings: Callable[..., Settings],
) -> None:
    # The worker refuses the fetched image (too many pixels), so the job fails after its fetch.
    settings = fetching(broker_settings, max_input_pixels=1000)
    async with (
        SourceServer.running({"/photo.jpg": Answer(body=JPEG)}) as server,
        running_api(settings) as http,
        running_worker(settings),
    ):
        api = ApiClient(http)
        job_id = await submitted(api, server.url("/photo.jpg"))
        first = await api.finished(job_id)
        retried = await http.post(f"/v1/jobs/{job_id}/retry")
        assert retried.status_code == 202, retried.text
        again = await api.finished(job_id)
        assert server.hits == {"/photo.jpg": 1}
    assert first["error"]["code"] == again["error"]["code"] == "too_many_pixels"
    assert again["attempts"] == 1


async def test_a_retried_fetch_that_was_refused_by_the_source_fetches_again(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = fetching(broker_settings)
    async with (
        SourceServer.running({"/later.jpg": Answer(503)}) as server,
        running_api(settings) as http,
        running_worker(settings),
    ):
        api = ApiClient(http)
        job_id = await submitted(api, server.url("/later.jpg"))
        assert (await api.finished(job_id))["error"]["code"] == "source_http_error"
        server.routes["/later.jpg"] = Answer(body=JPEG)
        assert (await http.post(f"/v1/jobs/{job_id}/retry")).status_code == 202
        assert (await api.finished(job_id))["status"] == "succeeded"
        assert server.hits == {"/later.jpg": 2}


async def test_without_allow_private_a_loopback_source_is_refused_at_submit(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings()
    async with (
        SourceServer.running({"/photo.jpg": Answer(body=JPEG)}) as server,
        running_api(settings) as http,
    ):
        api = ApiClient(http)
        plain = await api.post_job(None, THUMB, source_url=server.url("/photo.jpg"))
        assert assert_problem(plain, 422)["type"] == "/problems/invalid-source-url"
        for host in ("127.0.0.1", "localhost"):
            https = f"https://{host}:{server.port}/photo.jpg"
            answer = await api.post_job(None, THUMB, source_url=https)
            assert assert_problem(answer, 422)["type"] == "/problems/source-url-refused"
        assert server.hits == {}


async def test_a_url_job_left_unconfirmed_by_a_dead_api_is_published_and_fetched(
    broker_settings: Callable[..., Settings],
) -> None:
    """It has no original yet, which for an upload would mean its submit was refused."""
    settings = fetching(broker_settings)
    job_id = uuid.uuid4()
    async with SourceServer.running({"/photo.jpg": Answer(body=JPEG)}) as server:
        stranded = JobRecord.new(
            job_id,
            variant_list_adapter.validate_python(THUMB),
            layout.original_key(job_id),
            source_url=server.url("/photo.jpg"),
        )
        an_hour_ago = utc_now() - timedelta(hours=1)
        settings.data_dir.mkdir(parents=True)
        store = JobStore.from_settings(settings)
        await store.migrate()
        await store.add(
            dataclasses.replace(stranded, created_at=an_hour_ago, updated_at=an_hour_ago)
        )
        await store.close()
        async with running_api(settings) as http, running_worker(settings):
            job = await ApiClient(http).finished(str(job_id))
        assert job["status"] == "succeeded", job
        assert server.hits == {"/photo.jpg": 1}
