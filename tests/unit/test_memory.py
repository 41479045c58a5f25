"""What a job is expected to hold, the budget a worker's jobs share, and the job that needs
more than all of it."""

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
import pyvips

from shared.geometry import Size
from shared.images import ImageHeader, TooMuchMemory, check_outputs, read_header
from shared.job_memory import JOB_OVERHEAD, MIB, decode_bytes, encode_bytes, job_bytes
from shared.schemas import ErrorCode
from shared.variants import OutputFormat, SourceFormat, Variant
from tests.images import LIMITS, photo, write
from worker_service.memory import MemoryBudget

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


# Measured at 40 MP (docs/benchmarks.md, section `encoders`): the peak RSS beyond the decoded
# image, in bytes an output pixel, opaque and with alpha. The estimate must never be below it.
MEASURED = {
    OutputFormat.AVIF: (22.5, 34.0),
    OutputFormat.WEBP: (7.9, 14.6),
    OutputFormat.JPEG: (6.2, 6.2),
    OutputFormat.PNG: (4.1, 4.9),
}
TINY = ImageHeader(SourceFormat.PNG, 64, 64, 1)
TINY_ALPHA = ImageHeader(SourceFormat.PNG, 64, 64, 1, bands=4)


def big(fmt: OutputFormat, side: int = 4000, name: str = "big") -> Variant:
    return Variant(name=name, width=side, height=side, format=fmt, upscale=True)


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_a_small_source_asking_for_a_large_output_reserves_its_encoder(fmt: OutputFormat) -> None:
    pixels = 4000 * 4000
    for header, measured in zip((TINY, TINY_ALPHA), MEASURED[fmt], strict=True):
        encoder = encode_bytes(header, [big(fmt)])
        assert encoder >= pixels * measured
        # With the margin, not wildly more: a quarter and a bit, or twice PNG's largest file.
        assert encoder <= pixels * max(measured * 1.6, 10)
        # Linear in the output's pixels.
        assert encode_bytes(header, [big(fmt, 2000)]) * 4 == encoder
        assert job_bytes(header, [big(fmt)]) > encoder + JOB_OVERHEAD


def test_whole_frame_encoders_cost_most_and_alpha_costs_them_more() -> None:
    opaque = {fmt: encode_bytes(TINY, [big(fmt)]) for fmt in OutputFormat}
    assert opaque[OutputFormat.AVIF] > opaque[OutputFormat.WEBP] > opaque[OutputFormat.PNG]
    for fmt in (OutputFormat.AVIF, OutputFormat.WEBP):
        assert encode_bytes(TINY_ALPHA, [big(fmt)]) > 1.4 * opaque[fmt]
    # JPEG has no alpha: it is flattened first.
    assert encode_bytes(TINY_ALPHA, [big(OutputFormat.JPEG)]) == opaque[OutputFormat.JPEG]


def test_outputs_made_before_a_variant_are_counted_beside_its_encoder() -> None:
    png, avif = big(OutputFormat.PNG, name="png"), big(OutputFormat.AVIF, name="avif")
    alone = job_bytes(TINY, [avif])
    assert job_bytes(TINY, [avif, png]) == alone
    assert job_bytes(TINY, [png, avif]) > alone + 4000 * 4000 * 2.9


def test_a_source_decoded_whole_reserves_its_decode_when_that_is_the_larger(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "p.jpg", bytes(flat(SIDE).jpegsave_buffer(interlace=True)))
    header = read_header(path)
    thumb = [Variant(name="t", width=THUMB.width, height=THUMB.height)]
    assert job_bytes(header, thumb) == decode_bytes(header, THUMB)
    full = [big(OutputFormat.AVIF, SIDE)]
    assert job_bytes(header, full) > decode_bytes(header, Size(SIDE, SIDE))


def test_a_job_needing_more_than_the_whole_budget_is_refused_with_the_figures() -> None:
    # 40 MP of AVIF: within MAX_OUTPUT_PIXELS, but its encoder alone holds about 1 GiB, more
    # than the default WORKER_MEMORY_MB.
    avif = [Variant(name="a", width=6324, height=6324, format=OutputFormat.AVIF, upscale=True)]
    with pytest.raises(TooMuchMemory) as refused:
        check_outputs(avif, TINY, LIMITS)
    assert refused.value.code is ErrorCode.TOO_MUCH_MEMORY
    assert f"about {job_bytes(TINY, avif) // MIB} MiB" in str(refused.value)
    assert "may hold 1024 MiB together (WORKER_MEMORY_MB)" in str(refused.value)
    # As WebP it fits; so does the AVIF in a budget of its size.
    check_outputs([avif[0].model_copy(update={"format": OutputFormat.WEBP})], TINY, LIMITS)
    check_outputs(avif, TINY, replace(LIMITS, memory_bytes=job_bytes(TINY, avif)))


async def _settle() -> None:
    """Let every task run until it blocks."""
    for _ in range(5):
        await asyncio.sleep(0)


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
    # The large one waits for memory, the small one for its turn behind it, though 400 bytes
    # are free.
    await _settle()
    assert order == ["first"]
    release_first.set()
    await first
    with pytest.raises(RuntimeError):
        await large
    await small
    assert order == ["first", "large", "small"]
    assert budget.free == 1000
