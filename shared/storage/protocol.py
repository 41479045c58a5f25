"""The contract every storage backend keeps, so either service can use any of them.

Keys are `/`-separated strings (see `shared.layout`), never paths. A missing key raises
`NotFound`; a store that refuses raises `OSError`, its errno saying why (full, read-only, ...)
so each service can answer in its own terms (the API a 503, the worker a retry).

A write is atomic for readers: a key holds its old bytes or its new ones, never a part. The
worker relies on it: outputs first, `manifest.json` last, and the manifest's presence means
the job succeeded. Everything is async, so a backend over a network client (S3) fits; the
local one does its blocking I/O in threads.
"""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol


class NotFound(LookupError):
    """No object has this key."""


class Storage(Protocol):
    async def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, durably, replacing what was there in one step."""

    async def put_file(self, key: str, source: Path) -> None:
        """Store the local file `source` under `key`, durably; `source` is consumed."""

    async def read(self, key: str) -> bytes: ...

    def stream(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks; opened on the first chunk (`NotFound` from there)."""
        ...

    async def size(self, key: str) -> int: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the object; a key already gone is not an error."""

    async def delete_prefix(self, prefix: str) -> None:
        """Remove every object whose key starts with `prefix` (and any half-written ones)."""

    async def list(self, prefix: str) -> list[str]:
        """The keys that start with `prefix`, sorted; half-written objects are not listed."""
        ...

    def local_file(self, key: str) -> AbstractAsyncContextManager[Path]:
        """A local file holding the object, for decoders that want a path (libvips): the
        stored file itself where there is one, else a temporary copy removed afterwards."""
        ...

    async def check_writable(self) -> None:
        """Raise `OSError` unless a small object can be written durably right now."""
