"""Private servers and broken disks for fault tests: RabbitMQ nodes and PostgreSQL clusters of
their own (never the shared ones), a tiny tmpfs that fills up, and processes that file modes
bind even as root."""

import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scripts.ports import is_free as _port_free
from scripts.ports import spare as spare_node_port
from tests.queue_types import each_queue_type  # noqa: F401 - each test on both queue types
from tests.support.private_nodes import PrivateBroker, PrivatePostgres, SmallDisk, as_root, run


@pytest.fixture
async def private_broker(tmp_path: Path) -> AsyncIterator[PrivateBroker]:
    broker = PrivateBroker(tmp_path / "rabbitmq", spare_node_port())
    await broker.start()
    yield broker
    if _port_free(broker.port) is False:
        await broker.stop()


@pytest.fixture
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    # Outside tmp_path: as root the cluster runs as `postgres`, who cannot enter pytest's
    # private temp folders.
    directory = Path(tempfile.mkdtemp(prefix="imgresize-pg-"))
    database = PrivatePostgres(directory, spare_node_port())
    await database.start()
    yield database
    if not _port_free(database.port):
        await database.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def small_disk(tmp_path: Path) -> AsyncIterator[SmallDisk]:
    mount = tmp_path / "disk"
    mount.mkdir()
    await run(*as_root("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)))
    try:
        yield SmallDisk(mount)
    finally:
        await run(*as_root("umount", "-l", str(mount)))
