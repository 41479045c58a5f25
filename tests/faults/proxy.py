"""A TCP proxy that can cut a connection part-way, to break a client at a chosen moment.

`CuttingProxy.open(host, port)` forwards 127.0.0.1:`proxy.port` to the target. `cut_after(n)`
arms it: the next connection is cut (both sides closed) once `n` bytes have passed from the
server to the client, so a sweep over `n` breaks a protocol exchange at every step. Later
connections pass untouched, so a client that retries gets through.

`go_down()` is an outage: every open connection is cut, and new ones are closed as soon as they
arrive (counted in `refused`), until `come_back()`.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

_CHUNK = 65536


@dataclass
class CuttingProxy:
    target_host: str
    target_port: int
    port: int = 0
    cuts: int = 0
    refused: int = 0
    bytes_to_client: list[int] = field(default_factory=list)
    _cut_at: int | None = None
    _down: bool = False
    _open: set[asyncio.StreamWriter] = field(default_factory=set)
    _server: asyncio.Server | None = None
    _links: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, target_host: str, target_port: int) -> AsyncIterator["CuttingProxy"]:
        proxy = cls(target_host, target_port)
        proxy._server = await asyncio.start_server(proxy._accept, "127.0.0.1", 0)
        proxy.port = proxy._server.sockets[0].getsockname()[1]
        try:
            yield proxy
        finally:
            proxy._server.close()
            for link in list(proxy._links):
                link.cancel()
            await asyncio.gather(*proxy._links, return_exceptions=True)
            await proxy._server.wait_closed()

    def cut_after(self, server_bytes: int) -> None:
        """Cut the next connection once `server_bytes` have gone from server to client."""
        self._cut_at = server_bytes

    def go_down(self) -> None:
        """Cut every open connection and refuse new ones until `come_back`."""
        self._down = True
        for stream in self._open:
            stream.transport.abort()

    def come_back(self) -> None:
        self._down = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down:
            self.refused += 1
            writer.transport.abort()
            return
        link = asyncio.current_task()
        assert link is not None
        self._links.add(link)
        index = len(self.bytes_to_client)
        self.bytes_to_client.append(0)
        cut_at, self._cut_at = self._cut_at, None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            writer.close()
            return
        self._open |= {writer, upstream_writer}
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(_pump(reader, upstream_writer))
                group.create_task(self._to_client(upstream_reader, writer, index, cut_at))
        except* (ConnectionError, _Cut):
            pass
        finally:
            for stream in (writer, upstream_writer):
                stream.transport.abort()
                self._open.discard(stream)
            self._links.discard(link)

    async def _to_client(
        self,
        upstream: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        index: int,
        cut_at: int | None,
    ) -> None:
        while data := await upstream.read(_CHUNK):
            sent = self.bytes_to_client[index]
            if cut_at is not None and sent + len(data) >= cut_at:
                writer.write(data[: max(cut_at - sent, 0)])
                self.cuts += 1
                raise _Cut
            writer.write(data)
            self.bytes_to_client[index] = sent + len(data)
            await writer.drain()
        raise _Cut  # the server closed: close the client side too


class _Cut(Exception):
    pass


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()
    raise _Cut
