"""Both processes started as an operator would (`python -m`), driven over real HTTP."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.client import ApiClient
from tests.images import jpeg_bytes, load
from tests.s3 import Bucket, storage_settings
from tests.support import free_port, service_env, started, stop, wait_for

THUMB = [{"name": "thumb", "width": 300, "format": "webp"}]


def nice_values(pid: int) -> set[int]:
    """The nice value of each thread of a process (field 19 of its stat)."""
    return {
        int((task / "stat").read_text().rpartition(")")[2].split()[16])
        for task in Path(f"/proc/{pid}/task").iterdir()
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """The job store: SQLite in DATA_DIR (None), or a database of its own on PostgreSQL."""
    return None if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


@pytest.mark.timeout(120)
async def test_upload_poll_and_download_through_both_processes(
    broker_settings: Callable[..., Settings],
    tmp_path: Path,
    database_url: str | None,
    each_storage: Bucket | None,
) -> None:
    port = free_port()
    settings = broker_settings(
        port=port,
        worker_concurrency=2,
        database_url=database_url,
        **storage_settings(each_storage),
    )
    env = service_env(settings)
    api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
    with (
        started("producer_service", env, api_log) as api,
        started("worker_service", env, worker_log) as worker,
    ):
        async with ApiClient.at(port) as client:
            await wait_for(client.is_ready, within=30, what="the API to be ready")
            response = await client.post_job(jpeg_bytes(1200, 800), THUMB)
            assert response.status_code == 202, response.text
            assert response.headers["location"] == f"/v1/jobs/{response.json()['id']}"
            job = await client.finished(response.json()["id"])
            assert job["status"] == "succeeded", job
            assert job["attempts"] == 1
            (thumb,) = job["outputs"]
            image = await client.http.get(thumb["url"])
        assert (thumb["width"], thumb["height"]) == (300, 200)
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/webp"
        assert len(image.content) == thumb["size_bytes"]
        assert load(image.content).width == 300
        job_id = job["id"]
        kept = [
            f"originals/{job_id}",
            *(f"outputs/{job_id}/{n}" for n in ("manifest.json", "thumb.webp")),
        ]
        on_disk = sorted(
            path.relative_to(settings.data_dir).as_posix()
            for folder in ("originals", "outputs")
            for path in (settings.data_dir / folder).rglob("*")
            if path.is_file()
        )
        if each_storage is None:
            assert on_disk == kept
        else:  # every file in the bucket under its prefix, none on local disk
            bucket = each_storage
            assert sorted(await bucket.keys()) == [f"{bucket.prefix}/{key}" for key in kept]
            assert on_disk == []

        # Every thread of the worker, libvips' too, yields the CPU to the API's.
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert nice_values(worker.pid) == {max(ours, Settings().worker_nice)}
        assert nice_values(api.pid) == {ours}

        stop(worker, worker_log)
        stop(api, api_log)
