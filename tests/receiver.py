"""A webhook receiver for tests: a real HTTP server on loopback that records every request and
answers each with the next status of its script; and the verification function that
docs/webhooks.md gives receivers."""

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.settings import Settings
from tests.support import ROOT, wait_for

# A status that is never sent: the request waits, unanswered, until the receiver stops.
HANG = 0
SECRET = "test-webhook-secret"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    # Set once the receiver has answered it (never for a request left hanging).
    answered: asyncio.Event = field(default_factory=asyncio.Event, compare=False)

    @property
    def job(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.body)
        return body

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


def hooked(broker_settings: Callable[..., Settings], **overrides: Any) -> Settings:
    """Settings that sign webhooks with SECRET, allow a loopback target, and back off in
    fractions of a second instead of minutes."""
    values: dict[str, Any] = {
        "webhook_secret": SECRET,
        "webhook_allow_private": True,
        "webhook_retry_base_seconds": 0.2,
        "webhook_retry_max_delay_seconds": 0.8,
        **overrides,
    }
    return broker_settings(**values)


class Receiver:
    """Answers the n-th request with `script[n]`, and with `then` once the script is used up,
    each `answer_after` seconds after it arrived (a receiver that takes its time)."""

    def __init__(
        self, script: Iterable[int] = (), then: int = 200, answer_after: float = 0
    ) -> None:
        self._script = list(script)
        self._then = then
        self._answer_after = answer_after
        self._release = asyncio.Event()
        self.received: list[Received] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/resized"

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, script: Iterable[int] = (), then: int = 200, answer_after: float = 0
    ) -> AsyncIterator["Receiver"]:
        receiver = cls(script, then, answer_after)
        server = await asyncio.start_server(receiver._serve, "127.0.0.1", 0)
        receiver.port = server.sockets[0].getsockname()[1]
        try:
            yield receiver
        finally:
            receiver._release.set()
            server.close()
            await server.wait_closed()

    async def requests(self, count: int, within: float = 30) -> list[Received]:
        """Once at least `count` requests have arrived: all of them, in order."""

        async def arrived() -> bool:
            return len(self.received) >= count

        await wait_for(arrived, within, f"{count} webhook requests")
        return list(self.received)

    def answer_from_now(self, status: int) -> None:
        """Answer every request from now on (the script used up) with `status`."""
        self._script.clear()
        self._then = status

    def by_webhook_id(self) -> dict[str, list[Received]]:
        grouped: dict[str, list[Received]] = {}
        for request in self.received:
            grouped.setdefault(request.webhook_id, []).append(request)
        return grouped

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            headers = {
                name.lower(): value
                for name, _, value in (line.partition(": ") for line in head[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Received(method, path, headers, body)
            self.received.append(request)
            status = self._script.pop(0) if self._script else self._then
            if status == HANG:
                await self._release.wait()
                return
            await asyncio.sleep(self._answer_after)
            # A redirect's location is this receiver again: following it would show here.
            writer.write(
                f"HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\n"
                f"location: {self.url}/elsewhere\r\nconnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            request.answered.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def documented_verifier() -> Callable[[str, Mapping[str, str], bytes], bool]:
    """`verify_webhook` exactly as docs/webhooks.md documents it for receivers."""
    guide = (ROOT / "docs" / "webhooks.md").read_text()
    match = re.search(r"```python\n(# verify_webhook\.py\n.*?)```", guide, re.DOTALL)
    assert match is not None, "docs/webhooks.md has no verify_webhook.py snippet"
    namespace: dict[str, Any] = {}
    exec(match.group(1), namespace)  # the documented code itself is what is tested
    verify: Callable[[str, Mapping[str, str], bytes], bool] = namespace["verify_webhook"]
    return verify
