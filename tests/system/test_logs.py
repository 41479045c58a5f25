"""Both services logging JSON (`LOG_FORMAT=json`), read as a log collector reads them: every
line one object, each line about a job with its id and attempt, the same id in both services,
libvips' warnings about a broken upload among them, and no secret anywhere."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from shared.settings import Settings
from tests.client import ApiClient
from tests.images import jpeg_bytes
from tests.support import free_port, json_lines, service_env, started, stop, wait_for

THUMB = [{"name": "thumb", "width": 300, "format": "webp"}]
KEY = "logs-test-key-5c2e91d0"
Entry = dict[str, Any]


def about(entries: list[Entry], job_id: str) -> list[Entry]:
    return [entry for entry in entries if entry.get("job_id") == job_id]


def said(entries: list[Entry], logger: str) -> list[tuple[str, int | None]]:
    return [(e["message"], e.get("attempt")) for e in entries if e["logger"] == logger]


@pytest.mark.timeout(120)
async def test_json_logs_of_both_services_carry_each_jobs_id_and_attempt(
    broker_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    port = free_port()
    settings = broker_settings(port=port, log_format="json", api_keys=SecretStr(KEY))
    env = service_env(settings)
    api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
    with (
        started("producer_service", env, api_log) as api,
        started("worker_service", env, worker_log) as worker,
    ):
        async with ApiClient.at(port) as client:
            client.http.headers["Authorization"] = f"Bearer {KEY}"
            await wait_for(client.is_ready, within=30, what="the API to be ready")
            photo = jpeg_bytes(1200, 800)
            good = await client.submit(photo, THUMB)
            assert (await client.finished(good))["status"] == "succeeded"
            # One at a time, so a warning from libvips' own threads is known to be this job's.
            truncated = await client.submit(photo[: len(photo) * 2 // 3], THUMB)
            assert (await client.finished(truncated))["status"] == "failed"
        stop(worker, worker_log)
        stop(api, api_log)
    api_lines, worker_lines = json_lines(api_log), json_lines(worker_log)
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in api_lines + worker_lines)

    assert said(about(worker_lines, good), "worker_service.handler") == [
        ("processing", 1),
        ("succeeded", 1),
    ]
    assert said(about(api_lines, good), "producer_service.jobs") == [
        ("accepted with 1 variants", 1)
    ]
    assert said(about(api_lines, good), "producer_service.consumers.events") == [
        ("event processing applied", 1),
        ("event succeeded applied", 1),
    ]
    assert said(about(api_lines, good), "uvicorn.access")  # polling GET /v1/jobs/{id}

    warnings = [e for e in worker_lines if e["logger"] == "pyvips"]
    assert warnings
    assert all(e["level"] == "WARNING" for e in warnings)
    assert all((e.get("job_id"), e.get("attempt")) == (truncated, 1) for e in warnings)
    failed = said(about(worker_lines, truncated), "worker_service.handler")
    assert [attempt for message, attempt in failed if message.startswith("failed: ")] == [1]

    output = api_log.read_text() + worker_log.read_text()
    assert KEY not in output
    assert "guest:guest" not in output
