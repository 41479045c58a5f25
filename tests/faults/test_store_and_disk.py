"""Fault injection on the API's own dependencies: a disk that fills up or turns read-only, a job
store that is locked or stopped. Each answers 503 with a reason while it lasts, leaves no
partial files, shows in /readyz, and the API serves again afterwards without a restart.
"""

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from shared.layout import manifest_key
from shared.settings import Settings
from tests.client import ApiClient, Tally
from tests.images import jpeg_bytes
from tests.scrape import scrape
from tests.support import free_port, running_api, running_worker, service_env, started, wait_for
from tests.support.private_nodes import PrivatePostgres, SmallDisk, bound_by_file_modes

pytestmark = pytest.mark.timeout(120)

THUMB = [{"name": "thumb", "width": 120, "format": "webp"}]


def assert_unavailable(response: httpx.Response, problem: str) -> dict[str, object]:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    body: dict[str, object] = response.json()
    assert body["type"] == f"/problems/{problem}"
    return body


def files_in(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.exists() else []


async def test_a_full_disk_is_a_503_and_submits_work_again_once_space_is_freed(
    small_disk: SmallDisk, broker_settings: Callable[..., Settings]
) -> None:
    settings = broker_settings(data_dir=small_disk.path / "data")
    async with running_api(settings) as http:
        api = ApiClient(http)
        before = await api.submit(jpeg_bytes(), THUMB)
        small_disk.fill()
        refused = await api.post_job(jpeg_bytes(1600, 1200), THUMB)
        ready = await http.get("/readyz")
        leftovers = files_in(settings.data_dir / "tmp")
        small_disk.free()
        after = await api.submit(jpeg_bytes(), THUMB)
        async with running_worker(settings):
            result = await api.tally([before, after])
    assert assert_unavailable(refused, "storage-unavailable")["reason"] == "full"
    assert ready.status_code == 503
    assert ready.json()["checks"]["storage"] == "full"
    assert leftovers == []
    assert result == Tally(submitted=2, succeeded=2, failed=0, lost=0)


def set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | 0o200 if writable else mode & ~0o222)


async def test_after_a_read_only_spell_every_submit_succeeds_again(
    broker_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    port = free_port()
    settings = broker_settings(port=port)
    log = tmp_path / "api.log"
    env = service_env(settings)
    with started("producer_service", env, log, wrap=bound_by_file_modes) as process:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            api = ApiClient(http)
            await wait_for(api.is_ready, within=30, what="the API to be ready")
            before = [await api.submit(jpeg_bytes(), THUMB) for _ in range(3)]
            set_writable(settings.data_dir, False)
            try:
                refused = await api.post_job(jpeg_bytes(), THUMB)
                # A busy API opens pooled connections during the fault: SQLite opens them
                # read-only, and they stay so after it.
                reads = await asyncio.gather(
                    *(http.get(f"/v1/jobs/{before[0]}") for _ in range(12))
                )
                ready = await http.get("/readyz")
            finally:
                set_writable(settings.data_dir, True)
            answers = [await api.post_job(jpeg_bytes(), THUMB) for _ in range(20)]
            after = [str(answer.json()["id"]) for answer in answers if answer.status_code == 202]
            async with running_worker(settings):
                result = await api.tally(before + after)
        assert process.poll() is None, log.read_text()
    assert assert_unavailable(refused, "storage-unavailable")["reason"] == "not writable"
    assert {read.status_code for read in reads} == {200}
    assert ready.status_code == 503
    assert [answer.status_code for answer in answers] == [202] * 20
    assert result == Tally(submitted=23, succeeded=23, failed=0, lost=0)


@contextmanager
def sqlite_write_lock(database: Path) -> Iterator[None]:
    """Another process holding the write lock of `database` until the block ends."""
    with subprocess.Popen(
        [sys.executable, "-c", _HOLD_WRITE_LOCK, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as holder:
        assert holder.stdin is not None
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"locked\n"
        yield
        holder.stdin.close()  # ends the holder, and with it the lock


_HOLD_WRITE_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
"""


async def test_a_write_locked_sqlite_store_is_a_503_within_seconds_and_passes(
    broker_settings: Callable[..., Settings],
) -> None:
    settings = broker_settings()
    async with running_api(settings) as http, running_worker(settings):
        api = ApiClient(http)
        before = await api.submit(jpeg_bytes(), THUMB)
        with sqlite_write_lock(settings.data_dir / "jobs.db"):
            started_at = time.monotonic()
            refused = await api.post_job(jpeg_bytes(), THUMB)
            waited = time.monotonic() - started_at
            ready = await http.get("/readyz")
            status = await http.get(f"/v1/jobs/{before}")
        originals = files_in(settings.data_dir / "originals")
        after = await api.submit(jpeg_bytes(), THUMB)
        result = await api.tally([before, after])
    assert_unavailable(refused, "store-unavailable")
    assert waited < 5
    assert ready.status_code == 503
    assert ready.json()["checks"]["store"] == "locked"
    assert status.status_code == 200  # reads go on beside a writer
    assert [path.name for path in originals] == [before]
    assert result == Tally(submitted=2, succeeded=2, failed=0, lost=0)


async def test_a_stopped_postgresql_is_a_503_and_the_api_recovers_by_itself(
    private_postgres: PrivatePostgres, broker_settings: Callable[..., Settings]
) -> None:
    settings = broker_settings(database_url=private_postgres.url)
    async with running_api(settings) as http:
        api = ApiClient(http)
        before = sorted([await api.submit(jpeg_bytes(), THUMB) for _ in range(3)])
        up = await scrape(http)
        await private_postgres.stop()
        started_at = time.monotonic()
        refused = await api.post_job(jpeg_bytes(), THUMB)
        waited = time.monotonic() - started_at
        status = await http.get(f"/v1/jobs/{before[0]}")
        ready = await http.get("/readyz")
        down = await scrape(http)
        originals = files_in(settings.data_dir / "originals")

        async def all_rendered() -> bool:
            return all((settings.data_dir / manifest_key(UUID(job))).exists() for job in before)

        # The jobs run while the store is down; their events wait in the broker.
        async with running_worker(settings):
            await wait_for(all_rendered, within=30, what="the jobs to run without the store")
            await private_postgres.start()
            await wait_for(api.is_ready, within=30, what="the API to see PostgreSQL again")
            after = [await api.submit(jpeg_bytes(), THUMB) for _ in range(3)]
            result = await api.tally([*before, *after])
            back = await scrape(http)
    assert_unavailable(refused, "store-unavailable")
    assert_unavailable(status, "store-unavailable")
    assert waited < 5
    assert ready.status_code == 503
    assert ready.json()["checks"]["store"] == "unreachable"
    assert [path.name for path in originals] == before
    assert result == Tally(submitted=6, succeeded=6, failed=0, lost=0)
    # The job figures an autoscaler reads go missing while the store is down (KEDA then keeps
    # the workers it has), rather than staying at their last values; the rest is still served.
    assert up.value("resize_jobs_current", status="queued") == 3
    assert "resize_jobs_current" not in down.names()
    assert "resize_oldest_queued_seconds" not in down.names()
    assert down.value("resize_submits_total", outcome="store-unavailable") == 1
    assert back.value("resize_jobs_current", status="succeeded") == 6
