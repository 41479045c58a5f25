"""Where the job store's transactions run: SQLite in threads of this process, PostgreSQL on
asyncpg. Either way a unit of work is a plain function of a SQLAlchemy `Session`, so the store
is written once.

SQLite runs each whole transaction in one hop to a thread, on Python's sqlite3. Through
aiosqlite every statement, cursor and commit was a hop of its own between the event loop and a
thread, and a write cost 3.7 ms of the API's CPU against 0.4 ms in one hop; a job makes four.
SQLite has one writer at a time, and a connection waiting for it sleeps and polls (1, 2, 5 ...
100 ms), so writers of this process queue in order on an asyncio lock instead, each started the
moment the one before has committed; the busy timeout is left for other processes.

PostgreSQL runs the function in the async session's greenlet (`run_sync`) over asyncpg, with
row locks and as many writers at once as the pool holds.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from producer_service.db.engine import (
    WRITES,
    PoolLimits,
    WriteLockTimeout,
    create_postgresql_engine,
    create_sqlite_engine,
)

T = TypeVar("T")
Work = Callable[[Session], T]

# Threads for SQLite transactions: reads run side by side (WAL), writes one at a time.
SQLITE_THREADS = 4


class Database(Protocol):
    async def run(self, work: Work[T], *, write: bool) -> T:
        """`work(session)`; when `write`, in a transaction that commits if it returns."""
        ...

    async def dispose(self) -> None: ...


def open_database(
    url: str,
    timeout: float = 2.0,
    connect_args: dict[str, Any] | None = None,
    pool: PoolLimits | None = None,
) -> Database:
    """The database at `url`, every wait bounded by `timeout`; `connect_args` go to the driver,
    `pool` bounds PostgreSQL's connections (None: SQLAlchemy's defaults)."""
    if sa.make_url(url).get_backend_name() == "sqlite":
        return ThreadedDatabase(create_sqlite_engine(url, timeout, connect_args), timeout)
    return AsyncDatabase(create_postgresql_engine(url, timeout, pool, connect_args))


class ThreadedDatabase:
    def __init__(self, engine: Engine, timeout: float) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._threads = ThreadPoolExecutor(SQLITE_THREADS, thread_name_prefix="job-store")
        self._write_lock = asyncio.Lock()
        self._timeout = timeout

    async def run(self, work: Work[T], *, write: bool) -> T:
        if not write:
            return await asyncio.wrap_future(self._threads.submit(self._read, work))
        try:
            async with asyncio.timeout(self._timeout):
                await self._write_lock.acquire()
        except TimeoutError:
            raise WriteLockTimeout from None
        loop = asyncio.get_running_loop()
        try:
            done = self._threads.submit(self._write, work)
        except BaseException:
            self._write_lock.release()
            raise
        # Released when the transaction ends, even if the caller stopped waiting for it.
        done.add_done_callback(lambda _: loop.call_soon_threadsafe(self._write_lock.release))
        return await asyncio.wrap_future(done)

    async def dispose(self) -> None:
        await asyncio.to_thread(self._threads.shutdown)
        self._engine.dispose()

    def _read(self, work: Work[T]) -> T:
        with self._sessions() as session:
            return work(session)

    def _write(self, work: Work[T]) -> T:
        with self._sessions.begin() as session:
            session.connection(execution_options={WRITES: True})
            return work(session)


class AsyncDatabase:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def run(self, work: Work[T], *, write: bool) -> T:
        if write:
            async with self._sessions.begin() as session:
                return await session.run_sync(work)
        async with self._sessions() as session:
            return await session.run_sync(work)

    async def dispose(self) -> None:
        await self._engine.dispose()
