"""API and worker together: listing, retry by hand, and jobs an API died before confirming."""

import asyncio
import uuid
from collections.abc import Callable

from shared import layout
from shared.settings import Settings
from tests.client import ApiClient, Tally, assert_problem
from tests.images import jpeg_bytes, undecodable_png
from tests.support import add_stranded_job, running_api, running_worker

THUMB = [{"name": "thumb", "width": 100, "format": "webp"}]


async def test_jobs_are_listed_newest_first_by_status_with_cursor_pages(broker: Settings) -> None:
    async with running_api(broker) as client, running_worker(broker):
        api = ApiClient(client)
        good = [await api.submit(jpeg_bytes(), THUMB) for _ in range(3)]
        bad = [await api.submit(undecodable_png(), THUMB) for _ in range(3)]
        assert await api.tally(good + bad) == Tally(6, 3, 3, 0)
        pages, cursor = [], None
        while True:
            params = {"status": "failed", "limit": "2", **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/v1/jobs", params=params)).json()
            pages.append([job["id"] for job in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        everything = (await client.get("/v1/jobs")).json()
        bogus = await client.get("/v1/jobs", params={"cursor": "not-a-cursor"})
        wrong_status = await client.get("/v1/jobs", params={"status": "lost"})
    assert pages == [bad[::-1][:2], bad[::-1][2:]]
    assert [job["id"] for job in everything["items"]] == (good + bad)[::-1]
    assert bogus.status_code == wrong_status.status_code == 422


async def test_a_failed_job_can_be_retried_by_hand_and_then_succeeds(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(max_attempts=1)
    async with running_api(settings) as client, running_worker(settings):
        api = ApiClient(client)
        job_id = await api.submit(undecodable_png(), THUMB)
        failed = await api.finished(job_id)
        assert failed["status"] == "failed"
        error = failed["error"]
        assert isinstance(error, dict)
        assert error["code"] == "undecodable_image"
        # Nothing of the server's paths or of libvips' own wording reaches the client.
        assert str(settings.data_dir) not in str(error["message"])
        assert job_id not in str(error["message"])
        assert "vips" not in str(error["message"]).lower()

        original = layout.path_of(settings.data_dir, layout.original_key(uuid.UUID(job_id)))
        original.write_bytes(jpeg_bytes())  # the operator fixed what made it fail
        retried = await client.post(f"/v1/jobs/{job_id}/retry")
        assert retried.status_code == 202, retried.text
        assert retried.json()["status"] == "queued"
        assert retried.json()["error"] is None
        done = await api.finished(job_id)
        assert done["status"] == "succeeded"
        assert done["attempts"] == 1

        again = await client.post(f"/v1/jobs/{job_id}/retry")
        unknown = await client.post(f"/v1/jobs/{uuid.uuid4()}/retry")
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert unknown.status_code == 404


async def test_retries_count_against_a_keys_active_job_cap_even_when_sent_at_once(
    broker_settings: Callable[..., Settings], each_database: dict[str, str]
) -> None:
    settings = broker_settings(max_active_jobs_per_key=2, **each_database)
    async with running_api(settings) as client:
        api = ApiClient(client)
        async with running_worker(settings):
            ids = [await api.submit(undecodable_png(), THUMB) for _ in range(2)]
            await api.tally(ids)
            ids += [await api.submit(undecodable_png(), THUMB) for _ in range(2)]
            await api.tally(ids)
            ids += [await api.submit(undecodable_png(), THUMB) for _ in range(2)]
            tally = await api.tally(ids)
        # No worker now: what is queued again stays queued.
        answers = await asyncio.gather(*(client.post(f"/v1/jobs/{i}/retry") for i in ids))
        queued = (await client.get("/v1/jobs", params={"status": "queued"})).json()["items"]
        submitted = await api.post_job(jpeg_bytes(), THUMB)
    assert tally.failed == 6
    assert sorted(answer.status_code for answer in answers) == [202] * 2 + [429] * 4
    for refused in (a for a in answers if a.status_code == 429):
        assert assert_problem(refused, 429)["type"] == "/problems/too-many-active-jobs"
        assert int(refused.headers["retry-after"]) > 0
    assert len(queued) == 2
    assert_problem(submitted, 429)


async def test_a_job_left_unconfirmed_by_a_dead_api_is_published_at_start_up(
    broker: Settings,
) -> None:
    job_id = await add_stranded_job(broker, jpeg_bytes())

    async with running_api(broker) as client, running_worker(broker):
        job = await ApiClient(client).finished(str(job_id))
    assert job["status"] == "succeeded"
