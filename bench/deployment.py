"""The service under test: the API and one worker started as an operator starts them
(`python -m`), on a queue name, port and data folder of their own, all removed afterwards.

Both get the service's default settings except PORT, QUEUE_NAME, DATA_DIR, AMQP_URL and what
`--set` asks for; they run in a temporary folder, so neither the caller's settings nor a `.env`
file reaches them.
"""

import asyncio
import logging
import os
import secrets
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aio_pika
import httpx
from aio_pika.exceptions import AMQPError

from bench.errors import BenchError
from bench.options import first_node
from bench.settings import default_settings
from shared.declare import delete_topology
from shared.settings import Settings
from shared.topology import Topology

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
READY_WITHIN = 60.0
# Longer than the worker's drain (SHUTDOWN_TIMEOUT_SECONDS, 60 s by default).
STOP_WITHIN = 90.0


@dataclass(frozen=True)
class Service:
    """One `python -m` process and its log."""

    module: str
    process: asyncio.subprocess.Process
    log: Path

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class Deployment:
    settings: Settings
    api: Service
    worker: Service

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"


@asynccontextmanager
async def deployed(
    amqp_url: str,
    overrides: Mapping[str, str],
    extra_env: Mapping[str, str],
    api_overrides: Mapping[str, str] | None = None,
) -> AsyncIterator[Deployment]:
    """Both processes, the API ready; stopped with SIGTERM and their queues deleted after.
    `overrides` are settings (as `Settings` fields), `extra_env` other environment variables,
    `api_overrides` settings of the API alone."""
    await _check_broker(first_node(amqp_url))
    with tempfile.TemporaryDirectory(prefix="bench-") as temporary:
        folder = Path(temporary)
        settings = default_settings(
            **overrides,
            amqp_url=amqp_url,
            queue_name=f"bench-{secrets.token_hex(6)}",
            data_dir=folder / "data",
            port=_free_port(),
        )
        env = {**_env(settings), **extra_env}
        api_env = {**env, **{name.upper(): value for name, value in (api_overrides or {}).items()}}
        try:
            async with (
                _started("producer_service", api_env, folder) as api,
                _started("worker_service", env, folder) as worker,
            ):
                deployment = Deployment(settings, api, worker)
                await _wait_ready(deployment)
                yield deployment
        finally:
            await _delete_topology(first_node(amqp_url), Topology.from_settings(settings))


@asynccontextmanager
async def _started(module: str, env: Mapping[str, str], folder: Path) -> AsyncIterator[Service]:
    log = folder / f"{module}.log"
    with _log_file(log) as output:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", module),
            cwd=folder,
            env=env,
            stdout=output,
            stderr=output,
        )
    service = Service(module, process, log)
    try:
        yield service
    finally:
        await _stop(service)


async def _stop(service: Service) -> None:
    process = service.process
    if process.returncode is None:
        process.terminate()
        try:
            async with asyncio.timeout(STOP_WITHIN):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise BenchError(
                f"{service.module} did not stop on SIGTERM:\n{service.tail()}"
            ) from None
    if process.returncode != 0:
        logger.warning("%s exited with %s:\n%s", service.module, process.returncode, service.tail())


async def _wait_ready(deployment: Deployment) -> None:
    deadline = time.monotonic() + READY_WITHIN
    async with httpx.AsyncClient(base_url=deployment.base_url, timeout=5) as http:
        while time.monotonic() < deadline:
            for service in (deployment.api, deployment.worker):
                if service.process.returncode is not None:
                    raise BenchError(f"{service.module} exited at start:\n{service.tail()}")
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.2)
    raise BenchError(f"the API was not ready in {READY_WITHIN:.0f} s:\n{deployment.api.tail()}")


async def _check_broker(url: str) -> None:
    try:
        connection = await aio_pika.connect(url, timeout=5)
    except (AMQPError, OSError) as exc:
        raise BenchError(f"no RabbitMQ answers at {url}: {exc!r}") from exc
    await connection.close()


async def _delete_topology(url: str, topology: Topology) -> None:
    """Every queue and exchange the bench's queue name produced, on a connection of its own."""
    try:
        connection = await aio_pika.connect(url, timeout=5)
        async with connection:
            await delete_topology(connection, topology)
    except (AMQPError, OSError) as exc:
        logger.warning("could not delete the queues of %s: %r", topology.queue_name, exc)


def _env(settings: Settings) -> dict[str, str]:
    env = settings.as_environment(os.environ)
    # The processes run in a temporary folder; they import the services from here.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def _log_file(path: Path) -> IO[bytes]:
    return path.open("wb")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
