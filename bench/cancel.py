"""Cancel latency (not part of `make bench`): how soon a cancelled running job frees its worker
slot, and how soon the job queued behind it starts. The API and one worker run as an operator
starts them (`bench.deployment`), the worker with WORKER_CONCURRENCY=1:

    .venv/bin/python -m bench.cancel [--rounds 20] [--amqp-url URL]

Each round submits a slow job (a 4000x3000 JPEG into four 3000 px WebPs: seconds of libvips)
and a small one behind it, waits until the slow one is processing, lets it run 0.5 s, and
cancels it. From the cancel's `202`: *slot free* is when the worker's
`resize_jobs_total{outcome="cancelled"}` (its METRICS_PORT, scraped every 5 ms) counts it, *next
started* is when the small job is seen `processing` or later (polled every 5 ms).
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx
import pyvips

from bench.deployment import deployed
from bench.errors import BenchError

SLOW = [{"name": f"big{n}", "width": 3000, "format": "webp", "quality": 90} for n in range(4)]
SMALL = [{"name": "thumb", "width": 64, "format": "webp"}]
POLL_SECONDS = 0.005
RUNNING_BEFORE_CANCEL = 0.5
CANCELLED = 'resize_jobs_total{outcome="cancelled"}'


def photo(width: int, height: int) -> bytes:
    noise = pyvips.Image.gaussnoise(width, height, sigma=40, mean=128, seed=7).cast("uchar")
    image = noise.bandjoin([noise.rot180(), noise.fliphor()]).copy(interpretation="srgb")
    return bytes(image.jpegsave_buffer(Q=85))


async def until(check: Callable[[], Awaitable[bool]], within: float = 60) -> float:
    """Poll `check` until true; the monotonic time it first was."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return time.monotonic()
        await asyncio.sleep(POLL_SECONDS)
    raise BenchError(f"waited {within:.0f} s in vain")


async def submit(http: httpx.AsyncClient, image: bytes, variants: list[dict[str, object]]) -> str:
    files = {"file": ("photo.jpg", image, "image/jpeg")}
    response = await http.post("/v1/jobs", files=files, data={"variants": json.dumps(variants)})
    if response.status_code != 202:
        raise BenchError(f"submit refused: {response.status_code} {response.text}")
    return str(response.json()["id"])


async def status(http: httpx.AsyncClient, job_id: str) -> str:
    return str((await http.get(f"/v1/jobs/{job_id}")).json()["status"])


async def cancelled_count(metrics: httpx.AsyncClient) -> float:
    for line in (await metrics.get("/metrics")).text.splitlines():
        if line.startswith(CANCELLED):
            return float(line.split()[-1])
    return 0.0


async def one_round(
    http: httpx.AsyncClient, metrics: httpx.AsyncClient, big: bytes, small: bytes, done: int
) -> tuple[float, float]:
    """Seconds from the cancel's 202 to the slot free, and to the next job started."""
    slow = await submit(http, big, SLOW)
    behind = await submit(http, small, SMALL)
    await until(lambda: _is(http, slow, "processing"))
    await asyncio.sleep(RUNNING_BEFORE_CANCEL)
    response = await http.post(f"/v1/jobs/{slow}/cancel")
    answered = time.monotonic()
    if response.status_code != 202:
        raise BenchError(f"cancel refused: {response.status_code} {response.text}")

    async def freed() -> bool:
        return await cancelled_count(metrics) > done

    async def started() -> bool:
        return await status(http, behind) in ("processing", "succeeded")

    slot, nxt = await asyncio.gather(until(freed), until(started))
    await until(lambda: _is(http, behind, "succeeded"))
    return slot - answered, nxt - answered


async def _is(http: httpx.AsyncClient, job_id: str, wanted: str) -> bool:
    return await status(http, job_id) == wanted


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _line(name: str, seconds: list[float]) -> str:
    ms = sorted(1000 * s for s in seconds)
    p90 = ms[max(0, round(0.9 * len(ms)) - 1)]
    return (
        f"{name:<14} median {statistics.median(ms):6.0f} ms   p90 {p90:6.0f} ms   "
        f"max {ms[-1]:6.0f} ms   ({len(ms)} rounds)"
    )


async def main(rounds: int, amqp_url: str) -> None:
    port = _free_port()
    overrides = {"worker_concurrency": "1", "metrics_port": str(port)}
    big, small = photo(4000, 3000), photo(640, 480)
    async with (
        deployed(amqp_url, overrides, {}) as deployment,
        httpx.AsyncClient(base_url=deployment.base_url, timeout=30) as http,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as metrics,
    ):
        await until(lambda: _answers(metrics))
        figures = [await one_round(http, metrics, big, small, done) for done in range(rounds)]
    print(_line("slot free", [slot for slot, _ in figures]))  # noqa: T201
    print(_line("next started", [nxt for _, nxt in figures]))  # noqa: T201


async def _answers(metrics: httpx.AsyncClient) -> bool:
    try:
        return (await metrics.get("/metrics")).status_code == 200
    except httpx.TransportError:
        return False


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--amqp-url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds, arguments.amqp_url))
