"""Outputs a browser can cache and revalidate safely. (CORS is in tests/unit/test_cors.py.)"""

from shared.settings import Settings
from tests.client import ApiClient
from tests.images import jpeg_bytes
from tests.support import running_api, running_worker

THUMB = [{"name": "thumb", "width": 64, "format": "webp"}]


async def test_an_output_is_nosniff_with_a_strong_etag_and_304_when_unchanged(
    broker: Settings,
) -> None:
    async with running_api(broker) as client, running_worker(broker):
        api = ApiClient(client)
        job_id = await api.submit(jpeg_bytes(), THUMB)
        assert (await api.finished(job_id))["status"] == "succeeded"
        url = f"/v1/jobs/{job_id}/outputs/thumb"
        first = await client.get(url)
        again = await client.get(url, headers={"If-None-Match": first.headers["etag"]})
        changed = await client.get(url, headers={"If-None-Match": '"something-else"'})
        head = await client.head(url)
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
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == etag
    assert head.headers["content-length"] == str(len(first.content))
