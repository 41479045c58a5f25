"""What a job's decode is expected to hold, and the budget a worker's jobs share."""

import asyncio
from pathlib import Path

import pytest
import pyvips

from shared.geometry import Size
from shared.images import read_header
from shared.schemas import ErrorCode
from tests.images import photo, write
from worker_service.errors import PermanentFailure
from worker_service.memory import JOB_OVERHEAD, MIB, MemoryBudget, decode_bytes

SIDE = 2000
THUMB = Size(320, 320)


def flat(side: int) -> pyvips.Image:
    return pyvips.Image.black(side, side, bands=3).copy(interpretation="srgb")


@pytest.mark.parametrize(
    ("name", "save", "whole"),
    [
        ("baseline.jpg", lambda image: image.jpegsave_buffer(), False),
        ("progressive.jpg", lambda image: image.jpegsave_buffer(interlace=True), True),
        ("plain.png", lambda image: image.pngsave_buffer(), False),
        ("interlaced.png", lambda image: image.pngsave_buffer(interlace=True), True),
        ("tiled.tif", lambda image: image.tiffsave_buffer(tile=True), False),
        ("frame.gif", lambda image: image.gifsave_buffer(), True),
    ],
)
def test_only_sources_decoded_whole_cost_memory_for_their_full_size(
    tmp_path: Path, name: str, save: object, whole: bool
) -> None:
    path = write(tmp_path / name, bytes(save(flat(SIDE))))  # type: ignore[operator]
    needed = decode_bytes(read_header(path), THUMB)
    full = SIDE * SIDE * 3
    if whole:
        assert needed > full
    else:
        assert needed < THUMB.width * THUMB.height * 3 + JOB_OVERHEAD + 1


def test_a_sixteen_bit_source_counts_two_bytes_a_sample(tmp_path: Path) -> None:
    image = (photo(SIDE, SIDE).cast("ushort") * 257).cast("ushort").copy(interpretation="rgb16")
    path = write(tmp_path / "deep.png", bytes(image.pngsave_buffer(interlace=True)))
    eight_bit = write(tmp_path / "shallow.png", bytes(flat(SIDE).pngsave_buffer(interlace=True)))
    deep, shallow = (decode_bytes(read_header(p), THUMB) for p in (path, eight_bit))
    assert deep - JOB_OVERHEAD > 1.9 * (shallow - JOB_OVERHEAD)


async def test_a_job_needing_more_than_the_whole_budget_fails_at_once() -> None:
    budget = MemoryBudget(100 * MIB)
    with pytest.raises(PermanentFailure) as caught:
        async with budget.reserve(101 * MIB):
            pass
    assert caught.value.code is ErrorCode.TOO_MANY_PIXELS
    assert "WORKER_MEMORY_MB" in caught.value.message
    assert budget.free == 100 * MIB


async def test_jobs_wait_for_their_share_in_turn_and_get_it_back_on_failure() -> None:
    budget = MemoryBudget(1000)
    order: list[str] = []
    release_first = asyncio.Event()

    async def job(name: str, amount: int, until: asyncio.Event | None = None) -> None:
        async with budget.reserve(amount):
            order.append(name)
            if until is not None:
                await until.wait()
            if name == "large":
                raise RuntimeError("the job failed")

    first = asyncio.create_task(job("first", 600, release_first))
    large = asyncio.create_task(job("large", 600))
    small = asyncio.create_task(job("small", 100))
    # Let every task run until it blocks: the large one waits for memory, the small one for
    # its turn behind it, though 400 bytes are free.
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == ["first"]
    release_first.set()
    await first
    with pytest.raises(RuntimeError):
        await large
    await small
    assert order == ["first", "large", "small"]
    assert budget.free == 1000
