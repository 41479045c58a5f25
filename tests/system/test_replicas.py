"""Two API processes and three workers on one broker and one PostgreSQL, as replicas run in
production: every job finishes once, either API tells its status and events, and killing one
API (SIGKILL) loses nothing it accepted."""

import json
import signal
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.client import ApiClient, Tally
from tests.images import jpeg_bytes
from tests.support import free_port, service_env, started, wait_for

THUMB = [{"name": "thumb", "width": 200, "format": "webp"}]


def succeeded_lines(logs: list[Path]) -> Counter[str]:
    """How often the workers' JSON logs say each job succeeded."""
    lines = (json.loads(line) for log in logs for line in log.read_text().splitlines())
    return Counter(
        line["job_id"]
        for line in lines
        if line["logger"] == "worker_service.handler" and line["message"] == "succeeded"
    )


@pytest.mark.timeout(180)
async def test_jobs_finish_once_through_either_api_and_a_killed_api_loses_nothing(
    broker_settings: Callable[..., Settings], postgres_url: str, tmp_path: Path
) -> None:
    settings = broker_settings(database_url=postgres_url, worker_concurrency=2, log_format="json")
    ports = [free_port(), free_port()]
    worker_logs = [tmp_path / f"worker-{n}.log" for n in range(3)]
    with ExitStack() as processes:
        apis = [
            processes.enter_context(
                started(
                    "producer_service",
                    service_env(settings.model_copy(update={"port": port})),
                    tmp_path / f"api-{port}.log",
                )
            )
            for port in ports
        ]
        for log in worker_logs:
            processes.enter_context(started("worker_service", service_env(settings), log))
        async with ApiClient.at(ports[0]) as doomed, ApiClient.at(ports[1]) as survivor:
            for client in (doomed, survivor):
                await wait_for(client.is_ready, within=30, what="both APIs to be ready")
            big = jpeg_bytes(2400, 1600)  # slow enough that jobs are running at the kill
            ids = [await api.submit(big, THUMB) for api in (doomed, survivor) * 6]
            apis[0].send_signal(signal.SIGKILL)
            apis[0].wait()
            ids += [await survivor.submit(big, THUMB) for _ in range(6)]

            assert await survivor.tally(ids, within=120) == Tally(18, 18, 0, 0)
            jobs = await survivor.jobs(ids)
            events = await survivor.events(ids[0])  # submitted through the killed API
    assert {job["attempts"] for job in jobs} == {1}
    assert [event.job["status"] for event in events] == ["succeeded"]
    assert succeeded_lines(worker_logs) == Counter(ids)
