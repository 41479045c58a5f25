"""API keys: with API_KEYS set, every /v1 route needs a key, and each key sees only its jobs."""

import logging
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from shared.settings import Settings
from tests.images import jpeg_bytes
from tests.integration.test_jobs_lifecycle import final_status
from tests.support import running_api, running_worker

PROBLEM = "application/problem+json"
ALICE, BOB, ALICE_NEXT = "alice-key-0123456789", "bob-key-9876543210", "alice-rotated-key-42"
VARIANTS = '[{"name": "thumb", "width": 64, "format": "jpeg"}]'


def as_key(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def submit(client: httpx.AsyncClient, key: str, **headers: str) -> httpx.Response:
    return await client.post(
        "/v1/jobs",
        files={"file": ("photo.jpg", jpeg_bytes(), "image/jpeg")},
        data={"variants": VARIANTS},
        headers={**as_key(key), **headers},
    )


@pytest.fixture
def keyed(broker_settings: Callable[..., Settings]) -> Settings:
    return broker_settings(api_keys=SecretStr(f"{ALICE}, {BOB},{ALICE_NEXT}"))


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer wrong-key", f"Basic {ALICE}", ALICE, f"Bearer {ALICE}x"],
)
async def test_v1_without_a_valid_key_is_401_with_a_challenge(
    keyed: Settings, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with running_api(keyed) as client:
        for method, url in [("GET", "/v1/jobs"), ("POST", "/v1/jobs"), ("GET", "/v1/jobs/x")]:
            response = await client.request(method, url, headers=headers)
            assert response.status_code == 401, (method, url, response.text)
            assert response.headers["content-type"] == PROBLEM
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["type"] == "/problems/unauthorized"


async def test_health_and_docs_stay_open_with_keys_on(keyed: Settings) -> None:
    async with running_api(keyed) as client:
        for url in ["/healthz", "/readyz", "/docs", "/openapi.json"]:
            assert (await client.get(url)).status_code == 200, url


async def test_a_job_is_visible_only_to_the_key_that_made_it(keyed: Settings) -> None:
    async with running_api(keyed) as client, running_worker(keyed):
        created = await submit(client, ALICE)
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        client.headers.update(as_key(ALICE))
        job = await final_status(client, job_id)
        assert job["status"] == "succeeded"
        bob = as_key(BOB)
        for method, url in [
            ("GET", f"/v1/jobs/{job_id}"),
            ("GET", f"/v1/jobs/{job_id}/outputs/thumb"),
            ("POST", f"/v1/jobs/{job_id}/retry"),
        ]:
            response = await client.request(method, url, headers=bob)
            assert response.status_code == 404, (method, url, response.text)
            assert response.json()["type"] == "/problems/job-not-found"
        assert (await client.get("/v1/jobs", headers=bob)).json()["items"] == []
        mine = (await client.get("/v1/jobs")).json()["items"]
        assert [item["id"] for item in mine] == [job_id]
        output = await client.get(f"/v1/jobs/{job_id}/outputs/thumb")
        assert output.status_code == 200
        assert output.headers["cache-control"].startswith("private")  # no shared cache


async def test_each_of_several_keys_is_accepted_as_its_own_caller(keyed: Settings) -> None:
    async with running_api(keyed) as client:
        first = await submit(client, ALICE)
        second = await submit(client, ALICE_NEXT)
        assert (first.status_code, second.status_code) == (202, 202)
        rotated = (await client.get("/v1/jobs", headers=as_key(ALICE_NEXT))).json()["items"]
        assert [item["id"] for item in rotated] == [second.json()["id"]]


async def test_idempotency_keys_are_scoped_per_api_key(keyed: Settings) -> None:
    async with running_api(keyed) as client:
        alice = await submit(client, ALICE, **{"Idempotency-Key": "order-7"})
        replay = await submit(client, ALICE, **{"Idempotency-Key": "order-7"})
        bob = await submit(client, BOB, **{"Idempotency-Key": "order-7"})
    assert {alice.status_code, replay.status_code, bob.status_code} == {202}
    assert replay.json()["id"] == alice.json()["id"]
    assert bob.json()["id"] != alice.json()["id"]


async def test_a_key_never_reaches_a_log_line_or_an_answer(
    keyed: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_api(keyed) as client:
        accepted = await submit(client, ALICE)
        refused = await client.get("/v1/jobs", headers=as_key("not-a-key-secret-99"))
    assert accepted.status_code == 202
    for secret in (ALICE, BOB, ALICE_NEXT, "not-a-key-secret-99"):
        assert secret not in caplog.text
        assert secret not in accepted.text + refused.text
        assert secret not in repr(keyed)


async def test_a_key_at_its_active_job_limit_gets_429_and_others_go_on(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(api_keys=SecretStr(f"{ALICE},{BOB}"), max_active_jobs_per_key=2)
    async with running_api(settings) as client:  # no worker: the jobs stay queued
        accepted = [await submit(client, ALICE) for _ in range(2)]
        refused = await submit(client, ALICE)
        bob = await submit(client, BOB)
    assert [response.status_code for response in accepted] == [202, 202]
    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM
    assert int(refused.headers["retry-after"]) > 0
    assert refused.json()["type"] == "/problems/too-many-active-jobs"
    assert bob.status_code == 202
    # The refused upload was not kept.
    assert len(list((settings.data_dir / "originals").iterdir())) == 3
