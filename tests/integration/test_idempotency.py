"""Idempotency keys: a replay gets the first job, never a job that is then dropped, and never
the job of a different request."""

import asyncio
import hashlib
import uuid
from collections.abc import Callable

from producer_service.records import JobRecord
from producer_service.store import JobStore
from producer_service.uploads import request_fingerprint
from shared.schemas import variant_list_adapter
from shared.settings import Settings
from tests.client import ApiClient
from tests.images import jpeg_bytes
from tests.support import BrokerProbe, running_api

THUMB = [{"name": "thumb", "width": 120, "format": "webp"}]
KEY = {"Idempotency-Key": "order-42-avatar"}


async def test_the_same_key_and_request_return_the_first_job(broker: Settings) -> None:
    async with running_api(broker) as http, BrokerProbe.open(broker) as probe:
        api = ApiClient(http)
        first = await api.post_job(jpeg_bytes(), THUMB, KEY)
        again = await api.post_job(jpeg_bytes(), THUMB, KEY)
        other = await api.post_job(jpeg_bytes(), THUMB)
        queued = await probe.ready_messages(probe.topology.work_queue)
        listed = (await http.get("/v1/jobs")).json()["items"]
    assert first.status_code == again.status_code == other.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    assert other.json()["id"] != first.json()["id"]
    assert queued == len(listed) == 2


async def test_the_same_key_with_another_file_or_variants_is_422(broker: Settings) -> None:
    async with running_api(broker) as http:
        api = ApiClient(http)
        first = await api.post_job(jpeg_bytes(), THUMB, KEY)
        other_file = await api.post_job(jpeg_bytes(320, 240), THUMB, KEY)
        other_variants = await api.post_job(jpeg_bytes(), [{"name": "thumb", "width": 121}], KEY)
        # The same variants spelled out with their defaults are the same request.
        spelled_out = [{**THUMB[0], "fit": "contain", "quality": 80}]
        same = await api.post_job(jpeg_bytes(), spelled_out, KEY)
    assert first.status_code == 202
    for refused in (other_file, other_variants):
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/idempotency-key-reused"
    assert same.status_code == 202
    assert same.json()["id"] == first.json()["id"]


async def test_concurrent_first_tries_with_one_key_make_one_job(broker: Settings) -> None:
    async with running_api(broker) as http, BrokerProbe.open(broker) as probe:
        api = ApiClient(http)
        answers = await asyncio.gather(*(api.post_job(jpeg_bytes(), THUMB, KEY) for _ in range(10)))
        queued = await probe.ready_messages(probe.topology.work_queue)
    assert [answer.status_code for answer in answers] == [202] * 10
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert queued == 1


async def test_a_key_whose_first_try_stays_unconfirmed_is_409_until_it_is_confirmed(
    broker_settings: Callable[..., Settings],
) -> None:
    # Quick timeouts: the replay waits for the first try's confirm and clean-up, then gives up.
    settings = broker_settings(publish_timeout_seconds=0.5, database_timeout_seconds=0.5)
    image = jpeg_bytes()
    fingerprint = request_fingerprint(
        hashlib.sha256(image).digest(), variant_list_adapter.validate_python(THUMB)
    )
    # The row of an API that died waiting for its confirm, before the outbox relay found it.
    job_id = uuid.uuid4()
    pending = JobRecord.new(
        job_id,
        variant_list_adapter.validate_python(THUMB),
        f"originals/{job_id}",
        KEY["Idempotency-Key"],
        fingerprint,
    )
    async with running_api(settings) as http:
        store = JobStore.open(settings.job_store_url, settings.database_timeout_seconds)
        try:
            await store.add(pending)
            in_flight = await ApiClient(http).post_job(image, THUMB, KEY)
            await store.mark_published(job_id)
            confirmed = await ApiClient(http).post_job(image, THUMB, KEY)
        finally:
            await store.close()
    assert in_flight.status_code == 409
    assert in_flight.headers["content-type"] == "application/problem+json"
    assert in_flight.json()["type"] == "/problems/idempotency-key-in-flight"
    assert int(in_flight.headers["retry-after"]) > 0
    assert confirmed.status_code == 202
    assert confirmed.json()["id"] == str(job_id)
