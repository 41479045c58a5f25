"""Storage in a dict: the fake for unit tests that need storage only incidentally.

It keeps the protocol's promises (atomic puts, `NotFound`, prefix listing) so a test that passes
against it passes against the local backend too (`tests/unit/test_storage.py` checks both).
"""

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from shared import layout
from shared.storage.protocol import NotFound

CHUNK_BYTES = 64 * 1024


class MemoryStorage:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(self, key: str, data: bytes) -> None:
        layout.check_key(key)
        self.objects[key] = bytes(data)

    async def put_file(self, key: str, source: Path) -> None:
        data = await asyncio.to_thread(source.read_bytes)
        await self.put(key, data)
        await asyncio.to_thread(source.unlink)

    async def read(self, key: str) -> bytes:
        layout.check_key(key)
        try:
            return self.objects[key]
        except KeyError:
            raise NotFound(key) from None

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        data = await self.read(key)
        for start in range(0, len(data), CHUNK_BYTES):
            yield data[start : start + CHUNK_BYTES]

    async def size(self, key: str) -> int:
        return len(await self.read(key))

    async def exists(self, key: str) -> bool:
        layout.check_key(key)
        return key in self.objects

    async def delete(self, key: str) -> None:
        layout.check_key(key)
        self.objects.pop(key, None)

    async def delete_prefix(self, prefix: str) -> None:
        for key in await self.list(prefix):
            del self.objects[key]

    async def list(self, prefix: str) -> list[str]:
        return sorted(key for key in self.objects if key.startswith(prefix))

    @contextlib.asynccontextmanager
    async def local_file(self, key: str) -> AsyncIterator[Path]:
        data = await self.read(key)
        with tempfile.TemporaryDirectory(prefix="storage-") as folder:
            path = Path(folder) / "object"
            await asyncio.to_thread(path.write_bytes, data)
            yield path

    async def check_writable(self) -> None:
        """Always writable: memory does not fill up in a unit test."""
