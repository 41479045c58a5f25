"""One POST of a webhook: to a checked address only, within a deadline, no redirect followed.

httpcore (the engine under httpx) with a network backend of our own, `CheckedNetwork`, which
resolves and checks the host for each connection (`producer_service.addresses`). Connections
are not kept alive, so every try resolves and checks afresh. The answer's body is never read.
"""

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from producer_service.addresses import (
    AddressRefused,
    Resolver,
    Unresolvable,
    check_addresses,
    resolve_host,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivered:
    status: int


@dataclass(frozen=True)
class Failed:
    reason: str
    # Trying again cannot help: the target is refused, or answered 410 Gone.
    final: bool = False


Answer = Delivered | Failed


class CheckedNetwork(httpcore.AsyncNetworkBackend):
    """Connects to a host only through addresses that pass the guard (all must, unless
    private targets are allowed), trying them in the resolver's order."""

    def __init__(self, resolve: Resolver, allow_private: bool) -> None:
        self._resolve = resolve
        self._allow_private = allow_private
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port)
        if not self._allow_private:
            check_addresses(host, addresses)
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None  # a resolver answers at least one address
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks go over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class WebhookSender:
    def __init__(
        self,
        timeout_seconds: float,
        allow_private: bool,
        max_connections: int,
        resolve: Resolver = resolve_host,
    ) -> None:
        self._timeout = timeout_seconds
        self._pool = httpcore.AsyncConnectionPool(
            max_connections=max_connections,
            max_keepalive_connections=0,
            network_backend=CheckedNetwork(resolve, allow_private),
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST `body` to `url`; what came of it, in words for the job's `last_error`."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._post(httpx.URL(url), body, headers)
        except AddressRefused as exc:
            return Failed(f"refused: {exc}", final=True)
        except Unresolvable as exc:
            return Failed(f"could not resolve {exc}")
        except (TimeoutError, httpcore.TimeoutException):
            return Failed(f"no answer within {self._timeout:g} s")
        except httpcore.ConnectError as exc:
            return Failed(f"could not connect: {exc or 'refused'}")
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError) as exc:
            return Failed(f"connection failed: {exc!r}")

    async def _post(self, url: httpx.URL, body: bytes, headers: Mapping[str, str]) -> Answer:
        # httpx parses the URL (IDNA, IPv6 brackets); httpcore sends it as it stands.
        target = httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        )
        all_headers = [("host", url.netloc.decode("ascii")), *headers.items()]
        timeouts = dict.fromkeys(("connect", "read", "write", "pool"), self._timeout)
        async with self._pool.stream(
            "POST", target, headers=all_headers, content=body, extensions={"timeout": timeouts}
        ) as response:
            status = response.status
        return _judged(status)

    async def close(self) -> None:
        await self._pool.aclose()


def _judged(status: int) -> Answer:
    """Standard Webhooks: 2xx is delivered; a 3xx is a failure (the URL should be updated,
    not followed); 410 Gone means the receiver wants no more."""
    if 200 <= status < 300:
        return Delivered(status)
    if 300 <= status < 400:
        return Failed(f"HTTP {status} (redirects are not followed)")
    if status == 410:
        return Failed("HTTP 410 Gone", final=True)
    return Failed(f"HTTP {status}")
