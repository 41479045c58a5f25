"""`POST /v1/jobs/{id}/cancel` on the in-memory broker, in seconds: the marker and the notice a
cancel leaves for workers, its answers, and what a worker's late events can no longer do. The
workers' side runs against RabbitMQ in tests/integration/test_cancel.py."""

import uuid

from pydantic import SecretStr

from shared import layout
from shared.messages import CancelNotice, EventKind, JobEvent
from shared.topology import Topology
from tests.client import assert_problem
from tests.support import ALICE, BOB, stored_keys
from tests.support.served import Serve, Served
from tests.unit.test_after_publish import SOURCE, submitted, succeeded

NOTICES = "notices-heard"


async def hear_notices(served: Served) -> None:
    """A queue bound to the cancels exchange, as each worker binds one."""
    channel = served.broker.connect().channel()
    queue = await channel.declare_queue(NOTICES)
    await queue.bind(Topology.from_settings(served.settings).cancels_exchange, "")


async def test_a_queued_job_is_cancelled_at_once_with_its_marker_and_a_notice(
    serve: Serve,
) -> None:
    async with serve() as served:
        await hear_notices(served)
        job_id = await submitted(served)
        job = await served.api.cancel(str(job_id))
        markers = await stored_keys(served.settings, "cancels/")
        notices = [CancelNotice.model_validate_json(b) for b in served.broker.bodies(NOTICES)]
        again = await served.api.http.post(f"/v1/jobs/{job_id}/cancel")
        metrics = (await served.api.http.get("/metrics")).text
    assert job["status"] == "cancelled"
    assert markers == [layout.cancel_key(job_id, 1)]
    assert notices == [CancelNotice(job_id=job_id, run=1)]
    assert assert_problem(again, 409)["type"] == "/problems/job-already-finished"
    assert 'resize_cancels_total{was="queued"} 1.0' in metrics


async def test_a_late_success_does_not_bring_a_cancelled_job_back_and_loses_its_outputs(
    serve: Serve,
) -> None:
    # The worker looked for the marker just before the cancel, wrote its outputs, then
    # reported: the job stays cancelled, and what the event names is deleted.
    async with serve() as served:
        job_id = await submitted(served)
        processing = JobEvent(
            job_id=job_id, run=1, attempt=1, kind=EventKind.PROCESSING, source=SOURCE
        )
        await served.report(processing)
        output = layout.path_of(served.settings.data_dir, f"outputs/{job_id}/thumb.webp")
        output.parent.mkdir(parents=True)
        output.write_bytes(b"late")
        await served.api.cancel(str(job_id))
        await served.report(succeeded(job_id))
        job = await served.api.job(str(job_id))
        download = await served.api.http.get(f"/v1/jobs/{job_id}/outputs/thumb")
    assert job["status"] == "cancelled"
    assert job["outputs"] == []
    assert not output.exists()
    assert assert_problem(download, 409)["type"] == "/problems/output-not-ready"


async def test_a_finished_job_is_not_cancelled_and_keeps_its_outputs(serve: Serve) -> None:
    async with serve() as served:
        job_id = await submitted(served)
        await served.report(succeeded(job_id))
        refused = await served.api.http.post(f"/v1/jobs/{job_id}/cancel")
        job = await served.api.job(str(job_id))
        markers = await stored_keys(served.settings, "cancels/")
    body = assert_problem(refused, 409)
    assert body["type"] == "/problems/job-already-finished"
    assert "succeeded" in body["detail"]
    assert job["status"] == "succeeded"
    assert markers == []


async def test_a_cancelled_job_is_retried_as_a_new_run_and_then_deleted_with_its_markers(
    serve: Serve,
) -> None:
    async with serve() as served:
        job_id = await submitted(served)
        still_queued = await served.api.http.delete(f"/v1/jobs/{job_id}")
        await served.api.cancel(str(job_id))
        retried = await served.api.http.post(f"/v1/jobs/{job_id}/retry")
        runs = [task.run for task in served.tasks]
        # The first run's marker does not stop the second run.
        await served.report(succeeded(job_id).model_copy(update={"run": 2}))
        after_retry = await served.api.job(str(job_id))
        deleted = await served.api.http.delete(f"/v1/jobs/{job_id}")
        markers = await stored_keys(served.settings, "cancels/")
    assert "cancel it first" in assert_problem(still_queued, 409)["detail"]
    assert retried.status_code == 202
    assert retried.json()["status"] == "queued"
    assert runs == [1, 2]
    assert after_retry["status"] == "succeeded"
    assert deleted.status_code == 204
    assert markers == []


async def test_a_cancel_needs_the_jobs_own_key(serve: Serve) -> None:
    async with serve(api_keys=SecretStr(f"{ALICE},{BOB}")) as served:
        http = served.api.http
        http.headers["Authorization"] = f"Bearer {ALICE}"
        job_id = await submitted(served)
        token = (await http.post("/v1/tokens", json={})).json()["token"]
        by_bob = await http.post(
            f"/v1/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {BOB}"}
        )
        by_token = await http.post(
            f"/v1/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {token}"}
        )
        unknown = await http.post(f"/v1/jobs/{uuid.uuid4()}/cancel")
        job = await served.api.job(str(job_id))
    assert assert_problem(by_bob, 404)["type"] == "/problems/job-not-found"
    assert assert_problem(by_token, 403)["type"] == "/problems/token-not-allowed"
    assert_problem(unknown, 404)
    assert job["status"] == "queued"
