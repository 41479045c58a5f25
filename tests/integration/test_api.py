"""The REST API in-process against a real RabbitMQ: a 202 only for a confirmed, persistent
task, and the 503s of a broker that is down, refusing logins or full. (Refusals that need no
broker are unit tests: tests/unit/test_api_refusals.py.)"""

import uuid
from collections.abc import Callable
from pathlib import Path

import aio_pika
from yarl import URL

from shared.messages import TASK_TYPE, ResizeTask
from shared.settings import Settings
from tests.client import ApiClient, assert_problem
from tests.images import jpeg_bytes
from tests.support import (
    TEST_AMQP_URL,
    BrokerProbe,
    job_count,
    make_settings,
    originals,
    running_api,
    wait_for,
)

VARIANTS = [
    {"name": "thumb", "width": 320, "format": "webp"},
    {"name": "sq", "width": 64, "height": 64, "fit": "cover", "crop": "attention"},
]


async def test_submit_answers_202_with_location_after_a_persistent_task_is_queued(
    broker: Settings,
) -> None:
    async with running_api(broker) as client, BrokerProbe.open(broker) as probe:
        response = await ApiClient(client).post_job(jpeg_bytes(), VARIANTS)
        assert response.status_code == 202, response.text
        job = response.json()
        assert response.headers["location"] == f"/v1/jobs/{job['id']}"
        assert uuid.UUID(job["id"]).version == 4
        assert job["status"] == "queued"
        assert job["attempts"] == 0
        assert job["outputs"] == []
        assert [v["name"] for v in job["variants"]] == ["thumb", "sq"]

        queue = await probe.channel.get_queue(probe.topology.work_queue)
        message = await queue.get(no_ack=True, timeout=5)
        assert message is not None
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.content_type == "application/json"
        assert message.message_id == job["id"]
        assert message.type == TASK_TYPE
        task = ResizeTask.model_validate_json(message.body)
        assert str(task.job_id) == job["id"]
        assert (task.run, task.attempt) == (1, 1)
        assert (broker.data_dir / task.source_key).read_bytes() == jpeg_bytes()

        status = await client.get(response.headers["location"])
        assert status.status_code == 200
        assert status.json()["id"] == job["id"]


async def test_with_the_broker_down_submit_is_503_fast_and_reads_still_work(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, amqp_url="amqp://guest:guest@127.0.0.1:1/")
    async with running_api(settings, ready=False) as client:
        response = await ApiClient(client).post_job(jpeg_bytes())
        assert_problem(response, 503)
        assert int(response.headers["retry-after"]) > 0
        assert_problem(await client.get("/readyz"), 503)
        assert (await client.get("/healthz")).status_code == 200
        assert_problem(await client.get(f"/v1/jobs/{uuid.uuid4()}"), 404)
    assert await job_count(settings) == 0
    assert originals(settings) == []


async def test_wrong_broker_credentials_are_a_login_refused_not_an_outage(
    tmp_path: Path,
) -> None:
    wrong = str(URL(TEST_AMQP_URL).with_password("not-the-password"))
    settings = make_settings(tmp_path, amqp_url=wrong)
    async with running_api(settings, ready=False) as client:

        async def readiness() -> dict[str, object] | None:
            body: dict[str, object] = (await client.get("/readyz")).json()
            return body if body["checks"] != {"broker": "unreachable", **_OTHERS_OK} else None

        ready = await wait_for(readiness, what="the first try to log in")
        submitted = await ApiClient(client).post_job(jpeg_bytes())
    assert ready["checks"] == {"broker": "login refused", **_OTHERS_OK}
    body = assert_problem(submitted, 503)
    assert body["reason"] == "login refused"
    assert "not-the-password" not in submitted.text + str(ready)


async def test_a_node_that_refuses_the_login_is_named_even_when_the_node_before_it_is_down(
    tmp_path: Path,
) -> None:
    down = "amqp://guest:not-the-password@127.0.0.1:1/"
    wrong = str(URL(TEST_AMQP_URL).with_password("not-the-password"))
    settings = make_settings(tmp_path, amqp_url=f"{down},{wrong}")
    async with running_api(settings, ready=False) as client:

        async def readiness() -> dict[str, object] | None:
            body: dict[str, object] = (await client.get("/readyz")).json()
            return body if body["checks"] != {"broker": "unreachable", **_OTHERS_OK} else None

        ready = await wait_for(readiness, what="a round of tries over both nodes")
    assert ready["checks"] == {"broker": "login refused", **_OTHERS_OK}
    assert "not-the-password" not in str(ready)


_OTHERS_OK = {"store": "ok", "storage": "ok"}


async def test_a_full_queue_gives_503_and_no_phantom_job(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(max_queued_jobs=1)
    async with running_api(settings) as client:
        accepted = await ApiClient(client).post_job(jpeg_bytes())
        refused = await ApiClient(client).post_job(jpeg_bytes())
    assert accepted.status_code == 202
    body = assert_problem(refused, 503)
    assert body["type"] == "/problems/queue-full"
    assert "retry-after" in refused.headers
    assert await job_count(settings) == 1
    assert len(originals(settings)) == 1


async def test_readyz_is_200_when_broker_and_store_answer(broker: Settings) -> None:
    async with running_api(broker) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"broker": "ok", "store": "ok", "storage": "ok"}
