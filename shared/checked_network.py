"""An httpcore network backend that connects only to addresses the guard allows
(`shared.addresses`), for every HTTP request the service makes on a user's say-so: webhook
POSTs (the API) and source URL fetches (the worker).

It resolves the host for each connection, checks every address, and connects to a checked
address itself: a name that points elsewhere between a check and the connect (DNS rebinding)
cannot lead inside. The URL keeps its host, so `Host`, SNI and the certificate check are the
name's. Pools built on it keep no connection alive, so every request is checked afresh.
"""

from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from shared.addresses import Resolver, check_addresses


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
        raise httpcore.ConnectError("only TCP connections are made on a user's say-so")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def checked_pool(
    resolve: Resolver, allow_private: bool, max_connections: int
) -> httpcore.AsyncConnectionPool:
    """A pool whose every connection is checked: none is kept alive to be reused unchecked."""
    return httpcore.AsyncConnectionPool(
        max_connections=max_connections,
        max_keepalive_connections=0,
        network_backend=CheckedNetwork(resolve, allow_private),
    )


def request_target(url: httpx.URL) -> tuple[httpcore.URL, tuple[str, str]]:
    """What httpcore sends for `url`, and its Host header: httpx parses the URL (IDNA, IPv6
    brackets), httpcore sends it as it stands."""
    target = httpcore.URL(
        scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
    )
    return target, ("host", url.netloc.decode("ascii"))
