"""The worker's fetch of a `source_url` against a real HTTP server on loopback: what it stores,
and the code each way it can go wrong ends with (refused addresses and URLs, redirects, sizes,
timeouts, what is not an image), failing now or retried."""

from collections.abc import Sequence
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

import shared.checked_network
from shared.addresses import IPAddress, Unresolvable, check_addresses
from shared.schemas import ErrorCode
from shared.storage.memory import MemoryStorage
from shared.url_targets import parse_target
from tests.images import jpeg_bytes
from tests.source_server import Answer, SourceServer, redirect
from tests.support import make_settings
from worker_service import fetch
from worker_service.errors import JobFailure, PermanentFailure, TransientFailure
from worker_service.fetch import MAX_REDIRECTS, SourceFetcher

KEY = "originals/job"
JPEG = jpeg_bytes(64, 48)


def fetcher(tmp_path: Path, storage: MemoryStorage, **overrides: Any) -> SourceFetcher:
    values = {
        "source_url_allow_private": True,
        "source_url_timeout_seconds": 2.0,
        "source_url_connect_timeout_seconds": 1.0,
        **overrides,
    }
    return SourceFetcher(make_settings(tmp_path, **values), storage)


async def failure_of(source: SourceFetcher, url: str) -> JobFailure:
    with pytest.raises(JobFailure) as caught:
        await source.fetch(url, KEY)
    return caught.value


async def test_an_image_is_stored_under_the_key_byte_for_byte(tmp_path: Path) -> None:
    storage = MemoryStorage()
    async with SourceServer.running({"/photo.jpg": Answer(body=JPEG)}) as server:
        await fetcher(tmp_path, storage).fetch(server.url("/photo.jpg"), KEY)
    assert storage.objects[KEY] == JPEG
    assert list((tmp_path / "data" / "tmp").iterdir()) == []


async def test_a_chunked_body_without_length_is_stored_too(tmp_path: Path) -> None:
    storage = MemoryStorage()
    async with SourceServer.running({"/c": Answer(body=JPEG, chunked=True)}) as server:
        await fetcher(tmp_path, storage).fetch(server.url("/c"), KEY)
    assert storage.objects[KEY] == JPEG


async def test_redirects_are_followed_up_to_the_limit(tmp_path: Path) -> None:
    hops = {f"/{n}": redirect(f"/{n + 1}", 301 + n % 2) for n in range(MAX_REDIRECTS)}
    storage = MemoryStorage()
    routes = {**hops, f"/{MAX_REDIRECTS}": Answer(body=JPEG)}
    async with SourceServer.running(routes) as server:
        await fetcher(tmp_path, storage).fetch(server.url("/0"), KEY)
    assert storage.objects[KEY] == JPEG


async def test_one_redirect_too_many_fails_the_job(tmp_path: Path) -> None:
    routes = {f"/{n}": redirect(f"/{n + 1}") for n in range(MAX_REDIRECTS + 1)}
    storage = MemoryStorage()
    async with SourceServer.running(routes) as server:
        failure = await failure_of(fetcher(tmp_path, storage), server.url("/0"))
    assert isinstance(failure, PermanentFailure)
    assert failure.code is ErrorCode.SOURCE_TOO_MANY_REDIRECTS
    assert f"more than {MAX_REDIRECTS} times" in failure.message
    assert storage.objects == {}


async def test_a_redirect_loop_ends_as_too_many_redirects(tmp_path: Path) -> None:
    routes = {"/a": redirect("/b"), "/b": redirect("/a")}
    async with SourceServer.running(routes) as server:
        failure = await failure_of(fetcher(tmp_path, MemoryStorage()), server.url("/a"))
        assert server.hits == {"/a": 3, "/b": 3}
    assert failure.code is ErrorCode.SOURCE_TOO_MANY_REDIRECTS


@pytest.mark.parametrize(
    "location",
    ["file:///etc/passwd", "ftp://example.com/x.jpg", "gopher://example.com/", "//user@x/"],
)
async def test_a_redirect_to_another_scheme_or_with_userinfo_is_refused(
    tmp_path: Path, location: str
) -> None:
    async with SourceServer.running({"/r": redirect(location)}) as server:
        failure = await failure_of(fetcher(tmp_path, MemoryStorage()), server.url("/r"))
    assert isinstance(failure, PermanentFailure)
    assert failure.code is ErrorCode.SOURCE_REFUSED


@pytest.mark.parametrize(
    ("status", "retried"), [(404, False), (403, False), (410, False), (500, True), (503, True)]
)
async def test_an_http_error_fails_saying_the_status(
    tmp_path: Path, status: int, retried: bool
) -> None:
    async with SourceServer.running({"/x": Answer(status, b"nope")}) as server:
        failure = await failure_of(fetcher(tmp_path, MemoryStorage()), server.url("/x"))
    assert failure.code is ErrorCode.SOURCE_HTTP_ERROR
    assert f"HTTP {status}" in failure.message
    assert isinstance(failure, TransientFailure if retried else PermanentFailure)


@pytest.mark.parametrize(
    "answer",
    [
        Answer(body=JPEG + bytes(4096)),  # Content-Length says so at once
        Answer(body=JPEG + bytes(4096), chunked=True),  # counted while streaming
        Answer(body=JPEG[:16], endless=True),  # would never end: stopped at the limit
    ],
    ids=["content-length", "chunked", "endless"],
)
async def test_a_body_over_the_limit_is_refused_while_streaming(
    tmp_path: Path, answer: Answer
) -> None:
    storage = MemoryStorage()
    source = fetcher(tmp_path, storage, max_upload_bytes=len(JPEG) + 100)
    async with SourceServer.running({"/big": answer}) as server:
        failure = await failure_of(source, server.url("/big"))
    assert isinstance(failure, PermanentFailure)
    assert failure.code is ErrorCode.SOURCE_TOO_LARGE
    assert f"larger than {len(JPEG) + 100} bytes" in failure.message
    assert storage.objects == {}
    assert list((tmp_path / "data" / "tmp").iterdir()) == []


@pytest.mark.parametrize(
    "body", [b"<!doctype html><html><body>hello</body></html>", b"", b"GIF"], ids=repr
)
async def test_what_is_not_an_image_fails_as_unsupported_format(
    tmp_path: Path, body: bytes
) -> None:
    headers = {"content-type": "image/jpeg"}  # the bytes decide, not the header
    async with SourceServer.running({"/p": Answer(body=body, headers=headers)}) as server:
        failure = await failure_of(fetcher(tmp_path, MemoryStorage()), server.url("/p"))
    assert isinstance(failure, PermanentFailure)
    assert failure.code is ErrorCode.UNSUPPORTED_FORMAT


@pytest.mark.parametrize(
    "answer", [Answer(body=JPEG, stall=True), Answer(body=JPEG, trickle=0.05)], ids=repr
)
async def test_a_slow_source_is_given_up_at_the_total_deadline(
    tmp_path: Path, answer: Answer
) -> None:
    source = fetcher(tmp_path, MemoryStorage(), source_url_timeout_seconds=0.5)
    async with SourceServer.running({"/slow": answer}) as server:
        failure = await failure_of(source, server.url("/slow"))
    assert isinstance(failure, TransientFailure)
    assert failure.code is ErrorCode.SOURCE_TIMEOUT
    assert "within 0.5 s" in failure.message


async def test_a_port_nobody_listens_on_is_unreachable_and_retried(tmp_path: Path) -> None:
    async with SourceServer.running({}) as server:
        url = server.url("/gone")
    failure = await failure_of(fetcher(tmp_path, MemoryStorage()), url)
    assert isinstance(failure, TransientFailure)
    assert failure.code is ErrorCode.SOURCE_UNREACHABLE


async def test_a_host_that_does_not_resolve_is_unreachable(tmp_path: Path) -> None:
    failure = await failure_of(fetcher(tmp_path, MemoryStorage()), "http://no-such.invalid/x")
    assert failure.code is ErrorCode.SOURCE_UNREACHABLE
    assert "does not resolve" in failure.message


REFUSED_URLS = [
    "https://127.0.0.1/x.jpg",
    "https://10.1.2.3/x.jpg",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/x.jpg",
    "https://[::ffff:127.0.0.1]/x.jpg",
    "https://2130706433/x.jpg",  # 127.0.0.1 as one decimal number
    "https://localhost/x.jpg",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_a_private_address_is_refused_before_connecting(tmp_path: Path, url: str) -> None:
    source = fetcher(tmp_path, MemoryStorage(), source_url_allow_private=False)
    failure = await failure_of(source, url)
    assert isinstance(failure, PermanentFailure)
    assert failure.code is ErrorCode.SOURCE_REFUSED
    assert "not globally reachable" in failure.message


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/x.jpg",  # http without SOURCE_URL_ALLOW_PRIVATE
        "file:///etc/passwd",
        "ftp://example.com/x.jpg",
        "gopher://example.com/",
        "https://public@127.0.0.1/x.jpg",
    ],
)
async def test_a_url_the_guard_refuses_is_never_requested(tmp_path: Path, url: str) -> None:
    source = fetcher(tmp_path, MemoryStorage(), source_url_allow_private=False)
    failure = await failure_of(source, url)
    assert failure.code is ErrorCode.SOURCE_REFUSED


class PublicLoopback:
    """Pretends `public.example` is a public https host while it is the test's server on
    127.0.0.1: the fake resolver names it, the guard passes it (and only it), and http is
    taken where https is required. Every other name and address is judged as usual."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, private: Sequence[tuple[str, str]] = ()
    ) -> None:
        self._private = {name: ip_address(addr) for name, addr in private}
        monkeypatch.setattr(shared.checked_network, "check_addresses", self._check)
        monkeypatch.setattr(
            fetch,
            "parse_target",
            lambda url, allow_http, field: parse_target(url, allow_http=True, field=field),
        )

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        if host == "public.example":
            return [ip_address("127.0.0.1")]
        if host in self._private:
            return [self._private[host]]
        try:
            return [ip_address(host)]
        except ValueError:
            raise Unresolvable(host) from None

    @staticmethod
    def _check(host: str, addresses: Sequence[IPAddress]) -> None:
        if host != "public.example":
            check_addresses(host, addresses)


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:{port}/photo.jpg", "http://10.0.0.1/x.jpg", "http://inside.example/x"],
)
async def test_a_redirect_from_a_public_host_to_a_private_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, location: str
) -> None:
    network = PublicLoopback(monkeypatch, private=[("inside.example", "192.168.1.20")])
    storage = MemoryStorage()
    settings = make_settings(tmp_path, source_url_timeout_seconds=2.0)
    source = SourceFetcher(settings, storage, resolve=network.resolve)
    routes = {"/photo.jpg": Answer(body=JPEG)}
    async with SourceServer.running(routes) as server:
        server.routes["/r"] = redirect(location.format(port=server.port))
        await source.fetch(f"http://public.example:{server.port}/photo.jpg", KEY)  # passes
        failure = await failure_of(source, f"http://public.example:{server.port}/r")
        assert server.hits["/photo.jpg"] == 1  # only through the public name
    assert isinstance(failure, PermanentFailure)
    assert failure.code is ErrorCode.SOURCE_REFUSED
    assert "not globally reachable" in failure.message
