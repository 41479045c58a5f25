"""The `priority` form field on the in-memory broker: interactive by default, bulk into the
owner's own lane, anything else a 422 naming the field, and the job shows what it got."""

from producer_service.cli.client import FilePart
from shared.messages import ResizeTask
from shared.topology import BULK_LANES, Topology
from tests.client import ApiClient, assert_problem
from tests.images import jpeg_bytes
from tests.support.served import Serve, Served

THUMB = '[{"name": "thumb", "width": 32}]'


async def post(api: ApiClient, fields: dict[str, str], key: str | None = None) -> dict[str, object]:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    response = await api.api.post_job(
        FilePart("photo.jpg", jpeg_bytes(), "image/jpeg"),
        {"variants": THUMB, **fields},
        headers,
    )
    assert response.status_code == 202, response.text
    body: dict[str, object] = response.json()
    return body


def queued(served: Served, queue: str) -> list[ResizeTask]:
    return [ResizeTask.model_validate_json(body) for body in served.broker.bodies(queue)]


async def test_a_submit_is_interactive_by_default_and_its_task_waits_in_the_work_queue(
    serve: Serve,
) -> None:
    async with serve() as served:
        plain = await post(served.api, {})
        blank = await post(served.api, {"priority": " "})
        shown = await served.api.job(str(plain["id"]))
        topology = Topology.from_settings(served.settings)
        bulk_waiting = sum(len(queued(served, q)) for q in topology.bulk_queues)
        tasks = queued(served, topology.work_queue)
    assert (plain["priority"], blank["priority"], shown["priority"]) == ("interactive",) * 3
    assert [str(task.job_id) for task in tasks] == [plain["id"], blank["id"]]
    assert bulk_waiting == 0


async def test_each_keys_bulk_tasks_wait_in_the_lane_of_its_place_in_api_keys(
    serve: Serve,
) -> None:
    keys = [f"key-{n}" for n in range(BULK_LANES + 2)]
    async with serve(api_keys=",".join(keys)) as served:
        first = await post(served.api, {"priority": "bulk"}, keys[0])
        second = await post(served.api, {"priority": "bulk"}, keys[1])
        wrapped = await post(served.api, {"priority": "bulk"}, keys[BULK_LANES + 1])
        topology = Topology.from_settings(served.settings)
        lane0 = queued(served, topology.bulk_queue(0))
        lane1 = queued(served, topology.bulk_queue(1))
        interactive = queued(served, topology.work_queue)
    assert first["priority"] == "bulk"
    assert [str(task.job_id) for task in lane0] == [first["id"]]
    # Beyond BULK_LANES keys, lanes are shared: key 17 goes with key 1.
    assert [str(task.job_id) for task in lane1] == [second["id"], wrapped["id"]]
    assert all(task.lane == 1 for task in lane1)
    assert interactive == []


async def test_a_priority_other_than_the_two_is_a_422_naming_the_field(serve: Serve) -> None:
    async with serve() as served:
        response = await served.api.api.post_job(
            FilePart("photo.jpg", jpeg_bytes(), "image/jpeg"), {"priority": "urgent"}, {}
        )
        assert_problem(response, 422)
        problem = response.json()
        await served.assert_nothing_kept()
    assert problem["errors"][0]["loc"] == ["body", "priority"]
    assert "`interactive` or `bulk`" in problem["detail"]
