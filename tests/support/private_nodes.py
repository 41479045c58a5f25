"""Private servers and broken disks for fault tests: RabbitMQ nodes and PostgreSQL clusters of
their own (never the shared ones), a tiny tmpfs that fills up, and processes that file modes
bind even as root."""

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from tests.support.processes import ROOT


async def run(*command: str) -> None:
    """`command`, which must succeed (its output is the failure message)."""
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, f"{' '.join(command)}: {output.decode()}"


@dataclass
class PrivateNode:
    """A server of a test's own, run by one of the project's node scripts
    (`SCRIPT start DIR PORT`, `SCRIPT stop DIR`), its state kept in `directory`."""

    script: ClassVar[Path]
    directory: Path
    port: int

    async def start(self) -> None:
        await run(str(self.script), "start", str(self.directory), str(self.port))

    async def stop(self) -> None:
        await run(str(self.script), "stop", str(self.directory))


class PrivateBroker(PrivateNode):
    script = ROOT / "scripts" / "rabbitmq-node.sh"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def freeze(self) -> None:
        """Stop the node's process without closing its sockets: a broker that hangs."""
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    @property
    def pid(self) -> int:
        return int((self.directory / "pid").read_text())


class PrivatePostgres(PrivateNode):
    script = ROOT / "scripts" / "postgres-node.sh"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


def as_root(*command: str) -> list[str]:
    if os.geteuid() == 0:
        return list(command)
    return ["sudo", "-n", *command]


@dataclass
class SmallDisk:
    """A tmpfs of a few MiB: a disk that can really fill up."""

    path: Path

    def fill(self) -> None:
        """Write until the disk refuses a single byte more."""
        with (self.path / "filler").open("wb", buffering=0) as handle:
            for size in (65536, 1):
                with contextlib.suppress(OSError):
                    while True:
                        handle.write(b"\0" * size)

    def free(self) -> None:
        (self.path / "filler").unlink()


def bound_by_file_modes(command: list[str]) -> list[str]:
    """`command` run so that file modes bind it: as root, without the capability to override
    them (a read-only folder is then read-only to it, as to any other user)."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]
