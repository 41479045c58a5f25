"""Interactive before bulk, and bulk keys in turn, on a real broker with a real worker; each test
on classic and on quorum queues (quorum queues have no message priorities: lanes are queues).

The order jobs ran in is read afterwards from when each succeeded: one worker with one slot
runs them one after another, so their `updated_at` is the order the worker chose."""

from collections.abc import Callable, Sequence

from producer_service.cli.client import FilePart
from shared.settings import Settings
from tests.client import ApiClient, Json
from tests.images import jpeg_bytes
from tests.queue_types import each_queue_type  # noqa: F401 - each test on both queue types
from tests.support import running_api, running_worker

THUMB = '[{"name": "thumb", "width": 64}, {"name": "small", "width": 480, "format": "webp"}]'
IMAGE = jpeg_bytes(1600, 1200)


async def submit(api: ApiClient, priority: str, key: str | None = None) -> str:
    if key is not None:
        as_key(api, key)
    response = await api.api.post_job(
        FilePart("photo.jpg", IMAGE, "image/jpeg"), {"variants": THUMB, "priority": priority}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def as_key(api: ApiClient, key: str) -> ApiClient:
    """The client, sending `key` from now on."""
    api.http.headers["Authorization"] = f"Bearer {key}"
    return api


async def finished_jobs(api: ApiClient, ids_by_key: dict[str, list[str]]) -> list[Json]:
    """Every job of every key, once all have finished."""
    jobs: list[Json] = []
    for key, ids in ids_by_key.items():
        assert (await as_key(api, key).tally(ids)).succeeded == len(ids)
        jobs += await api.jobs(ids)
    return jobs


def finishing_order(jobs: Sequence[Json]) -> list[str]:
    assert {job["status"] for job in jobs} == {"succeeded"}
    return [job["id"] for job in sorted(jobs, key=lambda job: job["updated_at"])]


async def test_an_interactive_job_behind_a_bulk_backlog_starts_before_the_backlog_drains(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(worker_concurrency=1)
    async with running_api(settings) as http:
        api = ApiClient(http)
        backlog = [await submit(api, "bulk") for _ in range(30)]
        async with running_worker(settings):
            await api.wait_for_status("succeeded", backlog, 2)
            person = await submit(api, "interactive")
            shown = await api.finished(person)
            assert (await api.tally(backlog)).succeeded == len(backlog)
        jobs = await api.jobs([*backlog, person])
        stats = (await http.get("/v1/stats")).json()

    finishing_order(jobs)  # all succeeded
    bulk = [job for job in jobs if job["id"] != person]
    # Between its submit and its end, only the bulk job running when its task arrived (one
    # slot), and one that ended while the submit waited for its confirm, finished; most of the
    # backlog was still waiting after it.
    overtaking = [job for job in bulk if shown["created_at"] < job["updated_at"]]
    overtaking = [job for job in overtaking if job["updated_at"] < shown["updated_at"]]
    assert len(overtaking) <= 2
    assert len([job for job in bulk if job["updated_at"] > shown["updated_at"]]) >= 15
    assert shown["priority"] == "interactive"
    assert {job["priority"] for job in jobs if job["id"] != person} == {"bulk"}
    assert {job["attempts"] for job in jobs} == {1}
    assert stats["lanes"] == {
        "interactive": {"ready": 0, "unacked": 0},
        "bulk": {"ready": 0, "unacked": 0},
    }


async def test_two_keys_bulk_backlogs_are_served_in_turn(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(worker_concurrency=1, api_keys="key-a,key-b")
    async with running_api(settings) as http:
        api = ApiClient(http)
        first = [await submit(api, "bulk", "key-a") for _ in range(12)]
        second = [await submit(api, "bulk", "key-b") for _ in range(4)]
        stats = (await http.get("/v1/stats")).json()
        async with running_worker(settings):
            jobs = await finished_jobs(api, {"key-a": first, "key-b": second})

    assert stats["lanes"]["bulk"]["ready"] == 16
    assert stats["queue"]["ready"] == stats["lanes"]["interactive"]["ready"] == 0
    order = finishing_order(jobs)
    last_of_b = max(order.index(job_id) for job_id in second)
    # Key A's 12 were queued first; in turn, B's 4 finish around A's 4th or 5th, not after all 12.
    assert last_of_b < order.index(first[6])


async def test_bulk_tasks_held_unstarted_at_a_stop_go_back_with_their_attempt_uncounted(
    broker_settings: Callable[..., Settings],
) -> None:
    """A worker holds several tasks of each bulk lane it has not started; stopped, it hands
    them back. None may come back counted as an attempt lost with its worker."""
    keys = [f"key-{n}" for n in range(4)]
    settings = broker_settings(worker_concurrency=1, api_keys=",".join(keys))
    async with running_api(settings) as http:
        api = ApiClient(http)
        ids = {key: [await submit(api, "bulk", key) for _ in range(4)] for key in keys}
        async with running_worker(settings) as first:
            await as_key(api, keys[-1]).wait_for_status(
                ["processing", "succeeded"], ids[keys[-1]], 1
            )
        async with running_worker(settings) as second:
            jobs = await finished_jobs(api, ids)

    assert {job["attempts"] for job in jobs} == {1}
    for worker in (first, second):
        assert "retried" not in worker.metrics.summary()
