"""The API run by uvicorn in several processes, as docs/operations.md says: /metrics adds up
all of them."""

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from shared.settings import Settings
from tests.client import ApiClient
from tests.images import jpeg_bytes
from tests.scrape import scrape
from tests.support import ROOT, free_port, service_env, started, stop, wait_for

PROCESSES = 2


def uvicorn_options(port: int) -> Callable[[list[str]], list[str]]:
    def wrap(command: list[str]) -> list[str]:
        return [
            *command,
            *("--factory", "producer_service.asgi:app", "--workers", str(PROCESSES)),
            *("--http", "producer_service.api.server:BoundedHeadProtocol"),
            *("--host", "127.0.0.1", "--port", str(port)),
        ]

    return wrap


def writers(directory: Path) -> set[str]:
    """The processes that have written metrics (prometheus_client names files `<type>_<pid>`)."""
    return {path.stem.rpartition("_")[2] for path in directory.glob("*.db")}


@pytest.mark.timeout(120)
async def test_metrics_add_up_every_process_of_the_api(
    broker_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    port, metrics_dir, log = free_port(), tmp_path / "metrics", tmp_path / "api.log"
    metrics_dir.mkdir()
    settings = broker_settings(log_format="json")
    settings.data_dir.mkdir()
    env = service_env(settings) | {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    # Migrated once before: processes starting together on one SQLite file would race to.
    migrate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "producer_service", "migrate", cwd=ROOT, env=env
    )
    assert await migrate.wait() == 0
    with started("uvicorn", env, log, wrap=uvicorn_options(port)) as api:
        # A connection per request, so the kernel hands them to either process.
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=httpx.Limits(max_keepalive_connections=0)
        ) as http:
            client = ApiClient(http)
            await wait_for(client.is_ready, within=30, what="the API to be ready")

            async def accepted() -> str | None:
                # /readyz spoke for one process; the other may still be reaching the broker,
                # and a client sends a 503 again, as its Retry-After says.
                response = await client.post_job(jpeg_bytes())
                assert response.status_code in (202, 503), response.text
                return str(response.json()["id"]) if response.status_code == 202 else None

            job_id = await wait_for(accepted, within=30, what="a submit to be accepted")
            sent = 0

            async def both_processes_served() -> bool:
                nonlocal sent
                assert (await http.get("/healthz")).status_code == 200
                sent += 1
                return len(writers(metrics_dir)) == PROCESSES

            await wait_for(both_processes_served, what="both processes to answer")
            scrapes = [await scrape(http) for _ in range(6)]
        stop(api, log)
    for metrics in scrapes:
        assert metrics.value("http_requests_total", route="/healthz", status="200") == sent
        assert metrics.value("resize_submits_total", outcome="accepted") == 1
        assert metrics.value("resize_publish_confirm_seconds_count", outcome="confirmed") == 1
        # Read from the store by whichever process answered, never added up across them.
        assert metrics.value("resize_jobs_current", status="queued") == 1
        # Per-process figures would describe whichever process answered: left out.
        assert "process_cpu_seconds_total" not in metrics.names()
    # The app factory configures logging from the settings as `python -m` does: LOG_FORMAT too.
    ours = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert {"message": "accepted with 2 variants", "job_id": job_id} in [
        {"message": line["message"], "job_id": line.get("job_id")} for line in ours
    ]
