"""The services as processes (`python -m ...`), their environment and their logs."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


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
