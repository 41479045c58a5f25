"""Fixtures for tests against real servers: an empty database on SQLite and on PostgreSQL."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import TEST_POSTGRES_URL
from tests.support.databases import EmptyDatabase


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


@pytest.fixture(params=["sqlite", "postgresql"])
def each_database(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings for a job store on each backend: the default SQLite file under DATA_DIR, or a
    PostgreSQL database of the test's own."""
    if request.param == "sqlite":
        return {}
    return {"database_url": str(request.getfixturevalue("postgres_url"))}
