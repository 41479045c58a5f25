"""Decompression bombs and their kin, each sent to a worker with the default limits, one at a
time, with the worker's peak RSS (VmHWM, reset before each) read once its job has ended.

The API of this section's own deployment takes any size (its limits are raised), so every bomb
reaches the worker, as a task published by another road would: what is measured is the worker
refusing from the header, failing on the pixels, or resizing what its limits let through. The
costliest sources under the limit are the ones libvips cannot stream: an interlaced PNG and a
progressive JPEG are decoded whole (about 4 bytes a pixel), whatever the output size.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyvips

from bench.client import ServiceClient, Upload
from bench.proc import reset_peak, status_mib
from bench.workloads import JOB_VARIANTS, variants_json
from shared.images import Limits

# The worker's limits are the defaults; the API's are raised past anything a bomb claims.
OPEN_API = {
    "max_input_pixels": str(10**12),
    "max_input_pages": str(10**9),
    "max_upload_bytes": str(2**31),
}


@dataclass(frozen=True)
class Bomb:
    name: str
    data: bytes


@dataclass(frozen=True)
class Detonation:
    bomb: Bomb
    # "succeeded", or "failed: <error code>"
    outcome: str
    rss_before_mib: float
    peak_mib: float


def flat(side: int) -> Any:
    """One colour, so the file is tiny however many pixels it holds."""
    return pyvips.Image.black(side, side, bands=3).copy(interpretation="srgb")


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def make_bombs(limits: Limits, side: int | None = None) -> list[Bomb]:
    """Sources of `side` pixels square (default: the largest the limits let through), and two
    over the limits."""
    side = side or math.isqrt(limits.input_pixels)
    over = math.isqrt(limits.input_pixels) + 1000
    interlaced = bytes(flat(side).pngsave_buffer(compression=9, interlace=True))
    progressive = bytes(flat(side).jpegsave_buffer(Q=50, interlace=True))
    # Each frame unlike the last, or the encoder would merge them.
    frames = (pyvips.Image.xyz(1, limits.input_pages + 1)[1] % 2 * 255).cast("uchar")
    frames = frames.copy(interpretation="b-w")
    frames.set_type(pyvips.GValue.gint_type, "page-height", 1)
    builders: list[tuple[str, Callable[[], bytes]]] = [
        (f"PNG {over}x{over}, over MAX_INPUT_PIXELS", lambda: bytes(flat(over).pngsave_buffer())),
        (
            f"GIF of {limits.input_pages + 1} frames, over MAX_INPUT_PAGES",
            lambda: bytes(frames.gifsave_buffer()),
        ),
        (
            f"PNG {side}x{side}, cut in half",
            lambda: _half(bytes(flat(side).pngsave_buffer(compression=9))),
        ),
        (f"interlaced PNG {side}x{side}, cut in half", lambda: _half(interlaced)),
        (f"progressive JPEG {side}x{side}, cut in half", lambda: _half(progressive)),
        (f"interlaced PNG {side}x{side}", lambda: interlaced),
        (f"progressive JPEG {side}x{side}", lambda: progressive),
    ]
    return [Bomb(name, build()) for name, build in builders]


def decoded_whole(bombs: list[Bomb]) -> list[Bomb]:
    """The valid bombs libvips must decode whole: the costliest a worker accepts."""
    return [
        bomb
        for bomb in bombs
        if bomb.name.startswith(("interlaced", "progressive")) and "cut" not in bomb.name
    ]


async def detonate(client: ServiceClient, pid: int, bombs: list[Bomb]) -> list[Detonation]:
    """Each bomb as one job of the corpus variants, alone on the worker."""
    results = []
    for bomb in bombs:
        reset_peak(pid)
        before = status_mib(pid, "VmRSS")
        job = await client.finished(await client.submit(_upload(bomb)))
        outcome = str(job["status"])
        if job["error"] is not None:
            outcome += f": {job['error']['code']}"
        results.append(Detonation(bomb, outcome, before, status_mib(pid, "VmHWM")))
    return results


async def salvo(client: ServiceClient, pid: int, bombs: list[Bomb], copies: int) -> float:
    """`copies` of each bomb submitted at once; the worker's peak RSS (MiB) until all ended."""
    reset_peak(pid)
    uploads = [_upload(bomb) for bomb in bombs for _ in range(copies)]
    ids = await client.submit_all(uploads, len(uploads))
    for job_id in ids:
        await client.finished(job_id)
    return status_mib(pid, "VmHWM")


def _upload(bomb: Bomb) -> Upload:
    return Upload("bomb", bomb.data, variants_json(JOB_VARIANTS))
