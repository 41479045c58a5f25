"""JOB_RETENTION_HOURS with a real worker, on each storage and job store: finished jobs go with
their files, a batch at a time; jobs still waiting, or whose webhook is still tried, stay."""

from collections.abc import Callable

from shared.settings import Settings
from tests.client import ApiClient, assert_problem
from tests.images import jpeg_bytes, undecodable_png
from tests.receiver import Receiver, hooked
from tests.s3 import Bucket, storage_settings
from tests.support import job_count, running_api, running_worker, stored_keys, wait_for

THUMB = [{"name": "thumb", "width": 32}]
TWO_SECONDS = 2 / 3600
ONE_SECOND = 1 / 3600


async def test_finished_jobs_are_deleted_with_their_files_once_retention_has_passed(
    broker_settings: Callable[..., Settings], each_storage: Bucket | None
) -> None:
    settings = broker_settings(job_retention_hours=TWO_SECONDS, **storage_settings(each_storage))
    async with running_api(settings) as http:
        api = ApiClient(http)
        async with running_worker(settings):
            ids = [await api.submit(jpeg_bytes(), THUMB) for _ in range(3)]
            ids.append(await api.submit(undecodable_png(), THUMB))
            tally = await api.tally(ids)
        waiting = await api.submit(jpeg_bytes(), THUMB)  # no worker runs it

        async def all_gone() -> bool:
            # A job's row goes first and its files just after, so wait for both.
            answers = [await http.get(f"/v1/jobs/{job_id}") for job_id in ids]
            return all(answer.status_code == 404 for answer in answers) and await stored_keys(
                settings, "originals/"
            ) == [f"originals/{waiting}"]

        await wait_for(all_gone, within=15, what="finished jobs and their files to expire")
        still_there = await api.job(waiting)
    assert (tally.succeeded, tally.failed) == (3, 1)
    assert still_there["status"] == "queued"
    assert await job_count(settings) == 1
    assert await stored_keys(settings, "outputs/") == []


async def test_files_a_bucket_lifecycle_rule_expired_first_are_404_and_the_job_still_deletes(
    broker_settings: Callable[..., Settings], s3_bucket: Bucket
) -> None:
    settings = broker_settings(**s3_bucket.settings())
    async with running_api(settings) as http:
        api = ApiClient(http)
        async with running_worker(settings):
            job = await api.finished(await api.submit(jpeg_bytes(), THUMB))
            broken = await api.finished(await api.submit(undecodable_png(), THUMB))
            await s3_bucket.empty()  # a lifecycle rule firing before the retention sweep
            still = await api.job(job["id"])
            url = job["outputs"][0]["url"]
            download, head = await http.get(url), await http.head(url)
            retried = await http.post(f"/v1/jobs/{broken['id']}/retry")
            rerun = await api.finished(broken["id"])
        deleted = await http.delete(f"/v1/jobs/{job['id']}")  # what the sweep does too
        gone = await http.get(f"/v1/jobs/{job['id']}")
    assert (still["status"], still["outputs"]) == ("succeeded", job["outputs"])
    assert assert_problem(download, 404)["type"] == "/problems/output-not-found"
    assert head.status_code == 404
    assert broken["error"]["code"] == "undecodable_image"
    assert retried.status_code == 202
    assert (rerun["status"], rerun["error"]["code"]) == ("failed", "source_missing")
    assert deleted.status_code == 204
    assert gone.status_code == 404


async def test_a_job_stays_while_its_webhook_is_retried_and_goes_once_it_is_delivered(
    broker_settings: Callable[..., Settings], each_database: dict[str, str]
) -> None:
    settings = hooked(
        broker_settings, job_retention_hours=ONE_SECOND, webhook_max_attempts=100, **each_database
    )
    async with (
        Receiver.running(then=500) as receiver,
        running_api(settings) as http,
        running_worker(settings),
    ):
        api = ApiClient(http)

        async def gone(job_id: str) -> bool:
            return (await http.get(f"/v1/jobs/{job_id}")).status_code == 404

        hooked_job = await api.submit(jpeg_bytes(), THUMB, callback_url=receiver.url)
        await receiver.requests(1)  # it has ended, and its webhook is refused
        # A job that ends later goes once the sweep has passed the first one's retention too.
        plain = await api.finished(await api.submit(jpeg_bytes(), THUMB))
        await wait_for(lambda: gone(plain["id"]), within=15, what="the plain job to expire")
        kept = await api.job(hooked_job)
        tries = len(receiver.received)
        await receiver.requests(tries + 1)  # and the retries go on
        receiver.answer_from_now(200)
        await wait_for(lambda: gone(hooked_job), within=15, what="the delivered job to expire")
    assert (kept["status"], kept["webhook"]["status"]) == ("succeeded", "pending")
    assert kept["webhook"]["attempts"] >= 1
    assert all(request.job["id"] == hooked_job for request in receiver.received)
    assert await job_count(settings) == 0
