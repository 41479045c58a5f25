"""The worker's side of DATA_DIR: read originals, write outputs so no half-written file is seen.

Outputs are named from the job and variant (see `shared.layout`), so a redelivered job
overwrites its own files rather than adding copies. Each file is written beside its final name,
flushed to disk and renamed over it; the job's `manifest.json` is written the same way, last,
and is what marks the job as done: a crash before it means the job runs again.
These functions block; the worker calls them from its executor threads.
"""

import os
import tempfile
from pathlib import Path
from uuid import UUID

from pydantic import ValidationError

from shared import layout
from shared.messages import JobResult


class OutputStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path_of(self, key: str) -> Path:
        return layout.path_of(self.root, key)

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def write(self, key: str, data: bytes) -> None:
        """Replace the file at `key` with `data` in one step, durably."""
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
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

    def write_manifest(self, job_id: UUID, result: JobResult) -> None:
        self.write(layout.manifest_key(job_id), result.model_dump_json().encode())

    def read_manifest(self, job_id: UUID) -> JobResult | None:
        """What a job that already succeeded made, or None if it has not (or its files are gone)."""
        try:
            result = JobResult.model_validate_json(
                self.path_of(layout.manifest_key(job_id)).read_bytes()
            )
        except (OSError, ValidationError):
            # Unreadable (or written by an older version) counts as not done: the job runs
            # again, which is always safe.
            return None
        if all(self.exists(output.key) for output in result.outputs):
            return result
        return None


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
