"""Idempotency keys: a replay gets the first job, never a job that is then dropped, and never
the job of a different request."""

import asyncio

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


async def test_concurrent_first_tries_with_one_key_make_one_job(broker: Settings) -> None:
    async with running_api(broker) as http, BrokerProbe.open(broker) as probe:
        api = ApiClient(http)
        answers = await asyncio.gather(*(api.post_job(jpeg_bytes(), THUMB, KEY) for _ in range(10)))
        queued = await probe.ready_messages(probe.topology.work_queue)
    assert [answer.status_code for answer in answers] == [202] * 10
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert queued == 1
