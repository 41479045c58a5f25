"""The API's side of DATA_DIR: uploads land in `tmp/`, then move to `originals/`.

Keys are relative paths (see `shared.layout`); the worker reports the keys of what it wrote.
"""

import asyncio
import contextlib
import os
import time
import uuid
from pathlib import Path
from uuid import UUID

from shared import layout

UPLOAD_PREFIX = "upload-"
# Far longer than any upload takes, so another replica's upload in progress is never touched.
ABANDONED_UPLOAD_SECONDS = 3600


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
        await asyncio.to_thread(_durable_move, upload, self.path_of(key))
        return key

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_of(key).unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_of(key).is_file)


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
