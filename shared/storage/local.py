"""Storage as files under one folder (DATA_DIR), each key a relative path.

Each write goes to a temp file beside its target (named with a leading dot, so listings skip
it), is flushed to disk and renamed over the target, and the folder is synced: a reader sees
the old file or the new one, and a crash loses neither. Blocking I/O runs in threads.
"""

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from shared import layout
from shared.storage.protocol import NotFound

CHUNK_BYTES = 64 * 1024
_TEMP_PREFIX = "."
_PROBE_BYTES = b"\0" * 4096


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path_of(self, key: str) -> Path:
        return layout.path_of(self.root, key)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(_write_atomically, self.path_of(key), data)

    async def put_file(self, key: str, source: Path) -> None:
        await asyncio.to_thread(_durable_move, source, self.path_of(key))

    async def read(self, key: str) -> bytes:
        with _missing_as_not_found(key):
            return await asyncio.to_thread(self.path_of(key).read_bytes)

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        with _missing_as_not_found(key):
            handle = await asyncio.to_thread(self.path_of(key).open, "rb")
        # An open file stays readable even if its key is deleted meanwhile.
        with handle:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                yield chunk

    async def size(self, key: str) -> int:
        with _missing_as_not_found(key):
            return (await asyncio.to_thread(self.path_of(key).stat)).st_size

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_of(key).is_file)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_of(key).unlink, missing_ok=True)

    async def delete_prefix(self, prefix: str) -> None:
        if prefix.endswith("/"):  # a folder: its temp files go with it
            await asyncio.to_thread(_remove_tree, self.path_of(prefix))
            return
        for key in await self.list(prefix):
            await self.delete(key)

    async def list(self, prefix: str) -> list[str]:
        parent = prefix.rpartition("/")[0]
        folder = self.path_of(parent) if parent else self.root
        return await asyncio.to_thread(_keys_under, self.root, folder, prefix)

    @contextlib.asynccontextmanager
    async def local_file(self, key: str) -> AsyncIterator[Path]:
        path = self.path_of(key)
        if not await asyncio.to_thread(path.is_file):
            raise NotFound(key)
        yield path  # the stored file itself: no copy

    async def check_writable(self) -> None:
        probe = self.root / f"{_TEMP_PREFIX}probe-{uuid.uuid4().hex}"
        await asyncio.to_thread(_write_probe, probe)


@contextlib.contextmanager
def _missing_as_not_found(key: str) -> Iterator[None]:
    try:
        yield
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise NotFound(key) from exc


def _keys_under(root: Path, folder: Path, prefix: str) -> list[str]:
    if not folder.is_dir():
        return []
    keys = (
        path.relative_to(root).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and not path.name.startswith(_TEMP_PREFIX)
    )
    return sorted(key for key in keys if key.startswith(prefix))


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f"{_TEMP_PREFIX}{target.name}."
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def _durable_move(source: Path, target: Path) -> None:
    # Callers promise the bytes survive a crash (a 202 for an upload), so they reach the disk
    # first. `source` must be on the same filesystem (the API stages uploads in DATA_DIR/tmp).
    with source.open("rb") as handle:
        os.fsync(handle.fileno())
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove_tree(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


def _write_probe(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)  # a new DATA_DIR is writable if creatable
    try:
        with path.open("wb") as handle:
            handle.write(_PROBE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        with contextlib.suppress(OSError):  # the write's own error is the one to report
            path.unlink(missing_ok=True)
