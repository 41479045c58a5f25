"""A job store database of the bench's own on a PostgreSQL server, and what the server counts
in it (`pg_stat_database`): transactions committed and rolled back, and rows written.

The counts are read over a connection to the database the URL names, never to the bench's own,
so reading them adds nothing to them. A server process reports what it did when it goes idle,
but at most once a second; what it could not report then, it reports when it has been idle for
10 s (PGSTAT_IDLE_INTERVAL, PostgreSQL 15 and later). Nothing announces that report, so
`counts()` waits those 10 s (`--postgres-report-wait`): `api` with PostgreSQL takes 4 of them more
than without. A smoke run waits half a second: its counts may miss work, its code paths do not.
"""

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.settings import driver_url

# PostgreSQL's PGSTAT_IDLE_INTERVAL (10 s), and a little more.
REPORTED_WITHIN_SECONDS = 10.5
_COUNTS = sa.text(
    "SELECT xact_commit, xact_rollback, tup_inserted + tup_updated + tup_deleted"
    " FROM pg_stat_database WHERE datname = :name"
)


@dataclass(frozen=True)
class StoreCounts:
    commits: int
    rollbacks: int
    rows_written: int

    def __sub__(self, other: "StoreCounts") -> "StoreCounts":
        return StoreCounts(
            self.commits - other.commits,
            self.rollbacks - other.rollbacks,
            self.rows_written - other.rows_written,
        )


@dataclass(frozen=True)
class PrivateDatabase:
    url: str
    name: str
    admin: AsyncEngine
    # How long `counts` waits for every server process's report.
    report_wait: float

    async def counts(self) -> StoreCounts:
        """The counts, once every server process has reported what it did until now."""
        await asyncio.sleep(self.report_wait)
        # Autocommit: each read is a transaction of its own, so no stale statistics snapshot.
        async with self.admin.connect() as connection:
            row = (await connection.execute(_COUNTS, {"name": self.name})).one()
        return StoreCounts(*(int(value) for value in row))


@asynccontextmanager
async def private_database(server_url: str, report_wait: float) -> AsyncIterator[PrivateDatabase]:
    """A new, empty database on the server of `server_url`, dropped afterwards."""
    url = driver_url(server_url)
    name = f"bench_{secrets.token_hex(6)}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            own = sa.make_url(url).set(database=name).render_as_string(hide_password=False)
            yield PrivateDatabase(own, name, admin, report_wait)
        finally:
            async with admin.connect() as connection:
                await connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
