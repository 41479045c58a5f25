"""`DELETE /v1/jobs/{id}` with a real worker: a finished job goes with all its files; one still
queued is refused; another key's job is not there to delete; its dead letter is harmless."""

from collections.abc import Callable

from pydantic import SecretStr

from shared.settings import Settings
from tests.client import ApiClient, assert_problem
from tests.images import jpeg_bytes, undecodable_png
from tests.support import (
    ALICE,
    BOB,
    BrokerProbe,
    job_count,
    originals,
    running_api,
    running_worker,
    wait_for,
)

THUMB = [{"name": "thumb", "width": 64}, {"name": "tiny", "width": 16, "format": "webp"}]


async def test_a_finished_job_is_deleted_with_its_original_and_outputs(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(api_keys=SecretStr(f"{ALICE},{BOB}"))
    async with running_api(settings) as http, running_worker(settings):
        http.headers["Authorization"] = f"Bearer {ALICE}"
        api = ApiClient(http)
        succeeded = await api.submit(jpeg_bytes(), THUMB)
        failed = await api.submit(undecodable_png(), THUMB)
        assert (await api.finished(succeeded))["status"] == "succeeded"
        assert (await api.finished(failed))["status"] == "failed"
        by_bob = await http.delete(
            f"/v1/jobs/{succeeded}", headers={"Authorization": f"Bearer {BOB}"}
        )
        deleted = [await http.delete(f"/v1/jobs/{job_id}") for job_id in (succeeded, failed)]
        after = await http.get(f"/v1/jobs/{succeeded}")
        output = await http.get(f"/v1/jobs/{succeeded}/outputs/thumb")
        again = await http.delete(f"/v1/jobs/{succeeded}")
    assert assert_problem(by_bob, 404)["type"] == "/problems/job-not-found"
    assert [response.status_code for response in deleted] == [204, 204]
    assert deleted[0].content == b""
    for gone in (after, output, again):
        assert_problem(gone, 404)
    assert await job_count(settings) == 0
    assert originals(settings) == []
    assert list((settings.data_dir / "outputs").iterdir()) == []


async def test_a_job_still_queued_is_not_deleted(broker: Settings) -> None:
    async with running_api(broker) as http:
        api = ApiClient(http)
        job_id = await api.submit(jpeg_bytes(), THUMB)
        refused = await http.delete(f"/v1/jobs/{job_id}")
        job = await api.job(job_id)
    assert assert_problem(refused, 409)["type"] == "/problems/job-not-finished"
    assert job["status"] == "queued"
    assert len(originals(broker)) == 1


async def test_a_dead_letter_of_a_deleted_job_replayed_breaks_nothing(broker: Settings) -> None:
    # An operator shovels {q}.dead back into the work queue after the job was deleted: the
    # worker finds no original and drops the task, and the job stays gone.
    async with BrokerProbe.open(broker) as probe, running_api(broker) as http:
        api = ApiClient(http)
        async with running_worker(broker) as worker:
            failed = await api.submit(undecodable_png(), THUMB)
            assert (await api.finished(failed))["status"] == "failed"
            deleted = await http.delete(f"/v1/jobs/{failed}")
            dead = await (await probe.channel.get_queue(probe.topology.dead_letter_queue)).get()
            await probe.publish(dead.body, str(failed))
            await dead.ack()

            async def dropped() -> bool:
                failures = worker.metrics.registry.get_sample_value(
                    "resize_job_failures_total", {"code": "source_missing"}
                )
                return failures == 1

            await wait_for(dropped, what="the worker to drop the replayed task")
            after = await api.submit(jpeg_bytes(), THUMB)
            assert (await api.finished(after))["status"] == "succeeded"
        gone = await http.get(f"/v1/jobs/{failed}")
        dead_letters = await probe.ready_messages(probe.topology.dead_letter_queue)
    assert deleted.status_code == 204
    assert_problem(gone, 404)
    assert dead_letters == 0  # nothing to inspect without an original
    assert await job_count(broker) == 1  # the new job only: no row came back for the old one
    assert [path.name for path in originals(broker)] == [after]
