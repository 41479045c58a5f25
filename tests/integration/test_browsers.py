"""What a browser frontend on another origin needs: CORS for exactly CORS_ORIGINS, and outputs
it can cache and revalidate safely."""

from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from shared.settings import Settings
from tests.images import jpeg_bytes
from tests.integration.test_jobs_lifecycle import final_status
from tests.support import running_api, running_worker

APP = "https://app.example.com"
OTHER = "https://evil.example.net"


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        "/v1/jobs",
        files={"file": ("photo.jpg", jpeg_bytes(), "image/jpeg")},
        data={"variants": '[{"name": "thumb", "width": 64, "format": "webp"}]'},
        headers=headers,
    )


@pytest.fixture
def cors(broker_settings: Callable[..., Settings]) -> Settings:
    return broker_settings(cors_origins=f"{APP}, https://admin.example.com")


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, idempotency-key",
    }


async def test_a_listed_origin_may_upload_with_a_key_and_read_location(cors: Settings) -> None:
    async with running_api(cors) as client:
        allowed = await client.options("/v1/jobs", headers=preflight(APP))
        submitted = await upload(client, {"Origin": APP})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP
    requested = {"authorization", "idempotency-key"}
    assert requested <= set(allowed.headers["access-control-allow-headers"].lower().split(", "))
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert submitted.status_code == 202
    assert submitted.headers["access-control-allow-origin"] == APP
    assert "location" in submitted.headers["access-control-expose-headers"].lower()


async def test_another_origin_gets_no_cors_grant(cors: Settings) -> None:
    async with running_api(cors) as client:
        refused = await client.options("/v1/jobs", headers=preflight(OTHER))
        answered = await client.get("/v1/jobs", headers={"Origin": OTHER})
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in answered.headers


async def test_without_cors_origins_no_origin_is_granted(broker: Settings) -> None:
    async with running_api(broker) as client:
        response = await client.get("/v1/jobs", headers={"Origin": APP})
    assert "access-control-allow-origin" not in response.headers


async def test_a_refused_key_is_readable_by_the_page_that_sent_it(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings(cors_origins=APP, api_keys=SecretStr("k-1"))
    async with running_api(settings) as client:
        response = await client.get("/v1/jobs", headers={"Origin": APP})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == APP


async def test_an_output_is_nosniff_with_a_strong_etag_and_304_when_unchanged(
    broker: Settings,
) -> None:
    async with running_api(broker) as client, running_worker(broker):
        job_id = (await upload(client)).json()["id"]
        assert (await final_status(client, job_id))["status"] == "succeeded"
        url = f"/v1/jobs/{job_id}/outputs/thumb"
        first = await client.get(url)
        again = await client.get(url, headers={"If-None-Match": first.headers["etag"]})
        changed = await client.get(url, headers={"If-None-Match": '"something-else"'})
    assert first.status_code == 200
    assert first.headers["x-content-type-options"] == "nosniff"
    etag = first.headers["etag"]
    assert etag.startswith('"')  # strong: no W/ prefix
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert changed.status_code == 200
    assert changed.content == first.content
