"""An image host for tests of `source_url`: a real HTTP server on loopback whose paths each
answer as scripted (an image, a status, a redirect, a body that never ends or trickles; or a
list of those, one a request in turn and the last one from then on), and that counts the
requests each path got."""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Answer:
    """What a path answers. `body` is sent with a Content-Length unless `chunked`;
    `endless` sends chunks of zeros until the client hangs up (no length); `trickle` waits
    that many seconds before each byte; `stall` sends the headers and then nothing."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    chunked: bool = False
    endless: bool = False
    trickle: float = 0.0
    stall: bool = False


def redirect(location: str, status: int = 302) -> Answer:
    return Answer(status, headers={"location": location})


Script = Answer | Sequence[Answer]


class SourceServer:
    def __init__(self, routes: Mapping[str, Script]) -> None:
        self.routes = dict(routes)
        self.hits: Counter[str] = Counter()
        self.port = 0
        self._release = asyncio.Event()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, routes: Mapping[str, Script]) -> AsyncIterator["SourceServer"]:
        server = cls(routes)
        listener = await asyncio.start_server(server._serve, "127.0.0.1", 0)
        server.port = listener.sockets[0].getsockname()[1]
        try:
            yield server
        finally:
            server._release.set()
            listener.close()
            await listener.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            path = head.split(" ", 2)[1]
            self.hits[path] += 1
            script = self.routes.get(path, Answer(404, b"not here"))
            if not isinstance(script, Answer):
                script = script[min(self.hits[path], len(script)) - 1]
            await self._answer(script, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, answer: Answer, writer: asyncio.StreamWriter) -> None:
        headers = {"connection": "close", **answer.headers}
        if answer.chunked or answer.endless:
            headers["transfer-encoding"] = "chunked"
        elif not answer.trickle:
            headers["content-length"] = str(len(answer.body))
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(f"HTTP/1.1 {answer.status} Scripted\r\n{lines}\r\n".encode())
        await writer.drain()
        if answer.stall:
            await self._release.wait()
        elif answer.endless:
            while not self._release.is_set():
                writer.write(_chunk(bytes(64 * 1024)))
                await writer.drain()
        elif answer.trickle:
            for byte in answer.body:
                await asyncio.sleep(answer.trickle)
                writer.write(bytes([byte]))
                await writer.drain()
        elif answer.chunked:
            writer.write(_chunk(answer.body) + _chunk(b""))
        else:
            writer.write(answer.body)
        await writer.drain()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"
