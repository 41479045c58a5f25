"""Fixtures for tests against real servers: an empty database on SQLite and on PostgreSQL."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from producer_service.db.database import Database, open_database
from tests.conftest import TEST_POSTGRES_URL


@dataclass(frozen=True)
class EmptyDatabase:
    url: str
    connect_args: dict[str, Any] = field(default_factory=dict)

    def open(self) -> Database:
        return open_database(self.url, connect_args=self.connect_args)


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[EmptyDatabase]:
    """A database with nothing in it: a new SQLite file, or a new schema on the test server."""
    if request.param == "sqlite":
        yield EmptyDatabase(f"sqlite:///{tmp_path / 'jobs.db'}")
        return
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(TEST_POSTGRES_URL)
    async with admin.begin() as connection:
        await connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield EmptyDatabase(TEST_POSTGRES_URL, {"server_settings": {"search_path": schema}})
    finally:
        async with admin.begin() as connection:
            await connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


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
