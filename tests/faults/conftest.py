"""Private RabbitMQ nodes for tests that stop and start a broker (never the shared one)."""

import asyncio
import os
import random
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT

NODE_SCRIPT = ROOT / "scripts" / "rabbitmq-node.sh"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def spare_node_port() -> int:
    """A port for AMQP whose distribution port (+20000) is free as well."""
    while True:
        port = random.randint(20000, 29999)
        if _port_free(port) and _port_free(port + 20000):
            return port


@dataclass
class PrivateBroker:
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    async def start(self) -> None:
        await self._node("start", str(self.port))

    async def stop(self) -> None:
        await self._node("stop")

    def freeze(self) -> None:
        """Stop the node's process without closing its sockets: a broker that hangs."""
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    @property
    def pid(self) -> int:
        return int((self.directory / "pid").read_text())

    async def _node(self, *arguments: str) -> None:
        process = await asyncio.create_subprocess_exec(
            str(NODE_SCRIPT),
            arguments[0],
            str(self.directory),
            *arguments[1:],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        assert process.returncode == 0, output.decode()


@pytest.fixture
async def private_broker(tmp_path: Path) -> AsyncIterator[PrivateBroker]:
    broker = PrivateBroker(tmp_path / "rabbitmq", spare_node_port())
    await broker.start()
    yield broker
    if _port_free(broker.port) is False:
        await broker.stop()
