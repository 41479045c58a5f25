"""What a browser frontend on another origin needs: CORS for exactly CORS_ORIGINS, the
preflight of a submit with a key, and `Location` readable by its scripts."""

from pydantic import SecretStr

from tests.images import jpeg_bytes
from tests.support.served import Serve

APP = "https://app.example.com"
OTHER = "https://evil.example.net"
CORS = {"cors_origins": f"{APP}, https://admin.example.com"}
THUMB = [{"name": "thumb", "width": 64, "format": "webp"}]


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, idempotency-key",
    }


async def test_a_listed_origin_may_upload_with_a_key_and_read_location(serve: Serve) -> None:
    async with serve(**CORS) as served:
        client = served.api.http
        allowed = await client.options("/v1/jobs", headers=preflight(APP))
        submitted = await served.api.post_job(jpeg_bytes(), THUMB, {"Origin": APP})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP
    requested = {"authorization", "idempotency-key"}
    assert requested <= set(allowed.headers["access-control-allow-headers"].lower().split(", "))
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert submitted.status_code == 202
    assert submitted.headers["access-control-allow-origin"] == APP
    assert "location" in submitted.headers["access-control-expose-headers"].lower()


async def test_another_origin_gets_no_cors_grant(serve: Serve) -> None:
    async with serve(**CORS) as served:
        client = served.api.http
        refused = await client.options("/v1/jobs", headers=preflight(OTHER))
        answered = await client.get("/v1/jobs", headers={"Origin": OTHER})
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in answered.headers


async def test_without_cors_origins_no_origin_is_granted(serve: Serve) -> None:
    async with serve() as served:
        client = served.api.http
        response = await client.get("/v1/jobs", headers={"Origin": APP})
    assert "access-control-allow-origin" not in response.headers


async def test_a_refused_key_is_readable_by_the_page_that_sent_it(serve: Serve) -> None:
    async with serve(cors_origins=APP, api_keys=SecretStr("k-1")) as served:
        client = served.api.http
        response = await client.get("/v1/jobs", headers={"Origin": APP})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == APP
