"""Helpers for tests that run the real services against a real broker."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import sqlalchemy as sa
import uvicorn
from aio_pika.abc import AbstractChannel, AbstractConnection

from producer_service.api.server import server_config
from producer_service.app import create_app
from producer_service.broker.publisher import Publisher
from producer_service.callers import Caller, KeyRing, owner_id
from producer_service.db.database import open_database
from shared import layout
from shared.messages import TASK_TYPE, EventKind, JobEvent, ResizeTask, message_properties
from shared.settings import Settings
from shared.storage import open_storage
from shared.topology import Topology, declare_topology
from shared.variants import Variant
from worker_service.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
FINAL_EVENTS = (EventKind.SUCCEEDED, EventKind.FAILED)


async def wait_for(
    check: Callable[[], Awaitable[Any]], within: float = 15, what: str = "condition"
) -> Any:
    """Poll `check` until it returns something truthy, or fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running_api(
    settings: Settings, *, ready: bool = True, publisher: Publisher | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The API in this process (lifespan included), with a client; waits for /readyz by default.
    With `publisher`, tasks go to it instead of a broker."""
    app = create_app(settings, publisher)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            if ready:

                async def is_ready() -> bool:
                    return (await client.get("/readyz")).status_code == 200

                await wait_for(is_ready, what="the API to be ready")
            yield client


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[int]:
    """`app` served by uvicorn on a free local port (the real HTTP server, keep-alive and all)."""
    server = uvicorn.Server(server_config(app, "127.0.0.1", free_port(), lifespan="on"))
    task = asyncio.create_task(server.serve())
    await wait_for(_started(server), what="uvicorn to start")
    try:
        yield server.config.port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


def _started(server: uvicorn.Server) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return server.started

    return check


@asynccontextmanager
async def running_worker(settings: Settings, name: str | None = None) -> AsyncIterator[Worker]:
    worker = Worker(settings, name=name)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


class BrokerProbe:
    """A test's own view of the broker: publish tasks as the API would, read events and queues."""

    def __init__(
        self, settings: Settings, connection: AbstractConnection, channel: AbstractChannel
    ):
        self.settings = settings
        self.topology = Topology.from_settings(settings)
        self.connection = connection
        self.channel = channel

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator["BrokerProbe"]:
        connection = await aio_pika.connect(settings.amqp_url, timeout=5)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            await declare_topology(connection, channel, Topology.from_settings(settings))
            yield cls(settings, connection, channel)

    async def submit_task(
        self, image: bytes, variants: list[Variant], job_id: uuid.UUID | None = None, **fields: Any
    ) -> ResizeTask:
        """Store an original and publish its task the way the API does."""
        job_id = job_id or uuid.uuid4()
        key = layout.original_key(job_id)
        path = layout.path_of(self.settings.data_dir, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image)
        task = ResizeTask(job_id=job_id, source_key=key, variants=variants, **fields)
        await self.publish(task.model_dump_json().encode(), str(job_id))
        return task

    async def publish(self, body: bytes, message_id: str, queue: str | None = None) -> None:
        await self.channel.default_exchange.publish(
            aio_pika.Message(body, **message_properties(message_id, TASK_TYPE, "tests")),
            routing_key=queue or self.topology.work_queue,
        )

    async def events(self, count: int, within: float = 30) -> list[JobEvent]:
        """The next `count` status events, in the order the broker delivered them."""
        queue = await self.channel.get_queue(self.topology.events_queue)
        received: list[JobEvent] = []
        async with asyncio.timeout(within), queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                received.append(JobEvent.model_validate_json(message.body))
                if len(received) == count:
                    break
        return received

    async def final_event(self, job_id: uuid.UUID, within: float = 30) -> JobEvent:
        """Events up to the one that ends `job_id` (succeeded or failed); that one."""
        async with asyncio.timeout(within):
            while True:
                (event,) = await self.events(1, within)
                if event.job_id == job_id and event.kind in FINAL_EVENTS:
                    return event

    async def ready_messages(self, queue: str) -> int:
        declared = await self.channel.declare_queue(queue, passive=True)
        count = declared.declaration_result.message_count
        assert count is not None
        return count


def output_path(settings: Settings, key: str) -> Path:
    return layout.path_of(settings.data_dir, key)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(settings: Settings) -> dict[str, str]:
    """The environment that makes `python -m ...` read exactly these settings."""
    return settings.as_environment(os.environ)


@contextmanager
def started(
    module: str,
    env: dict[str, str],
    log: Path,
    wrap: Callable[[list[str]], list[str]] = list,
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m module` with `env`, its output in `log`; `wrap` may prefix the command."""
    with launched(wrap([sys.executable, "-m", module]), env, log) as process:
        yield process


@contextmanager
def launched(
    command: list[str], env: dict[str, str], log: Path, **options: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` run from the checkout with `env`, its output in `log`, killed if still running
    after the block; `options` go to `Popen`."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=output, **options
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def json_lines(log: Path) -> list[dict[str, Any]]:
    """The output of a service run with LOG_FORMAT=json; fails unless every line is an object."""
    entries = []
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"{log.name}: not a JSON line: {line!r}") from None
        assert isinstance(entry, dict), line
        entries.append(entry)
    return entries


def logged(log: Path, text: str) -> Callable[[], Awaitable[bool]]:
    """For `wait_for`: whether `text` has appeared in a service's output."""

    async def check() -> bool:
        return text in await asyncio.to_thread(log.read_text)

    return check


def stop(process: subprocess.Popen[bytes], log: Path, within: float = 30) -> None:
    """SIGTERM, a requested stop: the process exits 0 within `within` seconds."""
    process.send_signal(signal.SIGTERM)
    assert exit_code(process, within, log) == 0, log.read_text()


def exit_code(process: subprocess.Popen[bytes], within: float, log: Path) -> int:
    """The process's exit status, once it has exited; fails after `within` seconds."""
    try:
        return process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after {within}s:\n{log.read_text()}") from None


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, dict[str, str]]:
    """One request on an open connection: the answer's status and headers (body read too)."""
    writer.write(request)
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in head[1:] if line)
    await reader.readexactly(int(headers.get("content-length", "0")))
    return int(head[0].split()[1]), headers


def multipart_request(path: str, image: bytes) -> bytes:
    boundary = "boundary42"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: api\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    )
    return head.encode() + body


async def job_count(settings: Settings) -> int:
    """Rows in the job store."""
    database = open_database(settings.job_store_url)
    try:
        return await database.run(
            lambda session: int(session.execute(sa.text("SELECT count(*) FROM jobs")).scalar_one()),
            write=False,
        )
    finally:
        await database.dispose()


async def stored_keys(settings: Settings, prefix: str) -> list[str]:
    """The keys under `prefix` in the storage the settings name (DATA_DIR or a bucket)."""
    async with open_storage(settings) as storage:
        return await storage.list(prefix)


def originals(settings: Settings) -> list[Path]:
    """The uploads kept in storage."""
    folder = settings.data_dir / "originals"
    return list(folder.iterdir()) if folder.exists() else []


def expired_token(key: str) -> str:
    """A browser token of `key` that expired a while ago: minted by a key ring whose clock is
    an hour behind, as the API's own ring would have minted it then."""
    ring = KeyRing([key], clock=lambda: time.time() - 3600)
    token, _ = ring.mint(Caller(owner_id(key)), 900, None)
    return token
