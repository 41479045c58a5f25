"""Idempotency keys: a replay gets the first job, never a job that is then dropped, and never
the job of a different request."""

import asyncio
from collections.abc import Callable

from shared.settings import Settings
from tests.client import ApiClient, assert_problem
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


async def test_concurrent_first_tries_with_one_key_make_one_job(broker: Settings) -> None:
    async with running_api(broker) as http, BrokerProbe.open(broker) as probe:
        api = ApiClient(http)
        answers = await asyncio.gather(*(api.post_job(jpeg_bytes(), THUMB, KEY) for _ in range(10)))
        queued = await probe.ready_messages(probe.topology.work_queue)
    assert [answer.status_code for answer in answers] == [202] * 10
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert queued == 1


async def test_concurrent_first_tries_under_a_cap_of_one_all_get_the_one_job(
    broker_settings: Callable[..., Settings], each_database: dict[str, str]
) -> None:
    """The cap counts only submits that would make a new job: a try whose key already has
    one gets that job, never a 429 about it."""
    settings = broker_settings(max_active_jobs_per_key=1, **each_database)
    async with running_api(settings) as http, BrokerProbe.open(settings) as probe:
        api = ApiClient(http)
        answers = await asyncio.gather(*(api.post_job(jpeg_bytes(), THUMB, KEY) for _ in range(8)))
        replay = await api.post_job(jpeg_bytes(), THUMB, KEY)
        another = await api.post_job(jpeg_bytes(), THUMB, {"Idempotency-Key": "order-43"})
        queued = await probe.ready_messages(probe.topology.work_queue)
    assert [answer.status_code for answer in answers] == [202] * 8, [a.text for a in answers]
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert replay.json()["id"] == answers[0].json()["id"]
    assert_problem(another, 429)  # a new job would be over the cap
    assert queued == 1
