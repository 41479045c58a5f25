"""Completion webhooks end to end: the API, a worker and the broker, and a real HTTP receiver
on loopback (which WEBHOOK_ALLOW_PRIVATE lets through); every delivery is checked with the
verification function docs/webhooks.md gives receivers."""

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from producer_service.callers import owner_id
from producer_service.db.store import JobStore
from producer_service.records import JobRecord
from shared import layout
from shared.messages import utc_now
from shared.schemas import JobStatus, WebhookState, WebhookStatus
from shared.settings import Settings
from shared.topology import Topology
from shared.variants import DEFAULT_VARIANTS
from tests.client import ApiClient
from tests.images import jpeg_bytes, undecodable_png
from tests.receiver import HANG, SECRET, Receiver, documented_verifier, hooked
from tests.support import ALICE, BOB, BrokerProbe, running_api, running_worker, wait_for

THUMB = [{"name": "thumb", "width": 64, "format": "webp"}]
verify_webhook = documented_verifier()


async def webhook_reaches(api: ApiClient, job_id: str, status: str, within: float = 30) -> Any:
    """The job, once its webhook is `status`."""

    async def check() -> Any:
        job = await api.job(job_id)
        return job if (job["webhook"] or {}).get("status") == status else None

    return await wait_for(check, within, f"job {job_id}'s webhook to be {status}")


async def waiting_tries(settings: Settings) -> int:
    """Webhook tries waiting in the broker, in {q}.webhooks or a delay tier."""
    async with BrokerProbe.open(settings) as probe:
        queues = Topology.from_settings(settings).webhook_queues()
        return sum([await probe.ready_messages(spec.name) for spec in queues])


def without_webhook(job: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in job.items() if name != "webhook"}


def as_key(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def webhook_secret(http: httpx.AsyncClient, key: str) -> str:
    """The key's webhook secret, as its holder reads it."""
    response = await http.get("/v1/webhook-secret", headers=as_key(key))
    assert response.status_code == 200, response.text
    return str(response.json()["secret"])


async def test_each_ended_job_is_posted_once_signed_as_the_readme_says(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = hooked(broker_settings)
    async with (
        Receiver.running() as receiver,
        running_api(settings) as client,
        running_worker(settings),
    ):
        api = ApiClient(client)
        good = await api.submit(jpeg_bytes(), THUMB, callback_url=receiver.url)
        bad = await api.submit(undecodable_png(), THUMB, callback_url=receiver.url)
        jobs = {job_id: await webhook_reaches(api, job_id, "delivered") for job_id in (good, bad)}
        assert await waiting_tries(settings) == 0
    tries = receiver.by_webhook_id()
    assert tries.keys() == {f"{good}:1", f"{bad}:1"}
    for job_id, job in jobs.items():
        (request,) = tries[f"{job_id}:1"]
        assert (request.method, request.path) == ("POST", "/hooks/resized")
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("image-resize-service")
        assert verify_webhook(SECRET, request.headers, request.body)
        # The job as GET shows it, but for the delivery's own state.
        assert request.job == without_webhook(job)
        assert job["callback_url"] == receiver.url
        assert job["webhook"] == {"status": "delivered", "attempts": 1, "last_error": None}
    (succeeded,) = tries[f"{good}:1"]
    (failed,) = tries[f"{bad}:1"]
    assert succeeded.job["status"] == "succeeded"
    assert succeeded.job["outputs"][0]["name"] == "thumb"
    assert failed.job["status"] == "failed"
    assert failed.job["error"]["code"] == "undecodable_image"
    # What a forger or a meddling proxy sends does not verify.
    tampered = succeeded.body.replace(b'"succeeded"', b'"failed"')
    assert tampered != succeeded.body
    assert not verify_webhook(SECRET, succeeded.headers, tampered)
    assert not verify_webhook("another-secret", succeeded.headers, succeeded.body)


async def test_a_target_answering_500_twice_gets_three_tries_under_one_webhook_id(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = hooked(broker_settings)
    async with (
        Receiver.running([500, 500]) as receiver,
        running_api(settings) as client,
        running_worker(settings),
    ):
        api = ApiClient(client)
        job_id = await api.submit(jpeg_bytes(), THUMB, callback_url=receiver.url)
        job = await webhook_reaches(api, job_id, "delivered")
        assert await waiting_tries(settings) == 0
    assert [request.webhook_id for request in receiver.received] == [f"{job_id}:1"] * 3
    assert all(verify_webhook(SECRET, r.headers, r.body) for r in receiver.received)
    assert len({request.body for request in receiver.received}) == 1  # the same bytes each try
    assert job["webhook"] == {"status": "delivered", "attempts": 3, "last_error": "HTTP 500"}


async def test_a_target_that_never_answers_2xx_fails_the_webhook_after_the_last_try(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = hooked(broker_settings, webhook_max_attempts=3)
    async with (
        Receiver.running(then=503) as receiver,
        running_api(settings) as client,
        running_worker(settings),
    ):
        api = ApiClient(client)
        job_id = await api.submit(jpeg_bytes(), THUMB, callback_url=receiver.url)
        job = await webhook_reaches(api, job_id, "failed")
        assert await waiting_tries(settings) == 0
    assert len(receiver.received) == 3
    assert job["status"] == "succeeded"  # the job itself is untouched
    assert job["webhook"] == {"status": "failed", "attempts": 3, "last_error": "HTTP 503"}


async def test_a_redirect_is_a_failed_try_and_is_not_followed(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = hooked(broker_settings, webhook_max_attempts=1)
    async with (
        Receiver.running(then=302) as receiver,
        running_api(settings) as client,
        running_worker(settings),
    ):
        api = ApiClient(client)
        job_id = await api.submit(jpeg_bytes(), THUMB, callback_url=receiver.url)
        job = await webhook_reaches(api, job_id, "failed")
    assert [request.path for request in receiver.received] == ["/hooks/resized"]
    assert job["webhook"]["last_error"] == "HTTP 302 (redirects are not followed)"


async def test_a_try_waiting_while_the_api_restarts_is_made_by_the_next_api(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = hooked(broker_settings, webhook_retry_base_seconds=0.5)
    async with Receiver.running([500]) as receiver, running_worker(settings):
        async with running_api(settings) as client:
            api = ApiClient(client)
            job_id = await api.submit(jpeg_bytes(), THUMB, callback_url=receiver.url)
            job = await webhook_reaches(api, job_id, "pending")
            await wait_for(lambda: _tried(api, job_id, 1), what="the first try to fail")
        # No API runs now: the second try waits in the broker.
        assert await waiting_tries(settings) == 1
        assert len(receiver.received) == 1
        async with running_api(settings) as client:
            job = await webhook_reaches(ApiClient(client), job_id, "delivered")
    assert [request.webhook_id for request in receiver.received] == [f"{job_id}:1"] * 2
    assert job["webhook"] == {"status": "delivered", "attempts": 2, "last_error": "HTTP 500"}


async def _tried(api: ApiClient, job_id: str, attempts: int) -> bool:
    webhook = (await api.job(job_id))["webhook"]
    return webhook is not None and webhook["attempts"] >= attempts


async def test_two_api_replicas_post_each_job_once(
    broker_settings: Callable[..., Settings], postgres_url: str
) -> None:
    settings = hooked(broker_settings, database_url=postgres_url)
    async with (
        Receiver.running() as receiver,
        running_api(settings) as first,
        running_api(settings) as second,
        running_worker(settings),
    ):
        apis = [ApiClient(first), ApiClient(second)]
        ids = await asyncio.gather(
            *(api.submit(jpeg_bytes(), THUMB, callback_url=receiver.url) for api in apis * 4)
        )
        for job_id in ids:
            await webhook_reaches(apis[0], job_id, "delivered")
        assert await waiting_tries(settings) == 0
    tries = receiver.by_webhook_id()
    assert sorted(tries) == sorted(f"{job_id}:1" for job_id in ids)
    assert {len(requests) for requests in tries.values()} == {1}


async def test_a_slow_target_holds_up_neither_submits_nor_other_jobs(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = hooked(broker_settings, webhook_timeout_seconds=5, webhook_max_attempts=1)
    async with (
        Receiver.running(then=HANG) as slow,
        Receiver.running() as fast,
        running_api(settings) as client,
        running_worker(settings),
    ):
        api = ApiClient(client)
        stuck = await api.submit(jpeg_bytes(), THUMB, callback_url=slow.url)
        await slow.requests(1)  # its POST is under way, and will get no answer
        other = await api.submit(jpeg_bytes(), THUMB, callback_url=fast.url)
        done = await webhook_reaches(api, other, "delivered")
        # Submitted, resized, updated and delivered while the slow POST still waits.
        assert not slow.received[0].answered.is_set()
        pending = (await api.job(stuck))["webhook"]
        given_up = await webhook_reaches(api, stuck, "failed")
    assert done["status"] == "succeeded"
    assert pending == {"status": "pending", "attempts": 0, "last_error": None}
    assert given_up["webhook"]["last_error"] == "no answer within 5 s"


async def test_a_stopping_api_lets_a_try_under_way_finish(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = hooked(broker_settings)
    async with Receiver.running(answer_after=1.0) as receiver, running_worker(settings):
        async with running_api(settings) as client:
            job_id = await ApiClient(client).submit(jpeg_bytes(), THUMB, callback_url=receiver.url)
            await receiver.requests(1)  # the API stops while the receiver takes its time
        assert receiver.received[0].answered.is_set()
        assert await waiting_tries(settings) == 0
        store = JobStore.from_settings(settings)
        try:
            record = await store.get(uuid.UUID(job_id))
        finally:
            await store.close()
    assert record is not None
    delivered = WebhookState(status=WebhookStatus.DELIVERED, attempts=1, last_error=None)
    assert record.webhook == delivered
    assert len(receiver.received) == 1


def ended_an_hour_ago_with_its_webhook_due(callback_url: str, owner: str = "") -> JobRecord:
    """A job whose ending made its webhook due, as an API that died before queueing it left it."""
    job_id = uuid.uuid4()
    an_hour_ago = utc_now() - timedelta(hours=1)
    return dataclasses.replace(
        JobRecord.new(
            job_id,
            DEFAULT_VARIANTS,
            layout.original_key(job_id),
            owner=owner,
            callback_url=callback_url,
        ),
        status=JobStatus.SUCCEEDED,
        attempts=1,
        published=True,
        webhook=WebhookState(status=WebhookStatus.PENDING, attempts=0, last_error=None),
        created_at=an_hour_ago,
        updated_at=an_hour_ago,
    )


async def test_a_webhook_left_due_by_a_dead_api_is_sent_by_the_next(
    broker_settings: Callable[..., Settings],
) -> None:
    """The API that ended the job died before the broker confirmed its webhook's first try."""
    settings = hooked(broker_settings)
    settings.data_dir.mkdir(parents=True)
    async with Receiver.running() as receiver:
        ended = ended_an_hour_ago_with_its_webhook_due(receiver.url)
        store = JobStore.from_settings(settings)
        await store.migrate()
        await store.add(ended)
        await store.close()
        async with running_api(settings) as client:
            job = await webhook_reaches(ApiClient(client), str(ended.id), "delivered")
    (request,) = receiver.received
    assert request.webhook_id == f"{ended.id}:1"
    assert verify_webhook(SECRET, request.headers, request.body)
    assert request.job == without_webhook(job)


async def test_a_job_retried_by_hand_sends_a_new_webhook_when_its_new_run_ends(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = hooked(broker_settings, max_attempts=1)
    async with (
        Receiver.running() as receiver,
        running_api(settings) as client,
        running_worker(settings),
    ):
        api = ApiClient(client)
        job_id = await api.submit(undecodable_png(), THUMB, callback_url=receiver.url)
        await webhook_reaches(api, job_id, "delivered")
        original = layout.path_of(settings.data_dir, layout.original_key(uuid.UUID(job_id)))
        original.write_bytes(jpeg_bytes())  # the operator fixed what made it fail
        retried = await client.post(f"/v1/jobs/{job_id}/retry")
        assert retried.json()["webhook"] is None  # the new run has no webhook due yet
        await receiver.requests(2)
        job = await webhook_reaches(api, job_id, "delivered")
    first, second = receiver.received
    assert (first.webhook_id, second.webhook_id) == (f"{job_id}:1", f"{job_id}:2")
    assert (first.job["status"], second.job["status"]) == ("failed", "succeeded")
    assert second.job == without_webhook(job)


async def test_with_keys_a_webhook_verifies_only_with_the_secret_of_the_key_whose_job_it_is(
    broker_settings: Callable[..., Settings],
) -> None:
    """Alice points her job's callback at Bob's receiver: Bob, verifying with his own secret
    (or with WEBHOOK_SECRET, should he have it), never accepts it."""
    settings = hooked(broker_settings, api_keys=SecretStr(f"{ALICE},{BOB}"))
    async with (
        Receiver.running() as bobs_receiver,
        running_api(settings) as client,
        running_worker(settings),
    ):
        alices_secret = await webhook_secret(client, ALICE)
        bobs_secret = await webhook_secret(client, BOB)
        client.headers.update(as_key(ALICE))
        api = ApiClient(client)
        job_id = await api.submit(jpeg_bytes(), THUMB, callback_url=bobs_receiver.url)
        job = await webhook_reaches(api, job_id, "delivered")
    (request,) = bobs_receiver.received
    assert request.job == without_webhook(job)
    assert verify_webhook(alices_secret, request.headers, request.body)
    assert not verify_webhook(bobs_secret, request.headers, request.body)
    assert not verify_webhook(SECRET, request.headers, request.body)


async def test_a_rotated_out_keys_webhook_is_signed_with_the_secret_its_holder_has(
    broker_settings: Callable[..., Settings],
) -> None:
    """Alice read her secret, then her key left API_KEYS while her job's webhook was due: it
    is still signed with her secret, which only the owner id stored on the job derives."""
    settings = hooked(broker_settings, api_keys=SecretStr(f"{ALICE},{BOB}"))
    async with running_api(settings) as client:
        alices_secret = await webhook_secret(client, ALICE)
    async with Receiver.running() as receiver:
        ended = ended_an_hour_ago_with_its_webhook_due(receiver.url, owner=owner_id(ALICE))
        store = JobStore.from_settings(settings)
        await store.add(ended)
        await store.close()
        rotated = settings.model_copy(update={"api_keys": SecretStr(BOB)})
        async with running_api(rotated):
            (request,) = await receiver.requests(1)
    assert request.webhook_id == f"{ended.id}:1"
    assert verify_webhook(alices_secret, request.headers, request.body)
    assert not verify_webhook(SECRET, request.headers, request.body)
