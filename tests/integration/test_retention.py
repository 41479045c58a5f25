"""JOB_RETENTION_HOURS with a real worker: finished jobs go with their files, a batch at a time;
jobs still waiting stay."""

from collections.abc import Callable

from shared.settings import Settings
from tests.client import ApiClient
from tests.images import jpeg_bytes, undecodable_png
from tests.support import job_count, originals, running_api, running_worker, wait_for

THUMB = [{"name": "thumb", "width": 32}]
TWO_SECONDS = 2 / 3600


async def test_finished_jobs_are_deleted_with_their_files_once_retention_has_passed(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(job_retention_hours=TWO_SECONDS)
    async with running_api(settings) as http:
        api = ApiClient(http)
        async with running_worker(settings):
            ids = [await api.submit(jpeg_bytes(), THUMB) for _ in range(3)]
            ids.append(await api.submit(undecodable_png(), THUMB))
            tally = await api.tally(ids)
        waiting = await api.submit(jpeg_bytes(), THUMB)  # no worker runs it

        async def all_gone() -> bool:
            answers = [await http.get(f"/v1/jobs/{job_id}") for job_id in ids]
            return all(answer.status_code == 404 for answer in answers)

        await wait_for(all_gone, within=15, what="finished jobs to expire")
        still_there = await api.job(waiting)
    assert (tally.succeeded, tally.failed) == (3, 1)
    assert still_there["status"] == "queued"
    assert await job_count(settings) == 1
    assert len(originals(settings)) == 1
    assert list((settings.data_dir / "outputs").iterdir()) == []
