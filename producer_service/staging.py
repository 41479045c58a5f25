"""The API's edge of storage: uploads staged on local disk, and failing storage as a 503.

An upload streams into `DATA_DIR/tmp/` (beside the local backend's files, so keeping it is a
rename) and is handed to the storage with `put_file` once checked. Storage that is full,
read-only or otherwise refuses comes out as `StorageUnavailable` (a 503 naming the reason),
never a raw `OSError`.
"""

import asyncio
import contextlib
import errno
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from producer_service.errors import StorageUnavailable
from shared import layout
from shared.storage import Storage

logger = logging.getLogger(__name__)

UPLOAD_PREFIX = "upload-"
# Far longer than any upload takes, so another replica's upload in progress is never touched.
ABANDONED_UPLOAD_SECONDS = 3600
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
    """Turn a failing disk or store into `StorageUnavailable`, the reason in a word or two."""
    try:
        yield
    except OSError as exc:
        reason = failure_reason(exc)
        logger.warning("storage failed (%s): %s", reason, exc)
        raise StorageUnavailable(
            f"The service cannot store files right now ({reason}); try again later.",
            reason=reason,
        ) from exc


async def check_writable(storage: Storage) -> None:
    """Raise `StorageUnavailable` unless the storage takes a small write right now."""
    with storage_errors():
        await storage.check_writable()


class UploadArea:
    """Where uploads are received before they are checked and kept."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir.resolve() / layout.TEMP_DIR

    def prepare(self) -> None:
        """Create the folder, and sweep uploads an API died while receiving (an hour old)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - ABANDONED_UPLOAD_SECONDS
        for leftover in self.folder.glob(f"{UPLOAD_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    def new_temp_path(self) -> Path:
        return self.folder / f"{UPLOAD_PREFIX}{uuid.uuid4().hex}"


async def discard(path: Path) -> None:
    """Remove a file if it is there; a disk that refuses even that is logged, not raised."""
    try:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    except OSError as exc:
        logger.warning("could not remove %s: %s", path.name, exc)
