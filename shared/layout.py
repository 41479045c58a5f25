"""Where things live in storage, as plain keys both services agree on (no I/O here).

originals/{job}                the upload, byte for byte
outputs/{job}/{name}.{ext}     one file per variant; a rerun overwrites, never duplicates
outputs/{job}/manifest.json    written last: its presence means the job succeeded
cancels/{job}/{run}            empty: run `run` of the job was cancelled, so no worker runs it
tmp/                           uploads being received (the API's, on local disk)
"""

from pathlib import Path, PurePosixPath
from uuid import UUID

from shared.variants import OutputFormat

TEMP_DIR = "tmp"


def original_key(job_id: UUID) -> str:
    return f"originals/{job_id}"


def output_key(job_id: UUID, name: str, output_format: OutputFormat) -> str:
    return f"outputs/{job_id}/{name}.{output_format.extension}"


def outputs_prefix(job_id: UUID) -> str:
    return f"outputs/{job_id}/"


def manifest_key(job_id: UUID) -> str:
    return f"outputs/{job_id}/manifest.json"


def check_key(key: str) -> PurePosixPath:
    """A key as a relative path; one that could leave its root (absolute, `..`) is refused."""
    relative = PurePosixPath(key)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ValueError(f"not a storage key: {key!r}")
    return relative


def path_of(root: Path, key: str) -> Path:
    """The file behind a key in a local folder."""
    return root / check_key(key)


def cancel_key(job_id: UUID, run: int) -> str:
    return f"cancels/{job_id}/{run}"


def cancels_prefix(job_id: UUID) -> str:
    return f"cancels/{job_id}/"
