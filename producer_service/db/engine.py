"""The job store's database engine: SQLite by default, PostgreSQL for several API replicas.

Every wait is bounded by `timeout` (DATABASE_TIMEOUT_SECONDS), so a locked, stopped or frozen
database becomes a 503 within seconds instead of a hung request: SQLite's busy timeout, the wait
for a pooled connection, and on PostgreSQL the connect and statement timeouts.

A SQLite connection opened while the database could not be written (a read-only spell) stays
read-only for good, even after the fault clears. An error that says so marks the connection as
broken, and the pool then drops it and every connection opened before it, so the store heals by
itself instead of failing a share of requests until a restart.

SQLite write transactions start with `BEGIN IMMEDIATE` (a session asks for it with the
`WRITES` execution option), so they queue for the write lock under the busy timeout. Python's
driver would start them deferred: one that read first and then found another writer had
committed fails at once with SQLITE_BUSY, whatever the timeout, and under load a share of
submits got a 503.
"""

import sqlite3
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine, ExceptionContext
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# SQLite primary result codes (sqlite3 errors carry them as `sqlite_errorcode`, extended codes
# in the high bits).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 5, 6, 8
_SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 10, 13, 14
# Errors after which a connection never works again, whatever happens to the file.
_SQLITE_STALE = {_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CANTOPEN}
# Execution option of a session that will write (see the module's docstring).
WRITES = "job_store_writes"
_SQLITE_REASONS = {
    _SQLITE_BUSY: "locked",
    _SQLITE_LOCKED: "locked",
    _SQLITE_READONLY: "read-only",
    _SQLITE_IOERR: "disk I/O error",
    _SQLITE_FULL: "disk full",
    _SQLITE_CANTOPEN: "cannot open the database file",
}


@dataclass(frozen=True)
class PoolLimits:
    """Connections a PostgreSQL pool keeps open (`size`) and may open beyond them at a peak."""

    size: int
    overflow: int


def create_sqlite_engine(
    url: str, timeout: float, connect_args: dict[str, Any] | None = None
) -> Engine:
    """A SQLite engine on Python's sqlite3 (its connections are used from several threads)."""
    sync_url = sa.make_url(url).set(drivername="sqlite+pysqlite")
    engine = sa.create_engine(
        sync_url,
        connect_args={"timeout": timeout, "check_same_thread": False, **(connect_args or {})},
        pool_timeout=timeout,
    )
    sa_event.listen(engine, "connect", _set_up_sqlite)
    sa_event.listen(engine, "begin", _begin_sqlite)
    sa_event.listen(engine, "handle_error", _drop_stale_sqlite_connections)
    return engine


def create_postgresql_engine(
    url: str, timeout: float, pool: PoolLimits | None, connect_args: dict[str, Any] | None = None
) -> AsyncEngine:
    """A PostgreSQL engine on asyncpg."""
    limits = {} if pool is None else {"pool_size": pool.size, "max_overflow": pool.overflow}
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_timeout=timeout,
        **limits,
        connect_args={"timeout": timeout, "command_timeout": timeout, **(connect_args or {})},
    )


class WriteLockTimeout(TimeoutError):
    """This process's writers queued ahead for longer than the timeout (see `database.py`)."""


def failure_reason(error: BaseException) -> str:
    """A few words on why the database failed, for logs and readiness (never its URL)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, WriteLockTimeout):
            return "locked"
        code = _sqlite_code(cause)
        if code is not None:
            return _SQLITE_REASONS.get(code, "failed")
        if isinstance(cause, PoolTimeout | TimeoutError):
            return "not answering in time"
        if isinstance(cause, OSError):
            return "unreachable"
        cause = cause.__cause__ or getattr(cause, "orig", None)
    return "failed"


def _set_up_sqlite(dbapi_connection: Any, _: Any) -> None:
    # WAL lets status reads proceed while an event is being written.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
    dbapi_connection.isolation_level = None  # transactions are begun by _begin_sqlite


def _begin_sqlite(connection: Connection) -> None:
    writes = connection.get_execution_options().get(WRITES, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def _drop_stale_sqlite_connections(context: ExceptionContext) -> None:
    if _sqlite_code(context.original_exception) in _SQLITE_STALE:
        context.is_disconnect = True


def _sqlite_code(error: BaseException) -> int | None:
    if isinstance(error, sqlite3.Error) and error.sqlite_errorcode is not None:
        return int(error.sqlite_errorcode) & 0xFF
    return None
