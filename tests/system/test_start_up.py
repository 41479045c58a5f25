"""Start-up and stop of both processes, and of `make run` (scripts/run.sh), as an operator sees
them: a start that cannot succeed exits non-zero at once, a broker that does not answer is
retried, and SIGTERM at any moment of start-up stops a process promptly with status 0."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.client import ApiClient
from tests.support import (
    exit_code,
    free_port,
    launched,
    logged,
    make_settings,
    service_env,
    started,
    stop,
    wait_for,
)

# Under the broker connect timeout (5 s), so a stop cannot have waited for a try to time out.
STOPS_WITHIN = 4.0
CLOSED = "amqp://guest:guest@127.0.0.1:1/"
MODULES = ["producer_service", "worker_service"]
READY_LINE = {"producer_service": "connected to the broker", "worker_service": " consuming "}


@contextmanager
def listener() -> Iterator[socket.socket]:
    """A plain TCP listener on a free local port: a port taken, or a "broker" that accepts
    connections and never says a word."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        sock.setblocking(False)
        yield sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def twice(log: Path, text: str) -> Callable[[], Awaitable[bool]]:
    """For `wait_for`: whether `text` has appeared twice in a service's output."""

    async def check() -> bool:
        return (await asyncio.to_thread(log.read_text)).count(text) >= 2

    return check


async def test_an_api_on_a_taken_port_exits_non_zero_naming_the_port(
    broker_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    log = tmp_path / "api.log"
    with listener() as taken:
        port = port_of(taken)
        with started("producer_service", service_env(broker_settings(port=port)), log) as api:
            code = await asyncio.to_thread(exit_code, api, 20, log)
    assert code != 0
    naming = [line for line in log.read_text().splitlines() if str(port) in line]
    assert len(naming) == 1, log.read_text()
    assert "address already in use" in naming[0]


@pytest.mark.parametrize("module", MODULES)
async def test_with_no_broker_each_process_keeps_trying_until_sigterm(
    module: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, amqp_url=CLOSED, port=free_port())
    log = tmp_path / "service.log"
    with started(module, service_env(settings), log) as process:
        await wait_for(twice(log, "broker connect failed"), what="two tries to connect")
        stop(process, log, within=STOPS_WITHIN)


@pytest.mark.parametrize("module", MODULES)
async def test_sigterm_while_connecting_to_the_broker_stops_at_once(
    module: str, tmp_path: Path
) -> None:
    log = tmp_path / "service.log"
    with listener() as silent:
        url = f"amqp://guest:guest@127.0.0.1:{port_of(silent)}/"
        settings = make_settings(tmp_path, amqp_url=url, port=free_port())
        with started(module, service_env(settings), log) as process:

            async def connecting() -> socket.socket | None:
                with suppress(BlockingIOError):
                    return silent.accept()[0]
                return None

            connection = await wait_for(connecting, within=30, what="a connect to the broker")
            with connection:
                stop(process, log, within=STOPS_WITHIN)


@pytest.mark.parametrize("module", MODULES)
async def test_sigterm_once_ready_stops_at_once(
    module: str, broker_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    log = tmp_path / "service.log"
    settings = broker_settings(port=free_port())
    with started(module, service_env(settings), log) as process:
        await wait_for(logged(log, READY_LINE[module]), within=30, what="the broker set-up")
        stop(process, log, within=STOPS_WITHIN)


async def test_sigterm_while_the_api_migrates_stops_it(
    broker_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    log = tmp_path / "api.log"
    settings = broker_settings(port=free_port())
    with started("producer_service", service_env(settings), log) as api:
        # The lifespan opens the job store and migrates right after this line.
        await wait_for(logged(log, "Waiting for application startup"), within=30)
        stop(api, log, within=STOPS_WITHIN)


@contextmanager
def make_run(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """scripts/run.sh with this interpreter, in a session of its own, so that whatever it
    leaves running is killed after the test."""
    command = ["bash", "scripts/run.sh"]
    with launched(command, env | {"PYTHON": sys.executable}, log, start_new_session=True) as run:
        try:
            yield run
        finally:
            with suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)


async def test_make_run_stops_the_worker_and_fails_when_the_api_cannot_start(
    broker_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    log = tmp_path / "run.log"
    with listener() as taken:
        env = service_env(broker_settings(port=port_of(taken)))
        with make_run(env, log) as run:
            code = await asyncio.to_thread(exit_code, run, 30, log)
    assert code != 0
    output = log.read_text()
    assert f"make run: the API exited (status {code}); stopping everything" in output
    assert " stopped: " in output  # the worker's last line: it drained and left


async def test_sigterm_to_make_run_stops_the_api_and_the_worker(
    broker_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    log = tmp_path / "run.log"
    port = free_port()
    with make_run(service_env(broker_settings(port=port)), log) as run:
        async with ApiClient.at(port) as client:
            await wait_for(client.is_ready, within=30, what="the API to be ready")
        await wait_for(logged(log, " consuming "), within=30, what="the worker to consume")
        run.send_signal(signal.SIGTERM)
        assert exit_code(run, STOPS_WITHIN * 2, log) == 143
    output = log.read_text()
    assert "Finished server process" in output
    assert " stopped: " in output
