"""The storage contract, kept alike by every backend: files under DATA_DIR, an S3 bucket
(on moto's S3 server) and the in-memory fake (`storage` in conftest.py runs each test on each).
What a test passes against the fake, it passes against real files and a real S3 endpoint too."""

import asyncio
from pathlib import Path

import pytest

from shared.storage import NotFound, Storage


async def read_stream(storage: Storage, key: str) -> bytes:
    return b"".join([chunk async for chunk in storage.stream(key)])


async def test_what_is_put_reads_back_whole_and_in_chunks(storage: Storage) -> None:
    big = bytes(range(256)) * 1024  # several chunks
    await storage.put("outputs/a/big.webp", big)
    assert await storage.read("outputs/a/big.webp") == big
    assert await read_stream(storage, "outputs/a/big.webp") == big
    assert await storage.size("outputs/a/big.webp") == len(big)
    assert await storage.exists("outputs/a/big.webp")


async def test_a_put_replaces_the_object_and_leaves_nothing_else(storage: Storage) -> None:
    await storage.put("outputs/a/thumb.webp", b"old")
    await storage.put("outputs/a/thumb.webp", b"new")
    assert await storage.read("outputs/a/thumb.webp") == b"new"
    assert await storage.list("outputs/a/") == ["outputs/a/thumb.webp"]


async def test_a_missing_key_is_not_found_for_every_read(storage: Storage) -> None:
    assert not await storage.exists("originals/none")
    with pytest.raises(NotFound):
        await storage.read("originals/none")
    with pytest.raises(NotFound):
        await storage.size("originals/none")
    with pytest.raises(NotFound):
        await read_stream(storage, "originals/none")
    with pytest.raises(NotFound):
        async with storage.local_file("originals/none"):
            pass


async def test_deleting_removes_the_object_and_a_missing_one_is_fine(storage: Storage) -> None:
    await storage.put("originals/a", b"x")
    await storage.delete("originals/a")
    await storage.delete("originals/a")
    assert not await storage.exists("originals/a")


async def test_listing_and_deleting_by_prefix_touch_only_that_prefix(storage: Storage) -> None:
    for key in ["outputs/a/x.png", "outputs/a/y.png", "outputs/ab/z.png", "originals/a"]:
        await storage.put(key, b"1")
    assert await storage.list("outputs/a/") == ["outputs/a/x.png", "outputs/a/y.png"]
    assert await storage.list("outputs/a") == [
        "outputs/a/x.png",
        "outputs/a/y.png",
        "outputs/ab/z.png",
    ]
    assert await storage.list("nothing/") == []
    await storage.delete_prefix("outputs/a/")
    assert await storage.list("outputs/") == ["outputs/ab/z.png"]
    assert await storage.exists("originals/a")


async def test_put_file_keeps_the_file_under_its_key_and_consumes_it(
    storage: Storage, tmp_path: Path
) -> None:
    upload = tmp_path / "data" / "tmp" / "upload"  # where the API stages uploads
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"original")
    await storage.put_file("originals/a", upload)
    assert not upload.exists()
    assert await storage.read("originals/a") == b"original"


async def test_the_local_file_holds_the_object_while_the_block_runs(storage: Storage) -> None:
    await storage.put("originals/a", b"pixels")
    async with storage.local_file("originals/a") as path:
        assert await asyncio.to_thread(path.read_bytes) == b"pixels"


async def test_a_reader_never_sees_part_of_a_put(storage: Storage) -> None:
    old, new = b"o" * 300_000, b"n" * 300_000
    await storage.put("outputs/a/x.png", old)
    seen: set[bytes] = set()

    async def read_while_writing() -> None:
        for _ in range(50):
            seen.add(await storage.read("outputs/a/x.png"))

    await asyncio.gather(storage.put("outputs/a/x.png", new), read_while_writing())
    assert seen <= {old, new}
    assert await storage.read("outputs/a/x.png") == new


@pytest.mark.parametrize("key", ["/etc/passwd", "../secret", "outputs/../../x", ""])
async def test_keys_cannot_leave_the_store(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError, match="storage key"):
        await storage.put(key, b"x")
    with pytest.raises(ValueError, match="storage key"):
        await storage.exists(key)


async def test_an_empty_store_is_writable(storage: Storage) -> None:
    await storage.check_writable()
    assert await storage.list("") == []
