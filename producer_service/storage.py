"""The API's side of DATA_DIR: uploads land in `tmp/`, then move to `originals/`.

Keys are relative paths (see `shared.layout`); the worker reports the keys of what it wrote.
A disk that is full, read-only or otherwise refuses a write comes out as `StorageUnavailable`
(a 503 naming the reason), never a raw `OSError`.
"""

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

from producer_service.errors import StorageUnavailable
from shared import layout

logger = logging.getLogger(__name__)

UPLOAD_PREFIX = "upload-"
# Far longer than any upload takes, so another replica's upload in progress is never touched.
ABANDONED_UPLOAD_SECONDS = 3600
_PROBE_BYTES = b"\0" * 4096
_REASONS = {
    errno.ENOSPC: "full",
    errno.EDQUOT: "full",
    errno.EROFS: "read-only",
    errno.EACCES: "not writable",
    errno.EPERM: "not writable",
}


def failure_reason(error: OSError) -> str:
    return _REASONS.get(error.errno or 0, error.strerror or "failed")


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Turn a failing disk into `StorageUnavailable`, with the reason in a word or two."""
    try:
        yield
    except OSError as exc:
        reason = failure_reason(exc)
        logger.warning("storage failed (%s): %s", reason, exc)
        raise StorageUnavailable(
            f"The service cannot store files right now ({reason}); try again later.",
            reason=reason,
        ) from exc


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.tmp_dir = self.root / layout.TEMP_DIR

    def prepare(self) -> None:
        """Create the folders, and sweep uploads an API died while receiving (an hour old)."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - ABANDONED_UPLOAD_SECONDS
        for leftover in self.tmp_dir.glob(f"{UPLOAD_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    def new_temp_path(self) -> Path:
        return self.tmp_dir / f"{UPLOAD_PREFIX}{uuid.uuid4().hex}"

    def path_of(self, key: str) -> Path:
        return layout.path_of(self.root, key)

    async def keep_original(self, upload: Path, job_id: UUID) -> str:
        key = layout.original_key(job_id)
        with storage_errors():
            await asyncio.to_thread(_durable_move, upload, self.path_of(key))
        return key

    async def delete(self, key: str) -> None:
        await discard(self.path_of(key))

    async def delete_job_files(self, job_id: UUID) -> None:
        """The job's original and every output it has (or half has): nothing of it is left."""
        outputs = self.path_of(layout.outputs_prefix(job_id))
        with storage_errors():
            await asyncio.to_thread(_remove_tree, outputs)
        await self.delete(layout.original_key(job_id))

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_of(key).is_file)

    async def check_writable(self) -> None:
        """Raise `StorageUnavailable` unless a small file can be written and synced now."""
        with storage_errors():
            await asyncio.to_thread(_write_probe, self.tmp_dir / f".probe-{uuid.uuid4().hex}")


def _remove_tree(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


async def discard(path: Path) -> None:
    """Remove a file if it is there; a disk that refuses even that is logged, not raised."""
    try:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    except OSError as exc:
        logger.warning("could not remove %s: %s", path.name, exc)


def _durable_move(source: Path, target: Path) -> None:
    # The 202 promises the original survives a crash, so its bytes reach the disk first.
    with source.open("rb") as handle:
        os.fsync(handle.fileno())
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _write_probe(path: Path) -> None:
    try:
        with path.open("wb") as handle:
            handle.write(_PROBE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        with contextlib.suppress(OSError):  # the write's own error is the one to report
            path.unlink(missing_ok=True)
