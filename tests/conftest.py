"""Fixtures for every test: a clean environment, settings per test, a real broker and clean-up."""

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import SERVICE_VARIABLES, Settings
from shared.topology import Topology
from tests.s3 import Bucket, S3Server
from tests.support.environment import (
    TEST_AMQP_URL,
    TEST_POSTGRES_URL,
    delete_queues,
    make_settings,
    require_broker,
)

# CI (`.ci/run`) fuzzes the same cases every run, so a red build always means a change broke
# something; `make test` draws new cases each time, to find what is still there.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer's shell or `.env` leaks into a test."""
    for name in SERVICE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def queue_type() -> str:
    """QUEUE_TYPE of the tests' queues; the reliability tests run with each (their modules
    override this fixture with both values)."""
    return "classic"


@pytest.fixture
async def broker_settings(
    tmp_path: Path, queue_type: str
) -> AsyncIterator[Callable[..., Settings]]:
    """Makes settings for the test broker; every queue and exchange they named is deleted after."""
    await require_broker(TEST_AMQP_URL)
    made: list[Settings] = []

    def make(**overrides: Any) -> Settings:
        made.append(make_settings(tmp_path, **{"queue_type": queue_type, **overrides}))
        return made[-1]

    yield make
    for settings in made:
        await delete_queues(TEST_AMQP_URL, Topology.from_settings(settings))


@pytest.fixture
def broker(broker_settings: Callable[..., Settings]) -> Settings:
    """Settings for the test broker, with a queue name of the test's own."""
    return broker_settings()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A database of the test's own on the test PostgreSQL server, dropped afterwards."""
    name = f"jobs_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(TEST_POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield TEST_POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server, started on first use and shared by the run (tests/s3.py)."""
    with S3Server.started(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


@pytest.fixture
async def s3_bucket(s3_server: S3Server) -> AsyncIterator[Bucket]:
    """An empty bucket of the test's own on the S3 server, removed afterwards."""
    async with Bucket.of_own(s3_server) as bucket:
        yield bucket


@pytest.fixture(params=["local", "s3"])
def each_storage(request: pytest.FixtureRequest) -> Bucket | None:
    """For tests run on each storage: files under DATA_DIR (None), or a bucket of the test's
    own on moto's S3 server (`storage_settings` in tests/s3.py point services at either)."""
    return None if request.param == "local" else request.getfixturevalue("s3_bucket")
