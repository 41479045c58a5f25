"""The services in this process: the API (lifespan and all) with a client, served by the real
HTTP server, and a worker."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn

from producer_service.api.server import server_config
from producer_service.app import create_app
from producer_service.broker.link import InProcessBroker
from shared.settings import Settings
from tests.support.processes import free_port
from tests.support.waiting import wait_for
from worker_service.worker import Worker


@asynccontextmanager
async def running_api(
    settings: Settings, *, ready: bool = True, in_process: InProcessBroker | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The API in this process (lifespan included), with a client; waits for /readyz by default.
    With `in_process`, it runs on that broker instead of RabbitMQ."""
    app = create_app(settings, in_process)
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
