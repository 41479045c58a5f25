"""The HTTP server bounds what a request's head may hold, without touching its body."""

import asyncio
import itertools
import json

from producer_service.api.server import MAX_HEAD_BYTES
from producer_service.app import create_app
from shared.settings import Settings
from tests.client import ApiClient
from tests.images import jpeg_bytes
from tests.support import exchange, multipart_request, serving, wait_for

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n"


async def refused(
    port: int, request: bytes, writes: int = 1
) -> tuple[str, dict[str, str], dict[str, object]]:
    """Send `request` on a fresh connection, in `writes` pieces; the status line, headers and
    JSON body answered, once the server has closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    piece = -(-len(request) // writes)
    try:
        for start in range(0, len(request), piece):
            try:
                writer.write(request[start : start + piece])
                await writer.drain()
            except ConnectionError:  # refused before the rest was sent
                break
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return status, headers, json.loads(body)


async def test_a_request_head_over_the_bound_is_431_and_the_server_goes_on(
    broker: Settings,
) -> None:
    big_header = b"X-Big: " + b"a" * 2 * MAX_HEAD_BYTES + b"\r\n"
    many_headers = b"".join(b"X-%d: a\r\n" % n for n in range(MAX_HEAD_BYTES // 8))
    async with serving(create_app(broker)) as port:
        async with ApiClient.at(port) as api:
            await wait_for(api.is_ready, what="the API to be ready")
        # Whole (one write, parsed at once) or never finished (the server must not wait for
        # the end of the head to refuse it), sent in one write or many.
        for extra, end, writes in itertools.product(
            (big_header, many_headers), (b"\r\n", b""), (1, 64)
        ):
            status, headers, problem = await refused(
                port, b"GET /healthz HTTP/1.1\r\nHost: api\r\n" + extra + end, writes
            )
            assert status == "HTTP/1.1 431 Request Header Fields Too Large"
            assert headers["content-type"] == "application/problem+json"
            assert headers["connection"] == "close"
            assert problem["status"] == 431
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                assert (await exchange(reader, writer, HEALTH))[0] == 200
            finally:
                writer.close()


async def test_a_head_under_the_bound_with_a_large_body_is_served_on_keep_alive(
    broker: Settings,
) -> None:
    """Body bytes that arrive with the head are not counted as head, and the count starts
    again for the next request on the connection."""
    header = f"X-Trace: {'t' * (MAX_HEAD_BYTES - 1024)}\r\n"
    upload = multipart_request("/v1/jobs", jpeg_bytes(1200, 900)).replace(
        b"Host: api\r\n", b"Host: api\r\n" + header.encode(), 1
    )
    padded_health = HEALTH.replace(b"\r\n\r\n", b"\r\n" + header.encode() + b"\r\n")
    async with serving(create_app(broker)) as port:
        async with ApiClient.at(port) as api:
            await wait_for(api.is_ready, what="the API to be ready")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            statuses = [
                (await exchange(reader, writer, request))[0]
                for request in (upload, padded_health, padded_health)
            ]
        finally:
            writer.close()
    assert statuses == [202, 200, 200]
