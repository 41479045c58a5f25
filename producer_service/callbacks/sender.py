"""One POST of a webhook: to a checked address only, within a deadline, no redirect followed.

httpcore (the engine under httpx) with a network backend of our own, `CheckedNetwork`, which
resolves and checks the host for each connection (`shared.checked_network`). Connections
are not kept alive, so every try resolves and checks afresh. The answer's body is never read.
"""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import httpcore
import httpx

from shared.addresses import AddressRefused, Resolver, Unresolvable, resolve_host
from shared.checked_network import checked_pool, request_target

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


class WebhookSender:
    def __init__(
        self,
        timeout_seconds: float,
        allow_private: bool,
        max_connections: int,
        resolve: Resolver = resolve_host,
    ) -> None:
        self._timeout = timeout_seconds
        self._pool = checked_pool(resolve, allow_private, max_connections)

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
        target, host = request_target(url)
        all_headers = [host, *headers.items()]
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
