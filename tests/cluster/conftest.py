"""A private three-node RabbitMQ cluster (scripts/rabbitmq-cluster.sh), shared by the tests of
this package: each test that kills or cuts off a node brings it back before it ends."""

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.ports import answers, spare
from tests.support import ROOT

CLUSTER_SCRIPT = ROOT / "scripts" / "rabbitmq-cluster.sh"
NODE_SCRIPT = ROOT / "scripts" / "rabbitmq-node.sh"


@dataclass(frozen=True)
class PrivateCluster:
    directory: Path
    ports: tuple[int, ...]

    def url(self, port: int) -> str:
        return f"amqp://guest:guest@127.0.0.1:{port}/"

    def urls_from(self, port: int) -> str:
        """AMQP_URL listing every node, `port`'s first, then the others in ring order: a
        service given it connects to that node first."""
        at = self.ports.index(port)
        return ",".join(self.url(p) for p in (*self.ports[at:], *self.ports[:at]))

    def node(self, port: int) -> str:
        return f"imgresize-{port}@localhost"

    async def ctl(self, port: int, *args: str) -> str:
        """`rabbitmqctl ARGS` against the node on `port`; its output."""
        process = await asyncio.create_subprocess_exec(
            str(NODE_SCRIPT),
            "ctl",
            str(self.directory / str(port)),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        assert process.returncode == 0, f"rabbitmqctl {' '.join(args)}: {output.decode()}"
        return output.decode()

    def kill(self, port: int) -> None:
        """SIGKILL the node's Erlang VM: a crash, nothing closed cleanly."""
        os.kill(int((self.directory / str(port) / "pid").read_text()), signal.SIGKILL)

    async def restart(self, port: int) -> None:
        """Start a killed node again; it rejoins with its state, and returns once every node of
        the cluster runs."""
        process = await asyncio.create_subprocess_exec(
            str(NODE_SCRIPT), "start", str(self.directory / str(port)), str(port)
        )
        assert await process.wait() == 0
        await self.whole(port)

    async def whole(self, port: int) -> None:
        """Return once the node on `port` sees every node of the cluster running."""
        await self.ctl(port, "await_online_nodes", str(len(self.ports)), "--timeout", "60")

    async def sees(self, port: int, count: int) -> bool:
        """Whether the node on `port` sees exactly `count` nodes of its cluster running."""
        running = await self.ctl(port, "eval", "length(rabbit_nodes:all_running()).")
        return int(running.strip()) == count

    async def cut_off(self, port: int, seconds: float) -> None:
        """A partition: the node on `port` drops its links to the others and, for `seconds`,
        offers them a cookie they refuse (so neither side can connect), then its own again.
        Alone, it pauses (pause_minority), closing its clients' connections, until it sees the
        others again. CLI tools keep the default cookie, so it stays manageable meanwhile."""
        peers = ",".join(f"'{self.node(p)}'" for p in self.ports if p != port)
        await self.ctl(
            port,
            "eval",
            f"C = erlang:get_cookie(), [begin erlang:set_cookie(N, 'cut-off'), "
            f"erlang:disconnect_node(N), "
            f"timer:apply_after({round(seconds * 1000)}, erlang, set_cookie, [N, C]) end "
            f"|| N <- [{peers}]], ok.",
        )

    async def leader(self, queue: str, asking: int) -> int:
        """The port of the node that leads the quorum queue `queue` (asking the node on
        `asking`)."""
        listed = await self.ctl(asking, "list_queues", "name", "leader", "--no-table-headers")
        for line in listed.splitlines():
            name, _, node = line.partition("\t")
            if name == queue:
                return int(node.strip().removeprefix("imgresize-").split("@")[0])
        raise AssertionError(f"no queue {queue} on the cluster: {listed}")


@pytest.fixture(scope="session")
def cluster() -> Iterator[PrivateCluster]:
    directory = Path(tempfile.mkdtemp(prefix="imgresize-cluster-"))
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(spare())
    started = subprocess.run(
        [str(CLUSTER_SCRIPT), "start", str(directory), *map(str, sorted(ports))],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield PrivateCluster(directory, tuple(sorted(ports)))
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run([str(CLUSTER_SCRIPT), "stop", str(directory)], check=False, timeout=60)
        # A node a failed test left paused or half-stopped may not stop on request.
        for pid_file in directory.glob("*/pid"):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text())
                # Only that node's VM, should its pid have gone to another process since.
                if f"imgresize-{pid_file.parent.name}@" in Path(f"/proc/{pid}/cmdline").read_text():
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(autouse=True)
async def whole_again(cluster: PrivateCluster) -> AsyncIterator[None]:
    """A test that failed half-way may leave a node down: the next one gets the cluster whole."""
    yield
    for port in cluster.ports:
        if not answers(cluster.url(port)):
            await cluster.restart(port)
