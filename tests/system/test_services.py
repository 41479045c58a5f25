"""Both processes started as an operator would (`python -m`), driven over real HTTP."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from shared.settings import Settings
from tests.images import jpeg_bytes, load

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(settings: Settings, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "AMQP_URL": settings.amqp_url,
        "QUEUE_NAME": settings.queue_name,
        "DATA_DIR": str(settings.data_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKER_CONCURRENCY": "2",
        "SHUTDOWN_TIMEOUT_SECONDS": "10",
    }


@contextmanager
def started(module: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", module], cwd=ROOT, env=env, stdout=output, stderr=output
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def poll(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=30)
    assert code == 0, log.read_text()


@pytest.mark.timeout(120)
def test_upload_poll_and_download_through_both_processes(
    broker: Settings, tmp_path: Path
) -> None:
    port = free_port()
    env = service_env(broker, port)
    api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
    base = f"http://127.0.0.1:{port}"
    with (
        started("producer_service", env, api_log) as api,
        started("worker_service", env, worker_log) as worker,
        httpx.Client(base_url=base, timeout=10) as client,
    ):

        def ready() -> bool:
            try:
                return client.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        poll(ready, 30, "the API to be ready")
        response = client.post(
            "/v1/jobs",
            files={"file": ("cat.jpg", jpeg_bytes(1200, 800), "image/jpeg")},
            data={"variants": '[{"name": "thumb", "width": 300, "format": "webp"}]'},
        )
        assert response.status_code == 202, response.text
        location = response.headers["location"]

        def finished() -> bool:
            return client.get(location).json()["status"] in ("succeeded", "failed")

        poll(finished, 30, "the job to finish")
        job = client.get(location).json()
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 1
        (thumb,) = job["outputs"]
        assert (thumb["width"], thumb["height"]) == (300, 200)
        image = client.get(thumb["url"])
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/webp"
        assert len(image.content) == thumb["size_bytes"]
        assert load(image.content).width == 300

        stop(worker, worker_log)
        stop(api, api_log)
