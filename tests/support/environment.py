"""Where the tests' servers are, and settings of a test's own: a fresh queue name and data
folder each, and delays short enough for tests."""

import os
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from shared.declare import delete_topology
from shared.settings import Settings
from shared.topology import Topology

# The broker the integration and system tests use; they fail (never skip) when it is down.
TEST_AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


TEST_POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "amqp_url": TEST_AMQP_URL,
        "queue_name": f"test-{uuid.uuid4().hex[:12]}",
        "data_dir": tmp_path / "data",
        "publish_timeout_seconds": 2.0,
        "retry_base_delay_seconds": 0.2,
        "retry_max_delay_seconds": 1.0,
        "shutdown_timeout_seconds": 10.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)


async def delete_queues(url: str, topology: Topology) -> None:
    """Remove every broker object a test's queue name produced, on a connection of its own."""
    connection = await aio_pika.connect(url, timeout=5)
    async with connection:
        await delete_topology(connection, topology)


async def require_broker(url: str) -> None:
    try:
        connection = await aio_pika.connect(url, timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing here
        pytest.fail(f"these tests need RabbitMQ at {url}: {exc!r}")
    await connection.close()


# Two tenants' API keys, and the first one's next key (a rotation).
ALICE, BOB, ALICE_NEXT = "alice-key-0123456789", "bob-key-9876543210", "alice-rotated-key-42"
