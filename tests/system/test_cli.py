"""`python -m producer_service.cli submit` against the API and a worker started with `python -m`."""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import pyvips

from shared.settings import Settings
from shared.topology import Topology
from tests.client import ApiClient
from tests.images import jpeg_bytes, png_with_alpha, undecodable_png, write
from tests.scrape import Scrape
from tests.support import (
    ROOT,
    TEST_AMQP_URL,
    delete_queues,
    free_port,
    make_settings,
    require_broker,
    service_env,
    started,
    stop,
    wait_for,
)

KEY = "cli-test-key"
VARIANTS = [
    {"name": "small", "width": 64, "format": "png"},
    {"name": "square", "width": 32, "height": 32, "fit": "cover", "format": "webp"},
]


async def wait_until_ready(port: int) -> None:
    async with ApiClient.at(port) as client:
        await wait_for(client.is_ready, within=30, what="the API to be ready")


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API (with one API key) and a worker, started once for the runs of this module."""
    folder = tmp_path_factory.mktemp("services")
    settings = make_settings(folder, port=free_port(), worker_concurrency=2, api_keys=KEY)
    asyncio.run(require_broker(TEST_AMQP_URL))
    try:
        yield from serve(settings, folder)
    finally:
        asyncio.run(delete_queues(TEST_AMQP_URL, Topology.from_settings(settings)))


def serve(settings: Settings, folder: Path) -> Iterator[str]:
    env = service_env(settings)
    api_log, worker_log = folder / "api.log", folder / "worker.log"
    with (
        started("producer_service", env, api_log) as api,
        started("worker_service", env, worker_log) as worker,
    ):
        asyncio.run(wait_until_ready(settings.port))
        yield f"http://127.0.0.1:{settings.port}"
        stop(worker, worker_log)
        stop(api, api_log)


def run_cli(*arguments: str | Path, key_variable: str | None = None) -> tuple[int, str]:
    """The CLI's exit status and what it printed, as a pipe (no terminal) sees it."""
    env = {name: value for name, value in os.environ.items() if name != "IMAGE_RESIZE_API_KEY"}
    # One line per row of the summary, however long the test's folder path is (the table folds
    # a path that does not fit, and a pytest-xdist worker's tmp path is longer).
    env["COLUMNS"] = "1000"
    if key_variable is not None:
        env["IMAGE_RESIZE_API_KEY"] = key_variable
    done = subprocess.run(
        [sys.executable, "-m", "producer_service.cli", "submit", *map(str, arguments)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def row(summary: str, name: str) -> str:
    (line,) = [line for line in summary.splitlines() if name in line]
    return line


def image(path: Path) -> tuple[str, int, int]:
    """The loader libvips picks for the file (so its real format), and its size."""
    loaded = pyvips.Image.new_from_file(str(path))
    return loaded.get("vips-loader"), loaded.width, loaded.height


def test_a_folder_is_resized_and_the_files_it_could_not_do_are_reported(
    api_url: str, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    for folder in ("a", "b", ".cache"):
        (photos / folder).mkdir(parents=True)
    write(photos / "a" / "photo.jpg", jpeg_bytes(640, 480))
    write(photos / "b" / "photo.png", png_with_alpha(300, 200))
    write(photos / "broken.png", undecodable_png())
    write(photos / "notes.txt", b"not an image")
    write(photos / ".cache" / "skipped.jpg", jpeg_bytes(64, 64))
    out = tmp_path / "out"

    status, printed = run_cli(
        photos, "--out", out, "--variants", json.dumps(VARIANTS), "--url", api_url, "--api-key", KEY
    )

    assert status == 1, printed
    assert "refused" in row(printed, "notes.txt")
    assert "415: The file is not an image" in row(printed, "notes.txt")
    assert "failed" in row(printed, "broken.png")
    assert "undecodable_image" in row(printed, "broken.png")
    assert "skipped" not in printed
    # Same stem: a/photo.jpg keeps `photo`, b/photo.png (later by path) gets `photo-2`.
    assert sorted(path.name for path in out.iterdir()) == ["photo", "photo-2"]
    assert image(out / "photo" / "small.png") == ("pngload", 64, 48)
    assert image(out / "photo" / "square.webp") == ("webpload", 32, 32)
    assert image(out / "photo-2" / "small.png") == ("pngload", 64, 43)
    assert image(out / "photo-2" / "square.webp") == ("webpload", 32, 32)
    assert "succeeded" in row(printed, "photo.png")
    assert str(out / "photo-2") in row(printed, "photo.png")


def test_a_run_where_every_job_succeeds_exits_0(api_url: str, tmp_path: Path) -> None:
    # A hidden file named on the command line is sent all the same.
    hidden = write(tmp_path / ".hidden.jpg", jpeg_bytes(640, 480))
    plain = write(tmp_path / "plain.png", png_with_alpha(300, 200))
    out = tmp_path / "out"

    status, printed = run_cli(hidden, plain, "--out", out, "--url", api_url, key_variable=KEY)

    assert status == 0, printed
    assert "2 files: 2 succeeded" in printed
    # The service's default variants: thumb (320 box, webp) and large (1600 box, jpeg).
    assert image(out / ".hidden" / "thumb.webp") == ("webpload", 320, 240)
    assert image(out / ".hidden" / "large.jpg") == ("jpegload", 640, 480)
    assert image(out / "plain" / "thumb.webp") == ("webpload", 300, 200)


def test_a_preset_names_the_variants(api_url: str, tmp_path: Path) -> None:
    photo = write(tmp_path / "face.jpg", jpeg_bytes(640, 480))
    out = tmp_path / "out"

    status, printed = run_cli(
        photo, "--preset", "avatar", "--out", out, "--url", api_url, key_variable=KEY
    )

    assert status == 0, printed
    assert sorted(path.name for path in (out / "face").iterdir()) == [
        "s128.webp",
        "s256.webp",
        "s64.webp",
    ]
    assert image(out / "face" / "s128.webp") == ("webpload", 128, 128)


def submits_answered(api_url: str) -> float:
    """How many `POST /v1/jobs` the API has answered, whatever the status."""
    metrics = Scrape.of(httpx.get(f"{api_url}/metrics"))
    return metrics.value("http_requests_total", method="POST", route="/v1/jobs")


@pytest.mark.parametrize("key", [None, "not-the-key"])
def test_a_key_the_api_refuses_stops_the_run_at_its_first_submit(
    api_url: str, tmp_path: Path, key: str | None
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for n in range(6):
        write(photos / f"photo{n}.jpg", jpeg_bytes(64, 64))
    before = submits_answered(api_url)

    with_key = () if key is None else ("--api-key", key)
    status, printed = run_cli(photos, "--out", tmp_path / "out", "--url", api_url, *with_key)

    assert status == 1
    assert "Stopped at the first 401 (401: " in printed
    assert "--api-key KEY or $IMAGE_RESIZE_API_KEY" in printed
    assert submits_answered(api_url) - before == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.timeout(60)
async def test_a_submit_answered_429_is_sent_again_after_its_retry_after(
    broker_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = broker_settings(port=free_port(), max_active_jobs_per_key=1)
    env = service_env(settings)
    api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
    cli_log, out = tmp_path / "cli.log", tmp_path / "out"
    photo = write(tmp_path / "photo.jpg", jpeg_bytes(64, 64))
    url = f"http://127.0.0.1:{settings.port}"

    def submit_photo(command: list[str]) -> list[str]:
        return [*command, "submit", str(photo), "--out", str(out), "--url", url]

    with started("producer_service", env, api_log):
        async with ApiClient.at(settings.port) as client:
            await wait_for(client.is_ready, within=30, what="the API to be ready")
            # With no worker yet, this job stays queued and holds the one active slot.
            blocker = await client.submit(jpeg_bytes(64, 64))
            with started("producer_service.cli", env, cli_log, submit_photo) as cli:
                await wait_for(refused_429(api_log), what="the CLI's submit to get a 429")
                with started("worker_service", env, worker_log):
                    status = await asyncio.to_thread(cli.wait, 30)
                    assert status == 0, cli_log.read_text()
                    assert (await client.job(blocker))["status"] == "succeeded"
                    listed = (await client.http.get("/v1/jobs")).json()["items"]
    assert len(listed) == 2  # the blocker and the CLI's one job, however often it was sent
    assert (out / "photo" / "thumb.webp").exists()


def refused_429(log: Path) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return '"POST /v1/jobs HTTP/1.1" 429' in await asyncio.to_thread(log.read_text)

    return check
