"""Browser tokens against the real broker: a backend mints one with its API key, the browser
submits and follows its own jobs with it, and nothing else; expired, altered or orphaned
tokens are 401. (The signer's own cases are in tests/unit/test_tokens.py.)"""

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from shared.settings import Settings
from tests.client import ApiClient, assert_problem
from tests.images import jpeg_bytes
from tests.support import ALICE, ALICE_NEXT, BOB, expired_token, running_api, running_worker

THUMB = [{"name": "thumb", "width": 64, "format": "jpeg"}]
# A second is the most the clock moves between a mint and the test's look at it.
LEEWAY_SECONDS = 2


def as_key(secret: str) -> dict[str, str]:
    """`Authorization` with a key or a token."""
    return {"Authorization": f"Bearer {secret}"}


async def minted(http: httpx.AsyncClient, key: str = ALICE, **asked: Any) -> str:
    response = await http.post("/v1/tokens", json=asked, headers=as_key(key))
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def listed(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()["items"]]


def keyed(broker_settings: Callable[..., Settings], keys: str, **more: Any) -> Settings:
    return broker_settings(api_keys=SecretStr(keys), **more)


async def test_a_token_submits_and_follows_its_own_jobs_which_its_key_sees_too(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = keyed(broker_settings, f"{ALICE},{BOB}")
    async with running_api(settings) as http, running_worker(settings):
        api = ApiClient(http)
        token, other_token = await minted(http), await minted(http)
        job = await api.submit(jpeg_bytes(), THUMB, as_key(token))
        keys_job = await api.submit(jpeg_bytes(), THUMB, as_key(ALICE))

        http.headers.update(as_key(token))
        events = await api.events(job)
        output = await http.get(f"/v1/jobs/{job}/outputs/thumb")
        tokens_list = listed(await http.get("/v1/jobs"))
        keys_job_for_token = await http.get(f"/v1/jobs/{keys_job}")

        http.headers.update(as_key(other_token))
        job_urls = (f"/v1/jobs/{job}", f"/v1/jobs/{job}/outputs/thumb", f"/v1/jobs/{job}/events")
        for_other_token = [await http.get(url) for url in job_urls]
        other_tokens_list = listed(await http.get("/v1/jobs"))

        http.headers.update(as_key(ALICE))
        for_key = await http.get(f"/v1/jobs/{job}")
        keys_list = listed(await http.get("/v1/jobs"))
        for_bob = await http.get(f"/v1/jobs/{job}", headers=as_key(BOB))
    assert events[-1].job["status"] == "succeeded"
    assert output.status_code == 200
    assert output.headers["cache-control"].startswith("private")
    assert tokens_list == [job]
    assert assert_problem(keys_job_for_token, 404)["type"] == "/problems/job-not-found"
    for response in for_other_token:
        assert assert_problem(response, 404)["type"] == "/problems/job-not-found"
    assert other_tokens_list == []
    assert for_key.json()["status"] == "succeeded"
    assert keys_list == [keys_job, job]
    assert_problem(for_bob, 404)


async def test_a_token_is_201_with_its_expiry_at_most_an_hour_away(
    broker_settings: Callable[..., Settings],
) -> None:
    async with running_api(keyed(broker_settings, ALICE)) as http:
        plain = await http.post("/v1/tokens", headers=as_key(ALICE))  # no body at all
        # As `curl -d '{...}'` sends it, with a form's Content-Type: JSON all the same.
        hour = await http.post(
            "/v1/tokens",
            content=b'{"expires_in": 3600}',
            headers={**as_key(ALICE), "Content-Type": "application/x-www-form-urlencoded"},
        )
    for response, seconds in ((plain, 900), (hour, 3600)):
        assert response.status_code == 201, response.text
        body = response.json()
        assert body.keys() == {"token", "expires_at"}
        assert body["expires_at"].endswith("Z")
        expires_at = datetime.fromisoformat(body["expires_at"]).timestamp()
        assert abs(expires_at - (time.time() + seconds)) < LEEWAY_SECONDS


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"expires_in": 3601}', 422),
        (b'{"expires_in": 0}', 422),
        (b'{"expires_in": "900"}', 422),
        (b'{"expires_in": true}', 422),
        (b'{"preset": "no-such-preset"}', 422),
        (b'{"preset": "Not A Name"}', 422),
        (b'{"lifetime": 60}', 422),
        (b"expires_in=60", 422),
        (b'{"expires_in": 60', 422),
        (b"\xff\xfe{}", 422),
        (b"[]", 422),
        (b'{"preset": "' + b"a" * 5000 + b'"}', 413),
    ],
    ids=[
        "over-an-hour",
        "zero",
        "a-string",
        "a-boolean",
        "unknown-preset",
        "bad-preset-name",
        "typo",
        "a-form",
        "cut-short",
        "not-utf-8",
        "not-an-object",
        "too-long",
    ],
)
async def test_a_token_request_the_service_cannot_honour_is_a_problem(
    broker_settings: Callable[..., Settings], body: bytes, status: int
) -> None:
    async with running_api(keyed(broker_settings, ALICE)) as http:
        response = await http.post(
            "/v1/tokens",
            content=body,
            headers={**as_key(ALICE), "Content-Type": "application/json"},
        )
    problem = assert_problem(response, status)
    assert status == 413 or problem["errors"]


def tampered(token: str, part: int) -> str:
    """The token with one character of its claims (0) or its signature (1) changed."""
    pieces = token.split(".")
    last = pieces[part][-1]
    pieces[part] = pieces[part][:-1] + ("A" if last != "A" else "B")
    return ".".join(pieces)


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (lambda token: expired_token(ALICE), "The token has expired."),
        (lambda token: tampered(token, 0), "The token is not valid."),
        (lambda token: tampered(token, 1), "The token is not valid."),
        (lambda token: expired_token("a-key-this-service-never-had"), "The token is not valid."),
    ],
    ids=["expired", "claims-changed", "signature-changed", "unknown-key"],
)
async def test_an_expired_or_altered_token_is_401_and_says_which(
    broker_settings: Callable[..., Settings], make: Callable[[str], str], detail: str
) -> None:
    async with running_api(keyed(broker_settings, ALICE)) as http:
        token = make(await minted(http))
        answers = [
            await http.get("/v1/jobs", headers=as_key(token)),
            await ApiClient(http).post_job(jpeg_bytes(), THUMB, as_key(token)),
        ]
    for response in answers:
        assert assert_problem(response, 401)["detail"] == detail
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_keys_tokens_stop_working_once_it_leaves_api_keys(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = keyed(broker_settings, f"{ALICE},{ALICE_NEXT}")
    async with running_api(settings) as http:
        token = await minted(http, ALICE)
        successors = await minted(http, ALICE_NEXT)
    rotated = settings.model_copy(update={"api_keys": SecretStr(ALICE_NEXT)})
    async with running_api(rotated) as http:
        revoked = await http.get("/v1/jobs", headers=as_key(token))
        kept = await http.get("/v1/jobs", headers=as_key(successors))
    assert assert_problem(revoked, 401)["detail"] == "The token is not valid."
    assert kept.status_code == 200


async def test_a_preset_token_submits_its_preset_and_nothing_else(
    broker_settings: Callable[..., Settings],
) -> None:
    async with running_api(keyed(broker_settings, ALICE)) as http:
        api = ApiClient(http)
        token = as_key(await minted(http, preset="avatar"))
        unnamed = await api.post_job(jpeg_bytes(), headers=token)
        named = await api.post_job(jpeg_bytes(), headers=token, preset="avatar")
        other_preset = await api.post_job(jpeg_bytes(), headers=token, preset="thumbnail")
        own_sizes = await api.post_job(jpeg_bytes(), THUMB, token)
        presets = await http.get("/v1/presets", headers=token)
        all_presets = await http.get("/v1/presets", headers=as_key(ALICE))
    for accepted in (unnamed, named):
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["preset"] == "avatar"
        assert [v["name"] for v in accepted.json()["variants"]] == ["s64", "s128", "s256"]
    for refused in (other_preset, own_sizes):
        body = assert_problem(refused, 422)
        assert "may only submit the preset `avatar`" in str(body["detail"])
    assert [preset["name"] for preset in presets.json()["presets"]] == ["avatar"]
    assert len(all_presets.json()["presets"]) > 1


async def test_a_token_cannot_mint_delete_retry_or_read_stats(
    broker_settings: Callable[..., Settings],
) -> None:
    async with running_api(keyed(broker_settings, ALICE)) as http:
        token = as_key(await minted(http))
        job = await ApiClient(http).submit(jpeg_bytes(), THUMB, token)
        refusals = [
            await http.post("/v1/tokens", json={}, headers=token),
            await http.delete(f"/v1/jobs/{job}", headers=token),
            await http.post(f"/v1/jobs/{job}/retry", headers=token),
            await http.get("/v1/stats", headers=token),
        ]
        still_there = await http.get(f"/v1/jobs/{job}", headers=as_key(ALICE))
    for response in refusals:
        assert assert_problem(response, 403)["type"] == "/problems/token-not-allowed"
    assert still_there.status_code == 200


async def test_a_token_cannot_choose_where_webhooks_go(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = keyed(
        broker_settings, ALICE, webhook_secret=SecretStr("s"), webhook_allow_private=True
    )
    async with running_api(settings) as http:
        api = ApiClient(http)
        token = as_key(await minted(http))
        hook = "http://127.0.0.1:9/hooks"
        by_token = await api.post_job(jpeg_bytes(), THUMB, token, callback_url=hook)
        by_key = await api.post_job(jpeg_bytes(), THUMB, as_key(ALICE), callback_url=hook)
    body = assert_problem(by_token, 422)
    assert body["errors"][0]["loc"] == ["body", "callback_url"]
    assert by_key.status_code == 202, by_key.text


async def test_each_tokens_idempotency_keys_are_its_own(
    broker_settings: Callable[..., Settings],
) -> None:
    """Two browsers of one backend may pick the same Idempotency-Key: neither gets the
    other's job, nor does the key."""
    same = {"Idempotency-Key": "upload-1"}
    async with running_api(keyed(broker_settings, ALICE)) as http:
        api = ApiClient(http)
        first, second = as_key(await minted(http)), as_key(await minted(http))
        job = await api.submit(jpeg_bytes(), THUMB, {**first, **same})
        replayed = await api.submit(jpeg_bytes(), THUMB, {**first, **same})
        seconds = await api.submit(jpeg_bytes(), THUMB, {**second, **same})
        keys = await api.submit(jpeg_bytes(), THUMB, {**as_key(ALICE), **same})
    assert replayed == job
    assert len({job, seconds, keys}) == 3


async def test_a_tokens_jobs_count_against_its_keys_active_limit(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = keyed(broker_settings, f"{ALICE},{BOB}", max_active_jobs_per_key=2)
    async with running_api(settings) as http:  # no worker: the jobs stay queued
        api = ApiClient(http)
        token = as_key(await minted(http))
        await api.submit(jpeg_bytes(), THUMB, as_key(ALICE))
        await api.submit(jpeg_bytes(), THUMB, token)
        over = await api.post_job(jpeg_bytes(), THUMB, token)
        bobs = await api.post_job(jpeg_bytes(), THUMB, as_key(BOB))
    assert assert_problem(over, 429)["type"] == "/problems/too-many-active-jobs"
    assert bobs.status_code == 202


async def test_without_api_keys_no_token_is_minted(broker: Settings) -> None:
    async with running_api(broker) as http:
        response = await http.post("/v1/tokens", json={"expires_in": 60})
    assert assert_problem(response, 409)["type"] == "/problems/tokens-need-keys"
